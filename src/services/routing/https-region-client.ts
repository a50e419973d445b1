/**
 * `RegionClient` over HTTPS with mutual TLS: how a gateway (or a region, for replication and
 * erasure) reaches a region node running in another process (`src/server/region-app.ts`).
 *
 * The node is accepted only when its certificate chains to the deployment CA (nothing else is
 * trusted: no system roots), is within its validity, and names the expected region in its SAN
 * (`domicile:region:<id>`); host names and IP addresses play no part in its identity.
 *
 * Errors, so that the router (`router.ts`) does the right thing:
 * - unreachable, reset, timed out, or a 5xx without a catalog code → `DOMICILE_ERR_REGION_UNAVAILABLE`
 *   (the router tries the next region of the jurisdiction);
 * - the node's certificate refused, or ours refused by the node → `DOMICILE_ERR_PEER_IDENTITY` (503).
 *   It is not a reason to fail over: the deployment is misconfigured or under attack, and the
 *   caller gets a loud 503 rather than a quiet detour;
 * - an error with a catalog code from the node → the same `DomicileError` (code, message, details),
 *   exactly as the in-process node would have thrown it.
 */
import { createPrivateKey, X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import {
  countryOfCertificate,
  describePeerIdentity,
  peerIdentityOf,
  regionDnsName,
} from '../../crypto/peer-identity.js';
import { DomicileError, ERROR_CATALOG, type ErrorCode } from '../../domain/errors.js';
import type { ClassId, RegionId } from '../../domain/ids.js';
import type { AuditEvent } from '../audit/audit-event.js';
import type { AccessLog } from '../audit/audit-log.js';
import type {
  RecordListing,
  RecordMeta,
  RecordRef,
  RecordWithValue,
  RegionClient,
  Replica,
  RequestContext,
  SubjectRef,
} from '../vault/region-node.js';
import {
  encodeContext,
  encodeRecordRef,
  encodeReplica,
  encodeSubjectRef,
  REGION_API,
  type WireAuditEvent,
  type WireReplica,
} from './region-wire.js';

/**
 * A node's refusals of the form of a request (what Node, Fastify or the wire codec refuse):
 * answered to this client, they mean the two processes disagree on the wire, not that the caller
 * asked for something wrong. `DOMICILE_ERR_PAYLOAD_TOO_LARGE` is not one: the caller's value is.
 */
const EXCHANGE_REFUSALS: ReadonlySet<string> = new Set([
  'DOMICILE_ERR_BAD_REQUEST',
  'DOMICILE_ERR_NOT_FOUND',
  'DOMICILE_ERR_UNSUPPORTED_MEDIA_TYPE',
  'DOMICILE_ERR_EXPECTATION_FAILED',
  'DOMICILE_ERR_HEADERS_TOO_LARGE',
]);

/** Options of an `HttpsRegionClient`. */
export interface HttpsRegionClientOptions {
  /** The region the node must prove it is. */
  readonly regionId: RegionId;
  /** The node's internal API, `https://host:port` (plain `http:` is refused). */
  readonly url: string;
  /** The deployment CA, and this caller's certificate (gateway or region) and key, PEM. */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string };
  /**
   * The country the configuration puts the region in: the node's certificate must name it
   * (subject `C`), else the node is refused like one naming another region.
   */
  readonly country?: string;
  /** Per request, connection included; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Largest answer accepted; default 32 MiB. */
  readonly maxResponseBytes?: number;
  /** Connections kept per node; default 64. */
  readonly maxSockets?: number;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** TLS verification failures of the node's certificate (OpenSSL verify codes as Node reports them). */
const SERVER_CERTIFICATE_ERRORS = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'CERT_UNTRUSTED',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_DOMICILE_PEER_IDENTITY',
]);
/** Errors of the connection itself: the node is down, unreachable or went away. */
const UNREACHABLE_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

/**
 * A region node reached over HTTPS with mutual TLS.
 *
 * @example
 * const client = new HttpsRegionClient({
 *   regionId: 'oci-us-ashburn' as RegionId,
 *   url: 'https://10.0.1.5:8443',
 *   tls: await loadGatewayTls(dataDir, 'gateway-1'),
 * });
 * const router = new Router(config, new Map([[client.regionId, client]]));
 */
