/**
 * C2SP tlog-cosignature: witness cosignatures on checkpoints. Ed25519 `cosignature/v1` (type 0x04)
 * is signed and verified here. ML-DSA-44 (type 0x06) keys and messages are parsed and encoded, but
 * Node 20's `crypto` has no ML-DSA, so such signatures cannot be verified here: a verifier for one
 * throws `DOMICILE_ERR_TLOG_UNSUPPORTED_ALGORITHM` (adding `@noble/post-quantum` would close this).
 * See: C2SP tlog-cosignature
 */
import { sign } from 'node:crypto';
import { decodeBase64, utf8 } from './encoding.js';
import { TlogError } from './errors.js';
import { checkHash, type Hash } from './merkle.js';
import {
  computeKeyId,
  ed25519PrivateKey,
  ed25519PublicKey,
  formatVerifierKey,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  newEd25519Verifier,
  parsePrivateKey,
  parseVerifierKey,
  SIGNATURE_TYPE,
  verifyEd25519,
} from './note.js';

/** Bytes of a decoded Ed25519 cosignature: key id (4) + timestamp (8) + signature (64). */
export const COSIGNATURE_V1_SIZE = 76;
/** Bytes of an ML-DSA-44 signature inside a type 0x06 cosignature. */
export const MLDSA44_SIGNATURE_SIZE = 2420;
/** Bytes of an ML-DSA-44 public key. */
export const MLDSA44_PUBLIC_KEY_SIZE = 1312;
/** Timestamps are uint64 on the wire but MUST be at most 2^63-1. */
export const MAX_TIMESTAMP = (1n << 63n) - 1n;

/** A cosignature's payload after the key id. */
export interface Cosignature {
  /** POSIX seconds at which the witness made the statement. */
  readonly timestamp: bigint;
  /** The raw Ed25519 (64 bytes) or ML-DSA-44 (2420 bytes) signature. */
  readonly signature: Uint8Array;
}

/** A cosigner: a `NoteSigner` whose signatures carry a timestamp, plus its public key string. */
export interface CosignatureSigner extends NoteSigner {
  /** `<name>+<hex8>+base64(0x04 || publicKey)`. */
  readonly verifierKey: string;
}

/** Options of `newCosignatureSigner`. */
export interface CosignatureSignerOptions {
  /** Clock in milliseconds; default `Date.now`. Tests inject a fixed clock. */
  readonly now?: () => number;
}

/**
 * The Ed25519 `cosignature/v1` signed message: two header lines, then the whole checkpoint body
 * (extension lines included, signatures excluded). See: C2SP tlog-cosignature
 */
export function cosignatureMessage(checkpointText: string, timestamp: bigint | number): string {
  const ts = BigInt(timestamp);
  if (ts < 0n || ts > MAX_TIMESTAMP)
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `timestamp ${ts} is out of range`);
  return `cosignature/v1\ntime ${ts}\n${checkpointText}`;
}

/**
 * A cosigner from a Go-convention Ed25519 private key string. Its key id is computed with type
 * 0x04, so the same seed has a different id as a cosigner than as a note signer.
 *
 * @example
 * const witness = newCosignatureSigner(skey);
 * const cosigned = signNote(text, [witness], existingSignatures);
 */
export function newCosignatureSigner(
  skey: string,
  options: CosignatureSignerOptions = {},
): CosignatureSigner {
  const key = parsePrivateKey(skey);
  const privateKey = ed25519PrivateKey(key.seed);
  const now = options.now ?? Date.now;
  return {
    name: key.name,
    keyId: computeKeyId(key.name, SIGNATURE_TYPE.cosignatureV1, key.publicKey),
    verifierKey: formatVerifierKey(key.name, SIGNATURE_TYPE.cosignatureV1, key.publicKey),
    sign: (text) => {
      const timestamp = BigInt(Math.floor(now() / 1000));
      if (timestamp <= 0n)
        throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', 'cosignature timestamp must be positive');
      const message = utf8(cosignatureMessage(new TextDecoder().decode(text), timestamp));
      return encodeCosignature({ timestamp, signature: new Uint8Array(sign(null, message, privateKey)) });
    },
  };
}

/** The type-0x04 verifier key string of a cosigner's private key string. */
export function cosignerVerifierKey(skey: string): string {
  const key = parsePrivateKey(skey);
  return formatVerifierKey(key.name, SIGNATURE_TYPE.cosignatureV1, key.publicKey);
}

