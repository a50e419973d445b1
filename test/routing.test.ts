/**
 * Routing (R2): home region first, then same-jurisdiction failover, else 503 — never abroad.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId } from '../src/domain/ids.js';
import { openTestDeployment, SG_STEWARD, type TestDeployment, US_STEWARD } from './support/deployment.js';

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
      const before = (await d.metrics.registry.getSingleMetricAsString('domicile_routed_total')).split('\n');
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
      const after = await d.metrics.registry.getSingleMetricAsString('domicile_routed_total');
      const foreign = after.split('\n').filter((l) => /jurisdiction="US",region="(sg|eu)-/.test(l));
      expect(foreign).toEqual([]);
      expect(after).toMatch(/domicile_routed_total\{jurisdiction="US",region="none",home="false"\} [1-9]/);
      expect(before.length).toBeGreaterThan(0);
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
