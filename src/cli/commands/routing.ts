/**
 * `domicile routing report`: per jurisdiction, how many requests each region served and the share
 * served by the home region (over the last requests, so it reaches 100% once a migration has
 * moved everything home), read from the running gateway's `/metrics`.
 */
import type { Command } from 'commander';
import { DomicileError } from '../../domain/errors.js';
import { action, clientOptions, globalOptions, output } from '../common.js';

/** One jurisdiction's routing figures. */
interface JurisdictionRouting {
  jurisdiction: string;
  total: number;
  home: number;
  byRegion: Record<string, number>;
  /** Share of the recent requests served by the home region (0..1), as `/metrics` reports it. */
  recentHomeShare: number | null;
}

const SAMPLE = /^(domicile_routed_total|domicile_home_share_ratio)\{([^}]*)\}\s+(\S+)$/;

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
    if (m[1] !== undefined) labels[m[1]] = m[2] ?? '';
  return labels;
}

/** Reads the routing figures out of a Prometheus text exposition. */
export function parseRouting(metrics: string): JurisdictionRouting[] {
  const out = new Map<string, JurisdictionRouting>();
  const of = (j: string): JurisdictionRouting => {
    let r = out.get(j);
    if (!r) {
      r = { jurisdiction: j, total: 0, home: 0, byRegion: {}, recentHomeShare: null };
      out.set(j, r);
    }
    return r;
  };
  for (const line of metrics.split('\n')) {
    const m = SAMPLE.exec(line.trim());
    if (!m) continue;
    const labels = labelsOf(m[2] ?? '');
    const value = Number(m[3]);
    const j = labels.jurisdiction;
    if (j === undefined || !Number.isFinite(value)) continue;
    const r = of(j);
    if (m[1] === 'domicile_home_share_ratio') {
      r.recentHomeShare = value;
      continue;
    }
    const region = labels.region ?? 'none';
    r.total += value;
    if (labels.home === 'true') r.home += value;
    r.byRegion[region] = (r.byRegion[region] ?? 0) + value;
  }
  return [...out.values()].sort((a, b) => a.jurisdiction.localeCompare(b.jurisdiction));
}

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
        let text: string;
        try {
          const response = await fetch(`${client.url}/metrics`);
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          text = await response.text();
        } catch (cause) {
          throw new DomicileError(
            'DOMICILE_ERR_REGION_UNAVAILABLE',
            `cannot read ${client.url}/metrics: is \`domicile up\` running?`,
            {
              cause,
            },
          );
        }
        const report = parseRouting(text);
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
