/**
 * `domicile migrate plan|run|status|verify`: moves a jurisdiction's records out of a legacy
 * region (or an application database, `--from mapping.yaml`) into a region of the jurisdiction,
 * resumably, and proves it. Works on the data folder, next to a running `domicile up`.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import { requireJurisdiction, requireRegion } from '../../domain/residency.js';
import { deploymentPaths, loadConfigFile } from '../../server/deployment.js';
import { type Operator, openOperator, operatorPrincipal } from '../../server/operator.js';
import { foreignSource } from '../../services/migrate/foreign-source.js';
import {
  type MigrationSource,
  type MigrationTarget,
  migrationId,
  planMigration,
  runMigration,
  verifyMigration,
} from '../../services/migrate/migration.js';
import type { MigrationFailure, MigrationProgress } from '../../store/migration-store.js';
import { openSqliteDirectory } from '../../store/sqlite/sqlite-directory.js';
import { openSqliteMigrationStore } from '../../store/sqlite/sqlite-migration-store.js';
import { action, EXIT, globalOptions, output } from '../common.js';
import { isMappingFile, loadMapping, openMappedDatabase } from '../mapping.js';
import { ProgressReporter } from '../progress.js';

interface MigrateOptions {
  readonly jurisdiction: string;
  readonly from: string;
  readonly to: string;
}

function parsePositive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `--${name} must be a positive integer, not \`${value.slice(0, 32)}\``,
    );
  }
  return n;
}

/** The source and target a command names, open; `close` closes everything. */
interface Opened {
  readonly operator: Operator;
  readonly source: MigrationSource;
  readonly target: MigrationTarget;
  readonly config: Config;
  close(): Promise<void>;
}

