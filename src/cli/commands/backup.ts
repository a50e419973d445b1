/**
 * `domicile backup create|list|verify|restore`: ciphertext-only backups, and
 * `domicile backup keys|list-keys|restore-keys`: keyring backups kept in the jurisdiction, through
 * the HTTP API.
 */
import type { Command } from 'commander';
import type { BackupSummary, RestoreReport } from '../../services/backup/backup.js';
import type { KeyBackupSummary, KeyRestoreReport } from '../../services/backup/key-backup.js';
import { action, callApi, clientOptions, globalOptions, output } from '../common.js';

const line = (b: BackupSummary): string =>
  `${b.id}\t${b.region}\t${b.jurisdiction} from ${b.sourceRegion}\t${b.records} records\t${b.createdAt}`;
const keyLine = (b: KeyBackupSummary): string =>
  `${b.id}\t${b.region}\t${b.jurisdiction} from ${b.sourceRegion}\t${b.keks.length} keks, ${b.subjectKeys} subject keys\t${b.createdAt}`;

function listQuery(opts: { region?: string; jurisdiction?: string }): string {
  const query = new URLSearchParams();
  if (opts.region) query.set('region', opts.region);
  if (opts.jurisdiction) query.set('jurisdiction', opts.jurisdiction);
  const q = query.toString();
  return q ? `?${q}` : '';
}

export function register(program: Command): void {
  const backup = program.command('backup').description('ciphertext-only backups of a jurisdiction');
  backup
    .command('create')
    .description('back up a jurisdiction’s records (ciphertext only, signed manifest) into a region')
    .requiredOption('--jurisdiction <id>', 'jurisdiction, e.g. US')
    .requiredOption('--to <region>', 'a region or backup region of the jurisdiction')
    .action(
      action(async (opts: { jurisdiction: string; to: string }, command: Command) => {
        const result = (await callApi(clientOptions(command), 'POST', '/v1/backups', {
          jurisdiction: opts.jurisdiction,
          to: opts.to,
        })) as BackupSummary;
        output(globalOptions(command), result, () => `created ${line(result)}\n  root ${result.root}`);
      }),
    );
  backup
    .command('list')
    .description('list backups')
    .option('--region <region>', 'only backups held in this region')
    .option('--jurisdiction <id>', 'only backups of this jurisdiction')
    .action(
      action(async (opts: { region?: string; jurisdiction?: string }, command: Command) => {
        const result = (await callApi(clientOptions(command), 'GET', `/v1/backups${listQuery(opts)}`)) as {
          backups: BackupSummary[];
        };
        output(globalOptions(command), result, () => result.backups.map(line).join('\n'));
      }),
    );
  backup
    .command('verify <id>')
    .description('verify the manifest signature and the content root (exit 2 when it fails)')
    .action(
      action(async (id: string, _opts: unknown, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'POST',
          `/v1/backups/${encodeURIComponent(id)}/verify`,
        )) as BackupSummary & { chunks: number };
        output(
          globalOptions(command),
          result,
          () =>
            `backup ${result.id}: verified\n  signature: backup key of ${result.jurisdiction}\n  ${result.records} records in ${result.chunks} files, root ${result.root}`,
        );
      }),
    );
  backup
    .command('restore <id>')
    .description('restore a backup into a region allowed to hold the data (idempotent, resumable)')
    .requiredOption('--to <region>', 'target region')
    .action(
      action(async (id: string, opts: { to: string }, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'POST',
          `/v1/backups/${encodeURIComponent(id)}/restore`,
          { to: opts.to },
        )) as RestoreReport;
        output(
          globalOptions(command),
          result,
          () =>
            `restored ${result.id} into ${result.to}: ${result.restored} written, ${result.present} already present, ${result.erased} erased since, ${result.unreadable} unreadable${result.registered > 0 ? `, ${result.registered} subjects registered again` : ''}`,
        );
      }),
    );
  backup
    .command('keys')
    .description('back up a jurisdiction’s keyring, sealed, into one of its own regions (never abroad)')
    .requiredOption('--jurisdiction <id>', 'jurisdiction, e.g. US')
    .requiredOption('--to <region>', 'a region of the jurisdiction')
    .action(
      action(async (opts: { jurisdiction: string; to: string }, command: Command) => {
        const result = (await callApi(clientOptions(command), 'POST', '/v1/key-backups', {
          jurisdiction: opts.jurisdiction,
          to: opts.to,
        })) as KeyBackupSummary;
        output(globalOptions(command), result, () => `created ${keyLine(result)}`);
      }),
    );
  backup
    .command('list-keys')
    .description('list keyring backups')
    .option('--region <region>', 'only key backups held in this region')
    .option('--jurisdiction <id>', 'only key backups of this jurisdiction')
    .action(
      action(async (opts: { region?: string; jurisdiction?: string }, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'GET',
          `/v1/key-backups${listQuery(opts)}`,
        )) as { keyBackups: KeyBackupSummary[] };
        output(globalOptions(command), result, () => result.keyBackups.map(keyLine).join('\n'));
      }),
    );
  backup
    .command('restore-keys <id>')
    .description(
      'restore a keyring backup into a region of its jurisdiction (erased subjects’ keys stay out)',
    )
    .requiredOption('--to <region>', 'target region, of the jurisdiction')
    .action(
      action(async (id: string, opts: { to: string }, command: Command) => {
        const result = (await callApi(
          clientOptions(command),
          'POST',
          `/v1/key-backups/${encodeURIComponent(id)}/restore`,
          { to: opts.to },
        )) as KeyRestoreReport;
        output(
          globalOptions(command),
          result,
          () =>
            `restored keys ${result.id} into ${result.to}: ${result.keks} keks installed (${result.keksPresent} present), ${result.restored} subject keys written, ${result.present} already present, ${result.erased} erased subjects left out, ${result.destroyed} destroyed, ${result.conflicts} conflicts`,
        );
      }),
    );
}
