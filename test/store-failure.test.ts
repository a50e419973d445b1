/**
 * A store or keyring that fails mid-write: the caller gets a clear coded error, no record is
 * half-written, and no internal detail leaks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JurisdictionId, SubjectId } from '../src/domain/ids.js';
import {
  type AuthHeaders,
  openTestDeployment,
  putRecord,
  putSubject,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment | undefined;
afterEach(async () => {
  await d?.cleanup().catch(() => {});
});

async function setup(): Promise<{ d: TestDeployment; headers: AuthHeaders }> {
  d = await openTestDeployment();
  const headers = await d.auth(US_STEWARD);
  await putSubject(d, headers, 'f1', 'US');
  return { d, headers };
}

describe('when the home region store fails', () => {
  it('refuses data operations with 503, because the audit log of the jurisdiction lives there (L1 before availability)', async () => {
    const { d, headers } = await setup();
    await d.stores.get('oci-us-ashburn' as never)?.close();
    const res = await putRecord(d, headers, 'f1', 'a', { class: 'protected', value: 'v' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('DOMICILE_ERR_AUDIT_UNAVAILABLE');
    expect(
      await d.stores.get('oci-us-phoenix' as never)?.listRecords('f1' as SubjectId, 'US' as JurisdictionId),
    ).toEqual([]);
  });
});

describe('when every keyring of the jurisdiction fails', () => {
  it('answers 503 with a coded error and writes no record anywhere', async () => {
    const { d, headers } = await setup();
    for (const region of ['oci-us-ashburn', 'oci-us-phoenix']) await d.keyrings.get(region as never)?.close();
    const res = await putRecord(d, headers, 'f1', 'a', { class: 'protected', value: 'secret-v' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
    expect(res.body).not.toMatch(/sqlite|SQLITE|stack|secret-v/);
    for (const [region, store] of d.stores) {
      if (region === ('oci-us-ashburn' as never) || region === ('oci-us-phoenix' as never)) {
        expect(await store.listRecords('f1' as SubjectId, 'US' as JurisdictionId), region).toEqual([]);
      } else {
        expect(await store.countRecords('US' as JurisdictionId), region).toBe(0);
      }
    }
  });
});

describe('when every store of the jurisdiction fails', () => {
  it('answers 503 and the directory still knows the subject', async () => {
    const { d, headers } = await setup();
    for (const region of ['oci-us-ashburn', 'oci-us-phoenix']) await d.stores.get(region as never)?.close();
    const res = await d.app.inject({ method: 'GET', url: '/v1/subjects/f1/records', headers });
    expect(res.statusCode).toBe(503);
    expect(await d.directory.lookup('f1' as SubjectId)).toBe('US');
  });
});
