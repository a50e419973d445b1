/**
 * Transfers over HTTP: backups (`/v1/backups`), exports (`/v1/exports`), relocation
 * (`/v1/subjects/{subjectId}/relocate`) and the transfer report (`/v1/reports/transfers`). Every
 * route authenticates the caller; the services decide, pass the transfer gate and log.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../domain/config.js';
import { ID_PATTERN, type JurisdictionId, parseSubjectId } from '../domain/ids.js';
import { requireJurisdiction } from '../domain/residency.js';
import type { TokenVerifier } from '../services/access/tokens.js';
import type { AuditLog } from '../services/audit/audit-log.js';
import type { BackupService, OperationContext } from '../services/backup/backup.js';
import type { KeyBackupService } from '../services/backup/key-backup.js';
import type { ExportRequest, ExportService } from '../services/transfer/export.js';
import type { TransferGate } from '../services/transfer/gate.js';
import type { RelocationService } from '../services/transfer/relocation.js';
import {
  type JurisdictionTransferReport,
  readLogEntries,
  transferReportOf,
} from '../services/transfer/report.js';
import { objectResponses } from './schemas.js';

/** Dependencies of the transfer routes. */
export interface TransferRoutesOptions {
  readonly config: Config;
  readonly verifier: TokenVerifier;
  readonly backups: BackupService;
  readonly keyBackups: KeyBackupService;
  readonly exports: ExportService;
  readonly relocation: RelocationService;
  readonly gate: TransferGate;
  readonly logs: ReadonlyMap<JurisdictionId, AuditLog>;
}

const backupIdParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' } },
  required: ['id'],
} as const;
const short = { type: 'string', minLength: 1, maxLength: 64 } as const;

/**
 * The transfer report of every jurisdiction (or one), computed from the logs' entry bundles
 * after writing pending replication summaries.
 */
export async function transfersReport(
  options: Pick<TransferRoutesOptions, 'config' | 'gate' | 'logs'>,
  jurisdiction?: string,
): Promise<JurisdictionTransferReport[]> {
  await options.gate.flush();
  const ids = jurisdiction
    ? [requireJurisdiction(options.config, jurisdiction).id]
    : [...options.config.jurisdictions.keys()];
  const out: JurisdictionTransferReport[] = [];
  for (const id of ids) {
    const log = options.logs.get(id);
    if (!log) continue;
    const { size, entries } = await readLogEntries(log.log);
    out.push(transferReportOf(options.config, id, size, entries));
  }
  return out;
}

/** The routes of one kind of backup: create, list, verify (when it has it) and restore. */
interface BackupRoutes {
  /** `/v1/backups`, `/v1/key-backups`. */
  readonly path: string;
  /** The property of the list answer that holds the backups. */
  readonly listKey: string;
  readonly service: Pick<BackupService | KeyBackupService, 'create' | 'list' | 'restore'>;
  readonly summaries: { readonly create: string; readonly list: string; readonly restore: string };
  readonly verify?: { readonly summary: string; readonly run: (id: string) => Promise<object> };
}

