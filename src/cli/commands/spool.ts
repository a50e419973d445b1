/**
 * `domicile spool`: what region nodes could not deliver yet (`spool status`), and putting back
 * what a node refused for good once its cause is fixed (`spool requeue`). See `server/spools.ts`.
 */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import type { RegionId } from '../../domain/ids.js';
import { loadConfigFile } from '../../server/deployment.js';
import { listSpools, requeueRejected, type SpoolKind } from '../../server/spools.js';
import { action, globalOptions, output } from '../common.js';

const KINDS: readonly SpoolKind[] = ['replicas', 'audit'];
const WHAT: Readonly<Record<SpoolKind, string>> = { replicas: 'replicas for', audit: 'audit events for' };

function requireKind(kind: string | undefined): SpoolKind | undefined {
  if (kind === undefined || (KINDS as readonly string[]).includes(kind)) return kind as SpoolKind | undefined;
  throw new DomicileError('DOMICILE_ERR_USAGE', `--kind is one of ${KINDS.join(', ')}`);
}

/** `--region`, which must be a region the configuration declares. */
async function configuredRegion(configFile: string, region: string): Promise<string> {
  const config = await loadConfigFile(configFile);
  if (!config.regions.has(region as RegionId)) {
    throw new DomicileError('DOMICILE_ERR_USAGE', `--region: no region \`${region}\` in ${configFile}`);
  }
  return region;
}

/** ` (DOMICILE_ERR_REGION_REFUSED 2, unknown 1)`, or nothing when none was refused. */
function describeRefusals(refusals: Readonly<Record<string, number>>): string {
  const parts = Object.entries(refusals)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([code, n]) => `${code} ${n}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

export function register(program: Command): void {
  const spool = program
    .command('spool')
    .description('what region nodes hold for peers that were down, or that refused it for good');
  spool
    .command('status')
    .description('per region and target: items waiting, and items set aside as refused for good')
    .option('--region <id>', 'one region only')
    .action(
      action(async (opts: { region?: string }, command: Command) => {
        const options = globalOptions(command);
        const region =
          opts.region === undefined ? undefined : await configuredRegion(options.config, opts.region);
        const spools = listSpools(options.data, region);
        output(options, spools, () =>
          spools.length === 0
            ? 'no spools: every region node delivered everything it had'
            : spools
                .map(
                  (s) =>
                    `${s.region}: ${WHAT[s.kind]} ${s.to}: ${s.pending} waiting, ${s.rejected} refused for good${describeRefusals(s.refusals)}`,
                )
                .join('\n'),
        );
      }),
    );
  spool
    .command('requeue')
    .description(
      'put the items a peer refused for good back in line, once the cause is fixed (the region node must be stopped)',
    )
    .requiredOption('--region <id>', 'the region whose spools to requeue')
    .option('--kind <kind>', `only one kind: ${KINDS.join(' or ')}`)
    .option('--to <id>', 'only the spool bound for this region (replicas) or jurisdiction (audit events)')
    .option('--code <code>', 'only the items refused with this code, e.g. DOMICILE_ERR_REGION_REFUSED')
    .action(
      action(
        async (opts: { region: string; kind?: string; to?: string; code?: string }, command: Command) => {
          const options = globalOptions(command);
          const kind = requireKind(opts.kind);
          const region = await configuredRegion(options.config, opts.region);
          const moved = requeueRejected(options.data, region, {
            ...(kind === undefined ? {} : { kind }),
            ...(opts.to === undefined ? {} : { to: opts.to }),
            ...(opts.code === undefined ? {} : { code: opts.code }),
          });
          output(options, moved, () =>
            moved.length === 0
              ? 'nothing to requeue'
              : moved
                  .map(
                    (m) =>
                      `${m.region}: ${m.requeued} ${WHAT[m.kind]} ${m.to} requeued: delivered when the region node starts`,
                  )
                  .join('\n'),
          );
        },
      ),
    );
}
