import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../domain/ids.js';
import { decryptRecord, encryptRecord, type RecordAad } from './envelope.js';
import type { Keyring } from './keyring.js';
import { type LocalKeyringOptions, openLocalKeyring } from './local-keyring.js';

const EU = 'EU' as JurisdictionId;
const US = 'US' as JurisdictionId;
const SG = 'SG' as JurisdictionId;
const ada = 'user-ada' as SubjectId;
const bob = 'user-bob' as SubjectId;

const code = (c: string) => expect.objectContaining({ code: c });

let dir: string;
const open: Keyring[] = [];
let masterKey: Buffer;
let euKek: Buffer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'domicile-keyring-'));
  masterKey = randomBytes(32);
  euKek = randomBytes(32);
});
afterEach(async () => {
  for (const k of open.splice(0)) await k.close();
  await rm(dir, { recursive: true, force: true });
});

async function keyring(overrides: Partial<LocalKeyringOptions> = {}): Promise<Keyring> {
  const k = await openLocalKeyring({
    regionId: 'eu-1' as RegionId,
    file: join(dir, 'keyring.db'),
    masterKey,
    allowedJurisdictions: [EU, US],
    ...overrides,
  });
  open.push(k);
  return k;
}

async function close(k: Keyring): Promise<void> {
  await k.close();
  open.splice(open.indexOf(k), 1);
}

function recordOf(subjectId: SubjectId): RecordAad {
  return {
    jurisdiction: EU,
    subjectId,
    key: 'email' as RecordKey,
    classId: 'protected' as ClassId,
    version: 1,
  };
}

/** The raw bytes of the keyring file and its WAL, as an attacker with the disk would read them. */
async function rawFiles(file: string): Promise<Buffer> {
  const parts = [await readFile(file)];
  if (existsSync(`${file}-wal`)) parts.push(await readFile(`${file}-wal`));
  return Buffer.concat(parts);
}

describe('openLocalKeyring', () => {
  it('creates the keyring file with mode 0600', async () => {
    await keyring();
    expect((await stat(join(dir, 'keyring.db'))).mode & 0o777).toBe(0o600);
  });

  it('persists KEKs and subject keys across reopen with the same master key', async () => {
    const first = await keyring();
    await first.installKek(EU, euKek);
    const created = await first.subjectKey(EU, ada, true);
    const region = await first.regionKey();
    const blob = encryptRecord(region, recordOf(ada), Buffer.from('global'));
    await close(first);

    const second = await keyring();
    expect(await second.hasKek(EU)).toBe(true);
    const reopened = await second.subjectKey(EU, ada, false);
    expect(reopened?.id).toBe(created?.id);
    expect(reopened?.key.equals(created?.key ?? Buffer.alloc(0))).toBe(true);
    const reopenedRegion = await second.regionKey();
    expect(reopenedRegion.id).toBe(region.id);
    expect(decryptRecord(reopenedRegion, recordOf(ada), blob).toString()).toBe('global');
  });

  it('refuses to open the keyring with another master key', async () => {
    const first = await keyring();
    await first.installKek(EU, euKek);
    await first.subjectKey(EU, ada, true);
    await close(first);
    await expect(keyring({ masterKey: randomBytes(32) })).rejects.toThrow(
      code('DOMICILE_ERR_KEYRING_UNAVAILABLE'),
    );
  });

  it('refuses the keyring of another region', async () => {
    await close(await keyring());
    await expect(keyring({ regionId: 'us-1' as RegionId })).rejects.toThrow(code('DOMICILE_ERR_CONFIG'));
  });

  it('refuses a master key that is not 32 bytes', async () => {
    await expect(keyring({ masterKey: randomBytes(16) })).rejects.toThrow(code('DOMICILE_ERR_CONFIG'));
  });

  it('refuses a file that is not a keyring', async () => {
    const file = join(dir, 'garbage.db');
    await writeFile(file, randomBytes(4096));
    await expect(keyring({ file })).rejects.toThrow(code('DOMICILE_ERR_KEYRING_UNAVAILABLE'));
  });
});

