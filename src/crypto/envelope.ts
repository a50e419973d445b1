/**
 * Envelope encryption: AES-256-GCM for records (under a subject's DEK or the region key) and for
 * wrapping keys (a DEK under its jurisdiction's KEK, a KEK or the region key under the master key).
 *
 * Every ciphertext is bound by its additional authenticated data (AAD) to what it belongs to, so a
 * blob copied to another subject, record key, class, jurisdiction or version — or a wrapped key
 * re-attributed to another subject — fails authentication instead of decrypting (DESIGN.md "Data
 * protection"). Blobs are `nonce (12) || ciphertext || tag (16)`.
 *
 * Nonces are 96 random bits per encryption. With one DEK per subject this stays far below the
 * 2^32 messages per key that NIST SP 800-38D §8.3 allows for random nonces.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { DomicileError } from '../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../domain/ids.js';
import type { DataKey } from './keyring.js';

/** AES-256 key length in bytes. */
export const KEY_BYTES = 32;
/** GCM nonce length in bytes (the 96-bit IV of NIST SP 800-38D §5.2.1.1). */
export const NONCE_BYTES = 12;
/** GCM tag length in bytes (the full 128 bits). */
export const TAG_BYTES = 16;
/** Bytes a sealed blob adds to its plaintext. */
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;
/** Length of a wrapped 256-bit key. */
export const WRAPPED_KEY_BYTES = KEY_BYTES + SEAL_OVERHEAD;

const ALGORITHM = 'aes-256-gcm';

/** What a record's ciphertext is bound to. */
export interface RecordAad {
  readonly jurisdiction: JurisdictionId;
  readonly subjectId: SubjectId;
  readonly key: RecordKey;
  readonly classId: ClassId;
  /** The record version: a non-negative safe integer. */
  readonly version: number;
}

/** What a wrapped key is bound to: what kind of key it is, whose, and under which wrapping key. */
export type WrapAad =
  /** A subject DEK wrapped by its jurisdiction's KEK. */
  | {
      readonly kind: 'subject-key';
      readonly jurisdiction: JurisdictionId;
      readonly subjectId: SubjectId;
      readonly keyId: string;
      readonly kekId: string;
    }
  /** A jurisdiction KEK wrapped by the master key. */
  | { readonly kind: 'kek'; readonly jurisdiction: JurisdictionId; readonly kekId: string }
  /** A region's own data key wrapped by the master key. */
  | { readonly kind: 'region-key'; readonly regionId: RegionId; readonly keyId: string };

// AAD format, version 1:
//   format (1 byte, 0x01) || purpose (1 byte) || for each field: length (uint32 BE) || UTF-8 bytes
//   || for records, version (uint64 BE).
// Length prefixes make the encoding injective (no separator an id could contain), and the purpose
// byte separates record AAD from key-wrapping AAD so one can never stand in for the other.
const AAD_FORMAT_V1 = 0x01;
const PURPOSE = {
  record: 0x01,
  'subject-key': 0x02,
  kek: 0x03,
  'region-key': 0x04,
  'key-backup': 0x05,
} as const;

function writeAad(
  out: Buffer,
  offset: number,
  purpose: number,
  fields: readonly string[],
  version: number | undefined,
): number {
  out[offset] = AAD_FORMAT_V1;
  out[offset + 1] = purpose;
  let at = offset + 2;
  for (const field of fields) {
    const length = out.write(field, at + 4, 'utf8');
    out.writeUInt32BE(length, at);
    at += 4 + length;
  }
  if (version !== undefined) {
    // uint64 BE without BigInt: the high and low 32-bit halves of a safe integer
    out.writeUInt32BE(Math.floor(version / 0x1_0000_0000), at);
    out.writeUInt32BE(version >>> 0, at + 4);
    at += 8;
  }
  return at;
}

function encodeAad(purpose: number, fields: readonly string[], version: number | undefined): Buffer {
  let size = 2 + (version === undefined ? 0 : 8);
  for (const field of fields) size += 4 + Buffer.byteLength(field, 'utf8');
  const out = Buffer.allocUnsafe(size);
  writeAad(out, 0, purpose, fields, version);
  return out;
}

function requireRecordVersion(aad: RecordAad): void {
  if (!Number.isSafeInteger(aad.version) || aad.version < 0) {
    throw new DomicileError(
      'DOMICILE_ERR_INTERNAL',
      `record aad: version must be a non-negative safe integer`,
    );
  }
}

