/**
 * Ciphertext at rest cannot be edited or moved: a flipped byte, or a row copied onto another
 * subject or key, fails authentication instead of decrypting to something else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordKey, SubjectId } from '../src/domain/ids.js';
import type { StoredRecord } from '../src/store/region-store.js';
import {
  type AuthHeaders,
  openTestDeployment,
  putRecord,
  putSubject,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment;
let headers: AuthHeaders;
beforeAll(async () => {
  d = await openTestDeployment();
  headers = await d.auth(US_STEWARD);
  for (const subject of ['t1', 't2']) {
    await putSubject(d, headers, subject, 'US');
    for (const key of ['a', 'b']) {
      await putRecord(d, headers, subject, key, { class: 'protected', value: `${subject}-${key}` });
    }
  }
});
afterAll(async () => {
  await d.cleanup();
});

const home = () => {
  const store = d.stores.get('oci-us-ashburn' as never);
  if (!store) throw new Error('no store');
  return store;
};
async function overwrite(target: { subjectId: string; key: string }, from: StoredRecord): Promise<void> {
  const current = await home().getRecord(target.subjectId as SubjectId, target.key as RecordKey);
  await home().putRecord(
    {
      ...from,
      subjectId: target.subjectId as SubjectId,
      key: target.key as RecordKey,
      version: current?.version ?? 1,
    },
    current?.version ?? 0,
  );
}

describe('stored ciphertext', () => {
  it('with one flipped byte fails with DOMICILE_ERR_INTEGRITY', async () => {
    const record = await home().getRecord('t1' as SubjectId, 'a' as RecordKey);
    if (!record) throw new Error('setup failed');
    const flipped = Buffer.from(record.ciphertext);
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    // same version: only the flipped byte differs
    await home().putRecord({ ...record, ciphertext: flipped }, record.version);
    const res = await d.app.inject({ method: 'GET', url: '/v1/subjects/t1/records/a', headers });
    expect(res.statusCode).toBe(500);
    expect(res.json().error.code).toBe('DOMICILE_ERR_INTEGRITY');
  });

  it('moved to another key of the same subject fails', async () => {
    const b = await home().getRecord('t2' as SubjectId, 'b' as RecordKey);
    if (!b) throw new Error('setup failed');
    await overwrite({ subjectId: 't2', key: 'a' }, b);
    const res = await d.app.inject({ method: 'GET', url: '/v1/subjects/t2/records/a', headers });
    expect(res.json().error.code).toBe('DOMICILE_ERR_INTEGRITY');
  });

  it('moved to another subject fails', async () => {
    const t2b = await home().getRecord('t2' as SubjectId, 'b' as RecordKey);
    if (!t2b) throw new Error('setup failed');
    await overwrite({ subjectId: 't1', key: 'b' }, t2b);
    const res = await d.app.inject({ method: 'GET', url: '/v1/subjects/t1/records/b', headers });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('t2-b');
  });

  it('relabelled as another class fails', async () => {
    const record = await home().getRecord('t2' as SubjectId, 'b' as RecordKey);
    if (!record) throw new Error('setup failed');
    // relabelled as interoperable, the class policy lets anyone ask: the ciphertext still refuses
    await home().putRecord({ ...record, classId: 'interoperable' as never }, record.version);
    const res = await d.app.inject({ method: 'GET', url: '/v1/subjects/t2/records/b', headers });
    expect(res.json().error.code).toBe('DOMICILE_ERR_INTEGRITY');
  });
});