export class HttpsRegionClient implements RegionClient {
  readonly regionId: RegionId;
  private readonly url: URL;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly ownValidity: { readonly from: Date; readonly to: Date };

  constructor(options: HttpsRegionClientOptions) {
    this.regionId = options.regionId;
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (cause) {
      throw new DomicileError('DOMICILE_ERR_CONFIG', `region \`${options.regionId}\`: invalid url`, {
        cause,
      });
    }
    if (url.protocol !== 'https:') {
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `region \`${options.regionId}\`: url must be https (mutual TLS), not \`${url.protocol}\``,
      );
    }
    this.url = url;
    this.ownValidity = checkOwnCertificate(options.regionId, options.tls);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxResponseBytes = options.maxResponseBytes ?? 32 * 1024 * 1024;
    const expected = options.regionId;
    const { country } = options;
    const servername = regionDnsName(expected);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: options.maxSockets ?? 64,
      // Node skips `checkServerIdentity` on resumed sessions: without resumption, every
      // connection proves the node's identity in a full handshake
      maxCachedSessions: 0,
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      ...(servername === undefined ? {} : { servername }),
      // called only after the chain to the deployment CA verified
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        const identity = peerIdentityOf(cert);
        const refuse = (message: string) =>
          Object.assign(new Error(message), { code: 'ERR_DOMICILE_PEER_IDENTITY' });
        if (identity?.kind !== 'region' || identity.regionId !== expected) {
          return refuse(
            `certificate names \`${describePeerIdentity(identity)}\`, expected region \`${expected}\``,
          );
        }
        const named = countryOfCertificate(cert);
        if (country !== undefined && named !== country) {
          return refuse(
            `certificate of region \`${expected}\` names country \`${named ?? 'none'}\`, the configuration puts it in \`${country}\``,
          );
        }
        return undefined;
      },
    });
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  async checkHealth(): Promise<void> {
    await this.call('GET', REGION_API.health, undefined);
  }

  async putRecord(
    ctx: RequestContext,
    ref: RecordRef,
    classId: ClassId,
    value: unknown,
  ): Promise<RecordMeta> {
    const answer = await this.call('POST', REGION_API.putRecord, {
      context: encodeContext(ctx),
      ref: encodeRecordRef(ref),
      classId,
      value,
    });
    return this.expect(answer, isRecordMeta);
  }

  async getRecord(ctx: RequestContext, ref: RecordRef): Promise<RecordWithValue> {
    const answer = await this.call('POST', REGION_API.getRecord, {
      context: encodeContext(ctx),
      ref: encodeRecordRef(ref),
    });
    return this.expect(answer, (v): v is RecordWithValue => isRecordMeta(v) && 'value' in v);
  }

  async listRecords(ctx: RequestContext, ref: SubjectRef): Promise<RecordListing[]> {
    const answer = await this.call('POST', REGION_API.listRecords, {
      context: encodeContext(ctx),
      ref: encodeSubjectRef(ref),
    });
    return this.expect(
      answer,
      (v): v is { records: RecordListing[] } =>
        isObject(v) && Array.isArray(v.records) && v.records.every(isRecordListing),
    ).records;
  }

  async deleteRecord(ctx: RequestContext, ref: RecordRef): Promise<void> {
    await this.call('POST', REGION_API.deleteRecord, {
      context: encodeContext(ctx),
      ref: encodeRecordRef(ref),
    });
  }

  async eraseSubject(ctx: RequestContext, ref: SubjectRef): Promise<{ records: number }> {
    const answer = await this.call('POST', REGION_API.eraseSubject, {
      context: encodeContext(ctx),
      ref: encodeSubjectRef(ref),
    });
    return { records: this.expect(answer, isCount).records };
  }

  /** A subject's access log from the node holding its jurisdiction's log (the home region). */
  async accessLog(ref: SubjectRef): Promise<AccessLog> {
    const answer = await this.call('POST', REGION_API.accessLog, { ref: encodeSubjectRef(ref) });
    return this.expect(
      answer,
      (v): v is AccessLog =>
        isObject(v) &&
        typeof v.checkpoint === 'string' &&
        Number.isSafeInteger(v.treeSize) &&
        Array.isArray(v.entries),
    );
  }

  /** Appends an audit event to the node's sink of its jurisdiction; resolves once it is durable there. */
  async appendAudit(event: AuditEvent): Promise<void> {
    const wire: WireAuditEvent = event;
    await this.call('POST', REGION_API.appendAudit, { event: wire });
  }

  async receiveReplica(replica: Replica): Promise<void> {
    await this.sendReplica(encodeReplica(replica));
  }

  /** Sends a replica already in its wire form (one kept in a spool, for instance). */
  async sendReplica(replica: WireReplica): Promise<void> {
    await this.call('POST', REGION_API.receiveReplica, { replica });
  }

  async purgeSubject(ref: SubjectRef): Promise<number> {
    const answer = await this.call('POST', REGION_API.purgeSubject, { ref: encodeSubjectRef(ref) });
    return this.expect(answer, isCount).records;
  }

  async recordVersion(ref: RecordRef): Promise<number | undefined> {
    const answer = await this.call('POST', REGION_API.recordVersion, { ref: encodeRecordRef(ref) });
    const { version } = this.expect(
      answer,
      (v): v is { version: number | null } =>
        isObject(v) && (v.version === null || Number.isSafeInteger(v.version)),
    );
    return version ?? undefined;
  }

  private expect<T>(answer: unknown, check: (value: unknown) => value is T): T {
    if (!check(answer)) {
      throw new DomicileError('DOMICILE_ERR_INTERNAL', `region \`${this.regionId}\`: malformed answer`);
    }
    return answer;
  }

  /** One request; resolves with the parsed JSON answer (undefined for 204) or throws a coded error. */
  private async call(method: 'GET' | 'POST', path: string, body: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const { status, body: answer } = await this.exchange(method, path, payload);
    const parsed = parseJson(answer);
    if (status >= 200 && status < 300) return parsed;
    throw this.answerError(status, parsed);
  }

  /**
   * A read-only resource of the node's copy of a jurisdiction's log (`/internal/v1/logs/…`:
   * checkpoint, tiles, proofs), as bytes with its content type, for a gateway to pass on.
   */
  async getLogResource(path: string): Promise<{ contentType: string; body: Buffer }> {
    if (!path.startsWith(REGION_API.logs)) {
      throw new DomicileError('DOMICILE_ERR_INTERNAL', 'not a log resource');
    }
    const { status, body, contentType } = await this.exchange('GET', path, undefined);
    if (status >= 200 && status < 300) return { contentType, body };
    throw this.answerError(status, parseJson(body));
  }

  /** One exchange, retried once on a kept-alive connection the node had closed. */
  private async exchange(
    method: 'GET' | 'POST',
    path: string,
    payload: Buffer | undefined,
  ): Promise<{ status: number; body: Buffer; contentType: string }> {
    this.assertOwnCertificateValid();
    try {
      return await this.send(method, path, payload);
    } catch (failure) {
      // A kept-alive connection the node closed while idle fails on its next request before
      // the node saw it: retry once on a fresh connection (see Node's `request.reusedSocket`).
      if (
        !(failure instanceof TransportFailure) ||
        !failure.reusedSocket ||
        codeOf(failure.cause) !== 'ECONNRESET'
      ) {
        throw this.transportError(failure);
      }
      try {
        return await this.send(method, path, payload);
      } catch (again) {
        throw this.transportError(again);
      }
    }
  }

  /** Our certificate expires while the process runs: say so rather than meet a closed connection. */
  private assertOwnCertificateValid(): void {
    const now = Date.now();
    const { from, to } = this.ownValidity;
    if (now > to.getTime() || now < from.getTime()) {
      throw new DomicileError(
        'DOMICILE_ERR_PEER_IDENTITY',
        `region \`${this.regionId}\`: this client's certificate is valid only from ${from.toISOString()} to ${to.toISOString()}: the node would refuse it: renew it`,
      );
    }
  }

  private send(
    method: 'GET' | 'POST',
    path: string,
    payload: Buffer | undefined,
  ): Promise<{ status: number; body: Buffer; contentType: string }> {
    return new Promise((resolve, reject) => {
      const signal = AbortSignal.timeout(this.timeoutMs);
      const req = httpsRequest(
        new URL(path, this.url),
        {
          method,
          agent: this.agent,
          signal,
          headers: {
            accept: path.startsWith(REGION_API.logs) ? '*/*' : 'application/json',
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxResponseBytes) {
              res.destroy(Object.assign(new Error('answer too large'), { code: 'ERR_DOMICILE_TOO_LARGE' }));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (error) => reject(new TransportFailure(error, req.reusedSocket)));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks),
              contentType: String(res.headers['content-type'] ?? 'application/octet-stream'),
            }),
          );
        },
      );
      req.on('error', (error) => reject(new TransportFailure(error, req.reusedSocket)));
      req.end(payload);
    });
  }

  /** Maps a failure below HTTP (connection, TLS, timeout) to a coded error. */
  private transportError(failure: unknown): DomicileError {
    const where = `region \`${this.regionId}\` at \`${this.url.host}\``;
    const error = failure instanceof TransportFailure ? failure.cause : failure;
    const fresh = failure instanceof TransportFailure && !failure.reusedSocket;
    const code = codeOf(error);
    if (isAbort(error)) {
      return new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `${where}: no answer within ${this.timeoutMs} ms`,
        { cause: error },
      );
    }
    if (code !== undefined && SERVER_CERTIFICATE_ERRORS.has(code)) {
      const reason = code === 'ERR_DOMICILE_PEER_IDENTITY' && error instanceof Error ? error.message : code;
      return new DomicileError(
        'DOMICILE_ERR_PEER_IDENTITY',
        `${where}: server certificate refused: ${reason}`,
        { cause: error },
      );
    }
    if (code?.startsWith('ERR_SSL_') && code.includes('ALERT')) {
      // the node ended the handshake: it refused our certificate (another CA, expired, none…)
      return new DomicileError(
        'DOMICILE_ERR_PEER_IDENTITY',
        `${where}: refused this client's certificate: tls alert \`${alertOf(error, code)}\``,
        { cause: error },
      );
    }
    if (code?.startsWith('ERR_SSL_') || code?.startsWith('ERR_TLS_')) {
      return new DomicileError('DOMICILE_ERR_PEER_IDENTITY', `${where}: tls handshake failed: ${code}`, {
        cause: error,
      });
    }
    if (code === 'ECONNRESET' && fresh) {
      // Node ends a TLS connection whose client certificate it refuses without an alert, so the
      // refusal looks like this from here
      return new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `${where}: connection closed before any answer: ECONNRESET (a node also does this when it refuses this client's certificate)`,
        { cause: error },
      );
    }
    if (code !== undefined && UNREACHABLE_ERRORS.has(code)) {
      return new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', `${where}: unreachable: ${code}`, {
        cause: error,
      });
    }
    return new DomicileError(
      'DOMICILE_ERR_REGION_UNAVAILABLE',
      `${where}: request failed${code === undefined ? '' : `: ${code}`}`,
      { cause: error },
    );
  }

  /** Maps a non-2xx answer to a coded error. */
  private answerError(status: number, body: unknown): DomicileError {
    const error = isObject(body) && isObject(body.error) ? body.error : undefined;
    const code = typeof error?.code === 'string' ? error.code : undefined;
    const message = typeof error?.message === 'string' ? error.message : undefined;
    if (code !== undefined && message !== undefined && isCatalogCode(code)) {
      if (code === 'DOMICILE_ERR_PEER_FORBIDDEN') {
        // our certificate is of the deployment but not admitted there: a deployment fault, not the caller's
        return new DomicileError(
          'DOMICILE_ERR_PEER_IDENTITY',
          `region \`${this.regionId}\` refused this client's certificate: ${message}`,
        );
      }
      // the node did not receive in time what this client sent: the node, not the request, failed
      if (code === 'DOMICILE_ERR_REQUEST_TIMEOUT') {
        return new DomicileError(
          'DOMICILE_ERR_REGION_UNAVAILABLE',
          `region \`${this.regionId}\` timed out receiving the request`,
          { cause: new DomicileError(code, message) },
        );
      }
      // this client built the request, so the node's complaint about its form is not the caller's
      // to hear: the caller's own input was checked before it was sent
      if (EXCHANGE_REFUSALS.has(code)) {
        return new DomicileError(
          'DOMICILE_ERR_REGION_REFUSED',
          `region \`${this.regionId}\` refused the request as malformed (${code})`,
          { cause: new DomicileError(code, message) },
        );
      }
      const { code: _code, message: _message, ...details } = error ?? {};
      return new DomicileError(
        code,
        message,
        Object.keys(details).length === 0 ? {} : { details: details as Record<string, unknown> },
      );
    }
    if (status >= 500) {
      return new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `region \`${this.regionId}\` answered ${status} without a known error code`,
      );
    }
    return new DomicileError(
      'DOMICILE_ERR_INTERNAL',
      `region \`${this.regionId}\` answered ${status} without a known error code`,
    );
  }
}

