/**
 * C2SP signed-note: parsing and formatting notes, Ed25519 (type 0x01) signing and verification, key
 * ids, verifier-key strings and the Go private-key convention. Compatible with golang.org/x/mod
 * `sumdb/note`. See: C2SP signed-note
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import {
  decodeBase64,
  decodeUtf8,
  encodeBase64,
  hasControlExceptNewline,
  hasLoneSurrogate,
  sha256,
  truncate,
  utf8,
} from './encoding.js';
import { TlogError } from './errors.js';

/** Signature type bytes. See: C2SP signed-note "Signature types" */
export const SIGNATURE_TYPE = {
  /** Ed25519 over the note text. */
  ed25519: 0x01,
  /** Timestamped Ed25519 checkpoint cosignature, `cosignature/v1`. See: C2SP tlog-cosignature */
  cosignatureV1: 0x04,
  /** Timestamped ML-DSA-44 (sub)tree cosignature. See: C2SP tlog-cosignature v1.1.0-rc.1 */
  mldsa44Cosignature: 0x06,
} as const;

/** Verifiers MUST accept at least 16; golang.org/x/mod accepts 100 and calls 101 malformed. */
export const MAX_NOTE_SIGNATURES = 100;

/** One signature line: `— <name> base64(keyId || signature)`. */
export interface NoteSignature {
  /** Key name. */
  readonly name: string;
  /** 32-bit big-endian key id (the first 4 decoded bytes). */
  readonly keyId: number;
  /** The signature bytes after the key id (for cosignatures, timestamp || signature). */
  readonly signature: Uint8Array;
}

/** A parsed signed note. */
export interface Note {
  /** The signed text, including its final newline. */
  readonly text: string;
  /** Signatures in the order they appear, identical lines removed. */
  readonly signatures: readonly NoteSignature[];
}

/** Verifies signatures of one key. `verify` returns false for a bad signature; it never throws. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /** The signature type byte of the key. */
  readonly type: number;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** Signs with one key. `sign` returns the bytes that follow the key id on the signature line. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  sign(text: Uint8Array): Uint8Array;
}

/** A decoded verifier key string. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: number;
  readonly publicKey: Uint8Array;
}

/** A freshly generated key pair in the Go string forms. */
export interface GeneratedKey {
  /** `PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)`: keep secret. */
  readonly privateKey: string;
  /** `<name>+<hex8>+base64(0x01 || publicKey)`: publish. */
  readonly verifierKey: string;
}

/** Successful result of `openNote`. */
export interface OpenedNote {
  readonly note: Note;
  /** Signatures that verified with a known key. */
  readonly verified: readonly NoteSignature[];
  /** Signatures by keys the caller does not know; ignored, as the spec requires. */
  readonly unverified: readonly NoteSignature[];
}

/** `SHA-256(name || 0x0A || type || publicKey)[:4]` as a uint32. See: C2SP signed-note "Key ID" */
export function computeKeyId(name: string, type: number, publicKey: Uint8Array): number {
  const digest = sha256(utf8(name), new Uint8Array([0x0a, type]), publicKey);
  return Buffer.from(digest).readUInt32BE(0);
}

/** Lowercase 8-digit hex of a key id. */
export function formatKeyId(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

/** True when `name` is a valid key name: non-empty, no Unicode space, no `+`. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s\u0085+]/u.test(name) && !hasControl(name) && !hasLoneSurrogate(name);
}

/** `<name>+<hex8 key id>+base64(type || publicKey)`. See: C2SP signed-note "Verifier keys" */
export function formatVerifierKey(name: string, type: number, publicKey: Uint8Array): string {
  if (!isValidKeyName(name))
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', `invalid key name \`${truncate(name)}\``);
  const keyId = computeKeyId(name, type, publicKey);
  return `${name}+${formatKeyId(keyId)}+${encodeBase64(Uint8Array.from([type, ...publicKey]))}`;
}

/**
 * Parses a verifier key string. Splits on the first two `+` only: the base64 may contain `+`
 * (`sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9…`). Checks the embedded key id.
 */
export function parseVerifierKey(vkey: string): VerifierKey {
  // untrusted until the key id recomputes from name, type and key
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (first < 0 || second < 0) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `verifier key \`${truncate(vkey)}\` has fewer than three parts`,
    );
  }
  return decodeKeyParts(vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1), vkey);
}

