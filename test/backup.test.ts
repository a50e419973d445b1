/**
 * Backups abroad as ciphertext (R1, T1, E1): a US backup in Singapore carries no plaintext and no
 * key, verifies against its signed manifest, restores only where US data may live, re-applies
 * erasures, and survives an interrupted restore. Attacks named in the tests.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, RegionId, SubjectId } from '../src/domain/ids.js';
import { BackupService } from '../src/services/backup/backup.js';
import type { RegionStore } from '../src/store/region-store.js';
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
const SUBJECTS = 12;
const secret = (i: number): string => `secret-mail-${i}@example.com`;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function createBackup(to: string) {
  return d.app.inject({
    method: 'POST',
    url: '/v1/backups',
    headers: await d.auth(US_STEWARD),
    payload: { jurisdiction: 'US', to },
  });
}

async function restore(id: string, to: string) {
  return d.app.inject({
    method: 'POST',
    url: `/v1/backups/${id}/restore`,
    headers: await d.auth(US_STEWARD),
    payload: { to },
  });
}

const phoenix = (): RegionStore => d.stores.get('oci-us-phoenix' as RegionId) as RegionStore;

beforeAll(async () => {
  d = await openTestDeployment();
  const steward = await d.auth(US_STEWARD);
  const app = await d.auth(US_APP);
  for (let i = 0; i < SUBJECTS; i++) {
    await putSubject(d, steward, `u-${i}`, 'US');
    const put = await putRecord(d, steward, `u-${i}`, 'email', { class: 'protected', value: secret(i) });
    expect(put.statusCode).toBe(200);
    await putRecord(d, app, `u-${i}`, 'video', { class: 'interoperable', value: { title: `public-${i}` } });
  }
}, 60_000);
afterAll(async () => {
  await d.cleanup();
});

describe('backup create', () => {
  it('writes a signed, ciphertext-only snapshot into the Singapore backup folder', async () => {
    const res = await createBackup('sg-singapore');
    expect(res.statusCode).toBe(201);
    const backup = res.json();
    expect(backup).toMatchObject({ region: 'sg-singapore', jurisdiction: 'US', records: SUBJECTS * 2 });
    const dir = join(d.dataDir, 'sg-singapore', 'backups', backup.id);
    const manifest = readFileSync(join(dir, 'manifest.note'), 'utf8');
    const body = JSON.parse(manifest.slice(0, manifest.indexOf('\n')));
    expect(body).toMatchObject({ form: 'ciphertext', sourceRegion: 'oci-us-ashburn', records: SUBJECTS * 2 });
    expect(body.keyIds.keks.length).toBe(1);
    expect(manifest).toMatch(/\n\n\u2014 domicile\.local\/log\/US\/backup /);
    const list = await d.app.inject({
      method: 'GET',
      url: '/v1/backups?region=sg-singapore',
      headers: await d.auth(US_STEWARD),
    });
    expect(list.json().backups.map((b: { id: string }) => b.id)).toContain(backup.id);
  });

  it('refuses a backup to a region that is not a backup region of the jurisdiction, and logs it', async () => {
    const res = await createBackup('eu-frankfurt');
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('DOMICILE_ERR_RESIDENCY');
    const denied = (await logEntries(d, 'US')).filter(
      (e) => e.type === 'transfer.backup' && e.decision === 'deny',
    );
    expect(denied.some((e) => e.details.destinationRegion === 'eu-frankfurt')).toBe(true);
    expect(readdirSyncSafe(join(d.dataDir, 'eu-frankfurt', 'backups'))).toEqual([]);
  });

  it('refuses a caller who does not operate the jurisdiction', async () => {
    const res = await d.app.inject({
      method: 'POST',
      url: '/v1/backups',
      headers: await d.auth({ sub: 'eng', type: 'employee', dept: 'video', loc: 'US' }),
      payload: { jurisdiction: 'US', to: 'sg-singapore' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('DOMICILE_ERR_FORBIDDEN');
  });
});

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe('keys stay home', () => {
  it('leaves no plaintext of US records in anything that exists in Singapore', async () => {
    const res = await createBackup('sg-singapore');
    expect(res.statusCode).toBe(201);
    await d.audit.logs.get('SG' as JurisdictionId)?.log.flush();
    const files = filesUnder(join(d.dataDir, 'sg-singapore'));
    expect(files.some((f) => f.includes(`${join('backups', res.json().id)}`))).toBe(true);
    expect(files.some((f) => f.endsWith('keyring.db'))).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (let i = 0; i < SUBJECTS; i++) {
        expect(bytes.includes(Buffer.from(secret(i))), `${file} holds plaintext`).toBe(false);
      }
      expect(bytes.includes(Buffer.from('secret-mail')), file).toBe(false);
    }
    // and the Singapore keyring holds no key of jurisdiction US
    expect(await d.keyrings.get('sg-singapore' as RegionId)?.hasKek('US' as JurisdictionId)).toBe(false);
  });
});

describe('backup verify', () => {
  it('accepts an untouched backup', async () => {
    const { id } = (await createBackup('oci-us-phoenix')).json();
    const res = await d.app.inject({
      method: 'POST',
      url: `/v1/backups/${id}/verify`,
      headers: await d.auth(US_STEWARD),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ verified: true, records: SUBJECTS * 2 });
  });

  describe('when a backup file is edited after signing', () => {
    it('fails on a changed content file, and restore refuses it', async () => {
      const { id } = (await createBackup('sg-singapore')).json();
      const file = join(d.dataDir, 'sg-singapore', 'backups', id, 'records-000000.jsonl');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.replace('"version":1', '"version":9'));
      const res = await d.app.inject({
        method: 'POST',
        url: `/v1/backups/${id}/verify`,
        headers: await d.auth(US_STEWARD),
      });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.code).toBe('DOMICILE_ERR_BACKUP_INVALID');
      const restored = await restore(id, 'oci-us-phoenix');
      expect(restored.json().error.code).toBe('DOMICILE_ERR_BACKUP_INVALID');
    });

    it('fails on a changed manifest (count or root)', async () => {
      const { id } = (await createBackup('sg-singapore')).json();
      const file = join(d.dataDir, 'sg-singapore', 'backups', id, 'manifest.note');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(`"records":${SUBJECTS * 2}`, `"records":${SUBJECTS}`),
      );
      const res = await d.app.inject({
        method: 'POST',
        url: `/v1/backups/${id}/verify`,
        headers: await d.auth(US_STEWARD),
      });
      expect(res.statusCode).toBe(422);
      expect(res.json().error.message).toMatch(/signature does not verify/);
    });

    it('fails when a record line is removed and the file hash recomputed', async () => {
      const { id } = (await createBackup('sg-singapore')).json();
      const file = join(d.dataDir, 'sg-singapore', 'backups', id, 'records-000000.jsonl');
      writeFileSync(file, readFileSync(file, 'utf8').split('\n').slice(1).join('\n'));
      const res = await d.app.inject({
        method: 'POST',
        url: `/v1/backups/${id}/verify`,
        headers: await d.auth(US_STEWARD),
      });
      expect(res.statusCode).toBe(422);
    });
  });
});

describe('backup restore', () => {
  it('refuses to restore US data into a foreign region, and logs it', async () => {
    const { id } = (await createBackup('sg-singapore')).json();
    for (const to of ['sg-singapore', 'eu-frankfurt']) {
      const res = await restore(id, to);
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('DOMICILE_ERR_RESIDENCY');
    }
    const denied = (await logEntries(d, 'US')).filter(
      (e) => e.type === 'transfer.restore' && e.decision === 'deny',
    );
    expect(denied.map((e) => e.details.destinationRegion)).toEqual(
      expect.arrayContaining(['sg-singapore', 'eu-frankfurt']),
    );
    expect(await d.stores.get('sg-singapore' as RegionId)?.countRecords('US' as JurisdictionId)).toBe(
      SUBJECTS,
    );
  });

  it('brings lost records back, readable with the jurisdiction’s keyring', async () => {
    const { id } = (await createBackup('sg-singapore')).json();
    expect(await phoenix().deleteSubject('u-3' as SubjectId, 'US' as JurisdictionId)).toBe(2);
    const res = await restore(id, 'oci-us-phoenix');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ restored: 2, present: SUBJECTS * 2 - 2, erased: 0, unreadable: 0 });
    d.node('oci-us-ashburn').stop();
    try {
      const read = await d.app.inject({
        method: 'GET',
        url: '/v1/subjects/u-3/records/email',
        headers: await d.auth(US_STEWARD),
      });
      expect(read.statusCode).toBe(200);
      expect(read.json()).toMatchObject({ value: secret(3), region: 'oci-us-phoenix' });
    } finally {
      d.node('oci-us-ashburn').restart();
    }
  });

  describe('when a restore is interrupted halfway', () => {
    it('completes on a re-run with nothing duplicated', async () => {
      const { id } = (await createBackup('sg-singapore')).json();
      for (let i = 0; i < SUBJECTS; i++)
        await phoenix().deleteSubject(`u-${i}` as SubjectId, 'US' as JurisdictionId);
      expect(await phoenix().countRecords('US' as JurisdictionId)).toBe(0);
      let writes = 0;
      const failing: RegionStore = Object.create(phoenix(), {
        putRecordIfNewer: {
          value: async (...args: Parameters<RegionStore['putRecordIfNewer']>) => {
            if (++writes > 7) throw new Error('power cut');
            return phoenix().putRecordIfNewer(...args);
          },
        },
      });
      const stores = new Map(d.stores);
      stores.set('oci-us-phoenix' as RegionId, failing);
      const t = d.transfers;
      const interrupted = new BackupService({
        config: d.config,
        stores,
        keyrings: d.keyrings,
        storage: t.storage,
        gate: t.gate,
        transfers: t.store,
        pseudonym: t.pseudonym,
        signer: (j) => t.keys(j).signer,
        verifier: (j) => t.keys(j).verifier,
      });
      await expect(
        interrupted.restore({ id, to: 'oci-us-phoenix' }, { requestId: 't', principal: undefined }),
      ).rejects.toThrow('power cut');
      expect(await phoenix().countRecords('US' as JurisdictionId)).toBe(7);
      const rerun = await restore(id, 'oci-us-phoenix');
      expect(rerun.json()).toMatchObject({ restored: SUBJECTS * 2 - 7, present: 7 });
      expect(await phoenix().countRecords('US' as JurisdictionId)).toBe(SUBJECTS * 2);
      const again = await restore(id, 'oci-us-phoenix');
      expect(again.json()).toMatchObject({ restored: 0, present: SUBJECTS * 2 });
      expect(await phoenix().countRecords('US' as JurisdictionId)).toBe(SUBJECTS * 2);
    });
  });
});

describe('erasure reaches every copy (E1)', () => {
  it('a restore of a backup taken before an erasure brings neither rows nor readable data back', async () => {
    const { id } = (await createBackup('sg-singapore')).json();
    const headers = await d.auth(US_STEWARD);
    const erased = await d.app.inject({ method: 'DELETE', url: '/v1/subjects/u-5', headers });
    expect(erased.statusCode).toBe(200);
    for (const to of ['oci-us-phoenix', 'oci-us-ashburn']) {
      const res = await restore(id, to);
      expect(res.statusCode).toBe(200);
      expect(res.json().erased).toBe(2);
      expect(
        await d.stores.get(to as RegionId)?.listRecords('u-5' as SubjectId, 'US' as JurisdictionId),
      ).toEqual([]);
    }
    // the ciphertext still in the backup is unreadable: its key is gone in every region
    for (const [region, keyring] of d.keyrings) {
      if (!(await keyring.hasKek('US' as JurisdictionId))) continue;
      expect(
        await keyring.subjectKey('US' as JurisdictionId, 'u-5' as SubjectId, false),
        region,
      ).toBeUndefined();
    }
    const read = await d.app.inject({ method: 'GET', url: '/v1/subjects/u-5/records/email', headers });
    expect(read.statusCode).toBe(404);
  });

  it('even without the ledger, a destroyed key keeps the data out (crypto-shredding)', async () => {
    const { id } = (await createBackup('sg-singapore')).json();
    await d
      .node('oci-us-ashburn')
      .purgeSubject({ subjectId: 'u-6' as SubjectId, jurisdiction: 'US' as JurisdictionId });
    await d
      .node('oci-us-phoenix')
      .purgeSubject({ subjectId: 'u-6' as SubjectId, jurisdiction: 'US' as JurisdictionId });
    await d
      .node('us-va-legacy')
      .purgeSubject({ subjectId: 'u-6' as SubjectId, jurisdiction: 'US' as JurisdictionId });
    const res = await restore(id, 'oci-us-phoenix');
    expect(res.json()).toMatchObject({ unreadable: 1 });
    expect(
      (await phoenix().listRecords('u-6' as SubjectId, 'US' as JurisdictionId)).map((r) => r.key),
    ).toEqual(['video']);
  });
});

describe('a restore and the subject directory', () => {
  it('registers subjects missing from the directory again, never an erased one', async () => {
    // the first backup, taken before u-5 was erased
    const [first] = await d.transfers.backups.list({ jurisdiction: 'US', region: 'sg-singapore' });
    const headers = await d.auth(US_STEWARD);
    expect(await d.directory.remove('u-7' as SubjectId)).toBe(true);
    const lost = await d.app.inject({ method: 'GET', url: '/v1/subjects/u-7/records/email', headers });
    expect(lost.statusCode).toBe(404);
    const res = await restore(first?.id ?? '', 'oci-us-phoenix');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ registered: 1, erased: 2 });
    const read = await d.app.inject({ method: 'GET', url: '/v1/subjects/u-7/records/email', headers });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ value: secret(7) });
    expect(await d.directory.lookup('u-5' as SubjectId)).toBeUndefined();
    expect((await restore(first?.id ?? '', 'oci-us-phoenix')).json()).toMatchObject({ registered: 0 });
  });
});

describe('the transfer report', () => {
  it('shows backups by destination and class and 0 protected plaintext records out of the US', async () => {
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/reports/transfers?jurisdiction=US',
      headers: await d.auth(US_STEWARD),
    });
    expect(res.statusCode).toBe(200);
    const [us] = res.json().jurisdictions;
    expect(us.protectedPlaintextLeft).toBe(0);
    const backups = us.allowed.filter(
      (l: { kind: string; destinationRegion: string; classId: string }) =>
        l.kind === 'backup' && l.destinationRegion === 'sg-singapore' && l.classId === 'protected',
    );
    expect(backups[0]).toMatchObject({ form: 'ciphertext' });
    expect(backups[0].records).toBeGreaterThanOrEqual(SUBJECTS);
    expect(us.allowed.some((l: { kind: string }) => l.kind === 'replication')).toBe(true);
    expect(
      us.refused.some(
        (l: { kind: string; destinationRegion: string }) =>
          l.kind === 'restore' && l.destinationRegion === 'sg-singapore',
      ),
    ).toBe(true);
  });
});
