/**
 * Routing (invariant R2): every request about a subject is served by a region of its
 * jurisdiction — the home region, else a same-jurisdiction failover region — and never by a
 * foreign one. When none can serve, the answer is `DOMICILE_ERR_REGION_UNAVAILABLE` (503).
 */
import type { Config } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import { drainingRegions, servingRegions } from '../../domain/residency.js';
import type { RegionClient } from '../vault/region-node.js';

/** Errors that mean "this region cannot serve now": the next region is tried. */
const UNAVAILABLE = [
  'DOMICILE_ERR_REGION_UNAVAILABLE',
  'DOMICILE_ERR_STORE_UNAVAILABLE',
  'DOMICILE_ERR_KEYRING_UNAVAILABLE',
] as const;

/** Told which region served (or that none could), for metrics. No personal data. */
export type RoutingObserver = (jurisdiction: JurisdictionId, region: RegionId | null, home: boolean) => void;

/** A jurisdiction's regions as routing uses them, derived once from the configuration. */
interface Routes {
  readonly home: RegionId | undefined;
  readonly serving: readonly RegionId[];
  readonly draining: readonly RegionId[];
}

/** Picks the region that serves a jurisdiction's request, in order, failing closed. */
export class Router {
  private readonly config: Config;
  private readonly clients: ReadonlyMap<RegionId, RegionClient>;
  private readonly observe: RoutingObserver | undefined;
  // the configuration does not change while a process runs (a wipe is followed by a restart), so
  // a jurisdiction's routes are derived on its first request, not on every one
  private readonly routes = new Map<JurisdictionId, Routes>();

  constructor(config: Config, clients: ReadonlyMap<RegionId, RegionClient>, observe?: RoutingObserver) {
    this.config = config;
    this.clients = clients;
    this.observe = observe;
  }

  /** The regions that would be tried for a jurisdiction, in order. */
  candidates(jurisdiction: JurisdictionId): RegionId[] {
    return [...this.routesOf(jurisdiction).serving];
  }

  private routesOf(jurisdiction: JurisdictionId): Routes {
    let routes = this.routes.get(jurisdiction);
    if (routes === undefined) {
      routes = {
        home: this.config.jurisdictions.get(jurisdiction)?.home,
        serving: servingRegions(this.config, jurisdiction),
        draining: drainingRegions(this.config, jurisdiction),
      };
      this.routes.set(jurisdiction, routes);
    }
    return routes;
  }

  /**
   * Runs `op` on the first region of the jurisdiction that can serve it.
   * @returns the result and the region that served.
   */
  async serve<T>(
    jurisdiction: JurisdictionId,
    op: (client: RegionClient) => Promise<T>,
  ): Promise<{ result: T; region: RegionId }> {
    const served = await this.serveUnobserved(jurisdiction, op);
    this.observe?.(jurisdiction, served.region, served.region === this.homeOf(jurisdiction));
    return served;
  }

  /**
   * `serve` for reads during a cut-over. When the serving region does not hold the record
   * (`DOMICILE_ERR_RECORD_NOT_FOUND`), the jurisdiction's draining regions are asked in turn; with
   * `merge`, they are always asked and their answers merged into the served one (the listing of
   * a subject whose records are partly migrated). A request is counted as served by the home
   * region only when no draining region contributed to the answer.
   * INVARIANT R2: draining regions are regions of the jurisdiction (`drainingRegions`).
   */
  async serveRead<T>(
    jurisdiction: JurisdictionId,
    op: (client: RegionClient) => Promise<T>,
    merge?: (served: T, drained: T) => { readonly result: T; readonly changed: boolean },
  ): Promise<{ result: T; region: RegionId }> {
    const { draining } = this.routesOf(jurisdiction);
    if (draining.length === 0) return this.serve(jurisdiction, op);
    let served: { result: T; region: RegionId } | undefined;
    let notFound: unknown;
    try {
      served = await this.serveUnobserved(jurisdiction, op);
      if (!merge) {
        this.observe?.(jurisdiction, served.region, served.region === this.homeOf(jurisdiction));
        return served;
      }
    } catch (error) {
      if (!isDomicileError(error, 'DOMICILE_ERR_RECORD_NOT_FOUND')) throw error;
      notFound = error;
    }
    for (const regionId of draining) {
      const client = this.clients.get(regionId);
      if (!client) continue;
      let drained: T;
      try {
        drained = await op(client);
      } catch (error) {
        if (isDomicileError(error, 'DOMICILE_ERR_RECORD_NOT_FOUND')) continue;
        if (served && UNAVAILABLE.some((code) => isDomicileError(error, code))) continue;
        throw error;
      }
      if (!served) {
        served = { result: drained, region: regionId };
        if (!merge) break;
        continue;
      }
      const merged = merge?.(served.result, drained);
      if (merged?.changed) served = { result: merged.result, region: regionId };
    }
    if (!served) throw notFound;
    this.observe?.(jurisdiction, served.region, served.region === this.homeOf(jurisdiction));
    return served;
  }

  private homeOf(jurisdiction: JurisdictionId): RegionId | undefined {
    return this.routesOf(jurisdiction).home;
  }

  private async serveUnobserved<T>(
    jurisdiction: JurisdictionId,
    op: (client: RegionClient) => Promise<T>,
  ): Promise<{ result: T; region: RegionId }> {
    let lastCause: unknown;
    for (const regionId of this.routesOf(jurisdiction).serving) {
      const client = this.clients.get(regionId);
      if (!client) continue;
      try {
        const result = await op(client);
        return { result, region: regionId };
      } catch (error) {
        if (!UNAVAILABLE.some((code) => isDomicileError(error, code))) throw error;
        lastCause = error;
      }
    }
    this.observe?.(jurisdiction, null, false);
    // INVARIANT R2: fail closed, never fall back to a region outside the jurisdiction.
    throw new DomicileError(
      'DOMICILE_ERR_REGION_UNAVAILABLE',
      `no region of jurisdiction \`${jurisdiction}\` is available`,
      {
        cause: lastCause,
      },
    );
  }
}
