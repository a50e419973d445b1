import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { describeSubjectDirectoryConformance } from '../conformance.js';
import { openSqliteDirectory, SUBJECT_DIRECTORY_COMPONENT } from './sqlite-directory.js';
import { openSqliteRegionStore } from './sqlite-store.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-sqlite-directory-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function newFile(): string {
  return path.join(fs.mkdtempSync(path.join(root, 'case-')), 'directory.sqlite');
}

const US = 'US' as JurisdictionId;
const s1 = 's1' as SubjectId;

describeSubjectDirectoryConformance('sqlite', async () => {
  const directory = openSqliteDirectory({ file: newFile() });
  return { directory, cleanup: () => directory.close() };
});

describe('openSqliteDirectory', () => {
  it('keeps subjects across close and reopen, with the creation time from the clock', async () => {
    const file = newFile();
    const directory = openSqliteDirectory({ file, clock: () => 1_234 });
    await directory.register(s1, US);
    await directory.close();

    const reopened = openSqliteDirectory({ file });
    expect(await reopened.lookup(s1)).toBe(US);
    expect(reopened.db.prepare('SELECT subject_id, jurisdiction, created_at FROM subjects').all()).toEqual([
      { subject_id: 's1', jurisdiction: 'US', created_at: 1_234 },
    ]);
    await reopened.close();
  });

  it('sets the same pragmas as the record store', async () => {
    const directory = openSqliteDirectory({ file: newFile() });
    expect(directory.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(directory.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(directory.db.pragma('secure_delete', { simple: true })).toBe(1);
    await directory.close();
  });

  it('shares a file with a region store, each with its own schema version', async () => {
    const file = newFile();
    const directory = openSqliteDirectory({ file });
    const store = openSqliteRegionStore({ regionId: 'r1' as RegionId, file });
    await directory.register(s1, US);
    expect(
      await store.putRecord(
        {
          subjectId: s1,
          key: 'k' as RecordKey,
          jurisdiction: US,
          classId: 'protected' as ClassId,
          version: 1,
          ciphertext: new Uint8Array([1, 2, 3]),
          keyId: 'dek',
          updatedAt: 0,
        },
        0,
      ),
    ).toBe('written');
    expect(await directory.lookup(s1)).toBe(US);
    expect(
      store.db.prepare('SELECT component, version FROM schema_migrations ORDER BY component').all(),
    ).toEqual([
      { component: 'region-store', version: 1 },
      { component: SUBJECT_DIRECTORY_COMPONENT, version: 1 },
    ]);
    await store.close();
    await directory.close();
  });

  describe('when the file was written by a newer schema version', () => {
    it('refuses to open it', () => {
      const file = newFile();
      openSqliteDirectory({ file }).db.close();
      const raw = new Database(file);
      raw
        .prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)')
        .run(SUBJECT_DIRECTORY_COMPONENT, 5, 'from-the-future', 0);
      raw.close();
      expect(() => openSqliteDirectory({ file })).toThrow(
        expect.objectContaining({ code: 'DOMICILE_ERR_STORE_UNAVAILABLE' }),
      );
    });
  });

  describe('when another connection holds the write lock past the busy timeout', () => {
    it('fails register with DOMICILE_ERR_STORE_UNAVAILABLE and registers nothing', async () => {
      const file = newFile();
      const directory = openSqliteDirectory({ file, busyTimeoutMs: 50 });
      const other = new Database(file);
      other.exec('BEGIN IMMEDIATE');
      await expect(directory.register(s1, US)).rejects.toMatchObject({
        code: 'DOMICILE_ERR_STORE_UNAVAILABLE',
        message: 'subject directory: sqlite: register failed',
      });
      other.exec('ROLLBACK');
      other.close();
      expect(await directory.lookup(s1)).toBeUndefined();
      await directory.close();
    });
  });
});
