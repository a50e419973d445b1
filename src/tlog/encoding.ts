/**
 * Strict byte encodings shared by the note, checkpoint, tile and witness parsers. Internal to
 * `src/tlog`: not re-exported from `index.ts`.
 */
import { hash as oneShot } from 'node:crypto';
import { TlogError, type TlogErrorCode } from './errors.js';

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64, as every C2SP format uses. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes standard padded base64 and refuses anything else (URL alphabet, missing padding,
 * whitespace, non-canonical trailing bits), because Node's decoder silently skips garbage.
 */
export function decodeBase64(text: string, code: TlogErrorCode, what: string): Uint8Array {
  if (!STD_BASE64.test(text)) {
    throw new TlogError(code, `${what}: \`${truncate(text)}\` is not standard base64`);
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (encodeBase64(bytes) !== text) {
    throw new TlogError(code, `${what}: \`${truncate(text)}\` is not canonical base64`);
  }
  return bytes;
}

/** Lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

// Digests are written into shared slabs (a `binary` (latin1) digest string copied in costs far less than
// a fresh `Buffer` per hash), and the input parts into a reusable scratch buffer instead of a
// `Buffer.concat` per hash. Both are safe to reuse: hashing is synchronous.
const SLAB_HASHES = 256;
let slab = Buffer.allocUnsafeSlow(SLAB_HASHES * 32);
let slabUsed = 0;
let scratch = Buffer.allocUnsafeSlow(1024);

function digestOf(input: Uint8Array): Uint8Array {
  if (slabUsed === SLAB_HASHES) {
    slab = Buffer.allocUnsafeSlow(SLAB_HASHES * 32);
    slabUsed = 0;
  }
  const offset = slabUsed * 32;
  slabUsed++;
  slab.write(oneShot('sha256', input, 'binary'), offset, 32, 'binary');
  // a plain view (not a `Buffer`): `.slice()` on it copies
  return new Uint8Array(slab.buffer, slab.byteOffset + offset, 32);
}

function scratchOf(length: number): Buffer {
  if (scratch.length < length) scratch = Buffer.allocUnsafeSlow(Math.max(length, scratch.length * 2));
  return scratch;
}

/**
 * SHA-256 of the concatenation of the parts, as a plain `Uint8Array`: a `Buffer` would make
 * `.slice()` return a view, and a caller "copying" a hash would then mutate the original.
 */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return digestOf(parts[0] as Uint8Array);
  let length = 0;
  for (const p of parts) length += p.length;
  const buf = scratchOf(length);
  let offset = 0;
  for (const p of parts) {
    buf.set(p, offset);
    offset += p.length;
  }
  return digestOf(buf.subarray(0, length));
}

/** `SHA-256(prefix || data)` without allocating the concatenation (leaf hashes). */
export function sha256Prefixed(prefix: number, data: Uint8Array): Uint8Array {
  const buf = scratchOf(data.length + 1);
  buf[0] = prefix;
  buf.set(data, 1);
  return digestOf(buf.subarray(0, data.length + 1));
}

/** `SHA-256(prefix || a || b)` for 32-byte `a` and `b` without allocating (node hashes). */
export function sha256Pair(prefix: number, a: Uint8Array, b: Uint8Array): Uint8Array {
  const buf = scratchOf(1 + a.length + b.length);
  buf[0] = prefix;
  buf.set(a, 1);
  buf.set(b, 1 + a.length);
  return digestOf(buf.subarray(0, 1 + a.length + b.length));
}

/** Constant-time-irrelevant byte equality (all compared values are public hashes). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

const utf8Encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Decodes UTF-8, refusing invalid sequences with the given code. */
export function decodeUtf8(bytes: Uint8Array, code: TlogErrorCode, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw new TlogError(code, `${what}: not valid UTF-8`, { cause });
  }
}

/** True when the string has an unpaired UTF-16 surrogate (it would not survive UTF-8 encoding). */
export function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
/** Largest uint64. */
export const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * Parses an ASCII decimal uint64 with no sign, no leading zeroes and no whitespace, as C2SP
 * requires for tree sizes, indices and timestamps.
 */
export function parseDecimal(
  text: string,
  code: TlogErrorCode,
  what: string,
  max: bigint = MAX_UINT64,
): bigint {
  if (text.length > 20 || !DECIMAL.test(text)) {
    throw new TlogError(
      code,
      `${what}: \`${truncate(text)}\` is not a decimal number without leading zeroes`,
    );
  }
  const value = BigInt(text);
  if (value > max) throw new TlogError(code, `${what}: \`${truncate(text)}\` is too large`);
  return value;
}

/** Shortens untrusted text before it goes into an error message. */
export function truncate(text: string, max = 64): string {
  let oneLine = '';
  for (const ch of text) oneLine += isAsciiControl(ch.charCodeAt(0)) ? '?' : ch;
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max)}…`;
}

/** Indexed read for arrays whose bounds the caller has already established. */
export function at<T>(items: ArrayLike<T>, i: number): T {
  const v = items[i];
  if (v === undefined) throw new RangeError(`internal: index ${i} outside ${items.length}`);
  return v;
}

/** True for ASCII control characters (0x00-0x1f, 0x7f). */
export function isAsciiControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/** True when the text holds an ASCII control character other than newline. */
export function hasControlExceptNewline(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x0a && isAsciiControl(c)) return true;
  }
  return false;
}
