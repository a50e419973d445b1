/**
 * Relocation: a subject who moves takes their records along, re-encrypted under the new
 * jurisdiction's keys; the old copies are erased; both logs have the transfer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, RegionId, SubjectId } from '../src/domain/ids.js';
import {
  logEntries,
  openTestDeployment,
  putRecord,
  putSubject,
  type TestDeployment,
  US_APP,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment;
const EU_STEWARD = { sub: 'eu-officer', type: 'employee' as const, dept: 'eu-data-protection', loc: 'DE' };

beforeAll(async () => {
  d = await openTestDeployment();
  const headers = await d.auth(US_STEWARD);
  for (const id of ['mover', 'stayer']) {
    await putSubject(d, headers, id, 'US');
    await putRecord(d, headers, id, 'email', { class: 'protected', value: `${id}@example.com` });
  }
  await putRecord(d, await d.auth(US_APP), 'mover', 'video', {
    class: 'interoperable',
    value: { title: 'public' },
  });
});
afterAll(async () => {
  await d.cleanup();
});

describe('POST /v1/subjects/{id}/relocate', () => {
  it('moves the records to the new jurisdiction, re-encrypted, and erases the old copies', async () => {
    const res = await d.app.inject({
      method: 'POST',
      url: '/v1/subjects/mover/relocate',
      headers: await d.auth(US_STEWARD),
      payload: { jurisdiction: 'EU' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ from: 'US', to: 'EU', records: 2, region: 'eu-frankfurt' });
    expect(await d.directory.lookup('mover' as SubjectId)).toBe('EU');

    const read = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/mover/records/email',
      headers: await d.auth(EU_STEWARD),
    });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ value: 'mover@example.com', region: 'eu-frankfurt' });
    const stored = await d.stores
      .get('eu-frankfurt' as RegionId)
      ?.getRecord('mover' as SubjectId, 'email' as never);
    expect(stored?.jurisdiction).toBe('EU');

    for (const region of ['oci-us-ashburn', 'oci-us-phoenix', 'us-va-legacy']) {
      const store = d.stores.get(region as RegionId);
      const records = [
        ...((await store?.listRecords('mover' as SubjectId, 'US' as JurisdictionId)) ?? []),
        ...((await store?.listRecords('mover' as SubjectId, 'EU' as JurisdictionId)) ?? []),
      ];
      // only the interoperable record, now of jurisdiction EU, is replicated back
      expect(
        records.map((r) => r.key),
        region,
      ).not.toContain('email');
      expect(
        await d.keyrings
          .get(region as RegionId)
          ?.subjectKey('US' as JurisdictionId, 'mover' as SubjectId, false),
      ).toBeUndefined();
    }
    const video = await d.stores
      .get('oci-us-ashburn' as RegionId)
      ?.getRecord('mover' as SubjectId, 'video' as never);
    expect(video?.jurisdiction).toBe('EU');
    // the other subject is untouched
    const stayer = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/stayer/records/email',
      headers: await d.auth(US_STEWARD),
    });
    expect(stayer.json().value).toBe('stayer@example.com');

    for (const j of ['US', 'EU']) {
      const entries = (await logEntries(d, j)).filter(
        (e) => e.type === 'transfer.relocation' && e.decision === 'allow',
      );
      expect(entries.map((e) => e.class).sort(), j).toEqual(['interoperable', 'protected']);
    }
    const report = await d.app.inject({
      method: 'GET',
      url: '/v1/reports/transfers?jurisdiction=US',
      headers: await d.auth(US_STEWARD),
    });
    expect(report.json().jurisdictions[0]).toMatchObject({ protectedPlaintextLeft: 0, relocatedOut: 1 });
  });

  describe('when the target jurisdiction is unknown', () => {
    it('refuses, logs the attempt, and moves nothing', async () => {
      const res = await d.app.inject({
        method: 'POST',
        url: '/v1/subjects/stayer/relocate',
        headers: await d.auth(US_STEWARD),
        payload: { jurisdiction: 'XX' },
      });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('DOMICILE_ERR_UNKNOWN_JURISDICTION');
      expect(await d.directory.lookup('stayer' as SubjectId)).toBe('US');
      const denied = (await logEntries(d, 'US')).filter(
        (e) => e.type === 'transfer.relocation' && e.decision === 'deny',
      );
      expect(denied).toHaveLength(1);
    });
  });

  it('refuses a caller who does not operate the subject’s jurisdiction', async () => {
    const res = await d.app.inject({
      method: 'POST',
      url: '/v1/subjects/stayer/relocate',
      headers: await d.auth(EU_STEWARD),
      payload: { jurisdiction: 'EU' },
    });
    expect(res.statusCode).toBe(403);
    expect(await d.directory.lookup('stayer' as SubjectId)).toBe('US');
  });
});
