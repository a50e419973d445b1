/**
 * Residency logic (R1, R2): which regions may hold which data, and which regions may serve a
 * jurisdiction, in order. Pure functions over the validated configuration; every node and the
 * gateway ask these same questions, so the rule lives in one place.
 */
import { type Config, holdingKey, type Jurisdiction, type Region } from './config.js';
import { DomicileError } from './errors.js';
import type { ClassId, JurisdictionId, RegionId } from './ids.js';

/** The jurisdiction, or `DOMICILE_ERR_UNKNOWN_JURISDICTION`. */
export function requireJurisdiction(config: Config, id: string): Jurisdiction {
  const j = config.jurisdictions.get(id as JurisdictionId);
  if (!j) throw new DomicileError('DOMICILE_ERR_UNKNOWN_JURISDICTION', `unknown jurisdiction \`${id}\``);
  return j;
}

/** The region, or `DOMICILE_ERR_NOT_FOUND`. */
export function requireRegion(config: Config, id: string): Region {
  const r = config.regions.get(id as RegionId);
  if (!r) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `unknown region \`${id}\``);
  return r;
}

/** The class, or `DOMICILE_ERR_UNKNOWN_CLASS`. */
export function requireClass(config: Config, id: unknown): ClassId {
  if (typeof id !== 'string' || !config.classes.has(id as ClassId)) {
    const shown = typeof id === 'string' ? id.slice(0, 32) : typeof id;
    throw new DomicileError(
      'DOMICILE_ERR_UNKNOWN_CLASS',
      `unknown data class \`${shown}\`: expected one of ${[...config.classes.keys()].join(', ')}`,
    );
  }
  return id as ClassId;
}

/** True when the class may be copied to every active region (non-personal data). */
export function isGlobalClass(config: Config, classId: ClassId): boolean {
  return config.classes.get(classId)?.residency === 'global';
}

/**
 * Whether `region` may hold plaintext-decryptable copies of data of `classId` belonging to a
 * subject of `jurisdiction`.
 * INVARIANT R1: personal classes only in regions whose country belongs to the jurisdiction.
 */
export function mayHold(
  config: Config,
  regionId: RegionId,
  jurisdictionId: JurisdictionId,
  classId: ClassId,
): boolean {
  const region = config.regions.get(regionId);
  const jurisdiction = config.jurisdictions.get(jurisdictionId);
  const dataClass = config.classes.get(classId);
  if (!region || !jurisdiction || !dataClass) return false; // fail closed on anything unknown
  if (region.status === 'retired') return false;
  if (isRetiredFor(config, regionId, jurisdictionId)) return false;
  if (dataClass.residency === 'global') return true;
  return jurisdiction.countries.includes(region.country);
}

/** Throws `DOMICILE_ERR_RESIDENCY` unless `mayHold`. */
export function assertMayHold(
  config: Config,
  regionId: RegionId,
  jurisdictionId: JurisdictionId,
  classId: ClassId,
): void {
  if (!mayHold(config, regionId, jurisdictionId, classId)) {
    throw new DomicileError(
      'DOMICILE_ERR_RESIDENCY',
      `region \`${regionId}\`: refusing ${classId} record of jurisdiction \`${jurisdictionId}\`: not an allowed region`,
    );
  }
}

/**
 * The regions that may serve requests about subjects of a jurisdiction, in the order they are
 * tried: the home region, then the same-jurisdiction failover regions. Only active regions.
 * INVARIANT R2: never a region outside the jurisdiction.
 */
export function servingRegions(config: Config, jurisdictionId: JurisdictionId): RegionId[] {
  const j = config.jurisdictions.get(jurisdictionId);
  if (!j) return [];
  return [j.home, ...j.failover].filter((id) => {
    const r = config.regions.get(id);
    return (
      r !== undefined &&
      r.status === 'active' &&
      j.countries.includes(r.country) &&
      !isRetiredFor(config, id, jurisdictionId)
    );
  });
}

/** True when `domicile wipe` retired the region for the jurisdiction. */
export function isRetiredFor(config: Config, regionId: RegionId, jurisdictionId: JurisdictionId): boolean {
  return config.retiredHoldings?.has(holdingKey(regionId, jurisdictionId)) === true;
}

/**
 * The jurisdiction's legacy regions that are still being drained (status `draining`, not yet
 * wiped for it): during a cut-over, reads of data the home region does not hold yet fall back to
 * them; writes never go there.
 * INVARIANT R2: legacy regions are validated to be in the jurisdiction's countries, and are
 * re-checked here, so a fallback never leaves the jurisdiction.
 */
export function drainingRegions(config: Config, jurisdictionId: JurisdictionId): RegionId[] {
  const j = config.jurisdictions.get(jurisdictionId);
  if (!j) return [];
  return j.legacy.filter((id) => {
    const r = config.regions.get(id);
    return (
      r !== undefined &&
      r.status === 'draining' &&
      j.countries.includes(r.country) &&
      !isRetiredFor(config, id, jurisdictionId)
    );
  });
}

/** The regions that receive a copy of a record written in `servedBy`, apart from `servedBy` itself. */
export function replicaRegions(
  config: Config,
  jurisdictionId: JurisdictionId,
  classId: ClassId,
  servedBy: RegionId,
): RegionId[] {
  const targets = isGlobalClass(config, classId)
    ? [...config.regions.values()].filter((r) => r.status === 'active').map((r) => r.id)
    : servingRegions(config, jurisdictionId);
  return targets.filter((id) => id !== servedBy && mayHold(config, id, jurisdictionId, classId));
}

/** Every jurisdiction whose data a region may hold as plaintext (its keyring holds their KEKs). */
export function jurisdictionsHeldBy(config: Config, regionId: RegionId): JurisdictionId[] {
  const region = config.regions.get(regionId);
  if (!region) return [];
  return [...config.jurisdictions.values()]
    .filter((j) => j.countries.includes(region.country) && !isRetiredFor(config, regionId, j.id))
    .map((j) => j.id);
}
