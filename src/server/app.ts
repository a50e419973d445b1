/**
 * The public HTTP API (`/v1`): builds the Fastify app with its plugins and routes, without
 * listening, so tests use `app.inject` and real sockets alike.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import type { Config } from '../domain/config.js';
import { isDomicileError } from '../domain/errors.js';
import { parseRecordKey, parseSubjectId } from '../domain/ids.js';
import { drainingRegions, requireClass, servingRegions } from '../domain/residency.js';
import type { Principal } from '../services/access/principal.js';
import type { TokenVerifier } from '../services/access/tokens.js';
import type { RequestContext } from '../services/vault/region-node.js';
import type { Served, VaultService } from '../services/vault/vault.js';
import { ERROR_OPTIONS, installErrorHandlers } from './errors.js';
import type { Metrics } from './metrics.js';
import { HOME_SHARE_WINDOW } from './routing-figures.js';
import { errorResponses, errorSchema, idParam } from './schemas.js';

/** Dependencies of the public API. */
export interface AppOptions {
  readonly config: Config;
  readonly vault: VaultService;
  readonly verifier: TokenVerifier;
  readonly metrics: Metrics;
  /** pino options, or false for no logging (tests, benchmarks). */
  readonly logger?: boolean | { level: string };
  /** Readiness: resolves when every region can be reached (or throws). */
  readonly ready?: () => Promise<Record<string, 'up' | 'down'>>;
  /** Extra routes (transparency log, access requests) registered by later services. */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance) => Promise<void> | void>;
}

/** One jurisdiction in `/readyz`: its regions in routing order and the one that would serve now. */
export interface JurisdictionReadiness {
  readonly home: string;
  /** Home, then failover regions: the routing order. */
  readonly serving: readonly string[];
  /** Legacy regions still holding data during a migration. */
  readonly draining: readonly string[];
  /** The first serving region that is up, or null: then requests fail closed with 503. */
  readonly servedBy: string | null;
  readonly status: 'home' | 'failover' | 'unavailable';
}

declare module 'fastify' {
  interface FastifyRequest {
    served: { jurisdiction: string; region: string } | null;
  }
}

const errors = errorResponses;
const recordMeta = {
  type: 'object',
  properties: {
    subjectId: { type: 'string' },
    key: { type: 'string' },
    class: { type: 'string' },
    version: { type: 'integer' },
    region: { type: 'string' },
  },
} as const;
const routingReport = {
  type: 'object',
  properties: {
    jurisdictions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          jurisdiction: { type: 'string' },
          total: { type: 'integer' },
          home: { type: 'integer' },
          byRegion: { type: 'object', additionalProperties: { type: 'integer' } },
          recentHomeShare: { type: ['number', 'null'], minimum: 0, maximum: 1 },
        },
        required: ['jurisdiction', 'total', 'home', 'byRegion', 'recentHomeShare'],
      },
    },
  },
  required: ['jurisdictions'],
} as const;

