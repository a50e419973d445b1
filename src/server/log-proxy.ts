/**
 * The log endpoints of a gateway (`domicile gateway`): a jurisdiction's log lives in its home
 * region, so the gateway passes `/v1/logs/{J}/…` (checkpoint, tiles, proofs) through to the home
 * region node over mutual TLS, byte for byte, and answers a subject's access log from there.
 * The routes, their answers and their errors are those of `log-routes.ts`.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import { JURISDICTION_PATTERN, type JurisdictionId, type RegionId } from '../domain/ids.js';
import { requireJurisdiction } from '../domain/residency.js';
import type { TokenVerifier } from '../services/access/tokens.js';
import type { AuditSink } from '../services/audit/audit-event.js';
import type { HttpsRegionClient } from '../services/routing/https-region-client.js';
import { REGION_API } from '../services/routing/region-wire.js';
import type { VaultService } from '../services/vault/vault.js';
import { registerAccessLogRoute } from './log-routes.js';

/** Dependencies of the gateway's log endpoints. */
export interface LogProxyOptions {
  readonly config: Config;
  readonly clients: ReadonlyMap<RegionId, HttpsRegionClient>;
  readonly vault: VaultService;
  readonly verifier: TokenVerifier;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
}

/** Registers the log endpoints that pass through to each jurisdiction's home region. */
export function registerLogProxy(app: FastifyInstance, options: LogProxyOptions): void {
  const { config, clients } = options;
  const homeOf = (jurisdictionId: string): HttpsRegionClient => {
    const jurisdiction = requireJurisdiction(config, jurisdictionId);
    const client = clients.get(jurisdiction.home);
    if (!client) {
      throw new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `the home region of \`${jurisdiction.id}\` is not reachable`,
      );
    }
    return client;
  };

  app.get(
    '/v1/logs/:jurisdiction/*',
    {
      schema: {
        summary: 'The jurisdiction’s log (C2SP tlog-tiles, JSON proofs), from its home region',
        params: {
          type: 'object',
          properties: {
            jurisdiction: { type: 'string', pattern: JURISDICTION_PATTERN.source },
            // the path below the log: letters, digits, `/`, `.` (tile paths), nothing else
            '*': { type: 'string', pattern: '^[A-Za-z0-9./]{1,128}$' },
          },
          required: ['jurisdiction', '*'],
        },
      },
    },
    async (request, reply) => {
      const params = request.params as { jurisdiction: string; '*': string };
      const home = homeOf(params.jurisdiction);
      if (params['*'].split('/').includes('..')) {
        throw new DomicileError('DOMICILE_ERR_NOT_FOUND', 'no such log resource');
      }
      const query = request.raw.url?.includes('?') ? request.raw.url.slice(request.raw.url.indexOf('?')) : '';
      if (query.length > 256) throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'query too long');
      const { contentType, body } = await home.getLogResource(
        `${REGION_API.logs}${params.jurisdiction}/${params['*']}${query}`,
      );
      reply.type(contentType);
      if (params['*'] === 'checkpoint') reply.header('cache-control', 'no-cache');
      return reply.send(body);
    },
  );

  registerAccessLogRoute(app, {
    config,
    vault: options.vault,
    verifier: options.verifier,
    audit: options.audit,
    accessLog: (jurisdiction, subjectId) => homeOf(jurisdiction).accessLog({ subjectId, jurisdiction }),
  });
}
