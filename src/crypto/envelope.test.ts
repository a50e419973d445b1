import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDomicileError } from '../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../domain/ids.js';
import {
  decryptRecord,
  encodeRecordAad,
  encryptRecord,
  NONCE_BYTES,
  type RecordAad,
  SEAL_OVERHEAD,
  TAG_BYTES,
  unwrapKey,
  WRAPPED_KEY_BYTES,
  type WrapAad,
  wrapKey,
} from './envelope.js';
import type { DataKey } from './keyring.js';

const dek: DataKey = { id: 'dek_0123456789abcdef', key: randomBytes(32) };
const aad: RecordAad = {
  jurisdiction: 'EU' as JurisdictionId,
  subjectId: 'user-1' as SubjectId,
  key: 'email' as RecordKey,
  classId: 'protected' as ClassId,
  version: 1,
};
const plaintext = Buffer.from(JSON.stringify({ email: 'ada@example.org' }));

function integrityError(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    return isDomicileError(err, 'DOMICILE_ERR_INTEGRITY');
  }
  return false;
}

describe('encryptRecord', () => {
  it('round-trips through decryptRecord', () => {
    const blob = encryptRecord(dek, aad, plaintext);
    expect(blob.length).toBe(plaintext.length + SEAL_OVERHEAD);
    expect(decryptRecord(dek, aad, blob).equals(plaintext)).toBe(true);
  });

  it('round-trips empty and 1 MiB plaintexts', () => {
    for (const size of [0, 1, 1024, 1 << 20]) {
      const data = randomBytes(size);
      expect(decryptRecord(dek, aad, encryptRecord(dek, aad, data)).equals(data)).toBe(true);
    }
  });

  it('never repeats a nonce', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      nonces.add(encryptRecord(dek, aad, plaintext).subarray(0, NONCE_BYTES).toString('hex'));
    }
    expect(nonces.size).toBe(5000);
  });

  it('does not contain the plaintext', () => {
    const blob = encryptRecord(dek, aad, plaintext);
    expect(blob.includes(Buffer.from('ada@example.org'))).toBe(false);
  });
});

describe('decryptRecord', () => {
  const blob = encryptRecord(dek, aad, plaintext);

  describe('when one byte of the blob is changed', () => {
    it.each([
      ['nonce', 0],
      ['nonce', NONCE_BYTES - 1],
      ['ciphertext', NONCE_BYTES],
      ['ciphertext', blob.length - TAG_BYTES - 1],
      ['tag', blob.length - TAG_BYTES],
      ['tag', blob.length - 1],
    ])('rejects a change in the %s (byte %i)', (_part, index) => {
      const tampered = Buffer.from(blob);
      tampered[index] = (tampered[index] ?? 0) ^ 0x01;
      expect(integrityError(() => decryptRecord(dek, aad, tampered))).toBe(true);
    });

    it('rejects a change at any position (property)', () => {
      fc.assert(
        fc.property(fc.nat({ max: blob.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, mask) => {
          const tampered = Buffer.from(blob);
          tampered[index] = (tampered[index] ?? 0) ^ mask;
          return integrityError(() => decryptRecord(dek, aad, tampered));
        }),
      );
    });
  });

  describe('when the blob is shorter than nonce and tag', () => {
    it('rejects it', () => {
      for (const size of [0, 1, SEAL_OVERHEAD - 1]) {
        expect(integrityError(() => decryptRecord(dek, aad, blob.subarray(0, size)))).toBe(true);
      }
    });
  });

  describe('when the blob is truncated or extended', () => {
    it('rejects it', () => {
      expect(integrityError(() => decryptRecord(dek, aad, blob.subarray(0, blob.length - 1)))).toBe(true);
      expect(integrityError(() => decryptRecord(dek, aad, Buffer.concat([blob, Buffer.of(0)])))).toBe(true);
    });
  });

  describe('when the key is another', () => {
    it('rejects it', () => {
      const other: DataKey = { id: dek.id, key: randomBytes(32) };
      expect(integrityError(() => decryptRecord(other, aad, blob))).toBe(true);
    });
  });

  describe('when the ciphertext is moved to another record (AAD swap)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9._:-]{1,24}$/);
    const recordAad = fc.record({
      jurisdiction: id.map((s) => s as JurisdictionId),
      subjectId: id.map((s) => s as SubjectId),
      key: id.map((s) => s as RecordKey),
      classId: id.map((s) => s as ClassId),
      version: fc.oneof(fc.nat({ max: 10 }), fc.maxSafeNat()),
    });
    const fields = ['jurisdiction', 'subjectId', 'key', 'classId', 'version'] as const;

    it('rejects another subject, key, class, jurisdiction or version (property)', () => {
      fc.assert(
        fc.property(recordAad, recordAad, fc.constantFrom(...fields), (original, other, field) => {
          fc.pre(original[field] !== other[field]);
          const moved: RecordAad = { ...original, [field]: other[field] };
          const sealed = encryptRecord(dek, original, plaintext);
          return (
            decryptRecord(dek, original, sealed).equals(plaintext) &&
            integrityError(() => decryptRecord(dek, moved, sealed))
          );
        }),
      );
    });

    it('rejects it when field boundaries shift (`a:b` + `c` vs `a` + `b:c`)', () => {
      const sealed = encryptRecord(
        dek,
        { ...aad, subjectId: 'a:b' as SubjectId, key: 'c' as RecordKey },
        plaintext,
      );
      const shifted = { ...aad, subjectId: 'a' as SubjectId, key: 'b:c' as RecordKey };
      expect(integrityError(() => decryptRecord(dek, shifted, sealed))).toBe(true);
    });
  });
});