describe('installKek', () => {
  it('refuses a jurisdiction this region may not hold', async () => {
    const k = await keyring();
    await expect(k.installKek(SG, randomBytes(32))).rejects.toThrow(code('DOMICILE_ERR_RESIDENCY'));
    expect(await k.hasKek(SG)).toBe(false);
  });

  it('refuses a KEK that is not 32 bytes', async () => {
    const k = await keyring();
    await expect(k.installKek(EU, randomBytes(31))).rejects.toThrow(code('DOMICILE_ERR_CONFIG'));
    expect(await k.hasKek(EU)).toBe(false);
  });

  it('is idempotent', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    const key = await k.subjectKey(EU, ada, true);
    await k.installKek(EU, euKek);
    expect((await k.subjectKey(EU, ada, false))?.id).toBe(key?.id);
  });

  it('keeps an older KEK for the DEKs it wraps when a newer one is installed', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    const old = await k.subjectKey(EU, ada, true);
    await k.installKek(EU, randomBytes(32));
    await close(k);
    const reopened = await keyring();
    expect((await reopened.subjectKey(EU, ada, false))?.key.equals(old?.key ?? Buffer.alloc(0))).toBe(true);
    await reopened.subjectKey(EU, bob, true);
    const newer = await reopened.exportSubjectKey(EU, bob);
    const older = await reopened.exportSubjectKey(EU, ada);
    expect(newer?.kekId).not.toBe(older?.kekId);
  });
});

describe('subjectKey', () => {
  it('is unavailable with a clear message when the KEK is not installed', async () => {
    const k = await keyring();
    const err = await k.subjectKey(EU, ada, true).catch((e: unknown) => e);
    expect(err).toEqual(code('DOMICILE_ERR_KEYRING_UNAVAILABLE'));
    expect((err as Error).message).toMatch(/no KEK of jurisdiction `EU` is installed/);
    await expect(k.subjectKey(EU, ada, false)).rejects.toThrow(code('DOMICILE_ERR_KEYRING_UNAVAILABLE'));
  });

  it('refuses a jurisdiction this region may not hold', async () => {
    const k = await keyring();
    await expect(k.subjectKey(SG, ada, true)).rejects.toThrow(code('DOMICILE_ERR_RESIDENCY'));
  });

  it('creates one key per subject only when asked', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    expect(await k.subjectKey(EU, ada, false)).toBeUndefined();
    const a = await k.subjectKey(EU, ada, true);
    const again = await k.subjectKey(EU, ada, true);
    const b = await k.subjectKey(EU, bob, true);
    expect(a?.id).toMatch(/^dek_[0-9a-f]{16}$/);
    expect(again?.id).toBe(a?.id);
    expect(b?.id).not.toBe(a?.id);
    expect(b?.key.equals(a?.key ?? Buffer.alloc(0))).toBe(false);
  });

  it('gives concurrent first requests the same key', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    const keys = await Promise.all([1, 2, 3, 4, 5].map(() => k.subjectKey(EU, ada, true)));
    expect(new Set(keys.map((key) => key?.id)).size).toBe(1);
  });

  it('serves keys evicted from a small cache from the file', async () => {
    const k = await keyring({ cacheSize: 2 });
    await k.installKek(EU, euKek);
    const subjects = ['s1', 's2', 's3', 's4'] as SubjectId[];
    const keys = await Promise.all(subjects.map((s) => k.subjectKey(EU, s, true)));
    for (const [i, s] of subjects.entries()) {
      expect((await k.subjectKey(EU, s, false))?.key.equals(keys[i]?.key ?? Buffer.alloc(0))).toBe(true);
    }
  });

  it('does not derive the key id from the subject id', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    const first = await k.subjectKey(EU, ada, true);
    await k.destroySubjectKey(EU, ada);
    const second = await k.subjectKey(EU, ada, true);
    expect(second?.id).not.toBe(first?.id);
  });

  it('fails closed when a wrapped DEK row is moved to another subject in the file', async () => {
    const file = join(dir, 'keyring.db');
    const k = await keyring();
    await k.installKek(EU, euKek);
    await k.subjectKey(EU, ada, true);
    await close(k);
    // an attacker with write access to the file re-attributes ada's DEK to bob
    const db = new Database(file);
    db.prepare("UPDATE subject_keys SET subject_id = 'user-bob' WHERE subject_id = 'user-ada'").run();
    db.close();
    const reopened = await keyring();
    await expect(reopened.subjectKey(EU, bob, false)).rejects.toThrow(code('DOMICILE_ERR_INTEGRITY'));
  });
});

