import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { describeRegionStoreConformance } from '../conformance.js';
import type { StoredRecord } from '../region-store.js';
import { openSqliteRegionStore, REGION_STORE_COMPONENT } from './sqlite-store.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-sqlite-store-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const regionId = 'oci-us-ashburn' as RegionId;

/** A path for a new database file in a directory of its own. */
function newFile(): string {
  return path.join(fs.mkdtempSync(path.join(root, 'case-')), 'store.sqlite');
}

function record(overrides: Partial<StoredRecord> = {}): StoredRecord {
  return {
    subjectId: 'subject-1' as SubjectId,
    key: 'profile' as RecordKey,
    jurisdiction: 'US' as JurisdictionId,
    classId: 'protected' as ClassId,
    version: 1,
    ciphertext: new Uint8Array(64).fill(7),
    keyId: 'dek-1',
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** A recognisable ciphertext: `marker` repeated to `size` bytes. */
function patterned(marker: string, size: number): Uint8Array {
  const unit = Buffer.from(marker);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += unit.length) unit.copy(bytes, i);
  return new Uint8Array(bytes);
}

/** True when the database file or its write-ahead log holds `marker`. */
function fileHolds(file: string, marker: string): boolean {
  return [file, `${file}-wal`].some(
    (f) => fs.existsSync(f) && fs.readFileSync(f).includes(Buffer.from(marker)),
  );
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

/** The error thrown by `fn`, synchronously. */
function rejectionOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

function expectUnavailable(error: unknown): asserts error is DomicileError {
  expect(error).toBeInstanceOf(DomicileError);
  expect(error).toHaveProperty('code', 'DOMICILE_ERR_STORE_UNAVAILABLE');
}

describeRegionStoreConformance('sqlite', async () => {
  const store = openSqliteRegionStore({ regionId, file: newFile() });
  return { store, cleanup: () => store.close() };
});

describe('openSqliteRegionStore', () => {
  describe('when the file is new', () => {
    it('creates it readable by its owner only', async () => {
      const file = newFile();
      const store = openSqliteRegionStore({ regionId, file });
      await store.putRecord(record(), 0);
      if (process.platform !== 'win32') {
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
      }
      await store.close();
    });

    it('sets the durability and erasure pragmas', async () => {
      const store = openSqliteRegionStore({ regionId, file: newFile(), busyTimeoutMs: 1234 });
      const pragma = (name: string) => store.db.pragma(name, { simple: true });
      expect(pragma('journal_mode')).toBe('wal');
      // NORMAL: commits write the log; the store's WriteBatcher fsyncs it before acknowledging
      expect(pragma('synchronous')).toBe(1);
      expect(pragma('secure_delete')).toBe(1);
      expect(pragma('foreign_keys')).toBe(1);
      expect(pragma('busy_timeout')).toBe(1234);
      await store.close();
    });

    it('records the applied migrations', async () => {
      const file = newFile();
      const store = openSqliteRegionStore({ regionId, file });
      const rows = () =>
        store.db.prepare('SELECT component, version, name, applied_at FROM schema_migrations').all();
      const applied = rows();
      expect(applied).toEqual([
        {
          component: REGION_STORE_COMPONENT,
          version: 1,
          name: 'create-records',
          applied_at: expect.any(Number),
        },
      ]);
      await store.close();

      const reopened = openSqliteRegionStore({ regionId, file });
      expect(
        reopened.db.prepare('SELECT component, version, name, applied_at FROM schema_migrations').all(),
      ).toEqual(applied);
      await reopened.close();
    });
  });

  describe('when the file was written before', () => {
    it('keeps every record across close and reopen', async () => {
      const file = newFile();
      const written = [
        record(),
        record({ key: 'other' as RecordKey, version: 3, ciphertext: patterned('x', 5000) }),
      ];
      const store = openSqliteRegionStore({ regionId, file });
      for (const r of written) await store.putRecordIfNewer(r);
      await store.close();

      const reopened = openSqliteRegionStore({ regionId, file });
      for (const r of written) {
        const read = await reopened.getRecord(r.subjectId, r.key);
        expect({ ...read, ciphertext: Buffer.from(read?.ciphertext ?? []) }).toEqual({
          ...r,
          ciphertext: Buffer.from(r.ciphertext),
        });
      }
      await reopened.close();
    });

    it('shows a committed write to another connection at once', async () => {
      const file = newFile();
      const writer = openSqliteRegionStore({ regionId, file });
      const reader = openSqliteRegionStore({ regionId, file });
      await writer.putRecord(record(), 0);
      expect((await reader.getRecord('subject-1' as SubjectId, 'profile' as RecordKey))?.version).toBe(1);
      expect(await reader.putRecord(record({ version: 2 }), 0)).toBe('conflict');
      await writer.close();
      await reader.close();
    });
  });

  describe('when the file was written by a newer schema version', () => {
    it('refuses to open it and leaves it unchanged', async () => {
      const file = newFile();
      const store = openSqliteRegionStore({ regionId, file });
      await store.putRecord(record(), 0);
      await store.close();
      const raw = new Database(file);
      raw
        .prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)')
        .run(REGION_STORE_COMPONENT, 2, 'from-the-future', 0);
      raw.close();

      const error = rejectionOf(() => openSqliteRegionStore({ regionId, file }));
      expectUnavailable(error);
      expect(error.message).toBe(
        'region `oci-us-ashburn`: sqlite store: schema `region-store` is at version 2, newer than this build supports (1): upgrade domicile',
      );

      const check = new Database(file, { readonly: true });
      expect(check.prepare('SELECT count(*) AS n FROM records').get()).toEqual({ n: 1 });
      expect(check.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: 2 });
      check.close();
    });
  });

  describe('when the file cannot be opened', () => {
    it('fails with DOMICILE_ERR_STORE_UNAVAILABLE when its directory does not exist', () => {
      const file = path.join(root, 'no-such-directory', 'store.sqlite');
      const error = rejectionOf(() => openSqliteRegionStore({ regionId, file }));
      expectUnavailable(error);
      expect(error.cause).toBeDefined();
      expect(error.message).toBe('region `oci-us-ashburn`: sqlite store: cannot open database');
    });

    it('fails with DOMICILE_ERR_STORE_UNAVAILABLE when it is not a database, and leaves it alone', () => {
      const file = newFile();
      const content = Buffer.from(
        'this is not a database, it is a text file that happens to be long enough\n'.repeat(100),
      );
      fs.writeFileSync(file, content);
      const error = rejectionOf(() => openSqliteRegionStore({ regionId, file }));
      expectUnavailable(error);
      expect(error.cause).toBeInstanceOf(Error);
      expect(error.message).not.toContain(String((error.cause as Error).message));
      expect(fs.readFileSync(file).equals(content)).toBe(true);
    });
  });
});