/** Builds the gateway's HTTP app. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, vault, verifier, metrics } = options;
  const app = Fastify({
    bodyLimit: config.server.bodyLimit,
    genReqId: () => randomUUID(),
    // ids are at most 128 characters; longer ones reach the id check and get its coded error
    routerOptions: { maxParamLength: 512 },
    // no type coercion and no silent stripping: a wrong type or an unknown field is a 400
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    requestIdHeader: false,
    ...ERROR_OPTIONS,
    http: { requireHostHeader: false },
    logController: new LogController({ disableRequestLogging: true }),
    logger:
      options.logger === false
        ? false
        : {
            level: options.logger === true || options.logger === undefined ? 'info' : options.logger.level,
            // Personal data never reaches the operator log: no bodies, no headers, no URLs with ids,
            // nor the bytes of a request Node could not parse (its `clientError` carries `rawPacket`).
            redact: {
              paths: ['req.headers.authorization', 'req.body', 'res.body', '*.value', 'err.rawPacket'],
              censor: '[redacted]',
            },
            serializers: {
              req: (req: FastifyRequest) => ({
                id: req.id,
                method: req.method,
                route: req.routeOptions?.url,
              }),
            },
          },
  });
  app.decorateRequest('served', null);
  // JSON only: a text/plain body is refused with 415 rather than validated as a string
  app.removeContentTypeParser('text/plain');
  installErrorHandlers(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Domicile',
        version: '1',
        description: 'Residency vault: every subject’s records stay in its home jurisdiction.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });

  // callback hooks, not async ones: they run on every request, and a promise each costs more than their work
  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', request.id);
    if (request.served) {
      void reply.header('x-domicile-jurisdiction', request.served.jurisdiction);
      void reply.header('x-domicile-region', request.served.region);
    }
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unknown';
    metrics.duration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
    if (route.startsWith('/v1/subjects')) {
      metrics.requests.inc({
        jurisdiction: request.served?.jurisdiction ?? 'none',
        region: request.served?.region ?? 'none',
        outcome: String(reply.statusCode),
      });
    }
    done();
  });

  const context = async (request: FastifyRequest): Promise<RequestContext> => {
    let principal: Principal;
    try {
      principal = await verifier.verifyHeader(request.headers.authorization);
    } catch (error) {
      if (isDomicileError(error, 'DOMICILE_ERR_UNAUTHENTICATED')) {
        // never the token: only why it was refused
        request.log.warn({ reason: error.message }, 'bearer token refused');
        const { subjectId } = request.params as { subjectId?: string };
        if (subjectId !== undefined) {
          await vault.recordAuthenticationFailure(request.id, parseSubjectId(subjectId), error.message);
        }
      }
      throw error;
    }
    return { requestId: request.id, principal };
  };
  const served = <T>(request: FastifyRequest, s: Served<T>): T => {
    request.served = { jurisdiction: s.jurisdiction, region: s.region };
    return s.result;
  };

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const regions = (await options.ready?.()) ?? {};
    const ready = Object.values(regions).every((s) => s === 'up');
    // per jurisdiction, who would serve it now: the first region up in routing order (R2)
    const jurisdictions: Record<string, JurisdictionReadiness> = {};
    for (const j of config.jurisdictions.values()) {
      const serving = servingRegions(config, j.id);
      const servedBy = serving.find((id) => regions[id] === 'up') ?? null;
      jurisdictions[j.id] = {
        home: j.home,
        serving,
        draining: drainingRegions(config, j.id),
        servedBy,
        status: servedBy === null ? 'unavailable' : servedBy === j.home ? 'home' : 'failover',
      };
    }
    return reply
      .status(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'degraded', regions, jurisdictions });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  // no token, like /metrics: counts by jurisdiction and region, no personal data
  app.get(
    '/v1/routing',
    {
      schema: {
        summary: `Per jurisdiction: requests routed per serving region since start, how many by the home region, and the share of the last ${HOME_SHARE_WINDOW} served by home`,
        security: [],
        response: { 200: routingReport },
      },
    },
    async () => ({ jurisdictions: metrics.routing.report() }),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const subjectParams = {
    type: 'object',
    properties: { subjectId: idParam },
    required: ['subjectId'],
  } as const;
  const registration = {
    type: 'object',
    properties: { subjectId: { type: 'string' }, jurisdiction: { type: 'string' } },
  } as const;

  app.put(
    '/v1/subjects/:subjectId',
    {
      schema: {
        summary: 'Register a subject in its home jurisdiction (idempotent)',
        params: subjectParams,
        body: {
          type: 'object',
          properties: { jurisdiction: { type: 'string', minLength: 1, maxLength: 16 } },
          required: ['jurisdiction'],
          additionalProperties: false,
        },
        response: {
          200: registration,
          201: registration,
          409: errorSchema,
          422: errorSchema,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { subjectId } = request.params as { subjectId: string };
      const { jurisdiction } = request.body as { jurisdiction: string };
      const ctx = await context(request);
      const result = await vault.registerSubject(ctx, parseSubjectId(subjectId), jurisdiction);
      request.served = { jurisdiction: result.jurisdiction, region: 'directory' };
      return reply
        .status(result.created ? 201 : 200)
        .send({ subjectId: result.subjectId, jurisdiction: result.jurisdiction });
    },
  );

  app.get(
    '/v1/subjects/:subjectId',
    {
      schema: {
        summary: 'Show where a subject lives',
        params: subjectParams,
        response: {
          200: {
            type: 'object',
            properties: {
              subjectId: { type: 'string' },
              jurisdiction: { type: 'string' },
              homeRegion: { type: 'string' },
              records: { type: 'integer' },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { subjectId } = request.params as { subjectId: string };
      const ctx = await context(request);
      const id = parseSubjectId(subjectId);
      const listing = served(request, await vault.listRecords(ctx, id));
      const jurisdiction = request.served?.jurisdiction ?? '';
      return {
        subjectId: id,
        jurisdiction,
        homeRegion: config.jurisdictions.get(jurisdiction as never)?.home ?? '',
        records: listing.length,
      };
    },
  );

  app.delete(
    '/v1/subjects/:subjectId',
    {
      schema: {
        summary: 'Erase a subject everywhere: destroy its key, delete its rows in every region (E1)',
        params: subjectParams,
        response: {
          200: {
            type: 'object',
            properties: {
              subjectId: { type: 'string' },
              erasedAt: { type: 'string' },
              records: { type: 'integer' },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { subjectId } = request.params as { subjectId: string };
      const ctx = await context(request);
      const receipt = served(request, await vault.eraseSubject(ctx, parseSubjectId(subjectId)));
      return { subjectId: receipt.subjectId, erasedAt: receipt.erasedAt, records: receipt.records };
    },
  );

  const recordParams = {
    type: 'object',
    properties: { subjectId: idParam, key: idParam },
    required: ['subjectId', 'key'],
  } as const;

  app.put(
    '/v1/subjects/:subjectId/records/:key',
    {
      schema: {
        summary: 'Write a record; it is encrypted and stored in a region of the subject’s jurisdiction',
        params: recordParams,
        body: {
          type: 'object',
          properties: { class: { type: 'string', minLength: 1, maxLength: 32 }, value: {} },
          required: ['class', 'value'],
          additionalProperties: false,
        },
        response: { 200: recordMeta, ...errors },
      },
    },
    async (request) => {
      const { subjectId, key } = request.params as { subjectId: string; key: string };
      const body = request.body as { class: string; value: unknown };
      const classId = requireClass(config, body.class);
      const ctx = await context(request);
      return served(
        request,
        await vault.putRecord(ctx, parseSubjectId(subjectId), parseRecordKey(key), classId, body.value),
      );
    },
  );

  app.get(
    '/v1/subjects/:subjectId/records/:key',
    {
      schema: {
        summary: 'Read a record',
        params: recordParams,
        response: {
          200: { type: 'object', properties: { ...recordMeta.properties, value: {} } },
          ...errors,
        },
      },
    },
    async (request) => {
      const { subjectId, key } = request.params as { subjectId: string; key: string };
      const ctx = await context(request);
      return served(request, await vault.getRecord(ctx, parseSubjectId(subjectId), parseRecordKey(key)));
    },
  );

  app.delete(
    '/v1/subjects/:subjectId/records/:key',
    {
      schema: {
        summary: 'Delete a record',
        params: recordParams,
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      const { subjectId, key } = request.params as { subjectId: string; key: string };
      const ctx = await context(request);
      served(request, await vault.deleteRecord(ctx, parseSubjectId(subjectId), parseRecordKey(key)));
      return reply.status(204).send();
    },
  );

  app.get(
    '/v1/subjects/:subjectId/records',
    {
      schema: {
        summary: 'List a subject’s record keys and classes',
        params: subjectParams,
        response: {
          200: {
            type: 'object',
            properties: {
              subjectId: { type: 'string' },
              region: { type: 'string' },
              records: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    key: { type: 'string' },
                    class: { type: 'string' },
                    version: { type: 'integer' },
                    updatedAt: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const { subjectId } = request.params as { subjectId: string };
      const ctx = await context(request);
      const id = parseSubjectId(subjectId);
      const records = served(request, await vault.listRecords(ctx, id));
      return { subjectId: id, region: request.served?.region, records };
    },
  );

  for (const plugin of options.plugins ?? []) await plugin(app);
  return app;
}
