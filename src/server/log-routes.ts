/**
 * The transparency log over HTTP, per C2SP tlog-tiles under `/v1/logs/{jurisdiction}/`
 * (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`), so standard tooling can
 * mirror and verify it; JSON proofs for convenience; and a subject's own access log.
 *
 * The log endpoints need no token: entries hold pseudonyms and attributes, never personal data,
 * and an auditor must be able to fetch them without the operator's cooperation.
 */
import type { FastifyInstance } from 'fastify';
import type { Config, Jurisdiction } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import {
  ID_PATTERN,
  JURISDICTION_PATTERN,
  type JurisdictionId,
  parseSubjectId,
  type SubjectId,
} from '../domain/ids.js';
import { requireJurisdiction } from '../domain/residency.js';
import { type Principal, summarizePrincipal } from '../services/access/principal.js';
import type { TokenVerifier } from '../services/access/tokens.js';
import type { AuditEvent, AuditSink } from '../services/audit/audit-event.js';
import type { AccessLog, AuditLog } from '../services/audit/audit-log.js';
import type { VaultService } from '../services/vault/vault.js';

/** Dependencies of the log routes. */
export interface LogRoutesOptions {
  readonly config: Config;
  readonly logs: ReadonlyMap<JurisdictionId, AuditLog>;
  /** With `verifier`: the subject access-log route too (the public API; a region node has neither). */
  readonly vault?: VaultService;
  readonly verifier?: TokenVerifier;
}

/**
 * Who may read a subject's access log: the subject itself, or a steward of its jurisdiction
 * located there. The caller puts the decision on the record (`subject.access-log`).
 */
function accessLogDecision(
  jurisdiction: Jurisdiction,
  principal: Principal,
  subjectId: SubjectId,
): { allowed: boolean; reason: string } {
  if (principal.id === subjectId) return { allowed: true, reason: 'the subject itself' };
  const steward =
    principal.department === jurisdiction.steward &&
    principal.country !== undefined &&
    jurisdiction.countries.includes(principal.country);
  return steward
    ? { allowed: true, reason: 'steward of the jurisdiction' }
    : { allowed: false, reason: 'neither the subject nor a steward' };
}

/** The audit event of an access-log read. */
function accessLogEvent(
  requestId: string,
  principal: Principal,
  jurisdiction: JurisdictionId,
  subjectId: SubjectId,
  decision: { allowed: boolean; reason: string },
): AuditEvent {
  return {
    type: 'subject.access-log',
    requestId,
    principal: summarizePrincipal(principal),
    jurisdiction,
    subjectId,
    decision: decision.allowed ? 'allow' : 'deny',
    reason: decision.reason,
  };
}

const b64 = (hashes: readonly Uint8Array[]): string[] => hashes.map((h) => Buffer.from(h).toString('base64'));

/** Parses a non-negative integer query parameter (untrusted). */
function queryInt(value: unknown, name: string): number {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) {
    throw new DomicileError(
      'DOMICILE_ERR_BAD_REQUEST',
      `query parameter \`${name}\` must be a non-negative integer`,
    );
  }
  return Number(value);
}

