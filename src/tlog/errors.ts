/**
 * Coded errors of the transparency-log library. Every failure the library reports, including every
 * malformed input from the network, is a `TlogError` with one of the codes below, so callers (and the
 * project's error catalog) can branch on `code` and never on the message.
 */

/** Each code with the HTTP status a server should answer and a one-line description. */
export const TLOG_ERRORS = {
  DOMICILE_ERR_TLOG_PROOF_INVALID: {
    status: 422,
    description: 'a Merkle inclusion or consistency proof does not verify',
  },
  DOMICILE_ERR_TLOG_PROOF_MALFORMED: {
    status: 400,
    description: 'a proof has a hash that is not 32 bytes or more nodes than any tree needs',
  },
  DOMICILE_ERR_TLOG_OUT_OF_RANGE: {
    status: 400,
    description: 'an index or tree size is negative, not an integer, or outside the tree',
  },
  DOMICILE_ERR_TLOG_NOTE_MALFORMED: {
    status: 400,
    description: 'a signed note does not follow C2SP signed-note',
  },
  DOMICILE_ERR_TLOG_SIGNATURE_INVALID: {
    status: 403,
    description: 'a signature by a known key does not verify',
  },
  DOMICILE_ERR_TLOG_NOTE_UNVERIFIED: {
    status: 403,
    description: 'no signature on the note is by a known key',
  },
  DOMICILE_ERR_TLOG_KEY_MALFORMED: {
    status: 400,
    description: 'a verifier or private key string is malformed',
  },
  DOMICILE_ERR_TLOG_UNSUPPORTED_ALGORITHM: {
    status: 400,
    description: 'the signature type is recognised but cannot be verified here (ML-DSA-44 on Node 20)',
  },
  DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED: {
    status: 400,
    description: 'a checkpoint body does not follow C2SP tlog-checkpoint',
  },
  DOMICILE_ERR_TLOG_ORIGIN_MISMATCH: { status: 403, description: 'the checkpoint is for another log origin' },
  DOMICILE_ERR_TLOG_COSIGNATURE_MALFORMED: {
    status: 400,
    description: 'a cosignature does not follow C2SP tlog-cosignature',
  },
  DOMICILE_ERR_TLOG_WITNESS_QUORUM: {
    status: 403,
    description: 'fewer trusted witnesses cosigned the checkpoint than the policy requires',
  },
  DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED: {
    status: 400,
    description: 'an add-checkpoint request body does not follow C2SP tlog-witness',
  },
  DOMICILE_ERR_TLOG_WITNESS_REJECTED: {
    status: 502,
    description: 'a witness refused to cosign the checkpoint',
  },
  DOMICILE_ERR_TLOG_TILE_PATH_MALFORMED: {
    status: 400,
    description: 'a tile path does not follow C2SP tlog-tiles',
  },
  DOMICILE_ERR_TLOG_TILE_MALFORMED: {
    status: 502,
    description: 'a tile is not a whole number of 32-byte hashes or has the wrong width',
  },
  DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED: {
    status: 502,
    description: 'an entry bundle is truncated or holds the wrong number of entries',
  },
  DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE: {
    status: 413,
    description: 'an entry exceeds 65,535 bytes, the most a tlog-tiles entry bundle can hold',
  },
  DOMICILE_ERR_TLOG_NOT_FOUND: {
    status: 404,
    description: 'no such tile, entry bundle or tree size in the log',
  },
  DOMICILE_ERR_TLOG_INCONSISTENT: {
    status: 409,
    description: 'two tree heads are not consistent: the log forked or rolled back',
  },
  DOMICILE_ERR_TLOG_ENTRY_MISMATCH: {
    status: 502,
    description: 'an entry does not hash to its level-0 tile hash',
  },
  DOMICILE_ERR_TLOG_TILE_MISMATCH: {
    status: 502,
    description: 'a tile hash does not match the tiles below it',
  },
  DOMICILE_ERR_TLOG_ROOT_MISMATCH: {
    status: 502,
    description: 'the root recomputed from the tiles differs from the checkpoint root',
  },
  DOMICILE_ERR_TLOG_ENTRY_REJECTED: {
    status: 422,
    description: "the auditor's entry parser rejected an entry",
  },
  DOMICILE_ERR_TLOG_STORAGE_CORRUPT: {
    status: 500,
    description: 'the log storage holds state that contradicts itself (a missing or short tile)',
  },
  DOMICILE_ERR_TLOG_CLOSED: { status: 503, description: 'the log was closed; the append was not sequenced' },
  DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED: {
    status: 400,
    description: 'a proof file does not follow C2SP tlog-proof (c2sp.org/tlog-proof@v1)',
  },
} as const satisfies Record<string, { readonly status: number; readonly description: string }>;

/** A `DOMICILE_ERR_TLOG_*` code. */
export type TlogErrorCode = keyof typeof TLOG_ERRORS;

/** Every code, for the project's error catalog (a test there asserts codes are unique). */
export const TLOG_ERROR_CODES: readonly TlogErrorCode[] = Object.freeze(
  Object.keys(TLOG_ERRORS) as TlogErrorCode[],
);

/** Where in a log a failure was found, for auditors that must point at the bad byte. */
export interface TlogErrorDetails {
  /** Entry index (level 0) or hash position in the tile level. */
  readonly index?: bigint;
  /** The tile or bundle path involved, e.g. `tile/0/x001/002.p/7`. */
  readonly path?: string;
}

/**
 * The only error type the library throws on purpose.
 *
 * @example
 * try { verifyInclusion(i, n, leaf, proof, root) } catch (e) {
 *   if (e instanceof TlogError && e.code === 'DOMICILE_ERR_TLOG_PROOF_INVALID') { ... }
 * }
 */
export class TlogError extends Error {
  /** One of `TLOG_ERROR_CODES`. */
  readonly code: TlogErrorCode;
  /** Where the failure was found, when the library knows. */
  readonly details: TlogErrorDetails;

  constructor(
    code: TlogErrorCode,
    message: string,
    options: { details?: TlogErrorDetails; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TlogError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** True when `e` is a `TlogError`, optionally with the given code. */
export function isTlogError(e: unknown, code?: TlogErrorCode): e is TlogError {
  return e instanceof TlogError && (code === undefined || e.code === code);
}