describe('destroySubjectKey', () => {
  it('makes the key gone, also after reopen, and the data unreadable', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    const key = await k.subjectKey(EU, ada, true);
    if (!key) throw new Error('no key');
    const blob = encryptRecord(key, recordOf(ada), Buffer.from('secret'));

    expect(await k.destroySubjectKey(EU, ada)).toBe(true);
    expect(await k.subjectKey(EU, ada, false)).toBeUndefined();
    expect(await k.keyById(EU, ada, key.id)).toBeUndefined();
    expect(await k.exportSubjectKey(EU, ada)).toBeUndefined();
    expect(await k.destroySubjectKey(EU, ada)).toBe(false);
    await close(k);

    const reopened = await keyring();
    expect(await reopened.subjectKey(EU, ada, false)).toBeUndefined();
    expect(await reopened.keyById(EU, ada, key.id)).toBeUndefined();
    const fresh = await reopened.subjectKey(EU, ada, true);
    if (!fresh) throw new Error('no key');
    expect(() => decryptRecord(fresh, recordOf(ada), blob)).toThrow(code('DOMICILE_ERR_INTEGRITY'));
  });

  it('overwrites the wrapped DEK and subject id in the raw file (secure_delete, WAL checkpointed)', async () => {
    const file = join(dir, 'keyring.db');
    const k = await keyring();
    await k.installKek(EU, euKek);
    await k.subjectKey(EU, ada, true);
    await k.subjectKey(EU, bob, true);
    const wrapped = await k.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no key');
    const db = new Database(file);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    // the test must be able to fail: before destruction the bytes are on disk
    expect((await rawFiles(file)).includes(Buffer.from(wrapped.wrapped))).toBe(true);
    expect((await rawFiles(file)).includes(Buffer.from(ada))).toBe(true);

    await k.destroySubjectKey(EU, ada);
    // read while the keyring is still open: destruction alone must reach the disk
    const raw = await rawFiles(file);
    expect(raw.includes(Buffer.from(wrapped.wrapped))).toBe(false);
    expect(raw.includes(Buffer.from(ada))).toBe(false);
    expect(raw.includes(Buffer.from(bob))).toBe(true);
  });

  it('evicts the cached key', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    await k.subjectKey(EU, ada, true);
    await k.subjectKey(EU, ada, false); // cached now
    await k.destroySubjectKey(EU, ada);
    expect(await k.subjectKey(EU, ada, false)).toBeUndefined();
  });

  it('works for a jurisdiction this region may no longer hold', async () => {
    const k = await keyring();
    await k.installKek(US, randomBytes(32));
    await k.subjectKey(US, ada, true);
    await close(k);
    const legacy = await keyring({ allowedJurisdictions: [EU] });
    expect(await legacy.destroySubjectKey(US, ada)).toBe(true);
  });
});

