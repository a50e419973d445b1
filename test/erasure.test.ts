/**
 * Erasure (E1): after `DELETE /v1/subjects/{id}` no region holds a row or a key of the subject.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, RecordKey, SubjectId } from '../src/domain/ids.js';
import { openTestDeployment, type TestDeployment, US_APP, US_STEWARD } from './support/deployment.js';

let d: TestDeployment;
beforeAll(async () => {
  d = await openTestDeployment();
});
afterAll(async () => {
  await d.cleanup();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('erasing a subject', () => {
  it('destroys its key and deletes its rows in every region, and reports the count', async () => {
    const headers = await d.auth(US_STEWARD);
    await d.app.inject({ method: 'PUT', url: '/v1/subjects/gone', headers, payload: { jurisdiction: 'US' } });
    for (const [key, cls] of [
      ['email', 'protected'],
      ['phone', 'protected'],
      ['video', 'interoperable'],
    ]) {
      const res = await d.app.inject({
        method: 'PUT',
        url: `/v1/subjects/gone/records/${key}`,
        // the shipped policies let only application services write interoperable data
        headers: cls === 'interoperable' ? await d.auth(US_APP) : headers,
        payload: { class: cls, value: `value-of-${key}` },
      });
      expect(res.statusCode).toBe(200);
    }
    const phoenixBefore = await d.stores
      .get('oci-us-phoenix' as never)
      ?.listRecords('gone' as SubjectId, 'US' as JurisdictionId);
    expect(phoenixBefore?.length).toBe(3);
    const wrappedBefore = await d.keyrings
      .get('oci-us-ashburn' as never)
      ?.exportSubjectKey('US' as JurisdictionId, 'gone' as SubjectId);
    expect(wrappedBefore).toBeDefined();

    const res = await d.app.inject({ method: 'DELETE', url: '/v1/subjects/gone', headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ subjectId: 'gone', records: 3 });
    expect(Date.parse(res.json().erasedAt)).not.toBeNaN();

    for (const [region, store] of d.stores) {
      expect(await store.listRecords('gone' as SubjectId, 'US' as JurisdictionId), region).toEqual([]);
    }
    for (const region of ['oci-us-ashburn', 'oci-us-phoenix', 'us-va-legacy']) {
      const keyring = d.keyrings.get(region as never);
      expect(
        await keyring?.subjectKey('US' as JurisdictionId, 'gone' as SubjectId, false),
        region,
      ).toBeUndefined();
    }
    const read = await d.app.inject({ method: 'GET', url: '/v1/subjects/gone/records/email', headers });
    expect(read.statusCode).toBe(404);

    // no readable copy on disk either: neither the wrapped key nor any value survives in any file
    for (const store of d.stores.values())
      (store as unknown as { db: { pragma(s: string): void } }).db.pragma('wal_checkpoint(TRUNCATE)');
    const wrapped = Buffer.from(wrappedBefore?.wrapped ?? []);
    for (const file of filesUnder(d.dataDir)) {
      const bytes = readFileSync(file);
      expect(bytes.includes(wrapped), file).toBe(false);
      expect(bytes.includes(Buffer.from('value-of-email')), file).toBe(false);
    }
  });

  it('makes a copy taken before the erasure unreadable (crypto-shredding)', async () => {
    const headers = await d.auth(US_STEWARD);
    await d.app.inject({ method: 'PUT', url: '/v1/subjects/kept', headers, payload: { jurisdiction: 'US' } });
    await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/kept/records/email',
      headers,
      payload: { class: 'protected', value: 'k@example.com' },
    });
    const store = d.stores.get('oci-us-ashburn' as never);
    const copy = await store?.getRecord('kept' as SubjectId, 'email' as RecordKey);
    if (!copy) throw new Error('setup failed');
    await d.app.inject({ method: 'DELETE', url: '/v1/subjects/kept', headers });
    // put the old ciphertext back, as a restored backup would
    await store?.putRecord(copy, 0);
    await d.app.inject({ method: 'PUT', url: '/v1/subjects/kept', headers, payload: { jurisdiction: 'US' } });
    const res = await d.app.inject({ method: 'GET', url: '/v1/subjects/kept/records/email', headers });
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('DOMICILE_ERR_INTEGRITY');
    expect(res.body).not.toContain('k@example.com');
  });
});
