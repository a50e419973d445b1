/**
 * `domicile routing report`: per jurisdiction, how many requests each region served and the share
 * served by the home region (over the last requests, so it reaches 100% once a migration has
 * moved everything home), read from the running gateway's `GET /v1/routing`.
 */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionRouting } from '../../server/routing-figures.js';
import { action, clientOptions, globalOptions, output } from '../common.js';

const percent = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function register(program: Command): void {
  program
    .command('routing')
    .description('routing figures of the running gateway')
    .command('report')
    .description('per jurisdiction: requests per serving region and the share served by the home region')
    .action(
      action(async (_opts: unknown, command: Command) => {
        const client = clientOptions(command);
        let report: JurisdictionRouting[];
        try {
          const response = await fetch(`${client.url}/v1/routing`);
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          report = ((await response.json()) as { jurisdictions: JurisdictionRouting[] }).jurisdictions;
        } catch (cause) {
          throw new DomicileError(
            'DOMICILE_ERR_REGION_UNAVAILABLE',
            `cannot read ${client.url}/v1/routing: is \`domicile up\` running?`,
            { cause },
          );
        }
        output(globalOptions(command), report, () =>
          report.length === 0
            ? 'no requests routed yet'
            : report
                .map((r) =>
                  [
                    `${r.jurisdiction}: ${r.total} requests, ${percent(r.total === 0 ? 0 : r.home / r.total)} served by home since start, ${r.recentHomeShare === null ? '?' : percent(r.recentHomeShare)} of the recent ones`,
                    ...Object.entries(r.byRegion).map(([region, n]) => `  ${region}\t${n}`),
                  ].join('\n'),
                )
                .join('\n'),
        );
      }),
    );
}
