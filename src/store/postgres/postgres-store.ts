/**
 * The server `RegionStore`: a region's records in PostgreSQL (also CockroachDB and YugabyteDB,
 * which speak its protocol), used by `domicile region` near its own database.
 *
 * Subset of the `pg` API used here (plus what `postgres-database.ts` declares):
 *   `pool.query<Row>(text, values)` → `rows`, `rowCount`; parameters `$1…$n`; BYTEA bound from
 *   `Uint8Array` and read back as `Buffer`; BIGINT and `count(*)` read back as strings.
 *
 * Every method is a single SQL statement, so PostgreSQL runs each in its own transaction: it
 * completes or changes nothing. Conditional writes rely on row locks, not on reads first: a
 * writer that waits for a concurrent one re-checks its `WHERE` against the committed row
 * (READ COMMITTED), so of writers racing on one version exactly one succeeds.
 *
 * Keys are `COLLATE "C"`: byte order, which for ids (ASCII) is the order of JavaScript string
 * comparison, and the same as the SQLite adapter — whatever the database's default collation.
 *
 * Erasure (E1): PostgreSQL keeps a deleted row's bytes in its page until VACUUM reuses the
 * space, and has no equivalent of SQLite's `secure_delete`. The ciphertext left behind is
 * unreadable once the subject's data key is destroyed (crypto-shredding), which is what E1
 * rests on; operators who also want the bytes gone run VACUUM (autovacuum does, eventually).
 */
import type pg from 'pg';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import type { PutOutcome, RecordSummary, RegionStore, ScanOptions, StoredRecord } from '../region-store.js';
import { type Migration, type PostgresAdapterOptions, PostgresDatabase } from './postgres-database.js';

/** Options for `openPostgresRegionStore`. */
export type PostgresRegionStoreOptions = PostgresAdapterOptions & {
  readonly regionId: RegionId;
};

/** Name of the record store's schema in `schema_migrations`. */
export const REGION_STORE_COMPONENT = 'region-store';

/** The record store's schema, oldest step first. Append only: never edit a released step. */
export const REGION_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-records',
    sql: `
      CREATE TABLE records (
        subject_id   TEXT    NOT NULL COLLATE "C",
        key          TEXT    NOT NULL COLLATE "C",
        jurisdiction TEXT    NOT NULL COLLATE "C",
        class_id     TEXT    NOT NULL COLLATE "C",
        version      BIGINT  NOT NULL CHECK (version >= 1),
        ciphertext   BYTEA   NOT NULL,
        key_id       TEXT    NOT NULL,
        updated_at   BIGINT  NOT NULL,
        PRIMARY KEY (subject_id, key)
      );
      CREATE INDEX records_by_jurisdiction ON records (jurisdiction);
    `,
  },
];

interface RecordRow {
  readonly subject_id: string;
  readonly key: string;
  readonly jurisdiction: string;
  readonly class_id: string;
  readonly version: string;
  readonly ciphertext: Buffer;
  readonly key_id: string;
  readonly updated_at: string;
}

interface SummaryRow {
  readonly key: string;
  readonly class_id: string;
  readonly version: string;
  readonly updated_at: string;
}

interface CountRow {
  readonly n: string;
}

const COLUMNS = 'subject_id, key, jurisdiction, class_id, version, ciphertext, key_id, updated_at';
const VALUES = '$1, $2, $3, $4, $5, $6, $7, $8';
const SET_ALL = `jurisdiction = $3, class_id = $4, version = $5, ciphertext = $6, key_id = $7,
  updated_at = $8`;

function buildStatements(database: PostgresDatabase) {
  const records = database.table('records');
  return {
    insertIfAbsent: `INSERT INTO ${records} (${COLUMNS}) VALUES (${VALUES})
      ON CONFLICT (subject_id, key) DO NOTHING`,
    updateIfVersion: `UPDATE ${records} SET ${SET_ALL}
      WHERE subject_id = $1 AND key = $2 AND version = $9`,
    // A skipped conflict (stored version equal or newer) affects no row: rowCount 0.
    upsertIfNewer: `INSERT INTO ${records} AS records (${COLUMNS}) VALUES (${VALUES})
      ON CONFLICT (subject_id, key) DO UPDATE SET
        jurisdiction = excluded.jurisdiction, class_id = excluded.class_id,
        version = excluded.version, ciphertext = excluded.ciphertext,
        key_id = excluded.key_id, updated_at = excluded.updated_at
      WHERE excluded.version > records.version`,
    get: `SELECT ${COLUMNS} FROM ${records} WHERE subject_id = $1 AND key = $2`,
    // ORDER BY uses the column's "C" collation: byte order.
    list: `SELECT key, class_id, version, updated_at FROM ${records} WHERE subject_id = $1 AND jurisdiction = $2 ORDER BY key`,
    // keyset pagination over the primary key; keys compare as bytes (COLLATE "C"), like SQLite
    scan: `SELECT ${COLUMNS} FROM ${records}
      WHERE (subject_id, key) > ($1, $2) AND ($3::text IS NULL OR jurisdiction = $3)
      ORDER BY subject_id, key LIMIT $4`,
    deleteOne: `DELETE FROM ${records} WHERE subject_id = $1 AND key = $2 AND jurisdiction = $3`,
    deleteSubject: `DELETE FROM ${records} WHERE subject_id = $1 AND jurisdiction = $2`,
    countAll: `SELECT count(*) AS n FROM ${records}`,
    countJurisdiction: `SELECT count(*) AS n FROM ${records} WHERE jurisdiction = $1`,
    // Touches the table, so a dropped table or a revoked privilege fails, not just the connection.
    health: `SELECT 1 FROM ${records} LIMIT 1`,
  };
}

