/**
 * The embedded `TransferStore`: the erasure ledger and export volumes, in the control database
 * (`data/control/control.db`) under its own schema component, apart from every region's data.
 *
 * Subset of the better-sqlite3 API used here (plus what `sqlite-database.ts` declares):
 *   `db.prepare<Params, Row>(sql)`, `Statement.run/get/all`, `db.transaction(fn)`.
 */
import type Database from 'better-sqlite3';
import type { JurisdictionId } from '../../domain/ids.js';
import type { ErasureRecord, ExportVolume, TransferStore } from '../transfer-store.js';
import {
  closeGuarded,
  type Migration,
  openSqliteAdapter,
  runGuarded,
  type SqliteFileOptions,
  WriteBatcher,
} from './sqlite-database.js';

/** Options for `openSqliteTransferStore`; `file` is the control database. */
export type SqliteTransferStoreOptions = SqliteFileOptions;

/** Name of the schema in `schema_migrations`. */
export const TRANSFER_STORE_COMPONENT = 'transfer-store';

/** The schema, oldest step first. Append only. */
export const TRANSFER_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-erasure-ledger-and-export-volumes',
    sql: `
      CREATE TABLE erasure_ledger (
        jurisdiction TEXT    NOT NULL,
        subject      TEXT    NOT NULL,
        erased_at    INTEGER NOT NULL,
        PRIMARY KEY (jurisdiction, subject)
      ) STRICT;
      CREATE TABLE export_volumes (
        jurisdiction TEXT    NOT NULL,
        counterparty TEXT    NOT NULL,
        category     TEXT    NOT NULL,
        subject      TEXT    NOT NULL,
        at           INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX export_volumes_by_counterparty ON export_volumes (jurisdiction, counterparty, category, at);
    `,
  },
];

const CONTEXT = 'transfer store: sqlite';

function prepareStatements(db: Database.Database) {
  return {
    upsertErasure: db.prepare<[string, string, number]>(
      `INSERT INTO erasure_ledger (jurisdiction, subject, erased_at) VALUES (?, ?, ?)
        ON CONFLICT (jurisdiction, subject) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)`,
    ),
    erasures: db.prepare<[string], { subject: string; erased_at: number }>(
      'SELECT subject, erased_at FROM erasure_ledger WHERE jurisdiction = ?',
    ),
    insertVolume: db.prepare<[string, string, string, string, number]>(
      'INSERT INTO export_volumes (jurisdiction, counterparty, category, subject, at) VALUES (?, ?, ?, ?, ?)',
    ),
    exported: db.prepare<[string, string, string, number], { subject: string }>(
      `SELECT DISTINCT subject FROM export_volumes
        WHERE jurisdiction = ? AND counterparty = ? AND category = ? AND at >= ?`,
    ),
  };
}

/** The SQLite `TransferStore`. */
export class SqliteTransferStore implements TransferStore {
  readonly db: Database.Database;
  readonly #writes: WriteBatcher;
  readonly #sql: ReturnType<typeof prepareStatements>;

  private constructor(db: Database.Database) {
    this.db = db;
    this.#writes = new WriteBatcher(db, CONTEXT);
    this.#sql = prepareStatements(db);
  }

  /** See `openSqliteTransferStore`. */
  static open(options: SqliteTransferStoreOptions): SqliteTransferStore {
    return openSqliteAdapter(
      options,
      { component: TRANSFER_STORE_COMPONENT, migrations: TRANSFER_STORE_MIGRATIONS, context: CONTEXT },
      (db) => new SqliteTransferStore(db),
    );
  }

  async recordErasure(erasure: ErasureRecord): Promise<void> {
    await this.#writes.run('record erasure', () => {
      this.#sql.upsertErasure.run(erasure.jurisdiction, erasure.subject, erasure.erasedAt);
    });
  }

  async erasures(jurisdiction: JurisdictionId): Promise<Map<string, number>> {
    return runGuarded(
      this.db,
      CONTEXT,
      'read erasure ledger',
      () => new Map(this.#sql.erasures.all(jurisdiction).map((r) => [r.subject, r.erased_at])),
    );
  }

  async recordExportVolume(volume: ExportVolume): Promise<void> {
    await this.#writes.run('record export volume', () => {
      for (const subject of volume.subjects) {
        this.#sql.insertVolume.run(
          volume.jurisdiction,
          volume.counterparty,
          volume.category,
          subject,
          volume.at,
        );
      }
    });
  }

  async distinctExported(
    jurisdiction: JurisdictionId,
    counterparty: string,
    category: string,
    sinceMs: number,
    candidates: readonly string[],
  ): Promise<number> {
    return runGuarded(this.db, CONTEXT, 'count export volume', () => {
      const seen = new Set(
        this.#sql.exported.all(jurisdiction, counterparty, category, sinceMs).map((r) => r.subject),
      );
      for (const c of candidates) seen.add(c);
      return seen.size;
    });
  }

  async close(): Promise<void> {
    closeGuarded(this.db, CONTEXT);
  }
}

/**
 * Opens (creating when missing) the SQLite transfer store.
 *
 * @example
 * const transfers = openSqliteTransferStore({ file: 'data/control/control.db' });
 */
export function openSqliteTransferStore(options: SqliteTransferStoreOptions): SqliteTransferStore {
  return SqliteTransferStore.open(options);
}