describe('destroyJurisdictionKeys', () => {
  it('destroys the KEK and every DEK of the jurisdiction, and nothing else', async () => {
    const usKek = randomBytes(32);
    const k = await keyring();
    await k.installKek(EU, euKek);
    await k.installKek(US, usKek);
    await k.subjectKey(EU, ada, true);
    await k.subjectKey(EU, bob, true);
    const usKey = await k.subjectKey(US, ada, true);
    const euWrapped = await k.exportSubjectKey(EU, ada);
    if (!euWrapped) throw new Error('no key');

    expect(await k.destroyJurisdictionKeys(EU)).toEqual({ keks: 1, subjectKeys: 2 });
    expect(await k.hasKek(EU)).toBe(false);
    await expect(k.subjectKey(EU, ada, false)).rejects.toThrow(code('DOMICILE_ERR_KEYRING_UNAVAILABLE'));
    expect((await k.subjectKey(US, ada, false))?.id).toBe(usKey?.id);
    expect((await rawFiles(join(dir, 'keyring.db'))).includes(Buffer.from(euWrapped.wrapped))).toBe(false);
    await close(k);

    const reopened = await keyring();
    expect(await reopened.hasKek(EU)).toBe(false);
    expect(await reopened.hasKek(US)).toBe(true);
    // the same KEK installed again does not bring the destroyed DEKs back
    await reopened.installKek(EU, euKek);
    expect(await reopened.subjectKey(EU, ada, false)).toBeUndefined();
    await expect(reopened.importSubjectKey(EU, ada, euWrapped)).rejects.toThrow(
      code('DOMICILE_ERR_STATE_CONFLICT'),
    );
  });
});

describe('exportSubjectKey and importSubjectKey', () => {
  const failoverMasterKey = randomBytes(32);

  async function twoRegions(): Promise<[Keyring, Keyring]> {
    const home = await keyring({ regionId: 'eu-1' as RegionId, file: join(dir, 'eu-1.db') });
    const failover = await keyring({
      regionId: 'eu-2' as RegionId,
      file: join(dir, 'eu-2.db'),
      masterKey: failoverMasterKey,
    });
    await home.installKek(EU, euKek);
    await failover.installKek(EU, euKek);
    return [home, failover];
  }

  it('remembers a key it held already, imported again by a later process, for the next replicas', async () => {
    const [home, failover] = await twoRegions();
    await home.subjectKey(EU, ada, true);
    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    await failover.importSubjectKey(EU, ada, wrapped);
    await close(failover);

    const file = join(dir, 'eu-2.db');
    const restarted = await keyring({ regionId: 'eu-2' as RegionId, file, masterKey: failoverMasterKey });
    await restarted.importSubjectKey(EU, ada, wrapped); // read from the file: it holds the key
    // with the KEK gone from the file, only a remembered key lets the same import through again
    const db = new Database(file);
    db.pragma('foreign_keys = OFF');
    db.prepare('DELETE FROM keks').run();
    db.close();
    await restarted.importSubjectKey(EU, ada, wrapped);
    await expect(restarted.importSubjectKey(EU, bob, wrapped)).rejects.toThrow(
      code('DOMICILE_ERR_KEYRING_UNAVAILABLE'),
    );
  });

  it('moves a DEK between keyrings holding the same KEK', async () => {
    const [home, failover] = await twoRegions();
    const key = await home.subjectKey(EU, ada, true);
    if (!key) throw new Error('no key');
    const blob = encryptRecord(key, recordOf(ada), Buffer.from('replicated'));

    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    expect(Buffer.from(wrapped.wrapped).includes(key.key)).toBe(false);
    await failover.importSubjectKey(EU, ada, wrapped);
    await failover.importSubjectKey(EU, ada, wrapped); // idempotent

    const imported = await failover.keyById(EU, ada, key.id);
    if (!imported) throw new Error('not imported');
    expect(decryptRecord(imported, recordOf(ada), blob).toString()).toBe('replicated');
    expect((await failover.subjectKey(EU, ada, true))?.id).toBe(key.id);
  });

  it('refuses a wrapped DEK re-attributed to another subject', async () => {
    const [home, failover] = await twoRegions();
    await home.subjectKey(EU, ada, true);
    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    await expect(failover.importSubjectKey(EU, bob, wrapped)).rejects.toThrow(code('DOMICILE_ERR_INTEGRITY'));
    expect(await failover.subjectKey(EU, bob, false)).toBeUndefined();
  });

  it('refuses a DEK wrapped by a KEK the importer does not hold', async () => {
    const [home] = await twoRegions();
    const other = await keyring({ regionId: 'eu-3' as RegionId, file: join(dir, 'eu-3.db') });
    await other.installKek(EU, randomBytes(32));
    await home.subjectKey(EU, ada, true);
    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    await expect(other.importSubjectKey(EU, ada, wrapped)).rejects.toThrow(
      code('DOMICILE_ERR_KEYRING_UNAVAILABLE'),
    );
  });

  it('refuses a tampered wrapped DEK', async () => {
    const [home, failover] = await twoRegions();
    await home.subjectKey(EU, ada, true);
    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    const bytes = Uint8Array.from(wrapped.wrapped);
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    await expect(failover.importSubjectKey(EU, ada, { ...wrapped, wrapped: bytes })).rejects.toThrow(
      code('DOMICILE_ERR_INTEGRITY'),
    );
  });

  it('refuses a second, different DEK for a subject', async () => {
    const [home, failover] = await twoRegions();
    await home.subjectKey(EU, ada, true);
    await failover.subjectKey(EU, ada, true);
    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    await expect(failover.importSubjectKey(EU, ada, wrapped)).rejects.toThrow(
      code('DOMICILE_ERR_STATE_CONFLICT'),
    );
  });

  it('refuses to bring back a DEK destroyed in this region', async () => {
    const [home, failover] = await twoRegions();
    await home.subjectKey(EU, ada, true);
    const wrapped = await home.exportSubjectKey(EU, ada);
    if (!wrapped) throw new Error('no export');
    await failover.importSubjectKey(EU, ada, wrapped);
    await failover.destroySubjectKey(EU, ada);
    await expect(failover.importSubjectKey(EU, ada, wrapped)).rejects.toThrow(
      code('DOMICILE_ERR_STATE_CONFLICT'),
    );
    expect(await failover.subjectKey(EU, ada, false)).toBeUndefined();
  });

  it('refuses a jurisdiction this region may not hold', async () => {
    const k = await keyring();
    await expect(k.exportSubjectKey(SG, ada)).rejects.toThrow(code('DOMICILE_ERR_RESIDENCY'));
    await expect(
      k.importSubjectKey(SG, ada, {
        id: 'dek_0000000000000000',
        kekId: 'kek_0000000000000000',
        wrapped: randomBytes(60),
      }),
    ).rejects.toThrow(code('DOMICILE_ERR_RESIDENCY'));
  });
});

