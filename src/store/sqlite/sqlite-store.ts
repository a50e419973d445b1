/**
 * The embedded `RegionStore`: one SQLite file per region (`data/<region>/`), used by
 * `domicile up` and small deployments.
 *
 * Subset of the better-sqlite3 API used here (plus what `sqlite-database.ts` declares):
 *   `db.prepare<Params, Row>(sql)` once per statement at open, then `Statement.run(params).changes`,
 *   `Statement.get(params)`, `Statement.all(params)`; named parameters (`@name`); BLOBs bound from
 *   `Uint8Array` and read back as `Buffer`.
 *
 * Every method is a single SQL statement, so SQLite runs each in its own (autocommit)
 * transaction: it completes or changes nothing. The work is synchronous; methods return
 * Promises only to share the interface with the PostgreSQL adapter.
 */
import type Database from 'better-sqlite3';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import type { PutOutcome, RecordSummary, RegionStore, ScanOptions, StoredRecord } from '../region-store.js';
import {
  closeGuarded,
  type Migration,
  openSqliteAdapter,
  runGuarded,
  type SqliteFileOptions,
  WriteBatcher,
} from './sqlite-database.js';

/** Options for `openSqliteRegionStore`. */
export interface SqliteRegionStoreOptions extends SqliteFileOptions {
  readonly regionId: RegionId;
}

/** Name of the record store's schema in `schema_migrations`. */
export const REGION_STORE_COMPONENT = 'region-store';

/** The record store's schema, oldest step first. Append only: never edit a released step. */
export const REGION_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-records',
    sql: `
      CREATE TABLE records (
        subject_id   TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        jurisdiction TEXT    NOT NULL,
        class_id     TEXT    NOT NULL,
        version      INTEGER NOT NULL CHECK (version >= 1),
        ciphertext   BLOB    NOT NULL,
        key_id       TEXT    NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (subject_id, key)
      ) STRICT;
      CREATE INDEX records_by_jurisdiction ON records (jurisdiction);
    `,
  },
];

interface RecordParams {
  readonly subjectId: string;
  readonly key: string;
  readonly jurisdiction: string;
  readonly classId: string;
  readonly version: number;
  readonly ciphertext: Uint8Array;
  readonly keyId: string;
  readonly updatedAt: number;
}

/** A record row read in `raw` mode: its columns in `COLUMNS` (and `RECORD_SCAN_SQL`) order. */
export type RecordTuple = readonly [
  subjectId: string,
  key: string,
  jurisdiction: string,
  classId: string,
  version: number,
  ciphertext: Buffer,
  keyId: string,
  updatedAt: number,
];

interface SummaryRow {
  readonly key: string;
  readonly class_id: string;
  readonly version: number;
  readonly updated_at: number;
}

interface CountRow {
  readonly n: number;
}

const COLUMNS = 'subject_id, key, jurisdiction, class_id, version, ciphertext, key_id, updated_at';

/** The parameters of `RECORD_SCAN_SQL`. */
export interface RecordScanParams {
  readonly jurisdiction: string | null;
  readonly subjectId: string;
  readonly key: string;
  readonly limit: number;
}

/**
 * One page of a scan: the records after (`@subjectId`, `@key`), of `@jurisdiction` when not null,
 * in (subject id, key) order, as `RecordTuple`s when prepared in `raw` mode. Shared with the
 * read-only connections that scan a region's file off the event loop (`sqlite-record-reader.ts`).
 * The primary key's BINARY collation orders keys by bytes, which for ids (ASCII) is the order of
 * JavaScript string comparison.
 */
export const RECORD_SCAN_SQL = `SELECT ${COLUMNS} FROM records
  WHERE (subject_id, key) > (@subjectId, @key) AND (@jurisdiction IS NULL OR jurisdiction = @jurisdiction)
  ORDER BY subject_id, key LIMIT @limit`;
const VALUES = '@subjectId, @key, @jurisdiction, @classId, @version, @ciphertext, @keyId, @updatedAt';
const SET_ALL = `jurisdiction = @jurisdiction, class_id = @classId, version = @version,
  ciphertext = @ciphertext, key_id = @keyId, updated_at = @updatedAt`;

