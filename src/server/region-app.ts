/**
 * A region node's internal HTTPS API (`/internal/v1/…`): the `RegionClient` operations of one
 * region node, for gateways and for other region nodes, over mutual TLS only.
 *
 * Who may call (checked in this order, each failing closed):
 * 1. TLS: a client certificate chaining to the deployment CA, within its validity, with the
 *    clientAuth usage; anything else never completes the handshake (`requestCert`,
 *    `rejectUnauthorized`, TLS 1.3 only).
 * 2. Identity: the certificate's SAN names a gateway (`domicile:gateway:<name>`) or a region
 *    (`domicile:region:<id>`); else `403 DOMICILE_ERR_PEER_FORBIDDEN`.
 * 3. Route: gateways call the record and erasure operations; regions call replication, purge and
 *    record versions only, and only for jurisdictions whose data they may hold themselves; both may ask for health.
 *
 * The principal of a record operation travels in the body: the gateway authenticated the bearer
 * token, and the mTLS channel is what this node trusts. It is still hostile input here and is
 * validated strictly, and the node evaluates policy on it itself (A1).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import {
  describePeerIdentity,
  type PeerIdentity,
  peerIdentityOf,
  regionIdOfCertificate,
} from '../crypto/peer-identity.js';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import {
  COUNTRY_PATTERN,
  ID_PATTERN,
  JURISDICTION_PATTERN,
  type JurisdictionId,
  LABEL_PATTERN,
  type RegionId,
} from '../domain/ids.js';
import { jurisdictionsHeldBy } from '../domain/residency.js';
import type { AuditSink } from '../services/audit/audit-event.js';
import type { AuditLog } from '../services/audit/audit-log.js';
import {
  decodeAuditEvent,
  decodeContext,
  decodeRecordRef,
  decodeReplica,
  decodeSubjectRef,
  REGION_API,
  type WireAuditEvent,
  type WireContext,
  type WireRecordRef,
  type WireReplica,
  type WireSubjectRef,
} from '../services/routing/region-wire.js';
import type { RegionClient } from '../services/vault/region-node.js';
import { ERROR_OPTIONS, installErrorHandlers } from './errors.js';
import { registerLogRoutes } from './log-routes.js';
import type { TlsMaterial } from './pki.js';

/** The Fastify instance of a region node's internal API. */
export type RegionApp = FastifyInstance<Server, IncomingMessage, ServerResponse>;

/** Dependencies of a region node's internal API. */
export interface RegionAppOptions {
  /** The node served (a `RegionNode`). */
  readonly node: RegionClient;
  readonly regionId: RegionId;
  /** The deployment configuration: which regions may send data of which jurisdiction. */
  readonly config: Config;
  /** The deployment CA, and this node's certificate (naming `regionId`) and key, PEM. */
  readonly tls: TlsMaterial;
  /** pino options, or false for no logging (tests). */
  readonly logger?: boolean | { level: string };
  /**
   * The node's audit sinks: events that gateways (and other regions of the jurisdiction, while
   * its home region is down) record through this node. Absent: the route answers 404.
   */
  readonly audit?: (jurisdiction: JurisdictionId) => AuditSink;
  /**
   * The logs of the jurisdictions whose home this region is: served read-only under
   * `/internal/v1/logs/…` and `/internal/v1/audit/access-log` for gateways to pass on.
   */
  readonly logs?: ReadonlyMap<JurisdictionId, AuditLog>;
  /** Largest request body in bytes; default 8 MiB (a replica carries base64 ciphertext). */
  readonly bodyLimit?: number;
}

type PeerKind = PeerIdentity['kind'];

// The same patterns the token verifier applies to claims: a principal that could not come out
// of a verified token cannot come in here either.
const LABEL = LABEL_PATTERN.source;
const COUNTRY = COUNTRY_PATTERN.source;
const JURISDICTION = JURISDICTION_PATTERN.source;