const recordAadFields = (aad: RecordAad): readonly string[] => [
  aad.jurisdiction,
  aad.subjectId,
  aad.key,
  aad.classId,
];

/**
 * The canonical AAD bytes of a record. Exported for test vectors and for other implementations
 * that must produce the same bytes; `encryptRecord` and `decryptRecord` call it themselves.
 */
export function encodeRecordAad(aad: RecordAad): Buffer {
  requireRecordVersion(aad);
  return encodeAad(PURPOSE.record, recordAadFields(aad), aad.version);
}

/**
 * At least the length of a record's encoded AAD (UTF-8 takes at most 3 bytes per UTF-16 unit),
 * to size a buffer for `writeRecordAad` without measuring every field first.
 */
export function recordAadMaxLength(aad: RecordAad): number {
  return (
    2 + 4 * 4 + 8 + 3 * (aad.jurisdiction.length + aad.subjectId.length + aad.key.length + aad.classId.length)
  );
}

/**
 * Writes the bytes of `encodeRecordAad(aad)` into `out` at `offset` (which must have
 * `recordAadMaxLength(aad)` bytes free there) and returns where they end: a batch encodes all its
 * AADs into one buffer.
 */
export function writeRecordAad(aad: RecordAad, out: Buffer, offset: number): number {
  requireRecordVersion(aad);
  if (out.length - offset < recordAadMaxLength(aad)) {
    throw new DomicileError('DOMICILE_ERR_INTERNAL', 'record aad: buffer too small');
  }
  return writeAad(out, offset, PURPOSE.record, recordAadFields(aad), aad.version);
}

/** The canonical AAD bytes of a wrapped key. */
export function encodeWrapAad(aad: WrapAad): Buffer {
  switch (aad.kind) {
    case 'subject-key':
      return encodeAad(PURPOSE[aad.kind], [aad.jurisdiction, aad.subjectId, aad.keyId, aad.kekId], undefined);
    case 'kek':
      return encodeAad(PURPOSE[aad.kind], [aad.jurisdiction, aad.kekId], undefined);
    case 'region-key':
      return encodeAad(PURPOSE[aad.kind], [aad.regionId, aad.keyId], undefined);
  }
}

// Nonces come from a pool refilled in one call: a 12-byte `randomBytes` per record costs more
// than the encryption of a 1 KiB record itself. Each nonce is copied out and never handed twice.
const NONCE_POOL = Buffer.allocUnsafe(NONCE_BYTES * 512);
let noncePoolOffset = NONCE_POOL.length;

function writeNonce(target: Buffer): void {
  if (noncePoolOffset === NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncePoolOffset = 0;
  }
  NONCE_POOL.copy(target, 0, noncePoolOffset, noncePoolOffset + NONCE_BYTES);
  // INVARIANT: the offset only moves forward until a refill, so pool bytes serve one nonce only;
  // a nonce used twice under one key breaks GCM's confidentiality and authenticity
  noncePoolOffset += NONCE_BYTES;
}

function requireKeyLength(key: Uint8Array, what: string): void {
  if (key.length !== KEY_BYTES) {
    throw new DomicileError('DOMICILE_ERR_INTERNAL', `${what}: expected a ${KEY_BYTES}-byte key`);
  }
}