function prepareStatements(db: Database.Database) {
  return {
    insertIfAbsent: db.prepare<RecordParams>(
      `INSERT INTO records (${COLUMNS}) VALUES (${VALUES}) ON CONFLICT (subject_id, key) DO NOTHING`,
    ),
    updateIfVersion: db.prepare<RecordParams & { readonly expectedVersion: number }>(
      `UPDATE records SET ${SET_ALL}
        WHERE subject_id = @subjectId AND key = @key AND version = @expectedVersion`,
    ),
    upsertIfNewer: db.prepare<RecordParams>(
      `INSERT INTO records (${COLUMNS}) VALUES (${VALUES})
        ON CONFLICT (subject_id, key) DO UPDATE SET ${SET_ALL} WHERE excluded.version > records.version`,
    ),
    // raw, like the scan: an array per row is cheaper to make than an object, on every read
    get: db
      .prepare<[string, string], RecordTuple>(
        `SELECT ${COLUMNS} FROM records WHERE subject_id = ? AND key = ?`,
      )
      .raw(true),
    // The primary key's BINARY collation orders keys by bytes, which for ids (ASCII) is the
    // order of JavaScript string comparison.
    list: db.prepare<[string, string], SummaryRow>(
      'SELECT key, class_id, version, updated_at FROM records WHERE subject_id = ? AND jurisdiction = ? ORDER BY key',
    ),
    // rows as arrays (`raw`), in COLUMNS order: a scan reads thousands of rows, and an object per
    // row costs more than reading it
    scan: db.prepare<RecordScanParams, RecordTuple>(RECORD_SCAN_SQL).raw(true),
    deleteOne: db.prepare<[string, string, string]>(
      'DELETE FROM records WHERE subject_id = ? AND key = ? AND jurisdiction = ?',
    ),
    deleteSubject: db.prepare<[string, string]>(
      'DELETE FROM records WHERE subject_id = ? AND jurisdiction = ?',
    ),
    countAll: db.prepare<[], CountRow>('SELECT count(*) AS n FROM records'),
    countJurisdiction: db.prepare<[string], CountRow>(
      'SELECT count(*) AS n FROM records WHERE jurisdiction = ?',
    ),
    // Reads the records table's root page, so a file that has become unreadable fails.
    health: db.prepare<[], { readonly one: number }>('SELECT 1 AS one FROM records LIMIT 1'),
  };
}

/** The parameters of `RECORD_SCAN_SQL` for a page of a scan. */
export function scanParams(options: ScanOptions): RecordScanParams {
  return {
    jurisdiction: options.jurisdiction ?? null,
    subjectId: options.after?.subjectId ?? '',
    key: options.after?.key ?? '',
    limit: options.limit,
  };
}

function toParams(record: StoredRecord): RecordParams {
  return {
    subjectId: record.subjectId,
    key: record.key,
    jurisdiction: record.jurisdiction,
    classId: record.classId,
    version: record.version,
    ciphertext: record.ciphertext,
    keyId: record.keyId,
    updatedAt: record.updatedAt,
  };
}

/** A plain Uint8Array of its own, not a Buffer that may share a pooled ArrayBuffer. */
function ownBytes(blob: Buffer): Uint8Array {
  // better-sqlite3 copies each BLOB into an ArrayBuffer of its own: a view over it is enough
  return blob.byteOffset === 0 && blob.buffer.byteLength === blob.byteLength
    ? new Uint8Array(blob.buffer, 0, blob.byteLength)
    : new Uint8Array(blob);
}

function tupleToRecord(row: RecordTuple): StoredRecord {
  const [subjectId, key, jurisdiction, classId, version, ciphertext, keyId, updatedAt] = row;
  return {
    subjectId: subjectId as SubjectId,
    key: key as RecordKey,
    jurisdiction: jurisdiction as JurisdictionId,
    classId: classId as ClassId,
    version,
    ciphertext: ownBytes(ciphertext),
    keyId,
    updatedAt,
  };
}

/**
 * The SQLite `RegionStore`. Services should hold it as a `RegionStore`; open it with
 * `openSqliteRegionStore`.
 */
export class SqliteRegionStore implements RegionStore {
  readonly kind = 'sqlite';
  readonly regionId: RegionId;
  readonly file: string;
  /**
   * The open database. Internal to store adapters: other components that keep their tables in
   * the region's file (e.g. the transparency log) use it with their own `applyMigrations`
   * component. Services never touch it; they go through the `RegionStore` methods.
   */
  readonly db: Database.Database;

  readonly #context: string;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #batcher: WriteBatcher;

