/**
 * `domicile wipe --region R --jurisdiction J`: wipes a legacy region of a jurisdiction after a
 * verified migration (E1), proves it with a scan, logs a deletion receipt, and retires the region
 * for the jurisdiction. Restart `domicile up` afterwards so routing forgets the region.
 *
 * `domicile wipe --from crm.mapping.yaml --jurisdiction J`: the same for an application database
 * migrated through a mapping file — deletes the mapped rows of the jurisdiction, scans, logs the
 * receipt with what may still hold the rows. There is no region to retire.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import { requireJurisdiction, requireRegion } from '../../domain/residency.js';
import { deploymentPaths, loadConfigFile } from '../../server/deployment.js';
import { type Operator, openOperator, operatorPrincipal } from '../../server/operator.js';
import { foreignWipeStorage } from '../../services/migrate/foreign-source.js';
import type { MigrationContext } from '../../services/migrate/migration.js';
import { type WipeOptions as WipeRegionOptions, wipeRegion } from '../../services/migrate/wipe.js';
import type { MigrationProgress } from '../../store/migration-store.js';
import { openSqliteMigrationStore } from '../../store/sqlite/sqlite-migration-store.js';
import { recordRetirement } from '../../store/sqlite/sqlite-retirements.js';
import { action, EXIT, globalOptions, output } from '../common.js';
import { isMappingFile, loadMapping, openMappedDatabase } from '../mapping.js';

interface WipeOptions {
  readonly region?: string;
  readonly from?: string;
  readonly jurisdiction: string;
  readonly force: boolean;
  readonly reason?: string;
}

/** The migrations out of `source` for `jurisdiction`, from every region's migration state. */
async function migrationsOutOf(
  operator: Operator,
  source: string,
  jurisdiction: JurisdictionId,
): Promise<MigrationProgress[]> {
  const migrations: MigrationProgress[] = [];
  for (const store of operator.stores.values()) {
    const state = openSqliteMigrationStore(store);
    for (const p of await state.list()) {
      if (p.source === source && p.jurisdiction === jurisdiction) migrations.push(p);
    }
  }
  return migrations;
}

/**
 * What a wipe of `source` needs besides its storage: the migrations out of it, the operator's
 * context in the jurisdiction's log, and `--force`.
 */
async function wipeBasis(
  operator: Operator,
  source: string,
  jurisdiction: JurisdictionId,
  opts: WipeOptions,
): Promise<{ ctx: MigrationContext; basis: Omit<WipeRegionOptions, 'storage' | 'keyring'> }> {
  const migrations = await migrationsOutOf(operator, source, jurisdiction);
  const ctx = await operator.context(jurisdiction, operatorPrincipal(process.env));
  return {
    ctx,
    basis: {
      regionId: source,
      jurisdiction,
      migrations,
      ...(opts.force ? { force: { reason: opts.reason ?? '' } } : {}),
      audit: ctx.audit,
      pseudonymKey: ctx.pseudonymKey,
      principal: ctx.principal,
      requestId: ctx.requestId,
    },
  };
}

/** `wipe --from mapping.yaml`: the application database's rows of the jurisdiction. */
async function wipeForeign(opts: WipeOptions & { from: string }, command: Command): Promise<void> {
  const global = globalOptions(command);
  const config = await loadConfigFile(global.config);
  const jurisdiction = requireJurisdiction(config, opts.jurisdiction);
  if (!isMappingFile(config, opts.from)) {
    throw new DomicileError('DOMICILE_ERR_USAGE', '--from must name a mapping file (`*.yaml`)');
  }
  const mapping = await loadMapping(opts.from, config);
  const operator = await openOperator({ config, dataDir: global.data, env: process.env });
  try {
    const { basis } = await wipeBasis(operator, mapping.sourceId, jurisdiction.id, opts);
    // a query or a read-only mapping is never opened for writing: the wipe then reports what remains
    const writable = mapping.rows.kind === 'table' && !mapping.readOnly;
    const database = await openMappedDatabase(mapping, writable ? 'wipe' : 'read', process.env);
    try {
      const receipt = await wipeRegion({
        ...basis,
        storage: foreignWipeStorage({
          config: operator.config,
          mapping,
          jurisdiction: jurisdiction.id,
          database,
          secureErase: mapping.database.kind === 'sqlite',
        }),
      });
      const complete = receipt.remainingRecords === 0;
      if (!complete) process.exitCode = EXIT.failure;
      output(global, receipt, () =>
        [
          `wiped ${mapping.sourceId} for ${jurisdiction.id}${receipt.forced ? ' (forced)' : ''}`,
          `  deleted rows: ${receipt.deletedRecords}, root ${receipt.deletedRoot}`,
          `  scan afterwards: ${receipt.remainingRecords} rows of ${jurisdiction.id}`,
          ...receipt.notSecurelyErased.map((gap) => `  not securely erased: ${gap}`),
          complete
            ? '  no row of the jurisdiction remains'
            : '  wipe incomplete: rows of the jurisdiction remain',
        ].join('\n'),
      );
    } finally {
      await database.close();
    }
  } finally {
    await operator.close();
  }
}

