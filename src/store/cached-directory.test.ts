import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, SubjectId } from '../domain/ids.js';
import { CachedSubjectDirectory } from './cached-directory.js';
import { describeSubjectDirectoryConformance } from './conformance.js';
import { openSqliteDirectory } from './sqlite/sqlite-directory.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-cached-directory-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function newFile(): string {
  return path.join(fs.mkdtempSync(path.join(root, 'case-')), 'directory.sqlite');
}

const US = 'US' as JurisdictionId;
const EU = 'EU' as JurisdictionId;
const s1 = 's1' as SubjectId;

describeSubjectDirectoryConformance('cached sqlite', async () => {
  const directory = new CachedSubjectDirectory(openSqliteDirectory({ file: newFile() }));
  return { directory, cleanup: () => directory.close() };
});

describe('CachedSubjectDirectory', () => {
  it('answers a looked-up subject from memory, and forgets it when it is removed or moved here', async () => {
    const file = newFile();
    const inner = openSqliteDirectory({ file });
    const directory = new CachedSubjectDirectory(inner);
    await directory.register(s1, US);
    expect(await directory.lookup(s1)).toBe(US);
    // changed behind its back: the cached answer stands (why only a sole writer may use it)
    inner.db.prepare('UPDATE subjects SET jurisdiction = ? WHERE subject_id = ?').run('EU', s1);
    expect(await directory.lookup(s1)).toBe(US);
    // a relocation through it: removed, then registered elsewhere
    expect(await directory.remove(s1)).toBe(true);
    expect(await directory.lookup(s1)).toBeUndefined();
    expect(await directory.register(s1, EU)).toBe('created');
    expect(await directory.lookup(s1)).toBe(EU);
    await directory.close();
  });

  it('does not keep a missing subject: one registered by another process is found', async () => {
    const file = newFile();
    const directory = new CachedSubjectDirectory(openSqliteDirectory({ file }));
    expect(await directory.lookup(s1)).toBeUndefined();
    const other = openSqliteDirectory({ file });
    await other.register(s1, US);
    await other.close();
    expect(await directory.lookup(s1)).toBe(US);
    await directory.close();
  });

  it('does not cache an answer read before a removal that overlapped the lookup', async () => {
    const directory = new CachedSubjectDirectory(openSqliteDirectory({ file: newFile() }));
    await directory.register(s1, US);
    const lookup = directory.lookup(s1);
    await directory.remove(s1);
    expect(await lookup).toBe(US);
    expect(await directory.lookup(s1)).toBeUndefined();
    await directory.close();
  });
});
