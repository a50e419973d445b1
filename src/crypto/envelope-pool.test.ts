import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClassId, JurisdictionId, RecordKey, SubjectId } from '../domain/ids.js';
import { decryptRecord, encodeRecordAad, encryptRecord, type RecordAad, writeRecordAad } from './envelope.js';
import { digestPlaintexts, digestSealedRecords, openRecords, sealRecords } from './envelope-pool.js';
import type { DataKey } from './keyring.js';

const keyOf = (n: number): DataKey => ({ id: `dek_${String(n).padStart(16, '0')}`, key: randomBytes(32) });
const aadOf = (n: number): RecordAad => ({
  jurisdiction: 'US' as JurisdictionId,
  subjectId: `user-${Math.floor(n / 10)}` as SubjectId,
  key: `k${n % 10}` as RecordKey,
  classId: 'protected' as ClassId,
  version: 1 + (n % 3),
});
const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

// more records than a worker job takes, of several subjects (keys shared within a subject)
const COUNT = 600;
const keys = Array.from({ length: COUNT / 10 }, (_, s) => keyOf(s));
const plaintexts = Array.from({ length: COUNT }, (_, n) => randomBytes(n % 50 === 0 ? 0 : 100 + (n % 7)));
const plain = plaintexts.map((plaintext, n) => ({
  key: keys[Math.floor(n / 10)] as DataKey,
  aad: aadOf(n),
  plaintext,
}));

describe('sealRecords', () => {
  it('seals each record as encryptRecord does: decryptRecord opens it under the same key and AAD', async () => {
    const blobs = await sealRecords(plain);
    expect(blobs).toHaveLength(COUNT);
    blobs.forEach((blob, n) => {
      const r = plain[n];
      if (!r) throw new Error('no record');
      expect(decryptRecord(r.key, r.aad, blob).equals(r.plaintext)).toBe(true);
    });
  });

  it('uses a fresh nonce for every record', async () => {
    const same = Array.from({ length: 100 }, () => plain[1] as (typeof plain)[number]);
    const blobs = await sealRecords(same);
    expect(new Set(blobs.map((b) => b.toString('hex'))).size).toBe(100);
  });

  it('refuses a record whose version cannot be encoded', async () => {
    const bad = { ...(plain[0] as (typeof plain)[number]), aad: { ...aadOf(0), version: -1 } };
    await expect(sealRecords([...plain, bad])).rejects.toMatchObject({ code: 'DOMICILE_ERR_INTERNAL' });
  });
});

describe('openRecords', () => {
  it('opens what encryptRecord sealed, and gives undefined for a changed byte, another AAD or another key', async () => {
    const sealed = plain.map((r) => ({
      key: r.key,
      aad: r.aad,
      ciphertext: encryptRecord(r.key, r.aad, r.plaintext),
    }));
    const tampered = Buffer.from(sealed[3]?.ciphertext ?? []);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1);
    const damaged = [
      { ...(sealed[3] as (typeof sealed)[number]), ciphertext: tampered },
      { ...(sealed[4] as (typeof sealed)[number]), aad: { ...aadOf(4), key: 'k9' as RecordKey } },
      { ...(sealed[5] as (typeof sealed)[number]), key: keyOf(999) },
      { ...(sealed[6] as (typeof sealed)[number]), aad: { ...aadOf(6), version: 1.5 } },
      { ...(sealed[7] as (typeof sealed)[number]), ciphertext: new Uint8Array(10) },
    ];
    const opened = await openRecords([...sealed, ...damaged]);
    plain.forEach((r, n) => {
      expect(opened[n]?.equals(r.plaintext)).toBe(true);
    });
    expect(opened.slice(COUNT)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('digestSealedRecords and digestPlaintexts', () => {
  it('give the SHA-256 of each plaintext, and undefined for a record that fails authentication', async () => {
    const sealed = plain.map((r) => ({
      key: r.key,
      aad: r.aad,
      ciphertext: encryptRecord(r.key, r.aad, r.plaintext),
    }));
    const wrongKey = { ...(sealed[0] as (typeof sealed)[number]), key: keyOf(998) };
    const fromSealed = await digestSealedRecords([...sealed, wrongKey]);
    const fromPlain = await digestPlaintexts(plaintexts);
    plaintexts.forEach((p, n) => {
      expect(fromSealed[n]?.equals(sha256(p))).toBe(true);
      expect(fromPlain[n]?.equals(sha256(p))).toBe(true);
    });
    expect(fromSealed[COUNT]).toBeUndefined();
  });
});

describe('writeRecordAad', () => {
  it('writes the bytes of encodeRecordAad, for any ids', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.nat(), (subject, key, classId, version) => {
        const aad: RecordAad = {
          jurisdiction: 'US' as JurisdictionId,
          subjectId: subject as SubjectId,
          key: key as RecordKey,
          classId: classId as ClassId,
          version,
        };
        const out = Buffer.alloc(200 + 3 * (subject.length + key.length + classId.length));
        const end = writeRecordAad(aad, out, 7);
        return out.subarray(7, end).equals(encodeRecordAad(aad));
      }),
    );
  });
});
