/**
 * The one error catalog of Domicile: every `DOMICILE_ERR_*` code, its HTTP status and what it means.
 * Services throw `DomicileError` with a code; the HTTP layer turns it into
 * `{ "error": { "code", "message" } }` with the catalog's status. Messages are lowercase, carry no
 * final period, quote user input in backticks and never carry personal data.
 */

/** Catalog entry: HTTP status and a one-line description for the README and OpenAPI. */
export interface ErrorSpec {
  readonly status: number;
  readonly description: string;
}

export const ERROR_CATALOG = {
  DOMICILE_ERR_BAD_REQUEST: {
    status: 400,
    description: 'the request is malformed (HTTP framing, JSON, types, fields)',
  },
  DOMICILE_ERR_INVALID_ID: {
    status: 400,
    description: 'an id is outside `[A-Za-z0-9._:-]{1,128}`',
  },
  DOMICILE_ERR_UNKNOWN_CLASS: { status: 400, description: 'the data class is not configured' },
  DOMICILE_ERR_UNAUTHENTICATED: {
    status: 401,
    description: 'the bearer token is missing, expired, not yet valid or forged',
  },
  DOMICILE_ERR_FORBIDDEN: { status: 403, description: 'policy denies this principal this action' },
  DOMICILE_ERR_RESIDENCY: {
    status: 403,
    description: 'the region may not hold or receive this data (residency rule R1 or transfer rule T1)',
  },
  DOMICILE_ERR_PEER_FORBIDDEN: {
    status: 403,
    description:
      'a region node refused the caller’s client certificate: not a gateway or region certificate of this deployment, or a region certificate on a gateway-only route',
  },
  DOMICILE_ERR_TRANSFER_PROHIBITED: {
    status: 403,
    description:
      'the export would reach a bulk volume for a counterparty in a country of concern (28 CFR 202.301): refused as prohibited',
  },
  DOMICILE_ERR_SUBJECT_NOT_FOUND: { status: 404, description: 'no such subject' },
  DOMICILE_ERR_RECORD_NOT_FOUND: { status: 404, description: 'no such record' },
  DOMICILE_ERR_NOT_FOUND: { status: 404, description: 'no such resource' },
  DOMICILE_ERR_CONSOLE_NOT_BUILT: {
    status: 404,
    description: 'the web console is not built into this installation (`npm run build` builds it)',
  },
  DOMICILE_ERR_REQUEST_TIMEOUT: {
    status: 408,
    description: 'the request was not received in time (its headers or body came too slowly)',
  },
  DOMICILE_ERR_JURISDICTION_CONFLICT: {
    status: 409,
    description: 'the subject is registered in another jurisdiction',
  },
  DOMICILE_ERR_STATE_CONFLICT: {
    status: 409,
    description:
      'the access request, policy set or data key is not in a state that allows this step (already decided, expired, revoked, active, or a key destroyed or superseded here)',
  },
  DOMICILE_ERR_MIGRATION_UNVERIFIED: {
    status: 409,
    description:
      'a legacy region may be wiped only after a complete migration out of it passed `domicile migrate verify` (or with `--force --reason`)',
  },
  DOMICILE_ERR_PAYLOAD_TOO_LARGE: { status: 413, description: 'the body exceeds the configured limit' },
  DOMICILE_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'the body is not JSON' },
  DOMICILE_ERR_EXPECTATION_FAILED: {
    status: 417,
    description: 'the request has an `Expect` header other than `100-continue`',
  },
  DOMICILE_ERR_UNKNOWN_JURISDICTION: { status: 422, description: 'the jurisdiction is not configured' },
  DOMICILE_ERR_ACCESS_REQUEST_INVALID: {
    status: 422,
    description:
      'the access request is out of bounds (duration over the maximum, unknown class, break-glass without MFA)',
  },
  DOMICILE_ERR_POLICY_INVALID: {
    status: 422,
    description:
      'a Cedar schema or policy does not parse or validate; the message carries Cedar’s (CLI exit code 3)',
  },
  DOMICILE_ERR_POLICY_DUPLICATE_ID: {
    status: 422,
    description: 'two policies share an `@id`, or a policy has none (CLI exit code 3)',
  },
  DOMICILE_ERR_NOT_ANONYMOUS: {
    status: 422,
    description: 'an export has a group of identical quasi-identifiers smaller than k: nothing left',
  },
  DOMICILE_ERR_BACKUP_INVALID: {
    status: 422,
    description:
      'a backup’s manifest signature or content does not verify (edited, truncated or foreign) (CLI exit code 2)',
  },
  DOMICILE_ERR_RATE_LIMITED: { status: 429, description: 'too many requests' },
  DOMICILE_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    description: 'the request headers exceed Node’s limit (`--max-http-header-size`, 16 KiB by default)',
  },
  DOMICILE_ERR_REGION_REFUSED: {
    status: 502,
    description:
      'a region node refused the request this process built as malformed: the deployment’s processes disagree (e.g. different versions); the node’s code is in the message',
  },
  DOMICILE_ERR_REGION_UNAVAILABLE: {
    status: 503,
    description: 'no region of the jurisdiction can serve the request (routing fails closed)',
  },
  DOMICILE_ERR_STORE_UNAVAILABLE: {
    status: 503,
    description: 'the region store failed; nothing was written',
  },
  DOMICILE_ERR_KEYRING_UNAVAILABLE: {
    status: 503,
    description: 'the region keyring failed; nothing was written',
  },
  DOMICILE_ERR_SOURCE_UNAVAILABLE: {
    status: 503,
    description:
      'the application database a migration mapping names cannot be opened or read, or does not return its rows in order',
  },
  DOMICILE_ERR_AUDIT_UNAVAILABLE: {
    status: 503,
    description: 'the audit entry could not be made durable, so the operation was not performed',
  },
  DOMICILE_ERR_PEER_IDENTITY: {
    status: 503,
    description:
      'mutual TLS with a region node failed: its certificate is not of the deployment CA, is expired, or names another region than expected; or it refused ours',
  },
  DOMICILE_ERR_INTEGRITY: {
    status: 500,
    description: 'stored ciphertext failed authentication (tampered, moved or keys destroyed)',
  },
  DOMICILE_ERR_INTERNAL: { status: 500, description: 'an unexpected error; details are in the operator log' },
  DOMICILE_ERR_POLICY_CEDAR: {
    status: 500,
    description: 'cedar-wasm failed while preparing a policy set (CLI exit code 3)',
  },
  DOMICILE_ERR_CONFIG: { status: 500, description: 'the configuration is invalid (CLI exit code 3)' },
  DOMICILE_ERR_USAGE: { status: 400, description: 'a command-line argument is invalid' },
} as const satisfies Record<string, ErrorSpec>;

/** A code of the catalog. */
export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Options for a `DomicileError`. */
export interface DomicileErrorOptions {
  readonly cause?: unknown;
  /** Safe, non-personal details for the client (e.g. a policy hash). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The error every layer throws.
 *
 * @example
 * throw new DomicileError('DOMICILE_ERR_RESIDENCY',
 *   "region `sg-singapore`: refusing protected record of jurisdiction `US`: not an allowed region");
 */
export class DomicileError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: DomicileErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DomicileError';
    this.code = code;
    this.statusCode = ERROR_CATALOG[code].status;
    this.details = options.details;
  }
}

/** True when `err` is a `DomicileError` with `code` (or any code when omitted). */
export function isDomicileError(err: unknown, code?: ErrorCode): err is DomicileError {
  return err instanceof DomicileError && (code === undefined || err.code === code);
}
