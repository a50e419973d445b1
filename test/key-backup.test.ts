/**
 * Keys stay home (T1, E1): keyring backups go only to the jurisdiction's own regions, sealed by the
 * holding region's keyring; a region that lost its keyring gets the jurisdiction's keys back from
 * one, after which data backups decrypt again — except for erased subjects, whose keys stay gone.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, RegionId, SubjectId } from '../src/domain/ids.js';
import { checkTransfer, KEY_MATERIAL_CLASS } from '../src/services/transfer/gate.js';
import {
  demoConfig,
  logEntries,
  openTestDeployment,
  putRecord,
  putSubject,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

const US = 'US' as JurisdictionId;
const ASHBURN = 'oci-us-ashburn' as RegionId;
const SUBJECTS = 6;
const ERASED = 'kb-subject-1';
const subject = (i: number): string => `kb-subject-${i}`;
const secret = (i: number): string => `kb-secret-${i}@example.com`;
const masterKey = randomBytes(32).toString('base64');

let d: TestDeployment;
let dataDir: string;

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function keyBackup(to: string, claims = US_STEWARD) {
  return d.app.inject({
    method: 'POST',
    url: '/v1/key-backups',
    headers: await d.auth(claims),
    payload: { jurisdiction: 'US', to },
  });
}

async function restoreKeys(id: string, to: string) {
  return d.app.inject({
    method: 'POST',
    url: `/v1/key-backups/${id}/restore`,
    headers: await d.auth(US_STEWARD),
    payload: { to },
  });
}

beforeAll(async () => {
  d = await openTestDeployment({ masterKey });
  dataDir = d.dataDir;
  const steward = await d.auth(US_STEWARD);
  for (let i = 0; i < SUBJECTS; i++) {
    await putSubject(d, steward, subject(i), 'US');
    const put = await putRecord(d, steward, subject(i), 'email', { class: 'protected', value: secret(i) });
    expect(put.statusCode).toBe(200);
  }
}, 60_000);
afterAll(async () => {
  await d.cleanup();
});

describe('the transfer gate for key material', () => {
  const config = demoConfig();
  const request = (destinationRegion: string, form: 'plaintext' | 'ciphertext') => ({
    kind: 'backup' as const,
    sourceJurisdiction: 'US',
    destinationRegion,
    classId: KEY_MATERIAL_CLASS,
    form,
    records: 1,
    bytes: 60,
  });

  it('refuses key material to any region outside the jurisdiction, even wrapped and to a backup region', () => {
    for (const to of ['sg-singapore', 'eu-frankfurt']) {
      for (const form of ['plaintext', 'ciphertext'] as const) {
        const decision = checkTransfer(config, request(to, form));
        expect(decision.allowed).toBe(false);
        expect(decision.reason).toMatch(/never leaves the jurisdiction, not even wrapped/);
      }
    }
    for (const to of ['oci-us-ashburn', 'oci-us-phoenix', 'us-va-legacy']) {
      expect(checkTransfer(config, request(to, 'ciphertext')).allowed).toBe(true);
    }
  });
});

describe('backup keys', () => {
  it('refuses a key backup of US to sg-singapore, logs it and writes nothing', async () => {
    for (const to of ['sg-singapore', 'eu-frankfurt']) {
      const res = await keyBackup(to);
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('DOMICILE_ERR_RESIDENCY');
      expect(listDir(join(dataDir, to, 'key-backups'))).toEqual([]);
    }
    const denied = (await logEntries(d, 'US')).filter(
      (e) => e.type === 'transfer.backup' && e.decision === 'deny' && e.class === KEY_MATERIAL_CLASS,
    );
    expect(denied.map((e) => e.details.destinationRegion)).toEqual(
      expect.arrayContaining(['sg-singapore', 'eu-frankfurt']),
    );
  });

  it('refuses a caller who does not operate the jurisdiction', async () => {
    const res = await keyBackup('oci-us-phoenix', SG_STEWARD);
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('DOMICILE_ERR_FORBIDDEN');
  });

  it('the Singapore keyring refuses to seal or open US key material', async () => {
    const sg = d.keyrings.get('sg-singapore' as RegionId);
    await expect(sg?.sealKeyBackup(US, 'x', Buffer.from('{}'))).rejects.toMatchObject({
      code: 'DOMICILE_ERR_RESIDENCY',
    });
    await expect(sg?.openKeyBackup(US, 'x', Buffer.alloc(64))).rejects.toMatchObject({
      code: 'DOMICILE_ERR_RESIDENCY',
    });
  });

  it('a sealed key backup opens only for its jurisdiction, region and id; a KEK must match its id', async () => {
    const phoenix = d.keyrings.get('oci-us-phoenix' as RegionId);
    const ashburn = d.keyrings.get(ASHBURN);
    const sealed = await phoenix?.sealKeyBackup(US, 'b-1', Buffer.from('content'));
    expect(sealed?.includes(Buffer.from('content'))).toBe(false);
    expect((await phoenix?.openKeyBackup(US, 'b-1', sealed ?? Buffer.alloc(0)))?.toString()).toBe('content');
    for (const [keyring, id] of [
      [phoenix, 'b-2'],
      [ashburn, 'b-1'],
    ] as const) {
      await expect(keyring?.openKeyBackup(US, id, sealed ?? Buffer.alloc(0))).rejects.toMatchObject({
        code: 'DOMICILE_ERR_INTEGRITY',
      });
    }
    const forged = {
      keks: [{ id: 'kek_0000000000000000', key: randomBytes(32) }],
      subjectKeys: [],
      destroyed: [],
    };
    await expect(ashburn?.restoreJurisdictionKeys(US, forged, () => false)).rejects.toMatchObject({
      code: 'DOMICILE_ERR_INTEGRITY',
    });
  });

  it('writes a sealed key backup with a signed manifest into oci-us-phoenix', async () => {
    const res = await keyBackup('oci-us-phoenix');
    expect(res.statusCode).toBe(201);
    const backup = res.json();
    expect(backup).toMatchObject({
      region: 'oci-us-phoenix',
      jurisdiction: 'US',
      sourceRegion: 'oci-us-ashburn',
      subjectKeys: SUBJECTS,
    });
    expect(backup.keks).toHaveLength(1);
    const dir = join(dataDir, 'oci-us-phoenix', 'key-backups', backup.id);
    expect(readdirSync(dir).sort()).toEqual(['keys.sealed', 'manifest.note']);
    const manifest = readFileSync(join(dir, 'manifest.note'), 'utf8');
    expect(manifest).toMatch(/\n\n\u2014 domicile\.local\/log\/US\/backup /);
    // sealed: neither subject ids nor anything else readable in the content file
    expect(readFileSync(join(dir, 'keys.sealed')).includes(Buffer.from('kb-subject'))).toBe(false);
    expect(readFileSync(join(dir, 'keys.sealed')).includes(Buffer.from(backup.keks[0]))).toBe(false);
    const list = await d.app.inject({
      method: 'GET',
      url: '/v1/key-backups?jurisdiction=US',
      headers: await d.auth(US_STEWARD),
    });
    expect(list.json().keyBackups.map((b: { id: string }) => b.id)).toContain(backup.id);
    // key backups are not data backups
    const data = await d.app.inject({ method: 'GET', url: '/v1/backups', headers: await d.auth(US_STEWARD) });
    expect(data.json().backups.map((b: { id: string }) => b.id)).not.toContain(backup.id);
  });

  it('refuses to restore keys into a region outside the jurisdiction, and a copy moved abroad', async () => {
    const { id } = (await keyBackup('oci-us-phoenix')).json();
    for (const to of ['sg-singapore', 'eu-frankfurt']) {
      const res = await restoreKeys(id, to);
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('DOMICILE_ERR_RESIDENCY');
    }
    const denied = (await logEntries(d, 'US')).filter(
      (e) => e.type === 'transfer.restore' && e.decision === 'deny' && e.class === KEY_MATERIAL_CLASS,
    );
    expect(denied.map((e) => e.details.destinationRegion)).toContain('sg-singapore');
    // the same files copied into Singapore's storage (and Phoenix's removed): they open nowhere
    const from = join(dataDir, 'oci-us-phoenix', 'key-backups', id);
    cpSync(from, join(dataDir, 'sg-singapore', 'key-backups', id), { recursive: true });
    rmSync(from, { recursive: true });
    const moved = await restoreKeys(id, 'oci-us-phoenix');
    expect(moved.statusCode).toBe(422);
    expect(moved.json().error.code).toBe('DOMICILE_ERR_BACKUP_INVALID');
    rmSync(join(dataDir, 'sg-singapore', 'key-backups', id), { recursive: true });
  });

  it('reports no key material that left the jurisdiction', async () => {
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/reports/transfers?jurisdiction=US',
      headers: await d.auth(US_STEWARD),
    });
    const [us] = res.json().jurisdictions;
    expect(us).toMatchObject({ protectedPlaintextLeft: 0, keyMaterialLeft: 0 });
    expect(
      us.allowed.some(
        (l: { kind: string; classId: string; destinationRegion: string }) =>
          l.kind === 'backup' && l.classId === KEY_MATERIAL_CLASS && l.destinationRegion === 'oci-us-phoenix',
      ),
    ).toBe(true);
    expect(
      us.refused.some(
        (l: { kind: string; classId: string; destinationRegion: string }) =>
          l.kind === 'backup' && l.classId === KEY_MATERIAL_CLASS && l.destinationRegion === 'sg-singapore',
      ),
    ).toBe(true);
  });
});

describe('after the home region lost its keyring and its directory', () => {
  it('restoring the keys, then a data backup, makes the records readable again; an erased subject stays gone', async () => {
    const keys = (await keyBackup('oci-us-phoenix')).json();
    const data = await d.app.inject({
      method: 'POST',
      url: '/v1/backups',
      headers: await d.auth(US_STEWARD),
      payload: { jurisdiction: 'US', to: 'sg-singapore' },
    });
    expect(data.statusCode).toBe(201);
    const erased = await d.app.inject({
      method: 'DELETE',
      url: `/v1/subjects/${ERASED}`,
      headers: await d.auth(US_STEWARD),
    });
    expect(erased.statusCode).toBe(200);

    // the loss: Ashburn's keyring file and the subject directory are gone; a fresh process starts
    await d.close();
    for (const dir of [join(dataDir, ASHBURN, 'keyring'), join(dataDir, 'directory')]) {
      rmSync(dir, { recursive: true, force: true });
    }
    d = await openTestDeployment({ dataDir, masterKey });
    const ashburn = d.keyrings.get(ASHBURN);
    expect(await ashburn?.hasKek(US)).toBe(false);
    // and its records are lost too
    for (let i = 0; i < SUBJECTS; i++)
      await d.stores.get(ASHBURN)?.deleteSubject(subject(i) as SubjectId, 'US' as JurisdictionId);
    const headers = await d.auth(US_STEWARD);
    const lost = await d.app.inject({
      method: 'GET',
      url: `/v1/subjects/${subject(0)}/records/email`,
      headers,
    });
    expect(lost.statusCode).toBe(404);

    const restored = await restoreKeys(keys.id, ASHBURN);
    expect(restored.statusCode, restored.body).toBe(200);
    expect(restored.json()).toMatchObject({ keks: 1, restored: SUBJECTS - 1, erased: 1, conflicts: 0 });
    expect(await ashburn?.hasKek(US)).toBe(true);
    expect(await ashburn?.subjectKey(US, ERASED as SubjectId, false)).toBeUndefined();
    // idempotent; the erased subject's key was tombstoned by the first run
    const again = (await restoreKeys(keys.id, ASHBURN)).json();
    expect(again).toMatchObject({
      keks: 0,
      keksPresent: 1,
      restored: 0,
      present: SUBJECTS - 1,
      destroyed: 1,
    });

    const res = await d.app.inject({
      method: 'POST',
      url: `/v1/backups/${data.json().id}/restore`,
      headers,
      payload: { to: ASHBURN },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      restored: SUBJECTS - 1,
      erased: 1,
      unreadable: 0,
      registered: SUBJECTS - 1,
    });
    expect(await d.stores.get(ASHBURN)?.listRecords(ERASED as SubjectId, 'US' as JurisdictionId)).toEqual([]);

    d.node('oci-us-phoenix').stop();
    try {
      for (let i = 0; i < SUBJECTS; i++) {
        const read = await d.app.inject({
          method: 'GET',
          url: `/v1/subjects/${subject(i)}/records/email`,
          headers,
        });
        if (subject(i) === ERASED) {
          expect(read.statusCode).toBe(404);
          continue;
        }
        expect(read.statusCode, read.body).toBe(200);
        expect(read.json()).toMatchObject({ value: secret(i), region: ASHBURN });
      }
    } finally {
      d.node('oci-us-phoenix').restart();
    }
  }, 60_000);
});