/** Opens the operator view and the source and target a command names. */
async function openFor(command: Command, opts: MigrateOptions): Promise<Opened> {
  const options = globalOptions(command);
  const config = await loadConfigFile(options.config);
  const jurisdiction = requireJurisdiction(config, opts.jurisdiction).id;
  const targetRegion = requireRegion(config, opts.to).id;
  // a bad mapping file is reported before anything of the deployment is opened
  const mapping = isMappingFile(config, opts.from) ? await loadMapping(opts.from, config) : undefined;
  const operator = await openOperator({ config, dataDir: options.data, env: process.env });
  const closers: (() => Promise<void>)[] = [() => operator.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    if (mapping === undefined) {
      const source = regionSourceFor(operator, opts.from, jurisdiction);
      return { operator, source, target: operator.target(targetRegion), config, close };
    }
    const database = await openMappedDatabase(mapping, 'read', process.env);
    closers.push(() => database.close());
    // an application database's subjects are registered in the directory as they are migrated
    const file = deploymentPaths(options.data).directory;
    await mkdir(dirname(file), { recursive: true });
    const directory = openSqliteDirectory({ file, busyTimeoutMs: 30_000 });
    closers.push(() => directory.close());
    const source = foreignSource({ config: operator.config, mapping, jurisdiction, database });
    return { operator, source, target: { ...operator.target(targetRegion), directory }, config, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function regionSourceFor(operator: Operator, from: string, jurisdiction: JurisdictionId): MigrationSource {
  if (operator.config.regions.has(from as RegionId)) {
    const region = from as RegionId;
    if (!operator.config.jurisdictions.get(jurisdiction)?.legacy.includes(region)) {
      throw new DomicileError(
        'DOMICILE_ERR_USAGE',
        `region \`${from}\` is not a legacy region of \`${jurisdiction}\``,
      );
    }
    return operator.regionSource(region, jurisdiction);
  }
  throw new DomicileError(
    'DOMICILE_ERR_USAGE',
    `\`${shown(from)}\` is neither a region nor a mapping file (\`*.yaml\`)`,
  );
}

/** An id or name as it may be shown on a terminal: printable ASCII, at most 128 characters. */
function shown(text: string): string {
  return text.slice(0, 128).replace(/[^\x20-\x7e]/g, '?');
}

/** One failed row, for a terminal. */
function failureLine(f: MigrationFailure): string {
  return `  failed: subject ${shown(f.subjectId)} key ${shown(f.key)}: ${f.reason}`;
}

function sourceOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--jurisdiction <id>', 'the jurisdiction whose records move, e.g. US')
    .requiredOption(
      '--from <source>',
      'a legacy region id (us-va-legacy) or a mapping file of an application database',
    )
    .requiredOption('--to <region>', 'the target region, e.g. oci-us-ashburn');
}

export function register(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('move a jurisdiction’s records out of a legacy source, resumably and verifiably');

  sourceOptions(migrate.command('plan'))
    .description(
      'count records and bytes and estimate the duration; refuses a target that may not hold the data',
    )
    .option('--batch <n>', 'records per batch')
    .option('--rate <n>', 'records per second at most')
    .action(
      action(async (opts: MigrateOptions & { batch?: string; rate?: string }, command: Command) => {
        const { operator, source, target, close } = await openFor(command, opts);
        try {
          const ctx = await operator.context(source.jurisdiction, operatorPrincipal(process.env));
          const batchSize = parsePositive('batch', opts.batch);
          const rate = parsePositive('rate', opts.rate);
          const plan = await planMigration(ctx, source, target, {
            ...(batchSize === undefined ? {} : { batchSize }),
            ...(rate === undefined ? {} : { rate }),
          });
          output(globalOptions(command), plan, () =>
            [
              `migration ${plan.id}`,
              `  records: ${plan.records.toLocaleString('en-US')} (${(plan.bytes / 1024 / 1024).toFixed(1)} MiB of ${source.id.startsWith('foreign:') ? 'data' : 'ciphertext'})`,
              `  other jurisdictions in the source (left alone): ${plan.otherJurisdictions.toLocaleString('en-US')}`,
              `  batches: ${plan.batches} of ${plan.batchSize}`,
              `  estimate: ${plan.estimateSeconds} s`,
              `  progress: ${plan.progress ? `${plan.progress.status}, ${plan.progress.processed} processed` : 'not started'}`,
            ].join('\n'),
          );
        } finally {
          await close();
        }
      }),
    );

  sourceOptions(migrate.command('run'))
    .description(
      'copy in batches under the target’s keys, checkpointing in the target; resumes where it stopped',
    )
    .option('--batch <n>', 'records per batch (default 2000)')
    .option('--rate <n>', 'records per second at most')
    .action(
      action(async (opts: MigrateOptions & { batch?: string; rate?: string }, command: Command) => {
        const global = globalOptions(command);
        const { operator, source, target, close } = await openFor(command, opts);
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const ctx = await operator.context(source.jurisdiction, operatorPrincipal(process.env));
          const batchSize = parsePositive('batch', opts.batch);
          const rate = parsePositive('rate', opts.rate);
          const before = await target.state.load(
            migrationId(source.jurisdiction, source.id, target.regionId),
          );
          const reporter = new ProgressReporter(
            { json: global.json, stream: global.json ? process.stdout : process.stderr, label: 'migrating' },
            before?.processed ?? 0,
          );
          const progress = await runMigration(ctx, source, target, {
            ...(batchSize === undefined ? {} : { batchSize }),
            ...(rate === undefined ? {} : { rate }),
            signal: stop.signal,
            onProgress: (p, total) => {
              reporter.update(p.processed, total, { copied: p.copied, skipped: p.skipped, failed: p.failed });
            },
          });
          reporter.finish();
          const failures = await target.state.failures(progress.id);
          output(global, { event: 'done', ...progress, failures }, () =>
            [
              `migration ${progress.id}: ${progress.status}`,
              `  processed ${progress.processed}, copied ${progress.copied}, already present ${progress.skipped}, failed ${progress.failed}, ${progress.batches} batches`,
              ...failures.slice(0, 20).map(failureLine),
            ].join('\n'),
          );
          if (progress.failed > 0) process.exitCode = EXIT.failure;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await close();
        }
      }),
    );

  sourceOptions(migrate.command('verify'))
    .description(
      'Merkle roots over (subject pseudonym, key, version, content hash) on both sides; equal, or the differences',
    )
    .action(
      action(async (opts: MigrateOptions, command: Command) => {
        const global = globalOptions(command);
        const { operator, source, target, close } = await openFor(command, opts);
        try {
          const ctx = await operator.context(source.jurisdiction, operatorPrincipal(process.env));
          const report = await verifyMigration(ctx, source, target);
          output(global, report, () =>
            [
              `migration ${report.migration}: ${report.passed ? 'verified, roots equal' : 'NOT verified'}`,
              `  source root ${report.sourceRoot}`,
              `  target root ${report.targetRoot}`,
              `  records ${report.records}, superseded by newer writes ${report.superseded}, new in target ${report.newInTarget}, differences ${report.differenceCount}`,
              ...report.differences.map(
                (d) =>
                  `  ${d.kind}: subject ${shown(d.subjectId)} key ${shown(d.key)}${d.reason ? ` (${d.reason})` : ''}`,
              ),
            ].join('\n'),
          );
          if (!report.passed) process.exitCode = EXIT.denied;
        } finally {
          await close();
        }
      }),
    );

  migrate
    .command('status')
    .description('progress and verification of every migration in this data folder')
    .action(
      action(async (_opts: unknown, command: Command) => {
        const global = globalOptions(command);
        const config = await loadConfigFile(global.config);
        const operator = await openOperator({ config, dataDir: global.data, env: process.env });
        try {
          const all: (MigrationProgress & { failures: MigrationFailure[] })[] = [];
          for (const store of operator.stores.values()) {
            const state = openSqliteMigrationStore(store);
            for (const p of await state.list()) all.push({ ...p, failures: await state.failures(p.id) });
          }
          output(global, all, () =>
            all.length === 0
              ? 'no migrations'
              : all
                  .map((p) =>
                    [
                      `${p.id}: ${p.status}, ${p.processed} processed (copied ${p.copied}, already present ${p.skipped}, failed ${p.failed}), ${p.batches} batches, updated ${new Date(p.updatedAt).toISOString()}`,
                      `  verification: ${p.verification ? `${p.verification.passed ? 'passed' : 'failed'} at ${new Date(p.verification.at).toISOString()}, root ${p.verification.targetRoot}, ${p.verification.differences} differences` : 'none since the last batch'}`,
                      ...p.failures.slice(0, 20).map(failureLine),
                    ].join('\n'),
                  )
                  .join('\n'),
          );
        } finally {
          await operator.close();
        }
      }),
    );
}
