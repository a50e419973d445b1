import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import type { ClassId, JurisdictionId, RegionId } from './ids.js';
import { mayHold, replicaRegions, servingRegions } from './residency.js';

const config = parseConfig(
  readFileSync(new URL('../../domicile.yaml', import.meta.url), 'utf8'),
  'domicile.yaml',
);
const J = (id: string) => id as JurisdictionId;
const R = (id: string) => id as RegionId;
const C = (id: string) => id as ClassId;

describe('servingRegions', () => {
  it('tries the home region, then same-jurisdiction failover, never a draining or foreign one', () => {
    expect(servingRegions(config, J('US'))).toEqual(['oci-us-ashburn', 'oci-us-phoenix']);
    expect(servingRegions(config, J('SG'))).toEqual(['sg-singapore']);
    expect(servingRegions(config, J('XX'))).toEqual([]);
  });

  it('returns only regions whose country belongs to the jurisdiction (R2), for every jurisdiction', () => {
    for (const j of config.jurisdictions.values()) {
      for (const r of servingRegions(config, j.id)) {
        expect(j.countries).toContain(config.regions.get(r)?.country);
      }
    }
  });
});

describe('mayHold', () => {
  it('keeps protected data in its jurisdiction (R1)', () => {
    expect(mayHold(config, R('oci-us-phoenix'), J('US'), C('protected'))).toBe(true);
    expect(mayHold(config, R('us-va-legacy'), J('US'), C('protected'))).toBe(true);
    expect(mayHold(config, R('sg-singapore'), J('US'), C('protected'))).toBe(false);
    expect(mayHold(config, R('eu-frankfurt'), J('US'), C('deidentified'))).toBe(false);
  });

  it('lets global-class data go anywhere active', () => {
    expect(mayHold(config, R('sg-singapore'), J('US'), C('interoperable'))).toBe(true);
  });

  it('fails closed on anything unknown', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (r, j, c) => {
        const known = config.regions.has(R(r)) && config.jurisdictions.has(J(j)) && config.classes.has(C(c));
        if (!known) expect(mayHold(config, R(r), J(j), C(c))).toBe(false);
      }),
    );
  });
});

describe('replicaRegions', () => {
  it('copies protected records to the failover region only, and global ones to every other active region', () => {
    expect(replicaRegions(config, J('US'), C('protected'), R('oci-us-ashburn'))).toEqual(['oci-us-phoenix']);
    expect(replicaRegions(config, J('US'), C('interoperable'), R('oci-us-ashburn')).sort()).toEqual(
      ['eu-frankfurt', 'oci-us-phoenix', 'sg-singapore'].sort(),
    );
    expect(replicaRegions(config, J('SG'), C('protected'), R('sg-singapore'))).toEqual([]);
  });
});