/** Verifier for an Ed25519 (type 0x01) verifier key string. */
export function newEd25519Verifier(vkey: string): NoteVerifier {
  const key = parseVerifierKey(vkey);
  if (key.type !== SIGNATURE_TYPE.ed25519) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `verifier key \`${truncate(vkey)}\` is not an Ed25519 key`,
    );
  }
  const publicKey = ed25519PublicKey(key.publicKey);
  return {
    name: key.name,
    keyId: key.keyId,
    type: key.type,
    verify: (text, signature) => verifyEd25519(publicKey, text, signature),
  };
}

/** Decoded private key string `PRIVATE+KEY+<name>+<hex8>+base64(type || seed)`. */
export interface PrivateKey {
  readonly name: string;
  readonly keyId: number;
  readonly type: number;
  /** The 32-byte Ed25519 seed. */
  readonly seed: Uint8Array;
  /** The 32-byte Ed25519 public key derived from the seed. */
  readonly publicKey: Uint8Array;
}

/**
 * Parses a Go-convention private key string and checks its key id. The key id is the type-0x01 id
 * even when the seed is later used for a cosigner (whose id is computed with type 0x04).
 */
export function parsePrivateKey(skey: string): PrivateKey {
  const prefix = 'PRIVATE+KEY+';
  if (!skey.startsWith(prefix)) {
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', 'private key does not start with `PRIVATE+KEY+`');
  }
  const rest = skey.slice(prefix.length);
  const first = rest.indexOf('+');
  const second = first < 0 ? -1 : rest.indexOf('+', first + 1);
  if (first < 0 || second < 0)
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', 'private key has fewer than five parts');
  const name = rest.slice(0, first);
  const idHex = rest.slice(first + 1, second);
  // Never echo the key material itself in an error.
  let decoded: Uint8Array;
  try {
    decoded = decodeBase64(rest.slice(second + 1), 'DOMICILE_ERR_TLOG_KEY_MALFORMED', 'private key');
  } catch {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `private key for \`${truncate(name)}\` is not base64`,
    );
  }
  if (decoded.length !== 33 || decoded[0] !== SIGNATURE_TYPE.ed25519) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `private key for \`${truncate(name)}\` is not an Ed25519 seed`,
    );
  }
  if (!isValidKeyName(name))
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', `invalid key name \`${truncate(name)}\``);
  const seed = decoded.slice(1);
  const publicKey = ed25519PublicKeyFromSeed(seed);
  const keyId = computeKeyId(name, SIGNATURE_TYPE.ed25519, publicKey);
  if (!/^[0-9a-f]{8}$/.test(idHex) || Number.parseInt(idHex, 16) !== keyId) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `private key for \`${truncate(name)}\` has the wrong key id`,
    );
  }
  return { name, keyId, type: SIGNATURE_TYPE.ed25519, seed, publicKey };
}

/** Signer for a Go-convention Ed25519 private key string. */
export function newEd25519Signer(skey: string): NoteSigner {
  const key = parsePrivateKey(skey);
  const privateKey = ed25519PrivateKey(key.seed);
  return {
    name: key.name,
    keyId: key.keyId,
    sign: (text) => new Uint8Array(sign(null, text, privateKey)),
  };
}

/**
 * Generates an Ed25519 key for `name`, in the string forms golang.org/x/mod `note.GenerateKey`
 * produces.
 *
 * @example
 * const { privateKey, verifierKey } = generateEd25519Key('audit.example.com/log');
 */
export function generateEd25519Key(name: string): GeneratedKey {
  if (!isValidKeyName(name))
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', `invalid key name \`${truncate(name)}\``);
  const seed = new Uint8Array(randomBytes(32));
  return ed25519KeyFromSeed(name, seed);
}

