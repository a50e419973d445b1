/**
 * Checking the transparency log in the browser, with WebCrypto only: RFC 9162 inclusion proofs,
 * C2SP checkpoints and their Ed25519 signatures (C2SP signed-note). Everything parsed here comes
 * from the network and is untrusted until the check that uses it has passed.
 */

/** A SHA-256 hash or other bytes WebCrypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Bytes {
  return encoder.encode(text) as Bytes;
}

function concat(...parts: readonly Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(...parts: readonly Uint8Array[]): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
}

/** Leaf hash: SHA-256(0x00 || entry). See: RFC 9162 §2.1.1 */
export function hashLeaf(entry: Uint8Array): Promise<Bytes> {
  return sha256(Uint8Array.of(0), entry);
}

/** Interior node hash: SHA-256(0x01 || left || right). See: RFC 9162 §2.1.1 */
export function hashChildren(left: Uint8Array, right: Uint8Array): Promise<Bytes> {
  return sha256(Uint8Array.of(1), left, right);
}

/** Strict base64: canonical padding, no white space; undefined when malformed. */
export function decodeBase64(text: string): Bytes | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  // non-zero padding bits decode too: only the canonical spelling is accepted
  return encodeBase64(bytes) === text ? bytes : undefined;
}

/** Base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The outcome of a check: `ok`, or why not. */
export type Check = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): Check => ({ ok: false, reason });

/**
 * Checks that `leafHash` is leaf `index` of the tree of `size` leaves with root `root`.
 *
 * @example
 * const check = await verifyInclusion(3, 8, await hashLeaf(entry), proof, checkpoint.root);
 */
export async function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Promise<Check> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size < 0) {
    return fail('index or tree size is not a non-negative integer');
  }
  if ([leafHash, root, ...proof].some((h) => h.length !== 32)) return fail('a hash is not 32 bytes');
  // See: RFC 9162 §2.1.3.2, steps 1-5 (BigInt: the bit operations need more than 32 bits)
  if (index >= size) return fail(`index ${index} is not below tree size ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r: Uint8Array = leafHash;
  for (const p of proof) {
    if (sn === 0n) return fail('the proof has more hashes than the tree has levels');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await hashChildren(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return fail('the proof has fewer hashes than the tree has levels');
  return equalBytes(r, root) ? { ok: true } : fail('the proof does not lead to the checkpoint root');
}

/**
 * JSON with object keys sorted at every level and no white space: the encoding of log entries.
 * Number and string spellings are those of `JSON.stringify`, which ECMA-262 fixes exactly, so the
 * browser reproduces the server's bytes for any entry the server itself accepts as canonical.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** One signature line of a signed note: `— <name> base64(keyId || signature)`. */
export interface NoteSignature {
  readonly name: string;
  /** The first 4 bytes, hex: which key of that name signed. */
  readonly keyId: string;
  readonly signature: Bytes;
}

/** A checkpoint as served, parsed but not yet trusted. */
export interface Checkpoint {
  /** The signed text: origin, size, root and extension lines, each ending in a newline. */
  readonly text: string;
  readonly origin: string;
  readonly size: number;
  readonly root: Bytes;
  readonly signatures: readonly NoteSignature[];
}

/** Parses a signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note), or says why it is malformed. */
export function parseCheckpoint(signed: string): Checkpoint | { readonly error: string } {
  // See: C2SP signed-note: the text ends at the last blank line; signature lines follow
  const split = signed.lastIndexOf('\n\n');
  if (split < 0 || !signed.endsWith('\n')) return { error: 'not a signed note' };
  const text = signed.slice(0, split + 1);
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeText, rootText] = lines;
  if (origin === undefined || origin === '' || sizeText === undefined || rootText === undefined) {
    return { error: 'a checkpoint has at least three lines' };
  }
  if (!/^(?:0|[1-9]\d{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    return { error: 'the tree size is not a decimal integer' };
  }
  const root = decodeBase64(rootText);
  if (root === undefined || root.length !== 32) return { error: 'the root is not base64 of 32 bytes' };
  const signatures: NoteSignature[] = [];
  for (const line of signed.slice(split + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    const bytes = m?.[2] === undefined ? undefined : decodeBase64(m[2]);
    if (m?.[1] === undefined || bytes === undefined || bytes.length < 5) {
      return { error: 'a signature line is malformed' };
    }
    signatures.push({ name: m[1], keyId: toHex(bytes.subarray(0, 4)), signature: bytes.slice(4) });
  }
  return { text, origin, size: Number(sizeText), root, signatures };
}

/** A parsed verifier key: `<name>+<hex key id>+base64(0x01 || Ed25519 public key)`. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: string;
  readonly publicKey: Bytes;
}

/** Parses an Ed25519 verifier key and checks its key id, or says why it is not one. */
export async function parseVerifierKey(vkey: string): Promise<VerifierKey | { readonly error: string }> {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey.trim());
  const bytes = m?.[3] === undefined ? undefined : decodeBase64(m[3]);
  if (m?.[1] === undefined || m[2] === undefined || bytes === undefined) {
    return { error: 'not a verifier key (name+keyid+base64)' };
  }
  if (bytes.length !== 33 || bytes[0] !== 1) return { error: 'not an Ed25519 verifier key' };
  // See: C2SP signed-note: key id = SHA-256(name || 0x0A || type || public key)[:4]
  const id = toHex((await sha256(utf8(`${m[1]}\n`), bytes)).subarray(0, 4));
  if (id !== m[2]) return { error: 'the key id does not match the key' };
  return { name: m[1], keyId: id, publicKey: bytes.slice(1) };
}

/**
 * Checks that `key` signed the checkpoint (C2SP signed-note, Ed25519 over the note text).
 *
 * @example
 * const key = await parseVerifierKey('domicile.local/log/US+29056efc+Afw…');
 * if (!('error' in key)) await verifyCheckpointSignature(checkpoint, key);
 */
export async function verifyCheckpointSignature(checkpoint: Checkpoint, key: VerifierKey): Promise<Check> {
  const line = checkpoint.signatures.find((s) => s.name === key.name && s.keyId === key.keyId);
  if (!line) return fail(`no signature by \`${key.name}+${key.keyId}\``);
  if (line.signature.length !== 64) return fail('the signature is not 64 bytes');
  let publicKey: CryptoKey;
  try {
    publicKey = await crypto.subtle.importKey('raw', key.publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return fail('this browser cannot check Ed25519 signatures');
  }
  const ok = await crypto.subtle.verify(
    { name: 'Ed25519' },
    publicKey,
    line.signature,
    utf8(checkpoint.text),
  );
  return ok ? { ok: true } : fail('the signature does not verify');
}
