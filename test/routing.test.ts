/**
 * Routing (R2): home region first, then same-jurisdiction failover, else 503 — never abroad.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId } from '../src/domain/ids.js';
import type { JurisdictionRouting } from '../src/server/routing-figures.js';
import { openTestDeployment, SG_STEWARD, type TestDeployment, US_STEWARD } from './support/deployment.js';
import { HOME, LEGACY, seededIds, seedLegacy } from './support/legacy.js';

let d: TestDeployment;
beforeAll(async () => {
  d = await openTestDeployment();
  const us = await d.auth(US_STEWARD);
  const sg = await d.auth(SG_STEWARD);
  await d.app.inject({ method: 'PUT', url: '/v1/subjects/u1', headers: us, payload: { jurisdiction: 'US' } });
  await d.app.inject({ method: 'PUT', url: '/v1/subjects/s1', headers: sg, payload: { jurisdiction: 'SG' } });
  await d.app.inject({
    method: 'PUT',
    url: '/v1/subjects/u1/records/name',
    headers: us,
    payload: { class: 'protected', value: 'Ada' },
  });
  await d.app.inject({
    method: 'PUT',
    url: '/v1/subjects/s1/records/name',
    headers: sg,
    payload: { class: 'protected', value: 'Lee' },
  });
});
afterEach(() => {
  for (const node of d.nodes.values()) node.restart();
});
afterAll(async () => {
  await d.cleanup();
});

/** `GET /v1/routing`, asked without a token as a monitoring probe does. */
async function routingReport(dep: TestDeployment): Promise<{ jurisdictions: JurisdictionRouting[] }> {
  const res = await dep.app.inject({ method: 'GET', url: '/v1/routing' });
  expect(res.statusCode).toBe(200);
  return res.json();
}

const usRouting = async (dep: TestDeployment) =>
  (await routingReport(dep)).jurisdictions.find((j) => j.jurisdiction === 'US');

const read = async (subject: string, claims = US_STEWARD) =>
  d.app.inject({ method: 'GET', url: `/v1/subjects/${subject}/records/name`, headers: await d.auth(claims) });

describe('routing', () => {
  it('serves a US subject from the home region', async () => {
    const res = await read('u1');
    expect(res.headers['x-domicile-region']).toBe('oci-us-ashburn');
  });

  describe('when the home region is down', () => {
    it('serves from the same-jurisdiction failover region, with the replicated data', async () => {
      d.node('oci-us-ashburn').stop();
      const res = await read('u1');
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-domicile-region']).toBe('oci-us-phoenix');
      expect(res.json().value).toBe('Ada');
    });
  });

  describe('when every region of the jurisdiction is down', () => {
    it('answers 503 and serves nothing from a foreign region', async () => {
      d.node('oci-us-ashburn').stop();
      d.node('oci-us-phoenix').stop();
      const before = await usRouting(d);
      const res = await read('u1');
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
      expect(res.body).not.toContain('Ada');
      const write = await d.app.inject({
        method: 'PUT',
        url: '/v1/subjects/u1/records/other',
        headers: await d.auth(US_STEWARD),
        payload: { class: 'protected', value: 'secret' },
      });
      expect(write.statusCode).toBe(503);
      for (const region of ['sg-singapore', 'eu-frankfurt']) {
        expect(await d.stores.get(region as never)?.countRecords('US' as JurisdictionId)).toBe(0);
      }
      // both requests counted as served by no region, none by a region abroad
      const after = await usRouting(d);
      for (const region of Object.keys(after?.byRegion ?? {})) {
        expect(['oci-us-ashburn', 'oci-us-phoenix', 'none']).toContain(region);
      }
      expect((after?.byRegion.none ?? 0) - (before?.byRegion.none ?? 0)).toBe(2);
    });

    it('leaves other jurisdictions unaffected', async () => {
      d.node('oci-us-ashburn').stop();
      d.node('oci-us-phoenix').stop();
      const res = await read('s1', SG_STEWARD);
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-domicile-region']).toBe('sg-singapore');
    });
  });

  it('serves again from home once it is back', async () => {
    d.node('oci-us-ashburn').stop();
    await read('u1');
    d.node('oci-us-ashburn').restart();
    expect((await read('u1')).headers['x-domicile-region']).toBe('oci-us-ashburn');
  });
});

describe('GET /v1/routing', () => {
  let dep: TestDeployment;
  beforeAll(async () => {
    dep = await openTestDeployment();
    // a cut-over in progress: US records not yet migrated are in the draining legacy region
    await seedLegacy(dep, 5);
  });
  afterAll(async () => {
    await dep.cleanup();
  });

  /** Reads a record, expecting it served by `region`. */
  const readFrom = async (region: string, subjectId: string, key: string) => {
    const res = await dep.app.inject({
      url: `/v1/subjects/${subjectId}/records/${key}`,
      headers: await dep.auth(US_STEWARD),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-domicile-region']).toBe(region);
  };
  const metrics = async () => (await dep.app.inject({ url: '/metrics' })).body;

  it('answers no jurisdiction before any request', async () => {
    expect(await routingReport(dep)).toEqual({ jurisdictions: [] });
  });

  it('counts requests served by a draining region and by home, over the last 100 for the share, as /metrics does', async () => {
    for (let n = 0; n < 5; n++) {
      const { subjectId, key } = seededIds(n, 10);
      await readFrom(LEGACY, subjectId, key);
    }
    const { subjectId } = seededIds(0, 10);
    const put = await dep.app.inject({
      method: 'PUT',
      url: `/v1/subjects/${subjectId}/records/written-home`,
      headers: await dep.auth(US_STEWARD),
      payload: { class: 'protected', value: 'new' },
    });
    expect(put.headers['x-domicile-region']).toBe(HOME);
    for (let n = 0; n < 4; n++) await readFrom(HOME, subjectId, 'written-home');

    expect(await routingReport(dep)).toEqual({
      jurisdictions: [
        {
          jurisdiction: 'US',
          total: 10,
          home: 5,
          byRegion: { [HOME]: 5, [LEGACY]: 5 },
          recentHomeShare: 0.5,
        },
      ],
    });
    const text = await metrics();
    expect(text).toContain(`domicile_routed_total{jurisdiction="US",region="${LEGACY}",home="false"} 5\n`);
    expect(text).toContain(`domicile_routed_total{jurisdiction="US",region="${HOME}",home="true"} 5\n`);
    expect(text).toContain('domicile_home_share_ratio{jurisdiction="US"} 0.5\n');

    // the recent share reaches 100% once the last 100 requests were served home
    for (let n = 0; n < 100; n++) await readFrom(HOME, subjectId, 'written-home');
    expect(await usRouting(dep)).toEqual({
      jurisdiction: 'US',
      total: 110,
      home: 105,
      byRegion: { [HOME]: 105, [LEGACY]: 5 },
      recentHomeShare: 1,
    });
    const later = await metrics();
    expect(later).toContain(`domicile_routed_total{jurisdiction="US",region="${HOME}",home="true"} 105\n`);
    expect(later).toContain('domicile_home_share_ratio{jurisdiction="US"} 1\n');
  });
});