function toParams(record: StoredRecord): unknown[] {
  return [
    record.subjectId,
    record.key,
    record.jurisdiction,
    record.classId,
    record.version,
    record.ciphertext,
    record.keyId,
    record.updatedAt,
  ];
}

function toRecord(row: RecordRow): StoredRecord {
  return {
    subjectId: row.subject_id as SubjectId,
    key: row.key as RecordKey,
    jurisdiction: row.jurisdiction as JurisdictionId,
    classId: row.class_id as ClassId,
    version: Number(row.version),
    // A plain Uint8Array of its own, not a Buffer that may share a pooled ArrayBuffer.
    ciphertext: new Uint8Array(row.ciphertext),
    keyId: row.key_id,
    updatedAt: Number(row.updated_at),
  };
}

const written = (result: pg.QueryResult): PutOutcome => (result.rowCount === 1 ? 'written' : 'conflict');

/**
 * The PostgreSQL `RegionStore`. Services should hold it as a `RegionStore`; open it with
 * `openPostgresRegionStore`.
 */
export class PostgresRegionStore implements RegionStore {
  readonly kind = 'postgres';
  readonly regionId: RegionId;
  /**
   * The pool, schema and migrations of this store. Internal to store adapters: other
   * components that keep their tables in the region's schema (the transparency log) use it
   * with their own migration component. Services never touch it.
   */
  readonly database: PostgresDatabase;

  readonly #sql: ReturnType<typeof buildStatements>;

  private constructor(regionId: RegionId, database: PostgresDatabase) {
    this.regionId = regionId;
    this.database = database;
    this.#sql = buildStatements(database);
  }

  /** See `openPostgresRegionStore`. */
  static async open(options: PostgresRegionStoreOptions): Promise<PostgresRegionStore> {
    const context = `region \`${options.regionId}\`: postgres store`;
    const database = await PostgresDatabase.open(
      options,
      REGION_STORE_COMPONENT,
      REGION_STORE_MIGRATIONS,
      context,
    );
    return new PostgresRegionStore(options.regionId, database);
  }

  async putRecord(record: StoredRecord, expectedVersion: number): Promise<PutOutcome> {
    const params = toParams(record);
    return written(
      expectedVersion === 0
        ? await this.database.query('put record', this.#sql.insertIfAbsent, params)
        : await this.database.query('put record', this.#sql.updateIfVersion, [...params, expectedVersion]),
    );
  }

  async putRecordIfNewer(record: StoredRecord): Promise<PutOutcome> {
    return written(
      await this.database.query('put record if newer', this.#sql.upsertIfNewer, toParams(record)),
    );
  }

  async getRecord(subjectId: SubjectId, key: RecordKey): Promise<StoredRecord | undefined> {
    const { rows } = await this.database.query<RecordRow>('get record', this.#sql.get, [subjectId, key]);
    const row = rows[0];
    return row === undefined ? undefined : toRecord(row);
  }

  async listRecords(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RecordSummary[]> {
    const { rows } = await this.database.query<SummaryRow>('list records', this.#sql.list, [
      subjectId,
      jurisdiction,
    ]);
    return rows.map((row) => ({
      key: row.key as RecordKey,
      classId: row.class_id as ClassId,
      version: Number(row.version),
      updatedAt: Number(row.updated_at),
    }));
  }

  async scanRecords(options: ScanOptions): Promise<StoredRecord[]> {
    const { rows } = await this.database.query<RecordRow>('scan records', this.#sql.scan, [
      options.after?.subjectId ?? '',
      options.after?.key ?? '',
      options.jurisdiction ?? null,
      options.limit,
    ]);
    return rows.map(toRecord);
  }

  async deleteRecord(subjectId: SubjectId, key: RecordKey, jurisdiction: JurisdictionId): Promise<boolean> {
    const result = await this.database.query('delete record', this.#sql.deleteOne, [
      subjectId,
      key,
      jurisdiction,
    ]);
    return result.rowCount === 1;
  }

  async deleteSubject(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<number> {
    const result = await this.database.query('delete subject', this.#sql.deleteSubject, [
      subjectId,
      jurisdiction,
    ]);
    return result.rowCount ?? 0;
  }

  async countRecords(jurisdiction?: JurisdictionId): Promise<number> {
    const { rows } =
      jurisdiction === undefined
        ? await this.database.query<CountRow>('count records', this.#sql.countAll)
        : await this.database.query<CountRow>('count records', this.#sql.countJurisdiction, [jurisdiction]);
    return Number(rows[0]?.n ?? 0);
  }

  async checkHealth(): Promise<void> {
    await this.database.query('health check', this.#sql.health);
  }

  async close(): Promise<void> {
    await this.database.close();
  }
}

/**
 * Opens the PostgreSQL record store of a region: connects and brings its schema up to date
 * (creating the schema and tables when missing).
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the server cannot be reached or the schema is
 * newer than this build's; `DOMICILE_ERR_CONFIG` for an invalid schema name.
 *
 * @example
 * const store = await openPostgresRegionStore({
 *   regionId, url: process.env.DATABASE_URL, schema: 'region_oci_us_ashburn',
 * });
 * await store.putRecord(record, 0); // 'written' | 'conflict'
 */
export function openPostgresRegionStore(options: PostgresRegionStoreOptions): Promise<PostgresRegionStore> {
  return PostgresRegionStore.open(options);
}