describe('regionKey and keyById', () => {
  it('creates the region key once and finds it by id', async () => {
    const k = await keyring();
    const region = await k.regionKey();
    expect(region.id).toMatch(/^rk_[0-9a-f]{16}$/);
    expect((await k.regionKey()).id).toBe(region.id);
    expect((await k.keyById(EU, ada, region.id))?.key.equals(region.key)).toBe(true);
    expect(await k.keyById(EU, ada, 'rk_0000000000000000')).toBeUndefined();
  });

  it('finds a subject key only under its own subject', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    const key = await k.subjectKey(EU, ada, true);
    await k.subjectKey(EU, bob, true);
    if (!key) throw new Error('no key');
    expect((await k.keyById(EU, ada, key.id))?.id).toBe(key.id);
    expect(await k.keyById(EU, bob, key.id)).toBeUndefined();
    expect(await k.keyById(EU, ada, 'dek_0000000000000000')).toBeUndefined();
  });
});

describe('close', () => {
  it('makes later calls unavailable', async () => {
    const k = await keyring();
    await k.installKek(EU, euKek);
    await close(k);
    await expect(k.hasKek(EU)).rejects.toThrow(code('DOMICILE_ERR_KEYRING_UNAVAILABLE'));
    await expect(k.regionKey()).rejects.toThrow(code('DOMICILE_ERR_KEYRING_UNAVAILABLE'));
  });
});
