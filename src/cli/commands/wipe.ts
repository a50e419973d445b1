/**
 * `domicile wipe --region R --jurisdiction J`: wipes a legacy region of a jurisdiction after a
 * verified migration (E1), proves it with a scan, logs a deletion receipt, and retires the region
 * for the jurisdiction. Restart `domicile up` afterwards so routing forgets the region.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import type { RegionId } from '../../domain/ids.js';
import { requireJurisdiction, requireRegion } from '../../domain/residency.js';
import { deploymentPaths, loadConfigFile } from '../../server/deployment.js';
import { openOperator, operatorPrincipal } from '../../server/operator.js';
import { wipeRegion } from '../../services/migrate/wipe.js';
import type { MigrationProgress } from '../../store/migration-store.js';
import { openSqliteMigrationStore } from '../../store/sqlite/sqlite-migration-store.js';
import { recordRetirement } from '../../store/sqlite/sqlite-retirements.js';
import { action, EXIT, globalOptions, output } from '../common.js';

export function register(program: Command): void {
  program
    .command('wipe')
    .description('wipe a legacy region of a jurisdiction after a verified migration, and prove it')
    .requiredOption('--region <id>', 'the legacy region, e.g. us-va-legacy')
    .requiredOption('--jurisdiction <id>', 'the jurisdiction, e.g. US')
    .option('--force', 'wipe without a passed verification (needs --reason; logged)', false)
    .option('--reason <text>', 'why the wipe is forced (goes to the log)')
    .action(
      action(
        async (
          opts: { region: string; jurisdiction: string; force: boolean; reason?: string },
          command: Command,
        ) => {
          const global = globalOptions(command);
          const config = await loadConfigFile(global.config);
          const jurisdiction = requireJurisdiction(config, opts.jurisdiction);
          const region = requireRegion(config, opts.region).id;
          if (!jurisdiction.legacy.includes(region)) {
            throw new DomicileError(
              'DOMICILE_ERR_USAGE',
              `region \`${region}\` is not a legacy region of \`${jurisdiction.id}\``,
            );
          }
          if (opts.force && (opts.reason ?? '').trim() === '') {
            throw new DomicileError('DOMICILE_ERR_USAGE', '--force needs --reason');
          }
          const operator = await openOperator({ config, dataDir: global.data, env: process.env });
          try {
            const migrations: MigrationProgress[] = [];
            for (const store of operator.stores.values()) {
              const state = openSqliteMigrationStore(store);
              for (const p of await state.list()) {
                if (p.source === region && p.jurisdiction === jurisdiction.id) migrations.push(p);
              }
            }
            const ctx = await operator.context(jurisdiction.id, operatorPrincipal(process.env));
            const keyring = operator.keyrings.get(region as RegionId);
            const receipt = await wipeRegion({
              regionId: region,
              jurisdiction: jurisdiction.id,
              storage: operator.wipeStorage(region, jurisdiction.id),
              ...(keyring === undefined ? {} : { keyring }),
              migrations,
              ...(opts.force ? { force: { reason: opts.reason ?? '' } } : {}),
              audit: ctx.audit,
              pseudonymKey: ctx.pseudonymKey,
              principal: ctx.principal,
              requestId: ctx.requestId,
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
        },
      ),
    );
}
