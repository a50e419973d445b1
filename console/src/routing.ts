/**
 * The routing figures of `/metrics` (Prometheus text): per jurisdiction, requests per serving
 * region and the share served by the home region, read the way `domicile routing report` reads
 * them (`domicile_routed_total{jurisdiction,region,home}`, `domicile_home_share_ratio{jurisdiction}`).
 */

/** One jurisdiction's routing figures. */
export interface JurisdictionRouting {
  readonly jurisdiction: string;
  /** Requests routed since the gateway started. */
  readonly total: number;
  /** Of those, served by the home region. */
  readonly home: number;
  readonly byRegion: Readonly<Record<string, number>>;
  /** Share of the recent requests served by the home region (0..1), or null before any. */
  readonly recentHomeShare: number | null;
}

const SAMPLE = /^(domicile_routed_total|domicile_home_share_ratio)\{([^}]*)\}\s+(\S+)$/;

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    if (m[1] !== undefined) labels[m[1]] = m[2] ?? '';
  }
  return labels;
}

/**
 * Reads the routing figures out of a Prometheus text exposition.
 *
 * @example
 * const figures = parseRouting(await (await fetch('/metrics')).text());
 */
export function parseRouting(metrics: string): Map<string, JurisdictionRouting> {
  const out = new Map<
    string,
    {
      jurisdiction: string;
      total: number;
      home: number;
      byRegion: Record<string, number>;
      recentHomeShare: number | null;
    }
  >();
  for (const line of metrics.split('\n')) {
    const m = SAMPLE.exec(line.trim());
    if (!m) continue;
    const labels = labelsOf(m[2] ?? '');
    const value = Number(m[3]);
    const j = labels.jurisdiction;
    if (j === undefined || !Number.isFinite(value)) continue;
    let r = out.get(j);
    if (!r) {
      r = { jurisdiction: j, total: 0, home: 0, byRegion: {}, recentHomeShare: null };
      out.set(j, r);
    }
    if (m[1] === 'domicile_home_share_ratio') {
      r.recentHomeShare = value;
      continue;
    }
    const region = labels.region ?? 'none';
    r.total += value;
    if (labels.home === 'true') r.home += value;
    r.byRegion[region] = (r.byRegion[region] ?? 0) + value;
  }
  return out;
}

/** `0.5` → `50.0%`. */
export const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;
