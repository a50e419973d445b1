import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptRecord, encryptRecord, KEY_BYTES } from '../../crypto/envelope.js';
import type { ClassId, JurisdictionId, RecordKey, SubjectId } from '../../domain/ids.js';
import type { RecordTuple } from '../../store/sqlite/sqlite-store.js';
import { pseudonymize } from '../audit/entry.js';
import { recordLeaf } from './merkle-accumulator.js';
import { RecordPageWork } from './record-pages.js';

const US = 'US' as JurisdictionId;
const source = { id: 'dek_source', key: randomBytes(KEY_BYTES) };
const target = { id: 'dek_target', key: randomBytes(KEY_BYTES) };
const aadOf = (i: number) => ({
  jurisdiction: US,
  subjectId: `user-${Math.floor(i / 2)}` as SubjectId,
  key: `k${i % 2}` as RecordKey,
  classId: 'protected' as ClassId,
  version: 1,
});
const plaintextOf = (i: number) => Buffer.from(JSON.stringify(`value ${i}`));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** Five rows sealed under `source`; row 3's ciphertext is damaged. */
function tuples(): RecordTuple[] {
  return Array.from({ length: 5 }, (_, i): RecordTuple => {
    const a = aadOf(i);
    const blob = encryptRecord(source, a, plaintextOf(i));
    if (i === 3) blob[20] = (blob[20] ?? 0) ^ 1;
    return [a.subjectId, a.key, US, a.classId, a.version, blob, source.id, 1_000 + i];
  });
}

/** One 32-byte key, and every row pointing at it except row 1 (no key). */
const keysFor = (key: Buffer) => ({
  keys: Uint8Array.from(key),
  keyIndex: Int32Array.from([0, -1, 0, 0, 0]),
});

describe('RecordPageWork', () => {
  it('reads a page as columns, without ciphertext', () => {
    const work = new RecordPageWork(() => tuples());
    const { header } = work.run({ op: 'read', page: 0, scan: { jurisdiction: US, limit: 5 } });
    expect(header?.subjectIds).toEqual(['user-0', 'user-0', 'user-1', 'user-1', 'user-2']);
    expect(header?.keyIds).toEqual(Array(5).fill(source.id));
    expect(header?.updatedAts).toEqual([1000, 1001, 1002, 1003, 1004]);
  });

  describe('when a page is opened with digest', () => {
    it('gives the SHA-256 of each plaintext and its verification leaf; a row without key or that fails authentication does not open', () => {
      const work = new RecordPageWork(() => tuples());
      work.run({ op: 'read', page: 0, scan: { jurisdiction: US, limit: 5 } });
      const pseudonymKey = randomBytes(32);
      const reply = work.run({
        op: 'open',
        page: 0,
        ...keysFor(source.key),
        digest: true,
        pseudonymKey: Uint8Array.from(pseudonymKey),
      });
      expect([...(reply.opened ?? [])]).toEqual([1, 0, 1, 0, 1]);
      for (const i of [0, 2, 4]) {
        const hash = sha256(plaintextOf(i));
        expect(Buffer.from(reply.digests?.subarray(i * 32, i * 32 + 32) ?? [])).toEqual(hash);
        const a = aadOf(i);
        const leaf = recordLeaf(
          pseudonymize(pseudonymKey, 'subject', a.subjectId),
          a.key,
          1,
          hash.toString('hex'),
        );
        expect(Buffer.from(reply.leaves?.subarray(i * 32, i * 32 + 32) ?? [])).toEqual(Buffer.from(leaf));
      }
    });

    it('forgets the page', () => {
      const work = new RecordPageWork(() => tuples());
      work.run({ op: 'read', page: 0, scan: { jurisdiction: US, limit: 5 } });
      work.run({ op: 'open', page: 0, ...keysFor(source.key), digest: true });
      expect(() => work.run({ op: 'seal', page: 0, ...keysFor(target.key) })).toThrow('not held');
    });
  });

  describe('when a page is opened and sealed under other keys', () => {
    it('gives blobs that decrypt under the new key with the same AAD, only for rows that opened and have a key', () => {
      const work = new RecordPageWork(() => tuples());
      work.run({ op: 'read', page: 7, scan: { jurisdiction: US, limit: 5 } });
      work.run({ op: 'open', page: 7, ...keysFor(source.key), digest: false });
      const sealKeys = { keys: Uint8Array.from(target.key), keyIndex: Int32Array.from([0, 0, -1, 0, 0]) };
      const { sealed, spans } = work.run({ op: 'seal', page: 7, ...sealKeys });
      const starts = Array.from({ length: 5 }, (_, i) => spans?.[i * 2]);
      expect(starts.map((s) => (s ?? -1) >= 0)).toEqual([true, false, false, false, true]);
      for (const i of [0, 4]) {
        const blob = sealed?.subarray(spans?.[i * 2], spans?.[i * 2 + 1]) ?? new Uint8Array();
        expect(decryptRecord(target, aadOf(i), blob)).toEqual(plaintextOf(i));
        expect(() => decryptRecord(source, aadOf(i), blob)).toThrow();
      }
    });
  });

  it('zeroes its copy of the keys after a request', () => {
    const work = new RecordPageWork(() => tuples());
    work.run({ op: 'read', page: 0, scan: { jurisdiction: US, limit: 5 } });
    const keys = keysFor(source.key);
    const pseudonymKey = randomBytes(32);
    work.run({ op: 'open', page: 0, ...keys, digest: true, pseudonymKey });
    expect(keys.keys.every((b) => b === 0)).toBe(true);
    expect(pseudonymKey.every((b) => b === 0)).toBe(true);
  });
});