/** A failed request, with whether it went out on a kept-alive connection. */
class TransportFailure extends Error {
  override readonly cause: unknown;
  readonly reusedSocket: boolean;

  constructor(cause: unknown, reusedSocket: boolean) {
    super('request failed');
    this.cause = cause;
    this.reusedSocket = reusedSocket;
  }
}

/**
 * Checks, before any connection, that this caller's certificate belongs to its key and was issued
 * by the CA it trusts: the node would refuse it at the handshake with no reason given.
 * Returns its validity, which `call` checks on every request.
 */
function checkOwnCertificate(
  regionId: RegionId,
  tls: HttpsRegionClientOptions['tls'],
): { from: Date; to: Date } {
  const fail = (reason: string, cause?: unknown) =>
    new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `client of region \`${regionId}\`: ${reason}`,
      cause === undefined ? {} : { cause },
    );
  let own: NodeX509Certificate;
  let authorities: NodeX509Certificate[];
  try {
    own = new NodeX509Certificate(tls.cert);
    authorities = (tls.ca.match(PEM_CERTIFICATE) ?? []).map((pem) => new NodeX509Certificate(pem));
  } catch (cause) {
    throw fail('the certificate or the CA is not PEM', cause);
  }
  let matches = false;
  try {
    matches = own.checkPrivateKey(createPrivateKey(tls.key));
  } catch (cause) {
    throw fail('the private key is not a PEM key', cause);
  }
  if (!matches) throw fail('the private key does not belong to the certificate');
  if (!authorities.some((ca) => own.checkIssued(ca) && own.verify(ca.publicKey))) {
    throw fail('the certificate is not issued by the deployment CA it trusts: the node would refuse it');
  }
  return { from: new Date(own.validFrom), to: new Date(own.validTo) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCatalogCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, code);
}

function isRecordMeta(value: unknown): value is RecordMeta {
  return (
    isObject(value) &&
    typeof value.subjectId === 'string' &&
    typeof value.key === 'string' &&
    typeof value.class === 'string' &&
    Number.isSafeInteger(value.version) &&
    typeof value.region === 'string'
  );
}

function isRecordListing(value: unknown): value is RecordListing {
  return (
    isObject(value) &&
    typeof value.key === 'string' &&
    typeof value.class === 'string' &&
    Number.isSafeInteger(value.version) &&
    typeof value.updatedAt === 'string'
  );
}

function isCount(value: unknown): value is { records: number } {
  return isObject(value) && Number.isSafeInteger(value.records);
}

function codeOf(error: unknown): string | undefined {
  if (!isObject(error) && !(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

function alertOf(error: unknown, code: string): string {
  // Node's OpenSSL errors carry `reason`, e.g. `tlsv1 alert unknown ca`
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : code;
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