describe('encodeRecordAad', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 12 });
  const anyAad = fc.record({
    jurisdiction: text.map((s) => s as JurisdictionId),
    subjectId: text.map((s) => s as SubjectId),
    key: text.map((s) => s as RecordKey),
    classId: text.map((s) => s as ClassId),
    version: fc.maxSafeNat(),
  });
  const same = (a: RecordAad, b: RecordAad): boolean =>
    a.jurisdiction === b.jurisdiction &&
    a.subjectId === b.subjectId &&
    a.key === b.key &&
    a.classId === b.classId &&
    a.version === b.version;

  it('is injective: equal bytes only for equal fields (property)', () => {
    fc.assert(
      fc.property(anyAad, anyAad, (a, b) => encodeRecordAad(a).equals(encodeRecordAad(b)) === same(a, b)),
    );
  });

  it('pins the version-1 layout', () => {
    const bytes = encodeRecordAad({
      jurisdiction: 'EU' as JurisdictionId,
      subjectId: 'u' as SubjectId,
      key: 'k' as RecordKey,
      classId: 'c' as ClassId,
      version: 2 ** 32 + 7,
    });
    expect(bytes.toString('hex')).toBe(
      [
        '01',
        '01',
        '00000002',
        '4555',
        '00000001',
        '75',
        '00000001',
        '6b',
        '00000001',
        '63',
        '0000000100000007',
      ].join(''),
    );
  });

  it('refuses a version that is negative, fractional or unsafe', () => {
    for (const version of [-1, 1.5, 2 ** 53, Number.NaN]) {
      expect(() => encodeRecordAad({ ...aad, version })).toThrow(
        expect.objectContaining({ code: 'DOMICILE_ERR_INTERNAL' }),
      );
    }
  });
});

describe('wrapKey', () => {
  const kek = randomBytes(32);
  const key = randomBytes(32);
  const subjectAad: WrapAad = {
    kind: 'subject-key',
    jurisdiction: 'EU' as JurisdictionId,
    subjectId: 'user-1' as SubjectId,
    keyId: 'dek_0123456789abcdef',
    kekId: 'kek_0123456789abcdef',
  };

  it('round-trips through unwrapKey', () => {
    const wrapped = wrapKey(kek, subjectAad, key);
    expect(wrapped.length).toBe(WRAPPED_KEY_BYTES);
    expect(unwrapKey(kek, subjectAad, wrapped).equals(key)).toBe(true);
  });

  describe('when a wrapped DEK is re-attributed', () => {
    const wrapped = wrapKey(kek, subjectAad, key);
    it.each<[string, WrapAad]>([
      ['another subject', { ...subjectAad, subjectId: 'user-2' as SubjectId }],
      ['another jurisdiction', { ...subjectAad, jurisdiction: 'US' as JurisdictionId }],
      ['another key id', { ...subjectAad, keyId: 'dek_fedcba9876543210' }],
      ['another KEK id', { ...subjectAad, kekId: 'kek_fedcba9876543210' }],
      ['a KEK', { kind: 'kek', jurisdiction: 'EU' as JurisdictionId, kekId: 'kek_0123456789abcdef' }],
      ['a region key', { kind: 'region-key', regionId: 'eu-1' as RegionId, keyId: 'dek_0123456789abcdef' }],
    ])('rejects it as %s', (_what, other) => {
      expect(integrityError(() => unwrapKey(kek, other, wrapped))).toBe(true);
    });

    it('rejects another wrapping key', () => {
      expect(integrityError(() => unwrapKey(randomBytes(32), subjectAad, wrapped))).toBe(true);
    });

    it('rejects a wrapped key of the wrong length', () => {
      expect(integrityError(() => unwrapKey(kek, subjectAad, wrapped.subarray(1)))).toBe(true);
    });
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => wrapKey(randomBytes(16), subjectAad, key)).toThrow(
      expect.objectContaining({ code: 'DOMICILE_ERR_INTERNAL' }),
    );
    expect(() => wrapKey(kek, subjectAad, randomBytes(31))).toThrow(
      expect.objectContaining({ code: 'DOMICILE_ERR_INTERNAL' }),
    );
  });
});
