/**
 * Attacks on residency (R1): a caller that skips the gateway and talks to a region node
 * directly, or pushes a replica, must still not get protected data into a foreign region.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassId, JurisdictionId, RecordKey, SubjectId } from '../src/domain/ids.js';
import type { Principal } from '../src/services/access/principal.js';
import { openTestDeployment, putSubject, type TestDeployment, US_STEWARD } from './support/deployment.js';

let d: TestDeployment;
beforeAll(async () => {
  d = await openTestDeployment();
  await putSubject(d, await d.auth(US_STEWARD), 'us-user', 'US');
});
afterAll(async () => {
  await d.cleanup();
});

const principal: Principal = {
  id: 'svc',
  type: 'service',
  department: undefined,
  roles: ['app'],
  country: 'SG',
  mfa: false,
};
const ctx = { requestId: 'r-1', principal };
const ref = {
  subjectId: 'us-user' as SubjectId,
  jurisdiction: 'US' as JurisdictionId,
  key: 'email' as RecordKey,
};

describe('a direct call to a foreign region node', () => {
  it('refuses to store a protected record of another jurisdiction', async () => {
    await expect(
      d.node('sg-singapore').putRecord(ctx, ref, 'protected' as ClassId, 'x@example.com'),
    ).rejects.toMatchObject({
      code: 'DOMICILE_ERR_RESIDENCY',
    });
    expect(await d.stores.get('sg-singapore' as never)?.countRecords('US' as JurisdictionId)).toBe(0);
  });

  it('refuses to read a protected record of another jurisdiction', async () => {
    await expect(d.node('eu-frankfurt').getRecord(ctx, ref)).rejects.toMatchObject({
      code: 'DOMICILE_ERR_RESIDENCY',
    });
  });

  it('refuses a sealed replica of a protected record', async () => {
    const home = d.node('oci-us-ashburn');
    const steward: Principal = {
      ...principal,
      type: 'employee',
      department: 'us-data-security',
      country: 'US',
    };
    await home.putRecord(
      { requestId: 'r-2', principal: steward },
      ref,
      'protected' as ClassId,
      'x@example.com',
    );
    const stored = await d.stores.get('oci-us-ashburn' as never)?.getRecord(ref.subjectId, ref.key);
    const wrappedKey = await d.keyrings
      .get('oci-us-ashburn' as never)
      ?.exportSubjectKey(ref.jurisdiction, ref.subjectId);
    if (!stored || !wrappedKey) throw new Error('setup failed');
    await expect(
      d.node('sg-singapore').receiveReplica({ kind: 'sealed', record: stored, wrappedKey }),
    ).rejects.toMatchObject({
      code: 'DOMICILE_ERR_RESIDENCY',
    });
    expect(await d.stores.get('sg-singapore' as never)?.countRecords('US' as JurisdictionId)).toBe(0);
  });

  it('refuses an open (plaintext) replica of a protected record', async () => {
    await expect(
      d.node('sg-singapore').receiveReplica({
        kind: 'open',
        ref,
        classId: 'protected' as ClassId,
        version: 9,
        value: Buffer.from('"x@example.com"'),
        updatedAt: Date.now(),
      }),
    ).rejects.toMatchObject({ code: 'DOMICILE_ERR_RESIDENCY' });
  });

  it('keeps the foreign keyring from ever holding the jurisdiction key', async () => {
    await expect(
      d.keyrings.get('sg-singapore' as never)?.installKek('US' as JurisdictionId, Buffer.alloc(32, 1)),
    ).rejects.toMatchObject({
      code: 'DOMICILE_ERR_RESIDENCY',
    });
  });
});

describe('interoperable data', () => {
  it('is replicated to every active region and readable in any of them', async () => {
    // the shipped policies let only application services (role `app`) write interoperable data
    const app: Principal = { ...principal, country: 'US' };
    const videoRef = { ...ref, key: 'video-7' as RecordKey };
    await d
      .node('oci-us-ashburn')
      .putRecord({ requestId: 'r-3', principal: app }, videoRef, 'interoperable' as ClassId, {
        views: 3,
      });
    for (const region of ['oci-us-phoenix', 'sg-singapore', 'eu-frankfurt']) {
      const read = await d.node(region).getRecord(ctx, videoRef);
      expect(read.value).toEqual({ views: 3 });
      expect(read.region).toBe(region);
    }
  });
});