/** Registers the log routes on an app. */
export function registerLogRoutes(app: FastifyInstance, options: LogRoutesOptions): void {
  const { config, logs } = options;
  const logOf = (jurisdiction: string): AuditLog => {
    const log = logs.get(requireJurisdiction(config, jurisdiction).id);
    if (!log)
      throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no log for jurisdiction \`${jurisdiction}\``);
    return log;
  };
  const jurisdictionParam = {
    type: 'object',
    properties: { jurisdiction: { type: 'string', pattern: JURISDICTION_PATTERN.source } },
    required: ['jurisdiction'],
  } as const;

  app.get(
    '/v1/logs/:jurisdiction/checkpoint',
    {
      schema: {
        summary: 'The latest signed checkpoint (C2SP tlog-checkpoint), with witness cosignatures',
        security: [],
        params: jurisdictionParam,
      },
    },
    async (request, reply) => {
      const { jurisdiction } = request.params as { jurisdiction: string };
      const checkpoint = await logOf(jurisdiction).log.checkpoint();
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache').send(checkpoint);
    },
  );

  app.get(
    '/v1/logs/:jurisdiction/tile/*',
    {
      schema: {
        summary: 'A Merkle tile or entry bundle (C2SP tlog-tiles)',
        security: [],
        params: {
          type: 'object',
          properties: {
            jurisdiction: jurisdictionParam.properties.jurisdiction,
            '*': { type: 'string', maxLength: 128 },
          },
        },
      },
    },
    async (request, reply) => {
      const params = request.params as { jurisdiction: string; '*': string };
      const path = `tile/${params['*']}`;
      // the path is untrusted: the log's parser refuses anything that is not a tlog-tiles path
      const bytes = await logOf(params.jurisdiction).log.read(path);
      const partial = path.includes('.p/');
      return reply
        .type('application/octet-stream')
        .header('cache-control', partial ? 'no-cache' : 'public, max-age=31536000, immutable')
        .send(Buffer.from(bytes));
    },
  );

  app.get(
    '/v1/logs/:jurisdiction/proof/inclusion',
    {
      schema: {
        summary: 'Inclusion proof of entry `index` in the tree of `size` (RFC 9162), base64 hashes',
        security: [],
        params: jurisdictionParam,
        querystring: {
          type: 'object',
          properties: { index: { type: 'string' }, size: { type: 'string' } },
          required: ['index'],
        },
      },
    },
    async (request) => {
      const { jurisdiction } = request.params as { jurisdiction: string };
      const query = request.query as { index?: string; size?: string };
      const log = logOf(jurisdiction).log;
      const index = queryInt(query.index, 'index');
      const size = query.size === undefined ? await log.size() : queryInt(query.size, 'size');
      return { index, size, proof: b64(await log.inclusionProof(index, size)) };
    },
  );

  app.get(
    '/v1/logs/:jurisdiction/proof/consistency',
    {
      schema: {
        summary: 'Consistency proof between tree sizes `from` and `to` (RFC 9162), base64 hashes',
        security: [],
        params: jurisdictionParam,
        querystring: {
          type: 'object',
          properties: { from: { type: 'string' }, to: { type: 'string' } },
          required: ['from'],
        },
      },
    },
    async (request) => {
      const { jurisdiction } = request.params as { jurisdiction: string };
      const query = request.query as { from?: string; to?: string };
      const log = logOf(jurisdiction).log;
      const from = queryInt(query.from, 'from');
      const to = query.to === undefined ? await log.size() : queryInt(query.to, 'to');
      return { from, to, proof: b64(await log.consistencyProof(from, to)) };
    },
  );

  const { vault, verifier } = options;
  if (!vault || !verifier) return;
  registerAccessLogRoute(app, {
    config,
    vault,
    verifier,
    audit: (jurisdiction) => logOf(jurisdiction),
    accessLog: (jurisdiction, subjectId) => logOf(jurisdiction).accessLog(subjectId),
  });
}

/** What the access-log route needs: where its decision is recorded and where the log is read. */
export interface AccessLogRouteOptions {
  readonly config: Config;
  readonly vault: VaultService;
  readonly verifier: TokenVerifier;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  readonly accessLog: (jurisdiction: JurisdictionId, subjectId: SubjectId) => Promise<AccessLog>;
}

/**
 * `GET /v1/subjects/{id}/access-log`: the subject's entries with inclusion proofs, for the subject
 * itself or a steward of its jurisdiction located there; the request is itself on the record.
 */
export function registerAccessLogRoute(app: FastifyInstance, options: AccessLogRouteOptions): void {
  const { config, vault, verifier } = options;
  app.get(
    '/v1/subjects/:subjectId/access-log',
    {
      schema: {
        summary: 'Who touched this subject’s data, when and why: its log entries with inclusion proofs',
        params: {
          type: 'object',
          properties: { subjectId: { type: 'string', pattern: ID_PATTERN.source } },
          required: ['subjectId'],
        },
      },
    },
    async (request) => {
      const { subjectId } = request.params as { subjectId: string };
      const principal = await verifier.verifyHeader(request.headers.authorization);
      const id = parseSubjectId(subjectId);
      const jurisdictionId = await vault.jurisdictionOf(id);
      const jurisdiction = requireJurisdiction(config, jurisdictionId);
      const decision = accessLogDecision(jurisdiction, principal, id);
      await options
        .audit(jurisdictionId)
        .append(accessLogEvent(request.id, principal, jurisdictionId, id, decision));
      if (!decision.allowed) {
        throw new DomicileError(
          'DOMICILE_ERR_FORBIDDEN',
          'denied: only the subject or a steward may read its access log',
        );
      }
      request.served = { jurisdiction: jurisdictionId, region: jurisdiction.home };
      return options.accessLog(jurisdictionId, id);
    },
  );
}
