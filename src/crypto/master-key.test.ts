import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMasterKey, parseMasterKey } from './master-key.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'domicile-master-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const configError = expect.objectContaining({ code: 'DOMICILE_ERR_CONFIG' });

describe('loadMasterKey', () => {
  describe('when DOMICILE_MASTER_KEY is set', () => {
    const key = randomBytes(32);

    it.each([
      ['hex', key.toString('hex')],
      ['upper-case hex', key.toString('hex').toUpperCase()],
      ['base64', key.toString('base64')],
      ['base64url', key.toString('base64url')],
      ['base64 with a trailing newline', `${key.toString('base64')}\n`],
    ])('reads %s and leaves the file alone', async (_format, value) => {
      const file = join(dir, 'master.key');
      const master = await loadMasterKey({ env: { DOMICILE_MASTER_KEY: value }, file });
      expect(master.key.equals(key)).toBe(true);
      expect(master.generated).toBe(false);
      expect(master.source).toEqual({ kind: 'env', variable: 'DOMICILE_MASTER_KEY' });
      await expect(stat(file)).rejects.toThrow();
    });

    it.each([
      ['empty', ''],
      ['16 bytes of hex', randomBytes(16).toString('hex')],
      ['33 bytes of hex', randomBytes(33).toString('hex')],
      ['31 bytes of base64', randomBytes(31).toString('base64')],
      ['48 bytes of base64', randomBytes(48).toString('base64')],
      ['a passphrase', 'correct horse battery staple correct horse battery'],
      ['hex with a stray character', `${key.toString('hex').slice(0, 63)}g`],
    ])('refuses %s without echoing it', async (_what, value) => {
      const file = join(dir, 'master.key');
      const err = await loadMasterKey({ env: { DOMICILE_MASTER_KEY: value }, file }).catch((e: unknown) => e);
      expect(err).toEqual(configError);
      if (value.length > 0) expect(String((err as Error).message)).not.toContain(value);
      await expect(stat(file)).rejects.toThrow();
    });
  });

  describe('when the file does not exist', () => {
    it('creates it with mode 0600 and reuses it on the next load', async () => {
      const file = join(dir, 'nested', 'master.key');
      const first = await loadMasterKey({ env: {}, file });
      expect(first.generated).toBe(true);
      expect(first.source).toEqual({ kind: 'file', path: file });
      expect(first.key.length).toBe(32);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await readFile(file)).equals(first.key)).toBe(true);

      const second = await loadMasterKey({ env: {}, file });
      expect(second.generated).toBe(false);
      expect(second.key.equals(first.key)).toBe(true);
    });

    it('gives concurrent loads one and the same key', async () => {
      const file = join(dir, 'master.key');
      const loads = await Promise.all([1, 2, 3, 4].map(() => loadMasterKey({ env: {}, file })));
      expect(loads.filter((m) => m.generated)).toHaveLength(1);
      for (const m of loads) expect(m.key.equals(await readFile(file))).toBe(true);
    });
  });

  describe('when the file exists', () => {
    it('refuses permissions wider than 0600, naming the file', async () => {
      const file = join(dir, 'master.key');
      await writeFile(file, randomBytes(32), { mode: 0o600 });
      await chmod(file, 0o644);
      const err = await loadMasterKey({ env: {}, file }).catch((e: unknown) => e);
      expect(err).toEqual(configError);
      expect((err as Error).message).toContain(file);
    });

    it.each([0, 31, 33, 64])('refuses a file of %i bytes, naming the file', async (size) => {
      const file = join(dir, 'master.key');
      await writeFile(file, randomBytes(size), { mode: 0o600 });
      const err = await loadMasterKey({ env: {}, file }).catch((e: unknown) => e);
      expect(err).toEqual(configError);
      expect((err as Error).message).toContain(file);
    });

    it('accepts a 0400 file', async () => {
      const file = join(dir, 'master.key');
      const key = randomBytes(32);
      await writeFile(file, key, { mode: 0o400 });
      const master = await loadMasterKey({ env: {}, file });
      expect(master.key.equals(key)).toBe(true);
      expect(master.generated).toBe(false);
    });
  });
});

describe('parseMasterKey', () => {
  it('refuses a non-canonical base64 spelling', () => {
    const canonical = Buffer.alloc(32, 0).toString('base64');
    // the last character carries 2 padding bits; setting them gives the same bytes, another spelling
    const nonCanonical = `${canonical.slice(0, 42)}B=`;
    expect(Buffer.from(nonCanonical, 'base64').equals(Buffer.alloc(32, 0))).toBe(true);
    expect(parseMasterKey(canonical)?.equals(Buffer.alloc(32, 0))).toBe(true);
    expect(parseMasterKey(nonCanonical)).toBeUndefined();
  });
});