  private constructor(regionId: RegionId, file: string, db: Database.Database, context: string) {
    this.regionId = regionId;
    this.file = file;
    this.db = db;
    this.#context = context;
    this.#statements = prepareStatements(db);
    this.#batcher = new WriteBatcher(db, context, { syncFile: `${file}-wal` });
  }

  /** See `openSqliteRegionStore`. */
  static open(options: SqliteRegionStoreOptions): SqliteRegionStore {
    const context = `region \`${options.regionId}\`: sqlite store`;
    return openSqliteAdapter(
      options,
      {
        component: REGION_STORE_COMPONENT,
        migrations: REGION_STORE_MIGRATIONS,
        durability: 'group',
        context,
      },
      (db) => new SqliteRegionStore(options.regionId, options.file, db, context),
    );
  }

  async putRecord(record: StoredRecord, expectedVersion: number): Promise<PutOutcome> {
    return this.writeBatched('put record', () => {
      const params = toParams(record);
      const result =
        expectedVersion === 0
          ? this.#statements.insertIfAbsent.run(params)
          : this.#statements.updateIfVersion.run({ ...params, expectedVersion });
      return result.changes === 1 ? 'written' : 'conflict';
    });
  }

  async putRecordIfNewer(record: StoredRecord): Promise<PutOutcome> {
    return this.writeBatched('put record if newer', () =>
      this.#statements.upsertIfNewer.run(toParams(record)).changes === 1 ? 'written' : 'conflict',
    );
  }

  async getRecord(subjectId: SubjectId, key: RecordKey): Promise<StoredRecord | undefined> {
    return this.#run('get record', () => {
      const row = this.#statements.get.get(subjectId, key);
      return row === undefined ? undefined : tupleToRecord(row);
    });
  }

  async listRecords(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RecordSummary[]> {
    return this.#run('list records', () =>
      this.#statements.list.all(subjectId, jurisdiction).map((row) => ({
        key: row.key as RecordKey,
        classId: row.class_id as ClassId,
        version: row.version,
        updatedAt: row.updated_at,
      })),
    );
  }

  async scanRecords(options: ScanOptions): Promise<StoredRecord[]> {
    return this.scanRecordTuples(options).map(tupleToRecord);
  }

  /**
   * A page of `scanRecords` as the rows SQLite returns them (`RecordTuple`, ciphertexts as
   * `Buffer`s), for bulk readers that pack a page for another thread. Internal to the store's
   * bulk readers (`sqlite-record-reader.ts` reads the same way on its own connection).
   */
  scanRecordTuples(options: ScanOptions): RecordTuple[] {
    return this.#run('scan records', () => this.#statements.scan.all(scanParams(options)));
  }

  async deleteRecord(subjectId: SubjectId, key: RecordKey, jurisdiction: JurisdictionId): Promise<boolean> {
    return this.writeBatched(
      'delete record',
      () => this.#statements.deleteOne.run(subjectId, key, jurisdiction).changes === 1,
    );
  }

  async deleteSubject(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<number> {
    return this.writeBatched(
      'delete subject',
      () => this.#statements.deleteSubject.run(subjectId, jurisdiction).changes,
    );
  }

  async countRecords(jurisdiction?: JurisdictionId): Promise<number> {
    return this.#run('count records', () => {
      const row =
        jurisdiction === undefined
          ? this.#statements.countAll.get()
          : this.#statements.countJurisdiction.get(jurisdiction);
      return row?.n ?? 0;
    });
  }

  async checkHealth(): Promise<void> {
    this.#run('health check', () => {
      this.#statements.health.get();
    });
  }

  async close(): Promise<void> {
    closeGuarded(this.db, this.#context);
    await this.#batcher.close();
  }

  #run<T>(operation: string, work: () => T): T {
    return runGuarded(this.db, this.#context, operation, work);
  }

  /**
   * Runs synchronous statements in the next group commit of this file. Internal to store
   * adapters: other tables kept in the region's file (the transparency log) share the fsync.
   */
  writeBatched<T>(operation: string, work: () => T): Promise<T> {
    return this.#batcher.run(operation, work);
  }
}

/**
 * Opens (creating when missing) the SQLite record store of a region.
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the file cannot be opened or its schema is newer
 * than this build's.
 *
 * @example
 * const store = openSqliteRegionStore({ regionId, file: 'data/oci-us-ashburn/store.sqlite' });
 * await store.putRecord(record, 0); // 'written' | 'conflict'
 */
export function openSqliteRegionStore(options: SqliteRegionStoreOptions): SqliteRegionStore {
  return SqliteRegionStore.open(options);
}