/** The key strings for a given 32-byte seed (deterministic; for tests and key import). */
export function ed25519KeyFromSeed(name: string, seed: Uint8Array): GeneratedKey {
  if (seed.length !== 32)
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', 'an Ed25519 seed has 32 bytes');
  const publicKey = ed25519PublicKeyFromSeed(seed);
  const verifierKey = formatVerifierKey(name, SIGNATURE_TYPE.ed25519, publicKey);
  const keyId = computeKeyId(name, SIGNATURE_TYPE.ed25519, publicKey);
  const privateKey = `PRIVATE+KEY+${name}+${formatKeyId(keyId)}+${encodeBase64(Uint8Array.from([SIGNATURE_TYPE.ed25519, ...seed]))}`;
  return { privateKey, verifierKey };
}

/**
 * Parses a signed note. Refuses, with `DOMICILE_ERR_TLOG_NOTE_MALFORMED`: invalid UTF-8, ASCII
 * control characters other than `\n`, no blank line, a text not ending in `\n`, an empty
 * signature block or one not ending in `\n`, a line that is not a signature line, a bad key
 * name or base64, and more than `MAX_NOTE_SIGNATURES` distinct signatures.
 */
export function parseNote(input: string | Uint8Array): Note {
  // untrusted until openNote verifies a known signature
  const message =
    typeof input === 'string' ? input : decodeUtf8(input, 'DOMICILE_ERR_TLOG_NOTE_MALFORMED', 'note');
  if (hasLoneSurrogate(message)) throw malformed('note is not valid UTF-8');
  if (hasControl(message)) throw malformed('note contains a control character other than newline');
  // See: C2SP signed-note — the text is split from the signatures at the last blank line.
  const split = message.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no blank line before its signatures');
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (block.length === 0) throw malformed('note has no signatures');
  if (!block.endsWith('\n')) throw malformed('note does not end with a newline');
  const lines = block.slice(0, -1).split('\n');
  const seen = new Set<string>();
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (seen.has(line)) continue;
    seen.add(line);
    signatures.push(parseSignatureLine(line));
    if (signatures.length > MAX_NOTE_SIGNATURES) {
      throw malformed(`note has more than ${MAX_NOTE_SIGNATURES} signatures`);
    }
  }
  return { text, signatures };
}

/**
 * Parses one signature line without its trailing newline: `— <name> <base64>`.
 * Used for notes and for the cosignature lines a witness returns.
 */
export function parseSignatureLine(line: string): NoteSignature {
  // untrusted until a verifier for (name, key id) accepts it
  if (!line.startsWith('\u2014 ')) throw malformed(`\`${truncate(line)}\` is not a signature line`);
  const rest = line.slice(2);
  const space = rest.indexOf(' ');
  if (space < 0) throw malformed(`signature line \`${truncate(line)}\` has no signature`);
  const name = rest.slice(0, space);
  if (!isValidKeyName(name)) throw malformed(`signature line has an invalid key name \`${truncate(name)}\``);
  const bytes = decodeBase64(
    rest.slice(space + 1),
    'DOMICILE_ERR_TLOG_NOTE_MALFORMED',
    `signature by \`${truncate(name)}\``,
  );
  if (bytes.length < 5) throw malformed(`signature by \`${truncate(name)}\` is too short`);
  const keyId = Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32BE(0);
  return { name, keyId, signature: bytes.slice(4) };
}

/** `— <name> base64(keyId || signature)` without the trailing newline. */
export function formatSignatureLine(sig: NoteSignature): string {
  const bytes = new Uint8Array(4 + sig.signature.length);
  new DataView(bytes.buffer).setUint32(0, sig.keyId >>> 0);
  bytes.set(sig.signature, 4);
  return `\u2014 ${sig.name} ${encodeBase64(bytes)}`;
}