describe('SqliteRegionStore', () => {
  describe('when another connection holds the write lock past the busy timeout', () => {
    it('fails the write with DOMICILE_ERR_STORE_UNAVAILABLE and writes nothing', async () => {
      const file = newFile();
      const store = openSqliteRegionStore({ regionId, file, busyTimeoutMs: 50 });
      const other = new Database(file);
      other.exec('BEGIN IMMEDIATE');

      const error = await rejection(store.putRecord(record(), 0));
      expectUnavailable(error);
      expect(error.message).toBe('region `oci-us-ashburn`: sqlite store: put record failed');
      expect(error.cause).toHaveProperty('code', 'SQLITE_BUSY');

      other.exec('ROLLBACK');
      other.close();
      expect(await store.getRecord('subject-1' as SubjectId, 'profile' as RecordKey)).toBeUndefined();
      expect(await store.putRecord(record(), 0)).toBe('written');
      await store.close();
    });
  });

  // INVARIANT: E1 — what is deleted is gone from the file, not merely unlinked from the b-tree.
  describe('secure delete', () => {
    const checkpoint = (db: Database.Database) => db.pragma('wal_checkpoint(TRUNCATE)');

    describe.each([
      ['inside a page', 400],
      ['spilling into overflow pages', 20_000],
    ])('for ciphertext %s', (_label, size) => {
      it('overwrites a deleted record in the file', async () => {
        const file = newFile();
        const store = openSqliteRegionStore({ regionId, file });
        const marker = 'ERASE-ME-5f3a9c';
        await store.putRecord(record({ ciphertext: patterned(marker, size) }), 0);
        // A neighbour on the same page keeps the page in use, so the deleted cell's bytes must
        // be zeroed in place rather than the page merely dropped.
        await store.putRecord(record({ key: 'neighbour' as RecordKey }), 0);
        checkpoint(store.db);
        expect(fileHolds(file, marker)).toBe(true);

        expect(
          await store.deleteRecord('subject-1' as SubjectId, 'profile' as RecordKey, 'US' as JurisdictionId),
        ).toBe(true);
        checkpoint(store.db);
        expect(fileHolds(file, marker)).toBe(false);
        await store.close();
        expect(fileHolds(file, marker)).toBe(false);
      });

      it('overwrites every record of an erased subject in the file', async () => {
        const file = newFile();
        const store = openSqliteRegionStore({ regionId, file });
        for (const key of ['a', 'b', 'c']) {
          await store.putRecord(
            record({ key: key as RecordKey, ciphertext: patterned(`SUBJ-${key}-MARK`, size) }),
            0,
          );
        }
        await store.putRecord(record({ subjectId: 'subject-2' as SubjectId }), 0);
        checkpoint(store.db);
        expect(await store.deleteSubject('subject-1' as SubjectId, 'US' as JurisdictionId)).toBe(3);
        checkpoint(store.db);
        for (const key of ['a', 'b', 'c']) expect(fileHolds(file, `SUBJ-${key}-MARK`)).toBe(false);
        await store.close();
      });

      it('overwrites the previous ciphertext of an updated record in the file', async () => {
        const file = newFile();
        const store = openSqliteRegionStore({ regionId, file });
        await store.putRecord(record({ ciphertext: patterned('OLD-VERSION-7d1e', size) }), 0);
        checkpoint(store.db);
        expect(fileHolds(file, 'OLD-VERSION-7d1e')).toBe(true);
        await store.putRecord(record({ version: 2, ciphertext: patterned('NEW-VERSION-2b8c', size) }), 1);
        checkpoint(store.db);
        expect(fileHolds(file, 'OLD-VERSION-7d1e')).toBe(false);
        expect(fileHolds(file, 'NEW-VERSION-2b8c')).toBe(true);
        await store.close();
      });
    });

    it('is what removes the bytes: with it off, they stay in the file', async () => {
      // Control for the tests above: they would fail without the pragma.
      const file = newFile();
      const store = openSqliteRegionStore({ regionId, file });
      store.db.pragma('secure_delete = OFF');
      await store.putRecord(record({ ciphertext: patterned('STILL-HERE-0c4f', 400) }), 0);
      await store.putRecord(record({ key: 'neighbour' as RecordKey }), 0);
      await store.deleteRecord('subject-1' as SubjectId, 'profile' as RecordKey, 'US' as JurisdictionId);
      checkpoint(store.db);
      expect(fileHolds(file, 'STILL-HERE-0c4f')).toBe(true);
      await store.close();
    });
  });
});