function registerBackupRoutes(
  app: FastifyInstance,
  context: (request: FastifyRequest) => Promise<OperationContext>,
  { path, listKey, service, summaries, verify }: BackupRoutes,
): void {
  app.post(
    path,
    {
      schema: {
        summary: summaries.create,
        body: {
          type: 'object',
          properties: { jurisdiction: short, to: short },
          required: ['jurisdiction', 'to'],
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request, reply) => {
      const ctx = await context(request);
      const body = request.body as { jurisdiction: string; to: string };
      return reply.code(201).send(await service.create(body, ctx));
    },
  );

  app.get(
    path,
    {
      schema: {
        summary: summaries.list,
        querystring: {
          type: 'object',
          properties: { region: short, jurisdiction: short },
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request) => {
      await context(request);
      const query = request.query as { region?: string; jurisdiction?: string };
      return { [listKey]: await service.list(query) };
    },
  );

  if (verify) {
    app.post(
      `${path}/:id/verify`,
      { schema: { summary: verify.summary, params: backupIdParams, response: objectResponses } },
      async (request) => {
        await context(request);
        const { id } = request.params as { id: string };
        return verify.run(id);
      },
    );
  }

  app.post(
    `${path}/:id/restore`,
    {
      schema: {
        summary: summaries.restore,
        params: backupIdParams,
        body: { type: 'object', properties: { to: short }, required: ['to'], additionalProperties: false },
        response: objectResponses,
      },
    },
    async (request) => {
      const ctx = await context(request);
      const { id } = request.params as { id: string };
      return service.restore({ id, to: (request.body as { to: string }).to }, ctx);
    },
  );
}

/** Registers the transfer routes. */
export function registerTransferRoutes(app: FastifyInstance, options: TransferRoutesOptions): void {
  const { verifier, backups, keyBackups, exports, relocation } = options;
  const context = async (request: FastifyRequest): Promise<OperationContext> => ({
    requestId: request.id,
    principal: await verifier.verifyHeader(request.headers.authorization),
  });

  registerBackupRoutes(app, context, {
    path: '/v1/backups',
    listKey: 'backups',
    service: backups,
    summaries: {
      create: 'Back up a jurisdiction’s records, as ciphertext only, into a region’s backup storage',
      list: 'List backups (ids, counts, roots; no data)',
      restore: 'Restore a backup into a region allowed to hold its plaintext (idempotent)',
    },
    verify: {
      summary: 'Verify a backup’s signed manifest against its content',
      run: async (id) => ({ ...(await backups.verify(id)), verified: true }),
    },
  });
  registerBackupRoutes(app, context, {
    path: '/v1/key-backups',
    listKey: 'keyBackups',
    service: keyBackups,
    summaries: {
      create: 'Back up a jurisdiction’s keyring, sealed, into one of its own regions (never abroad)',
      list: 'List keyring backups (key ids and counts; no key)',
      restore: 'Restore a keyring backup into a region of its jurisdiction, without erased subjects’ keys',
    },
  });

  app.post(
    '/v1/exports',
    {
      schema: {
        summary:
          'De-identified export: identifiers dropped, quasi-identifiers generalised, k-anonymity checked',
        body: {
          type: 'object',
          properties: {
            jurisdiction: short,
            class: short,
            fields: {
              type: 'array',
              items: { type: 'string', pattern: ID_PATTERN.source },
              minItems: 1,
              maxItems: 64,
            },
            destination: short,
            counterparty: { type: 'string', minLength: 1, maxLength: 128 },
            counterpartyCountry: { type: 'string', pattern: '^[A-Z]{2}$' },
            category: {
              anyOf: [short, { type: 'array', items: short, minItems: 1, maxItems: 8 }],
            },
            k: { type: 'integer', minimum: 2, maximum: 1_000_000 },
          },
          required: [
            'jurisdiction',
            'class',
            'fields',
            'destination',
            'counterparty',
            'counterpartyCountry',
            'category',
          ],
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request) => {
      const ctx = await context(request);
      return exports.export(request.body as ExportRequest, ctx);
    },
  );

  app.post(
    '/v1/subjects/:subjectId/relocate',
    {
      schema: {
        summary: 'Move a subject and its records to another jurisdiction (re-encrypted there, erased here)',
        params: {
          type: 'object',
          properties: { subjectId: { type: 'string', pattern: ID_PATTERN.source } },
          required: ['subjectId'],
        },
        body: {
          type: 'object',
          properties: { jurisdiction: short },
          required: ['jurisdiction'],
          additionalProperties: false,
        },
        response: objectResponses,
      },
    },
    async (request) => {
      const ctx = await context(request);
      const subjectId = parseSubjectId((request.params as { subjectId: string }).subjectId);
      return relocation.relocate(subjectId, (request.body as { jurisdiction: string }).jurisdiction, ctx);
    },
  );

  app.get(
    '/v1/reports/transfers',
    {
      schema: {
        summary: 'Volumes moved per jurisdiction, destination and class, computed from the logs',
        querystring: { type: 'object', properties: { jurisdiction: short }, additionalProperties: false },
        response: objectResponses,
      },
    },
    async (request) => {
      await context(request);
      const { jurisdiction } = request.query as { jurisdiction?: string };
      return { jurisdictions: await transfersReport(options, jurisdiction) };
    },
  );
}
