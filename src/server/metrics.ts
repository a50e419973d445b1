/**
 * Prometheus metrics. Labels carry jurisdictions, regions, routes and outcomes only: never a
 * subject id, record key or value.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { HOME_SHARE_WINDOW, RoutingFigures } from './routing-figures.js';

/** The metrics of one process. */
export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'jurisdiction' | 'region' | 'outcome'>;
  readonly duration: Histogram<'route' | 'method'>;
  readonly replicationFailures: Counter<'target'>;
  /**
   * The routing figures, which `domicile_routed_total` and `domicile_home_share_ratio` read when
   * scraped (and `GET /v1/routing` answers): the router records each routed request here.
   */
  readonly routing: RoutingFigures;
}

/** Creates a registry with Domicile's metrics (and Node's defaults). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'domicile_' });
  const routing = new RoutingFigures();
  new Counter({
    name: 'domicile_routed_total',
    help: 'Requests routed per jurisdiction and serving region; home="true" when served by the home region',
    labelNames: ['jurisdiction', 'region', 'home'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { jurisdiction, region, home, requests } of routing.counts()) {
        this.inc({ jurisdiction, region, home: String(home) }, requests);
      }
    },
  });
  new Gauge({
    name: 'domicile_home_share_ratio',
    help: `Share of the last ${HOME_SHARE_WINDOW} routed requests per jurisdiction served by its home region`,
    labelNames: ['jurisdiction'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { jurisdiction, recentHomeShare } of routing.report()) {
        if (recentHomeShare !== null) this.set({ jurisdiction }, recentHomeShare);
      }
    },
  });
  return {
    registry,
    routing,
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
    replicationFailures: new Counter({
      name: 'domicile_replication_failures_total',
      help: 'Replicas that could not be delivered to a region',
      labelNames: ['target'],
      registers: [registry],
    }),
  };
}