function seal(key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(NONCE_BYTES + plaintext.length + TAG_BYTES);
  writeNonce(out);
  const cipher = createCipheriv(ALGORITHM, key, out.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  let offset = NONCE_BYTES;
  offset += cipher.update(plaintext).copy(out, offset);
  offset += cipher.final().copy(out, offset);
  cipher.getAuthTag().copy(out, offset);
  return out;
}

function open(key: Uint8Array, aad: Uint8Array, blob: Uint8Array, what: string): Buffer {
  // blob is untrusted until the tag verifies
  if (blob.length < SEAL_OVERHEAD || key.length !== KEY_BYTES) {
    throw new DomicileError('DOMICILE_ERR_INTEGRITY', `${what}: ciphertext failed authentication`);
  }
  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const tagStart = view.length - TAG_BYTES;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, view.subarray(0, NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(view.subarray(tagStart));
    const head = decipher.update(view.subarray(NONCE_BYTES, tagStart));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_INTEGRITY', `${what}: ciphertext failed authentication`, { cause });
  }
}

/**
 * Encrypts a record under a data key: `nonce (12) || ciphertext || tag (16)`.
 *
 * @example
 * const blob = encryptRecord(dek, { jurisdiction, subjectId, key, classId, version: 1 }, plaintext);
 */
export function encryptRecord(key: DataKey, aad: RecordAad, plaintext: Uint8Array): Buffer {
  requireKeyLength(key.key, `data key \`${key.id}\``);
  return seal(key.key, encodeRecordAad(aad), plaintext);
}

/**
 * Decrypts a record sealed by `encryptRecord` under the same key and AAD. Any failure — a short
 * blob, a changed byte, another AAD, another key — is `DOMICILE_ERR_INTEGRITY`.
 */
export function decryptRecord(key: DataKey, aad: RecordAad, blob: Uint8Array): Buffer {
  let encoded: Buffer;
  try {
    encoded = encodeRecordAad(aad);
  } catch (cause) {
    throw new DomicileError(
      'DOMICILE_ERR_INTEGRITY',
      `data key \`${key.id}\`: ciphertext failed authentication`,
      {
        cause,
      },
    );
  }
  return open(key.key, encoded, blob, `data key \`${key.id}\``);
}

/**
 * `encryptRecord` for an AAD already encoded by `encodeRecordAad`: a batch is encoded where its
 * records are and sealed on a worker thread (`envelope-pool.ts`), which sees only bytes.
 */
export function encryptRecordWithAad(key: Uint8Array, encodedAad: Uint8Array, plaintext: Uint8Array): Buffer {
  requireKeyLength(key, 'data key');
  return seal(key, encodedAad, plaintext);
}

/** `decryptRecord` for an AAD already encoded by `encodeRecordAad`; `DOMICILE_ERR_INTEGRITY` on any failure. */
export function decryptRecordWithAad(key: Uint8Array, encodedAad: Uint8Array, blob: Uint8Array): Buffer {
  return open(key, encodedAad, blob, 'data key');
}

/** Wraps a 256-bit key under a 256-bit wrapping key, bound to `aad`: 60 bytes. */
export function wrapKey(wrappingKey: Uint8Array, aad: WrapAad, key: Uint8Array): Buffer {
  requireKeyLength(wrappingKey, `wrapping ${aad.kind}`);
  requireKeyLength(key, `wrapping ${aad.kind}`);
  return seal(wrappingKey, encodeWrapAad(aad), key);
}

/**
 * Unwraps a key wrapped by `wrapKey` under the same wrapping key and AAD; `DOMICILE_ERR_INTEGRITY`
 * when the wrapping key, the AAD or any byte differs.
 */
export function unwrapKey(wrappingKey: Uint8Array, aad: WrapAad, wrapped: Uint8Array): Buffer {
  const what = `unwrapping ${aad.kind}`;
  if (wrapped.length !== WRAPPED_KEY_BYTES) {
    throw new DomicileError('DOMICILE_ERR_INTEGRITY', `${what}: ciphertext failed authentication`);
  }
  return open(wrappingKey, encodeWrapAad(aad), wrapped, what);
}

/** What a key backup's sealed content is bound to: its jurisdiction, the sealing region and the backup. */
export interface KeyBackupAad {
  readonly jurisdiction: JurisdictionId;
  readonly regionId: RegionId;
  readonly backupId: string;
}

/** The canonical AAD bytes of a key backup's sealed content. */
export function encodeKeyBackupAad(aad: KeyBackupAad): Buffer {
  return encodeAad(PURPOSE['key-backup'], [aad.jurisdiction, aad.regionId, aad.backupId], undefined);
}

/**
 * Seals a key backup's content under a region's key-backup key, bound to `aad`. The content is
 * key material (KEKs, wrapped DEKs): only the keyring of a region of the jurisdiction calls this.
 */
export function sealKeyBackup(key: Uint8Array, aad: KeyBackupAad, plaintext: Uint8Array): Buffer {
  requireKeyLength(key, 'sealing a key backup');
  return seal(key, encodeKeyBackupAad(aad), plaintext);
}

/** Opens what `sealKeyBackup` sealed; `DOMICILE_ERR_INTEGRITY` when the key, the AAD or any byte differs. */
export function openKeyBackup(key: Uint8Array, aad: KeyBackupAad, sealed: Uint8Array): Buffer {
  return open(key, encodeKeyBackupAad(aad), sealed, `key backup \`${aad.backupId}\``);
}
