import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSpool } from './file-spool.js';

const dirs: string[] = [];
const spoolFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'domicile-spool-'));
  dirs.push(dir);
  return join(dir, 'spool', 'US.jsonl');
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('FileSpool', () => {
  it('keeps appended items across a reopen, oldest first, in a file only its owner reads', () => {
    const file = spoolFile();
    const spool = FileSpool.open<{ n: number }>(file);
    spool.append({ n: 1 });
    spool.append({ n: 2 });
    spool.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = FileSpool.open<{ n: number }>(file);
    expect(again.size).toBe(2);
    expect(again.peek(10)).toEqual([{ n: 1 }, { n: 2 }]);
    again.close();
  });

  it('drops delivered items from the front, on disk too', () => {
    const file = spoolFile();
    const spool = FileSpool.open<number>(file);
    for (let n = 0; n < 5; n++) spool.append(n);
    spool.drop(3);
    expect(spool.peek(10)).toEqual([3, 4]);
    spool.append(5);
    spool.close();
    expect(FileSpool.open<number>(file).peek(10)).toEqual([3, 4, 5]);
  });

  it('discards a torn last line (an append that never returned) and keeps the whole ones', () => {
    const file = spoolFile();
    const spool = FileSpool.open<number>(file);
    spool.append(1);
    spool.close();
    appendFileSync(file, '{"torn":');
    const reopened = FileSpool.open<number>(file);
    expect(reopened.peek(10)).toEqual([1]);
    reopened.append(2);
    reopened.close();
    expect(readFileSync(file, 'utf8')).toBe('1\n2\n');
  });

  describe('is owned by one process at a time', () => {
    it('takes its lock on open and gives it back on close', () => {
      const file = spoolFile();
      const spool = FileSpool.open<number>(file);
      expect(readFileSync(`${file}.lock`, 'utf8')).toBe(`${process.pid}\n`);
      spool.close();
      expect(existsSync(`${file}.lock`)).toBe(false);
      spool.close(); // a no-op
    });

    it('refuses a spool another live process holds, and takes it over once that process is gone', async () => {
      const file = spoolFile();
      FileSpool.open<number>(file).close();
      // another process holding the lock, as a running region node does
      const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      writeFileSync(`${file}.lock`, `${holder.pid}\n`);
      try {
        expect(() => FileSpool.open<number>(file)).toThrow(
          expect.objectContaining({
            code: 'DOMICILE_ERR_STATE_CONFLICT',
            message: expect.stringContaining(`in use by process ${holder.pid}`),
          }),
        );
      } finally {
        holder.kill('SIGKILL');
        await once(holder, 'exit');
      }
      const spool = FileSpool.open<number>(file);
      spool.append(1);
      expect(readFileSync(`${file}.lock`, 'utf8')).toBe(`${process.pid}\n`);
      spool.close();
    });
  });
});