const id = { type: 'string', pattern: ID_PATTERN.source } as const;
const opaque = { type: 'string', minLength: 1, maxLength: 256 } as const;
const version = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const epochMs = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const base64 = { type: 'string', maxLength: 64 * 1024 * 1024 } as const;
const principal = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'roles', 'mfa'],
  properties: {
    id,
    type: { type: 'string', enum: ['employee', 'service'] },
    department: { type: 'string', pattern: LABEL },
    roles: { type: 'array', maxItems: 64, items: { type: 'string', pattern: LABEL } },
    country: { type: 'string', pattern: COUNTRY },
    mfa: { type: 'boolean' },
    jurisdiction: { type: 'string', pattern: JURISDICTION },
  },
} as const;
const context = {
  type: 'object',
  additionalProperties: false,
  required: ['requestId', 'principal'],
  properties: { requestId: id, principal },
} as const;
const subjectRef = {
  type: 'object',
  additionalProperties: false,
  required: ['subjectId', 'jurisdiction'],
  properties: { subjectId: id, jurisdiction: id },
} as const;
const recordRef = {
  type: 'object',
  additionalProperties: false,
  required: ['subjectId', 'jurisdiction', 'key'],
  properties: { subjectId: id, jurisdiction: id, key: id },
} as const;
/** A body of exactly one field. */
const bodyOf = <S>(name: string, schema: S) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: [name],
    properties: { [name]: schema },
  }) as const;
const withContext = (ref: typeof subjectRef | typeof recordRef) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['context', 'ref'],
    properties: { context, ref },
  }) as const;
const replica = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'record', 'wrappedKey'],
      properties: {
        kind: { const: 'sealed' },
        record: {
          type: 'object',
          additionalProperties: false,
          required: [
            'subjectId',
            'jurisdiction',
            'key',
            'classId',
            'version',
            'ciphertext',
            'keyId',
            'updatedAt',
          ],
          properties: {
            subjectId: id,
            jurisdiction: id,
            key: id,
            classId: id,
            version,
            ciphertext: base64,
            keyId: opaque,
            updatedAt: epochMs,
          },
        },
        wrappedKey: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'kekId', 'wrapped'],
          properties: { id: opaque, kekId: opaque, wrapped: base64 },
        },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'ref', 'classId', 'version', 'value', 'updatedAt'],
      properties: {
        kind: { const: 'open' },
        ref: recordRef,
        classId: id,
        version,
        value: base64,
        updatedAt: epochMs,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'ref'],
      properties: { kind: { const: 'delete' }, ref: recordRef },
    },
  ],
} as const;

const label = { type: 'string', pattern: LABEL } as const;
const auditEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'requestId', 'principal', 'jurisdiction', 'decision', 'reason'],
  properties: {
    type: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}(\\.[a-z][a-z0-9_-]{0,31}){0,3}$' },
    requestId: opaque,
    principal: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'type', 'department', 'country'],
          properties: {
            id,
            type: { type: 'string', enum: ['employee', 'service'] },
            department: { anyOf: [{ type: 'null' }, label] },
            country: { anyOf: [{ type: 'null' }, { type: 'string', pattern: COUNTRY }] },
          },
        },
      ],
    },
    jurisdiction: { type: 'string', pattern: JURISDICTION },
    subjectId: id,
    recordKey: id,
    classId: id,
    region: id,
    decision: { type: 'string', enum: ['allow', 'deny', 'info'] },
    reason: { type: 'string', maxLength: 2048 },
    policyHash: opaque,
    determining: { type: 'array', maxItems: 64, items: opaque },
    details: {
      type: 'object',
      maxProperties: 64,
      additionalProperties: {
        anyOf: [
          { type: 'null' },
          { type: 'boolean' },
          { type: 'number' },
          { type: 'string', maxLength: 4096 },
          { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 256 } },
        ],
      },
    },
    at: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$' },
  },
} as const;

/**
 * Builds a region node's internal HTTPS app (not listening).
 *
 * @example
 * const app = await buildRegionApp({ node, regionId, config, tls: await loadRegionTls(dataDir, regionId) });
 * await app.listen({ host: '0.0.0.0', port: 8443 });
 */
