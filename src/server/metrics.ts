/**
 * Prometheus metrics. Labels carry jurisdictions, regions, routes and outcomes only: never a
 * subject id, record key or value.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics of one process. */
export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'jurisdiction' | 'region' | 'outcome'>;
  readonly duration: Histogram<'route' | 'method'>;
  readonly routed: Counter<'jurisdiction' | 'region' | 'home'>;
  readonly replicationFailures: Counter<'target'>;
  /** Share of the last `HOME_SHARE_WINDOW` routed requests of a jurisdiction served by its home region. */
  readonly homeShare: Gauge<'jurisdiction'>;
  /** Counts one routed request (`domicile_routed_total`) and updates the home share. */
  recordRouting(jurisdiction: string, region: string | null, home: boolean): void;
}

/** How many recent requests per jurisdiction the home share is computed over. */
export const HOME_SHARE_WINDOW = 100;

/** Creates a registry with Domicile's metrics (and Node's defaults). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'domicile_' });
  // the last requests per jurisdiction, true when served by home: the share reaches 100% once a
  // migration has moved everything home, however many requests a draining region served before
  const windows = new Map<string, boolean[]>();
  const routed = new Counter({
    name: 'domicile_routed_total',
    help: 'Requests routed per jurisdiction and serving region; home="true" when served by the home region',
    labelNames: ['jurisdiction', 'region', 'home'] as const,
    registers: [registry],
  });
  const homeShare = new Gauge({
    name: 'domicile_home_share_ratio',
    help: `Share of the last ${HOME_SHARE_WINDOW} routed requests per jurisdiction served by its home region`,
    labelNames: ['jurisdiction'] as const,
    registers: [registry],
  });
  return {
    registry,
    homeShare,
    recordRouting(jurisdiction, region, home) {
      routed.inc({ jurisdiction, region: region ?? 'none', home: String(home) });
      const window = windows.get(jurisdiction) ?? [];
      window.push(home);
      if (window.length > HOME_SHARE_WINDOW) window.shift();
      windows.set(jurisdiction, window);
      homeShare.set({ jurisdiction }, window.filter(Boolean).length / window.length);
    },
    requests: new Counter({
      name: 'domicile_requests_total',
      help: 'Requests about subjects by jurisdiction, serving region and outcome',
      labelNames: ['jurisdiction', 'region', 'outcome'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'domicile_request_duration_seconds',
      help: 'Request latency by route',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    routed,
    replicationFailures: new Counter({
      name: 'domicile_replication_failures_total',
      help: 'Replicas that could not be delivered to a region',
      labelNames: ['target'],
      registers: [registry],
    }),
  };
}
