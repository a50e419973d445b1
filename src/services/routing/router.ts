/**
 * Routing (invariant R2): every request about a subject is served by a region of its
 * jurisdiction — the home region, else a same-jurisdiction failover region — and never by a
 * foreign one. When none can serve, the answer is `DOMICILE_ERR_REGION_UNAVAILABLE` (503).
 */
import type { Config } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import { servingRegions } from '../../domain/residency.js';
import type { RegionClient } from '../vault/region-node.js';

/** Errors that mean "this region cannot serve now": the next region is tried. */
const UNAVAILABLE = [
  'DOMICILE_ERR_REGION_UNAVAILABLE',
  'DOMICILE_ERR_STORE_UNAVAILABLE',
  'DOMICILE_ERR_KEYRING_UNAVAILABLE',
] as const;

/** Told which region served (or that none could), for metrics. No personal data. */
export type RoutingObserver = (jurisdiction: JurisdictionId, region: RegionId | null, home: boolean) => void;

/** Picks the region that serves a jurisdiction's request, in order, failing closed. */
export class Router {
  private readonly config: Config;
  private readonly clients: ReadonlyMap<RegionId, RegionClient>;
  private readonly observe: RoutingObserver | undefined;

  constructor(config: Config, clients: ReadonlyMap<RegionId, RegionClient>, observe?: RoutingObserver) {
    this.config = config;
    this.clients = clients;
    this.observe = observe;
  }

  /** The regions that would be tried for a jurisdiction, in order. */
  candidates(jurisdiction: JurisdictionId): RegionId[] {
    return servingRegions(this.config, jurisdiction);
  }

  /**
   * Runs `op` on the first region of the jurisdiction that can serve it.
   * @returns the result and the region that served.
   */
  async serve<T>(
    jurisdiction: JurisdictionId,
    op: (client: RegionClient) => Promise<T>,
  ): Promise<{ result: T; region: RegionId }> {
    const home = this.config.jurisdictions.get(jurisdiction)?.home;
    let lastCause: unknown;
    for (const regionId of this.candidates(jurisdiction)) {
      const client = this.clients.get(regionId);
      if (!client) continue;
      try {
        const result = await op(client);
        this.observe?.(jurisdiction, regionId, regionId === home);
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