export async function buildRegionApp(options: RegionAppOptions): Promise<RegionApp> {
  const { node, regionId, config } = options;
  if (node.regionId !== regionId) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `region app for \`${regionId}\` was given the node of \`${node.regionId}\``,
    );
  }
  const named = regionIdOfCertificate(options.tls.cert);
  if (named !== regionId) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `region \`${regionId}\`: its certificate names ${named === undefined ? 'no region' : `region \`${named}\``}`,
    );
  }
  const app: RegionApp = Fastify({
    https: {
      requestCert: true,
      rejectUnauthorized: true,
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.3',
      requireHostHeader: false,
    },
    bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    ...ERROR_OPTIONS,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    logController: new LogController({ disableRequestLogging: true }),
    logger:
      options.logger === false
        ? false
        : {
            level: options.logger === true || options.logger === undefined ? 'info' : options.logger.level,
            // no bodies: they carry ids, ciphertext and values; nor the bytes of a request Node could
            // not parse, which its `clientError` carries as `rawPacket`
            redact: { paths: ['req.body', 'res.body', '*.value', 'err.rawPacket'], censor: '[redacted]' },
            serializers: {
              req: (req: FastifyRequest) => ({
                id: req.id,
                method: req.method,
                route: req.routeOptions?.url,
              }),
            },
          },
  });
  app.removeContentTypeParser('text/plain');
  installErrorHandlers(app);

  // the identity of a connection is fixed by its handshake: read it once per socket
  const identities = new WeakMap<object, PeerIdentity | undefined>();
  const peerOf = (request: FastifyRequest): PeerIdentity | undefined => {
    const socket = request.raw.socket as TLSSocket;
    if (identities.has(socket)) return identities.get(socket);
    // rejectUnauthorized already refused these; a second look costs nothing
    const identity = socket.authorized === true ? peerIdentityOf(socket.getPeerCertificate()) : undefined;
    identities.set(socket, identity);
    return identity;
  };
  const admit =
    (kinds: readonly PeerKind[]) =>
    async (request: FastifyRequest): Promise<void> => {
      const peer = peerOf(request);
      if (!peer || !kinds.includes(peer.kind)) {
        throw new DomicileError(
          'DOMICILE_ERR_PEER_FORBIDDEN',
          `region \`${regionId}\`: \`${describePeerIdentity(peer)}\` may not call this operation`,
        );
      }
    };
  // A region sends replicas and purges only of jurisdictions it may hold itself: a compromised
  // node abroad cannot overwrite or erase another jurisdiction's data here.
  const assertSenderHolds = (request: FastifyRequest, jurisdiction: string): void => {
    const peer = peerOf(request);
    if (peer?.kind !== 'region') return;
    if (!jurisdictionsHeldBy(config, peer.regionId).includes(jurisdiction as JurisdictionId)) {
      throw new DomicileError(
        'DOMICILE_ERR_PEER_FORBIDDEN',
        `region \`${regionId}\`: region \`${peer.regionId}\` may not send data of jurisdiction \`${jurisdiction}\``,
      );
    }
  };
  // every request, unknown routes included, first needs a known peer: others learn nothing
  app.addHook('onRequest', async (request) => {
    if (!peerOf(request)) {
      throw new DomicileError(
        'DOMICILE_ERR_PEER_FORBIDDEN',
        `region \`${regionId}\`: the client certificate names no gateway or region of this deployment`,
      );
    }
  });

  const gateway = admit(['gateway']);
  const region = admit(['region']);

  app.get(REGION_API.health, { onRequest: admit(['gateway', 'region']) }, async () => {
    await node.checkHealth();
    return { status: 'up', region: regionId };
  });

  app.post<{ Body: { context: WireContext; ref: WireRecordRef; classId: string; value: unknown } }>(
    REGION_API.putRecord,
    {
      onRequest: gateway,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['context', 'ref', 'classId', 'value'],
          properties: { context, ref: recordRef, classId: id, value: {} },
        },
      },
    },
    async (request) => {
      const { body } = request;
      return node.putRecord(
        decodeContext(body.context),
        decodeRecordRef(body.ref),
        body.classId as Parameters<RegionClient['putRecord']>[2],
        body.value,
      );
    },
  );

  app.post<{ Body: { context: WireContext; ref: WireRecordRef } }>(
    REGION_API.getRecord,
    { onRequest: gateway, schema: { body: withContext(recordRef) } },
    async (request) => node.getRecord(decodeContext(request.body.context), decodeRecordRef(request.body.ref)),
  );

  app.post<{ Body: { context: WireContext; ref: WireSubjectRef } }>(
    REGION_API.listRecords,
    { onRequest: gateway, schema: { body: withContext(subjectRef) } },
    async (request) => ({
      records: await node.listRecords(
        decodeContext(request.body.context),
        decodeSubjectRef(request.body.ref),
      ),
    }),
  );

  app.post<{ Body: { context: WireContext; ref: WireRecordRef } }>(
    REGION_API.deleteRecord,
    { onRequest: gateway, schema: { body: withContext(recordRef) } },
    async (request, reply) => {
      await node.deleteRecord(decodeContext(request.body.context), decodeRecordRef(request.body.ref));
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { context: WireContext; ref: WireSubjectRef } }>(
    REGION_API.eraseSubject,
    { onRequest: gateway, schema: { body: withContext(subjectRef) } },
    async (request) =>
      node.eraseSubject(decodeContext(request.body.context), decodeSubjectRef(request.body.ref)),
  );

  app.post<{ Body: { ref: WireSubjectRef } }>(
    REGION_API.purgeSubject,
    {
      onRequest: region,
      schema: { body: bodyOf('ref', subjectRef) },
    },
    async (request) => {
      assertSenderHolds(request, request.body.ref.jurisdiction);
      return { records: await node.purgeSubject(decodeSubjectRef(request.body.ref)) };
    },
  );

  app.post<{ Body: { ref: WireRecordRef } }>(
    REGION_API.recordVersion,
    {
      onRequest: region,
      schema: { body: bodyOf('ref', recordRef) },
    },
    async (request) => {
      assertSenderHolds(request, request.body.ref.jurisdiction);
      if (!node.recordVersion) {
        throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `region \`${regionId}\`: no record versions here`);
      }
      return { version: (await node.recordVersion(decodeRecordRef(request.body.ref))) ?? null };
    },
  );

  app.post<{ Body: { replica: WireReplica } }>(
    REGION_API.receiveReplica,
    {
      onRequest: region,
      schema: {
        body: bodyOf('replica', replica),
      },
    },
    async (request, reply) => {
      const wire = request.body.replica;
      assertSenderHolds(request, wire.kind === 'sealed' ? wire.record.jurisdiction : wire.ref.jurisdiction);
      await node.receiveReplica(decodeReplica(wire));
      return reply.code(204).send();
    },
  );

  const logs = options.logs ?? new Map<JurisdictionId, AuditLog>();
  await app.register(async (instance) => registerLogRoutes(instance, { config, logs }), {
    prefix: '/internal',
  });
  app.post<{ Body: { ref: WireSubjectRef } }>(
    REGION_API.accessLog,
    {
      onRequest: gateway,
      schema: { body: bodyOf('ref', subjectRef) },
    },
    async (request) => {
      const ref = decodeSubjectRef(request.body.ref);
      const log = logs.get(ref.jurisdiction);
      if (!log) {
        throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no log of \`${ref.jurisdiction}\` in this region`);
      }
      return log.accessLog(ref.subjectId);
    },
  );

  app.post<{ Body: { event: WireAuditEvent } }>(
    REGION_API.appendAudit,
    {
      onRequest: admit(['gateway', 'region']),
      schema: { body: bodyOf('event', auditEvent) },
    },
    async (request, reply) => {
      const { event } = request.body;
      assertSenderHolds(request, event.jurisdiction);
      // the jurisdiction's record stays in the jurisdiction (its home region, or its spool here)
      if (!jurisdictionsHeldBy(config, regionId).includes(event.jurisdiction as JurisdictionId)) {
        throw new DomicileError(
          'DOMICILE_ERR_RESIDENCY',
          `region \`${regionId}\` does not keep records of jurisdiction \`${event.jurisdiction}\``,
        );
      }
      if (!options.audit) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', 'no audit sink on this node');
      await options.audit(event.jurisdiction as JurisdictionId).append(decodeAuditEvent(event));
      return reply.code(204).send();
    },
  );

  return app;
}
