/**
 * The local keyring's master key: 32 bytes from `DOMICILE_MASTER_KEY` (base64 or hex), else from a
 * 0600 file that is generated on first start. The master key wraps the jurisdiction KEKs and the
 * region key; it never leaves the process and never appears in a message or a log line.
 */
import { randomBytes } from 'node:crypto';
import { constants, type promises as fsp } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DomicileError } from '../domain/errors.js';
import { KEY_BYTES } from './envelope.js';

/** The environment variable that carries the master key. */
export const MASTER_KEY_ENV = 'DOMICILE_MASTER_KEY';

/** Where the master key was found. */
export type MasterKeySource =
  | { readonly kind: 'env'; readonly variable: typeof MASTER_KEY_ENV }
  | { readonly kind: 'file'; readonly path: string };

/** A loaded master key. */
export interface MasterKey {
  readonly key: Buffer;
  /** True when the file did not exist and a new key was written to it: the caller should warn. */
  readonly generated: boolean;
  readonly source: MasterKeySource;
}

/** Options of `loadMasterKey`. */
export interface LoadMasterKeyOptions {
  /** The environment to read `DOMICILE_MASTER_KEY` from (usually `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The key file used when the variable is not set; created (0600) when missing. */
  readonly file: string;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters plus one `=` of padding; both alphabets are accepted
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=?$/;
const BASE64URL_KEY = /^[A-Za-z0-9_-]{43}=?$/;

/**
 * Parses a master key written as hex or base64 (standard or URL-safe) of exactly 32 bytes.
 * `undefined` for anything else; the value is never echoed.
 */
export function parseMasterKey(text: string): Buffer | undefined {
  // value is untrusted: it comes from the environment
  const value = text.trim();
  if (HEX_KEY.test(value)) return Buffer.from(value, 'hex');
  const encoding = BASE64_KEY.test(value) ? 'base64' : BASE64URL_KEY.test(value) ? 'base64url' : undefined;
  if (encoding === undefined) return undefined;
  const key = Buffer.from(value, encoding);
  // reject non-canonical encodings (stray low bits in the last character): one key, one spelling
  if (key.length !== KEY_BYTES || key.toString(encoding).replace(/=+$/, '') !== value.replace(/=+$/, '')) {
    return undefined;
  }
  return key;
}

function configError(message: string, cause?: unknown): DomicileError {
  return new DomicileError('DOMICILE_ERR_CONFIG', message, cause === undefined ? {} : { cause });
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}

/** Reads the key file; undefined when it does not exist. */
async function readKeyFile(path: string): Promise<Buffer | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (cause) {
    if (isErrno(cause, 'ENOENT')) return undefined;
    throw configError(`master key file \`${path}\`: cannot open`, cause);
  }
  try {
    // check the opened file, not the path, so it cannot be swapped between the check and the read
    const stat = await handle.stat();
    if (!stat.isFile()) throw configError(`master key file \`${path}\`: not a regular file`);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw configError(
        `master key file \`${path}\`: permissions ${(stat.mode & 0o777).toString(8)} are wider than 600: run \`chmod 600\` on it`,
      );
    }
    if (stat.size !== KEY_BYTES) {
      throw configError(
        `master key file \`${path}\`: expected exactly ${KEY_BYTES} bytes, found ${stat.size}`,
      );
    }
    const key = Buffer.alloc(KEY_BYTES);
    const { bytesRead } = await handle.read(key, 0, KEY_BYTES, 0);
    if (bytesRead !== KEY_BYTES) {
      throw configError(
        `master key file \`${path}\`: expected exactly ${KEY_BYTES} bytes, found ${bytesRead}`,
      );
    }
    return key;
  } finally {
    await handle.close();
  }
}

/** Writes a new key with `O_EXCL` and mode 0600, fsyncs it and its folder; undefined when it already exists. */
async function createKeyFile(path: string): Promise<Buffer | undefined> {
  const folder = dirname(path);
  let handle: fsp.FileHandle;
  try {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    handle = await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (cause) {
    if (isErrno(cause, 'EEXIST')) return undefined;
    throw configError(`master key file \`${path}\`: cannot create`, cause);
  }
  const key = randomBytes(KEY_BYTES);
  try {
    await handle.writeFile(key);
    await handle.sync();
    await handle.close();
  } catch (cause) {
    await handle.close().catch(() => undefined);
    // a partial key file would be refused at the next start; leave nothing rather than that
    await unlink(path).catch(() => undefined);
    throw configError(`master key file \`${path}\`: cannot write`, cause);
  }
  // the new directory entry must be durable too, or a crash could lose the key of wrapped data
  try {
    const dir = await open(folder, constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // some platforms and file systems cannot fsync a directory; the file itself is synced
  }
  return key;
}

/**
 * Loads the master key: `DOMICILE_MASTER_KEY` when set (hex or base64 of exactly 32 bytes; anything
 * else, even an empty value, is `DOMICILE_ERR_CONFIG`), else the key file. A missing file is created
 * with a new random key and `generated: true`. A file of another length or with permissions wider
 * than 0600 is `DOMICILE_ERR_CONFIG`.
 *
 * @example
 * const master = await loadMasterKey({ env: process.env, file: 'data/master.key' });
 * if (master.generated) log.warn({ file: 'data/master.key' }, 'generated a new master key: back it up');
 */
export async function loadMasterKey(options: LoadMasterKeyOptions): Promise<MasterKey> {
  const fromEnv = options.env[MASTER_KEY_ENV];
  if (fromEnv !== undefined) {
    const key = parseMasterKey(fromEnv);
    if (!key) {
      throw configError(
        `\`${MASTER_KEY_ENV}\` is invalid: expected hex or base64 of exactly ${KEY_BYTES} bytes`,
      );
    }
    return { key, generated: false, source: { kind: 'env', variable: MASTER_KEY_ENV } };
  }
  const source = { kind: 'file', path: options.file } as const;
  const existing = await readKeyFile(options.file);
  if (existing) return { key: existing, generated: false, source };
  const created = await createKeyFile(options.file);
  if (created) return { key: created, generated: true, source };
  // another process created the file between our read and our create: use its key
  const raced = await readKeyFile(options.file);
  if (raced) return { key: raced, generated: false, source };
  throw configError(`master key file \`${options.file}\`: cannot open`);
}