/** Verifier for a type-0x04 cosigner key string. */
export function newCosignatureVerifier(vkey: string): NoteVerifier {
  const key = parseVerifierKey(vkey);
  if (key.type === SIGNATURE_TYPE.mldsa44Cosignature) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_UNSUPPORTED_ALGORITHM',
      `cosigner \`${key.name}\` uses ML-DSA-44, which Node 20 cannot verify`,
    );
  }
  if (key.type !== SIGNATURE_TYPE.cosignatureV1) {
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', `key \`${key.name}\` is not a cosignature/v1 key`);
  }
  const publicKey = ed25519PublicKey(key.publicKey);
  return {
    name: key.name,
    keyId: key.keyId,
    type: key.type,
    verify: (text, signature) => {
      if (signature.length !== COSIGNATURE_V1_SIZE - 4) return false;
      const { timestamp, signature: sig } = parseCosignature(signature);
      if (timestamp > MAX_TIMESTAMP) return false;
      const message = utf8(cosignatureMessage(new TextDecoder().decode(text), timestamp));
      return verifyEd25519(publicKey, message, sig);
    },
  };
}

/**
 * A verifier for any supported key string: Ed25519 note keys (0x01) and Ed25519 cosigners
 * (0x04). ML-DSA-44 cosigners (0x06) give `DOMICILE_ERR_TLOG_UNSUPPORTED_ALGORITHM`.
 */
export function newNoteVerifier(vkey: string): NoteVerifier {
  const { type } = parseVerifierKey(vkey);
  return type === SIGNATURE_TYPE.ed25519 ? newEd25519Verifier(vkey) : newCosignatureVerifier(vkey);
}

/**
 * Splits a cosignature payload (the bytes after the key id): uint64 big-endian timestamp, then
 * the signature. Refuses payloads too short to hold a timestamp and a signature.
 */
export function parseCosignature(payload: Uint8Array): Cosignature {
  // untrusted until the cosigner's key verifies it
  if (payload.length !== COSIGNATURE_V1_SIZE - 4 && payload.length !== 8 + MLDSA44_SIGNATURE_SIZE) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_COSIGNATURE_MALFORMED',
      `cosignature payload of ${payload.length} bytes`,
    );
  }
  const timestamp = new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0);
  return { timestamp, signature: payload.slice(8) };
}

/** `timestamp (u64 BE) || signature`: the payload after the key id. */
export function encodeCosignature(cosignature: Cosignature): Uint8Array {
  const out = new Uint8Array(8 + cosignature.signature.length);
  new DataView(out.buffer).setBigUint64(0, cosignature.timestamp);
  out.set(cosignature.signature, 8);
  return out;
}

/** The timestamp of a cosignature note signature. */
export function cosignatureTimestamp(sig: NoteSignature): bigint {
  return parseCosignature(sig.signature).timestamp;
}

/** A whole decoded cosignature (the base64 of a signature line): key id and payload. */
export function decodeCosignatureBase64(b64: string): Cosignature & { readonly keyId: number } {
  const bytes = decodeBase64(b64, 'DOMICILE_ERR_TLOG_COSIGNATURE_MALFORMED', 'cosignature');
  if (bytes.length < 4)
    throw new TlogError('DOMICILE_ERR_TLOG_COSIGNATURE_MALFORMED', 'cosignature is too short');
  const keyId = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  return { keyId, ...parseCosignature(bytes.subarray(4)) };
}

/** Inputs of the ML-DSA-44 `subtree/v1` cosigned message. */
export interface SubtreeMessage {
  readonly cosignerName: string;
  readonly timestamp: bigint | number;
  readonly origin: string;
  readonly start: bigint | number;
  readonly end: bigint | number;
  readonly hash: Hash;
}

/**
 * The ML-DSA-44 `cosigned_message` (TLS presentation language): label `subtree/v1\n\0`,
 * 1-byte-length cosigner name, u64 timestamp, 1-byte-length origin, u64 start, u64 end, hash.
 * Encoding only: Node 20 cannot make or check the signature. See: C2SP tlog-cosignature v1.1.0-rc.1
 */
export function mldsa44CosignedMessage(m: SubtreeMessage): Uint8Array {
  checkHash(m.hash, 'subtree hash');
  const name = utf8(m.cosignerName);
  const origin = utf8(m.origin);
  if (name.length < 1 || name.length > 255 || origin.length < 1 || origin.length > 255) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', 'cosigner name and origin must be 1 to 255 bytes');
  }
  const label = utf8('subtree/v1\n\0');
  const out = new Uint8Array(label.length + 1 + name.length + 8 + 1 + origin.length + 8 + 8 + 32);
  const view = new DataView(out.buffer);
  let o = 0;
  out.set(label, o);
  o += label.length;
  out[o++] = name.length;
  out.set(name, o);
  o += name.length;
  view.setBigUint64(o, BigInt(m.timestamp));
  o += 8;
  out[o++] = origin.length;
  out.set(origin, o);
  o += origin.length;
  view.setBigUint64(o, BigInt(m.start));
  o += 8;
  view.setBigUint64(o, BigInt(m.end));
  o += 8;
  out.set(m.hash, o);
  return out;
}