/** Serialises a note: text, blank line, one line per signature. */
export function formatNote(note: Note): string {
  checkText(note.text);
  if (note.signatures.length === 0) throw malformed('a signed note needs at least one signature');
  return `${note.text}\n${note.signatures.map((s) => `${formatSignatureLine(s)}\n`).join('')}`;
}

/**
 * Signs `text` (which must end in `\n`) with every signer and returns the signed note; signatures
 * in `existing` come first.
 *
 * @example
 * const signed = signNote('hello\n', [newEd25519Signer(skey)]);
 */
export function signNote(
  text: string,
  signers: readonly NoteSigner[],
  existing: readonly NoteSignature[] = [],
): string {
  checkText(text);
  const bytes = utf8(text);
  const signatures = [...existing];
  for (const s of signers) signatures.push({ name: s.name, keyId: s.keyId, signature: s.sign(bytes) });
  return formatNote({ text, signatures });
}

/**
 * Parses and verifies a signed note. Signatures by unknown (name, key id) pairs are ignored; if
 * a known key's signature fails the whole note is rejected (`DOMICILE_ERR_TLOG_SIGNATURE_INVALID`);
 * if no known key signed it, `DOMICILE_ERR_TLOG_NOTE_UNVERIFIED`.
 */
export function openNote(input: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const note = parseNote(input);
  const text = utf8(note.text);
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  for (const sig of note.signatures) {
    const candidates = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (candidates.length === 0) {
      unverified.push(sig);
      continue;
    }
    if (!candidates.some((v) => v.verify(text, sig.signature))) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_SIGNATURE_INVALID',
        `signature by \`${truncate(sig.name)}\` (key id ${formatKeyId(sig.keyId)}) does not verify`,
      );
    }
    verified.push(sig);
  }
  if (verified.length === 0) {
    throw new TlogError('DOMICILE_ERR_TLOG_NOTE_UNVERIFIED', 'note has no signature by a known key');
  }
  return { note, verified, unverified };
}

// ------------------------------------------------------------------------------------------------

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A Node KeyObject for a raw 32-byte Ed25519 seed. */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** A Node KeyObject for a raw 32-byte Ed25519 public key. */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32)
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', 'an Ed25519 public key has 32 bytes');
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', 'not a valid Ed25519 public key', { cause });
  }
}

/** The raw public key of a raw Ed25519 seed. */
export function ed25519PublicKeyFromSeed(seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(ed25519PrivateKey(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
}

/** Ed25519 verification that returns false, never throws, on a malformed signature. */
export function verifyEd25519(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

/** Decodes `name`, `hex8` and `base64(type || key)` parts of a key string. */
export function decodeKeyParts(name: string, idHex: string, keyB64: string, whole: string): VerifierKey {
  if (!isValidKeyName(name))
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', `invalid key name \`${truncate(name)}\``);
  if (!/^[0-9a-f]{8}$/.test(idHex)) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `verifier key \`${truncate(whole)}\` has no 8-digit hex key id`,
    );
  }
  const decoded = decodeBase64(
    keyB64,
    'DOMICILE_ERR_TLOG_KEY_MALFORMED',
    `verifier key \`${truncate(whole)}\``,
  );
  const type = decoded[0];
  if (type === undefined)
    throw new TlogError('DOMICILE_ERR_TLOG_KEY_MALFORMED', `verifier key \`${truncate(whole)}\` is empty`);
  const publicKey = decoded.slice(1);
  const keyId = computeKeyId(name, type, publicKey);
  if (keyId !== Number.parseInt(idHex, 16)) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
      `verifier key \`${truncate(whole)}\` has the wrong key id`,
    );
  }
  return { name, keyId, type, publicKey };
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw malformed('note text must end with a newline');
  if (hasControl(text) || hasLoneSurrogate(text))
    throw malformed('note text contains a control character or invalid UTF-8');
}

// ASCII control characters other than newline. See: C2SP signed-note
const hasControl = hasControlExceptNewline;

function malformed(message: string): TlogError {
  return new TlogError('DOMICILE_ERR_TLOG_NOTE_MALFORMED', message);
}
