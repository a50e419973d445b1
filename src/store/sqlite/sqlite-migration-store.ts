/**
 * Migration state and legacy wipes in a region's SQLite file.
 *
 * - `openSqliteMigrationStore`: the `MigrationStore` of a target region, in the region's own file
 *   (component `migrate`), so a batch of records and the cursor after it commit together through
 *   the region's group commit (`SqliteRegionStore.writeBatched`).
 * - `wipeSqliteJurisdiction`: deletes every record of a jurisdiction from a region's file so that
 *   it cannot be carved out afterwards (secure_delete, then VACUUM and a truncating checkpoint).
 *
 * Subset of better-sqlite3 used: `prepare` → `run`/`get`/`all`/`iterate`, `exec`, `pragma`.
 */
import type Database from 'better-sqlite3';
import type { JurisdictionId } from '../../domain/ids.js';
import type { BatchOutcome, MigrationProgress, MigrationStore } from '../migration-store.js';
import type { StoredRecord } from '../region-store.js';
import { startWalCheckpointer } from './sqlite-checkpointer.js';
import { applyMigrations, type Migration, runGuarded } from './sqlite-database.js';
import type { SqliteRegionStore } from './sqlite-store.js';

/** Schema component of the migration tables in `schema_migrations`. */
export const MIGRATE_COMPONENT = 'migrate';

/** Migrations of the migration tables. Append only. */
export const MIGRATE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-migration-progress',
    sql: `
      CREATE TABLE migrate_progress (
        id   TEXT NOT NULL PRIMARY KEY,
        data TEXT NOT NULL
      ) STRICT;
      CREATE TABLE migrate_failures (
        id         TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        key        TEXT NOT NULL,
        reason     TEXT NOT NULL,
        PRIMARY KEY (id, subject_id, key)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];

interface DataRow {
  readonly data: string;
}

/**
 * Opens the migration state kept in `store`'s file (creating its tables when missing).
 *
 * @example
 * const state = openSqliteMigrationStore(targetStore);
 * const progress = await state.load('US:us-va-legacy:oci-us-ashburn');
 */
export function openSqliteMigrationStore(store: SqliteRegionStore): MigrationStore {
  const { db } = store;
  const context = `region \`${store.regionId}\`: migration state`;
  runGuarded(db, context, 'migrate', () =>
    applyMigrations(db, MIGRATE_COMPONENT, MIGRATE_MIGRATIONS, context),
  );
  const sql = {
    load: db.prepare<[string], DataRow>('SELECT data FROM migrate_progress WHERE id = ?'),
    list: db.prepare<[], DataRow>('SELECT data FROM migrate_progress ORDER BY id'),
    save: db.prepare<[string, string]>(
      'INSERT INTO migrate_progress (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data',
    ),
    // the same rule as `RegionStore.putRecordIfNewer`: an older copy never overwrites a newer one
    // positional parameters: no parameter object per record of a batch
    putIfNewer: db.prepare<[string, string, string, string, number, Uint8Array, string, number]>(
      `INSERT INTO records (subject_id, key, jurisdiction, class_id, version, ciphertext, key_id, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (subject_id, key) DO UPDATE SET jurisdiction = excluded.jurisdiction,
          class_id = excluded.class_id, version = excluded.version, ciphertext = excluded.ciphertext,
          key_id = excluded.key_id, updated_at = excluded.updated_at
        WHERE excluded.version > records.version`,
    ),
    failure: db.prepare<[string, string, string, string]>(
      `INSERT INTO migrate_failures (id, subject_id, key, reason) VALUES (?, ?, ?, ?)
        ON CONFLICT (id, subject_id, key) DO UPDATE SET reason = excluded.reason`,
    ),
    failures: db.prepare<[string], { subject_id: string; key: string; reason: string }>(
      'SELECT subject_id, key, reason FROM migrate_failures WHERE id = ? ORDER BY subject_id, key',
    ),
  };
  // a batch writes a thousand pages or more: their checkpoint runs off the event loop
  const checkpointer = startWalCheckpointer(db, store.file);
  const parse = (row: DataRow | undefined): MigrationProgress | undefined =>
    row === undefined ? undefined : (JSON.parse(row.data) as MigrationProgress);
  return {
    load: async (id) => runGuarded(db, context, 'load', () => parse(sql.load.get(id))),
    list: async () =>
      runGuarded(db, context, 'list', () =>
        sql.list.all().flatMap((row) => {
          const p = parse(row);
          return p ? [p] : [];
        }),
      ),
    save: async (progress) => {
      await store.writeBatched('save migration progress', () => {
        sql.save.run(progress.id, JSON.stringify(progress));
      });
    },
    commitBatch: async (records, failures, next) => {
      const progress = await store.writeBatched('commit migration batch', () => {
        checkpointer.deferCheckpoint();
        let copied = 0;
        for (const r of records) {
          copied += sql.putIfNewer.run(
            r.subjectId,
            r.key,
            r.jurisdiction,
            r.classId,
            r.version,
            r.ciphertext,
            r.keyId,
            r.updatedAt,
          ).changes;
        }
        const outcome: BatchOutcome = { copied, skipped: records.length - copied };
        const progress = next(outcome);
        for (const f of failures) sql.failure.run(progress.id, f.subjectId, f.key, f.reason);
        // INVARIANT: the cursor commits with the records it covers, so a resumed run neither skips
        // nor repeats a record (a repeat would be harmless anyway: put-if-newer is idempotent)
        sql.save.run(progress.id, JSON.stringify(progress));
        return progress;
      });
      checkpointer.checkpoint();
      return progress;
    },
    failures: async (id) =>
      runGuarded(db, context, 'failures', () =>
        sql.failures.all(id).map((r) => ({ subjectId: r.subject_id, key: r.key, reason: r.reason })),
      ),
  };
}

