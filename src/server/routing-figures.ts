/**
 * The gateway's routing figures, kept in memory since it started: per jurisdiction, the requests
 * each region served and the share of the recent ones served by the home region. `/metrics`
 * (`domicile_routed_total`, `domicile_home_share_ratio`) and `GET /v1/routing` both read them
 * from here. Counts by jurisdiction and region only: no personal data.
 */

/** How many recent requests per jurisdiction the home share is computed over. */
export const HOME_SHARE_WINDOW = 100;

/** One jurisdiction's routing figures, as `GET /v1/routing` answers them. */
export interface JurisdictionRouting {
  readonly jurisdiction: string;
  /** Requests routed since the gateway started (`none` as region when no region could serve). */
  readonly total: number;
  /** Of those, served by the home region. */
  readonly home: number;
  readonly byRegion: Readonly<Record<string, number>>;
  /** Share of the last `HOME_SHARE_WINDOW` requests served by the home region (0..1), or null before any. */
  readonly recentHomeShare: number | null;
}

/** Requests of a jurisdiction served by one region (`domicile_routed_total`). */
export interface RoutedCount {
  readonly jurisdiction: string;
  readonly region: string;
  readonly home: boolean;
  readonly requests: number;
}

interface Tally {
  readonly regions: Map<string, { requests: number; readonly home: boolean }>;
  // the last requests, 1 when served by home, as a ring: the share reaches 100% once a migration
  // has moved everything home, however many requests a draining region served before
  readonly recent: Uint8Array;
  next: number;
  filled: number;
  recentHome: number;
}

/**
 * Counts routed requests. Recording is on every request's path: constant time, no allocation
 * once a jurisdiction and region have been seen.
 *
 * @example
 * const figures = new RoutingFigures();
 * const router = new Router(config, nodes, (j, region, home) => figures.record(j, region, home));
 * figures.report(); // [{ jurisdiction: 'US', total: 1, home: 1, byRegion: {…}, recentHomeShare: 1 }]
 */
export class RoutingFigures {
  readonly #tallies = new Map<string, Tally>();

  /** Counts one request of `jurisdiction` served by `region` (null: none could), `home` when it is the home region. */
  record(jurisdiction: string, region: string | null, home: boolean): void {
    let tally = this.#tallies.get(jurisdiction);
    if (!tally) {
      tally = {
        regions: new Map(),
        recent: new Uint8Array(HOME_SHARE_WINDOW),
        next: 0,
        filled: 0,
        recentHome: 0,
      };
      this.#tallies.set(jurisdiction, tally);
    }
    const name = region ?? 'none';
    const served = tally.regions.get(name);
    if (served) served.requests++;
    else tally.regions.set(name, { requests: 1, home });
    const bit = home ? 1 : 0;
    if (tally.filled === HOME_SHARE_WINDOW) tally.recentHome -= tally.recent[tally.next] ?? 0;
    else tally.filled++;
    tally.recent[tally.next] = bit;
    tally.recentHome += bit;
    tally.next = (tally.next + 1) % HOME_SHARE_WINDOW;
  }

  /** Requests per jurisdiction and serving region since start. */
  counts(): RoutedCount[] {
    return [...this.#tallies].flatMap(([jurisdiction, tally]) =>
      [...tally.regions].map(([region, { requests, home }]) => ({ jurisdiction, region, home, requests })),
    );
  }

  /** Per jurisdiction that had requests, sorted by jurisdiction and then region. */
  report(): JurisdictionRouting[] {
    return [...this.#tallies]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([jurisdiction, tally]) => {
        const regions = [...tally.regions].sort(([a], [b]) => a.localeCompare(b));
        return {
          jurisdiction,
          total: regions.reduce((sum, [, r]) => sum + r.requests, 0),
          home: regions.reduce((sum, [, r]) => sum + (r.home ? r.requests : 0), 0),
          byRegion: Object.fromEntries(regions.map(([region, r]) => [region, r.requests])),
          recentHomeShare: tally.filled === 0 ? null : tally.recentHome / tally.filled,
        };
      });
  }
}