export function register(program: Command): void {
  program
    .command('wipe')
    .description(
      'wipe a legacy region (or an application database) of a jurisdiction after a verified migration, and prove it',
    )
    .option('--region <id>', 'the legacy region, e.g. us-va-legacy')
    .option('--from <mapping.yaml>', 'instead of a region: the mapping file of an application database')
    .requiredOption('--jurisdiction <id>', 'the jurisdiction, e.g. US')
    .option('--force', 'wipe without a passed verification (needs --reason; logged)', false)
    .option('--reason <text>', 'why the wipe is forced (goes to the log)')
    .action(
      action(async (opts: WipeOptions, command: Command) => {
        if ((opts.region === undefined) === (opts.from === undefined)) {
          throw new DomicileError('DOMICILE_ERR_USAGE', 'name exactly one of --region or --from');
        }
        if (opts.force && (opts.reason ?? '').trim() === '') {
          throw new DomicileError('DOMICILE_ERR_USAGE', '--force needs --reason');
        }
        if (opts.from !== undefined) return wipeForeign({ ...opts, from: opts.from }, command);
        const global = globalOptions(command);
        const config = await loadConfigFile(global.config);
        const jurisdiction = requireJurisdiction(config, opts.jurisdiction);
        const region = requireRegion(config, opts.region ?? '').id;
        if (!jurisdiction.legacy.includes(region)) {
          throw new DomicileError(
            'DOMICILE_ERR_USAGE',
            `region \`${region}\` is not a legacy region of \`${jurisdiction.id}\``,
          );
        }
        const operator = await openOperator({ config, dataDir: global.data, env: process.env });
        try {
          const { ctx, basis } = await wipeBasis(operator, region, jurisdiction.id, opts);
          const keyring = operator.keyrings.get(region as RegionId);
          const receipt = await wipeRegion({
            ...basis,
            storage: operator.wipeStorage(region, jurisdiction.id),
            ...(keyring === undefined ? {} : { keyring }),
          });
          const complete = receipt.remainingRecords === 0 && !receipt.kekRemains;
          if (complete) {
            const file = deploymentPaths(global.data).control;
            await mkdir(dirname(file), { recursive: true });
            recordRetirement(file, {
              region,
              jurisdiction: jurisdiction.id,
              retiredAt: Date.now(),
              receipt: JSON.stringify(receipt),
            });
            await ctx.audit.append({
              type: 'region.retire',
              requestId: ctx.requestId,
              principal: ctx.principal,
              jurisdiction: jurisdiction.id,
              decision: 'info',
              reason: 'region retired for the jurisdiction after its wipe',
              details: { region },
            });
          } else {
            process.exitCode = EXIT.failure;
          }
          output(global, receipt, () =>
            [
              `wiped ${region} for ${jurisdiction.id}${receipt.forced ? ' (forced)' : ''}`,
              `  deleted records: ${receipt.deletedRecords}, root ${receipt.deletedRoot}`,
              `  destroyed keys: ${receipt.destroyedKeks} KEK, ${receipt.destroyedSubjectKeys} subject keys`,
              `  scan afterwards: ${receipt.remainingRecords} records of ${jurisdiction.id}, KEK ${receipt.kekRemains ? 'still present' : 'gone'}`,
              complete
                ? `  ${region} is retired for ${jurisdiction.id}: restart \`domicile up\``
                : '  wipe incomplete: the region is not retired',
            ].join('\n'),
          );
        } finally {
          await operator.close();
        }
      }),
    );
}