/**
 * Deletes every record of `jurisdiction` from the region's file, a page at a time (each page one
 * transaction; `onPage` sees the rows before they go, to build the receipt), then VACUUMs the file
 * and truncates its write-ahead log. Returns how many rows were deleted.
 *
 * INVARIANT: E1 — with `secure_delete` on, deleted cells are zeroed; VACUUM rebuilds the file
 * without free pages and the truncating checkpoint leaves no old page image in the WAL.
 */
export async function wipeSqliteJurisdiction(
  store: SqliteRegionStore,
  jurisdiction: JurisdictionId,
  onPage: (records: readonly StoredRecord[]) => void,
  pageSize = 5_000,
): Promise<number> {
  const { db } = store;
  const context = `region \`${store.regionId}\`: wipe`;
  const remove = db.prepare<[string, string]>('DELETE FROM records WHERE subject_id = ? AND key = ?');
  let deleted = 0;
  for (;;) {
    const page = await store.scanRecords({ jurisdiction, limit: pageSize });
    if (page.length === 0) break;
    onPage(page);
    deleted += await store.writeBatched('wipe page', () => {
      let n = 0;
      for (const r of page) n += remove.run(r.subjectId, r.key).changes;
      return n;
    });
  }
  runGuarded(db, context, 'vacuum', () => compact(db));
  return deleted;
}

function compact(db: Database.Database): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/**
 * Counts the records of `jurisdiction` by reading every row of the table (not the jurisdiction
 * index), so a damaged or stale index cannot hide a survivor.
 */
export function countByFullScan(store: SqliteRegionStore, jurisdiction: JurisdictionId): number {
  return runGuarded(store.db, `region \`${store.regionId}\`: scan`, 'full scan', () => {
    const row = store.db
      .prepare<[string], { n: number }>(
        'SELECT count(*) AS n FROM records NOT INDEXED WHERE jurisdiction = ?',
      )
      .get(jurisdiction);
    return row?.n ?? 0;
  });
}

/** How much of each jurisdiction a region's file holds: counts and ciphertext bytes. */
export interface JurisdictionVolume {
  readonly records: number;
  readonly bytes: number;
  /** Records of other jurisdictions in the same file (left alone by a migration). */
  readonly otherRecords: number;
}

/** Counts the records and ciphertext bytes of `jurisdiction` in a region's file. */
export function measureSqliteJurisdiction(
  store: SqliteRegionStore,
  jurisdiction: JurisdictionId,
): JurisdictionVolume {
  return runGuarded(store.db, `region \`${store.regionId}\`: measure`, 'measure', () => {
    const row = store.db
      .prepare<{ j: string }, { records: number | null; bytes: number | null; other: number | null }>(
        `SELECT sum(jurisdiction = @j) AS records,
                sum(CASE WHEN jurisdiction = @j THEN length(ciphertext) ELSE 0 END) AS bytes,
                sum(jurisdiction <> @j) AS other
           FROM records`,
      )
      .get({ j: jurisdiction });
    return { records: row?.records ?? 0, bytes: row?.bytes ?? 0, otherRecords: row?.other ?? 0 };
  });
}
