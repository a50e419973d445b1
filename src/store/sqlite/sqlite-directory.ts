/**
 * The embedded `SubjectDirectory`: subject id → home jurisdiction in a SQLite file.
 *
 * Subset of the better-sqlite3 API used here (plus what `sqlite-database.ts` declares):
 *   `db.prepare<Params, Row>(sql)` once per statement at open, then `Statement.run(...).changes`,
 *   `Statement.get(...)`; `db.transaction(fn).immediate()`.
 *
 * Every method is one transaction. The work is synchronous; methods return Promises only to
 * share the interface with a PostgreSQL directory.
 */
import type Database from 'better-sqlite3';
import type { JurisdictionId, SubjectId } from '../../domain/ids.js';
import type { RegisterOutcome, SubjectDirectory } from '../region-store.js';
import {
  closeGuarded,
  type Migration,
  openSqliteAdapter,
  runGuarded,
  type SqliteFileOptions,
} from './sqlite-database.js';

/** Options for `openSqliteDirectory`. */
export interface SqliteDirectoryOptions extends SqliteFileOptions {
  /** Epoch milliseconds for `created_at`; `Date.now` by default. */
  readonly clock?: () => number;
}

/** Name of the directory's schema in `schema_migrations`. */
export const SUBJECT_DIRECTORY_COMPONENT = 'subject-directory';

/** The directory's schema, oldest step first. Append only: never edit a released step. */
export const SUBJECT_DIRECTORY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-subjects',
    sql: `
      CREATE TABLE subjects (
        subject_id   TEXT    NOT NULL PRIMARY KEY,
        jurisdiction TEXT    NOT NULL,
        created_at   INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

interface JurisdictionRow {
  readonly jurisdiction: string;
}

function prepareStatements(db: Database.Database) {
  return {
    lookup: db.prepare<[string], JurisdictionRow>('SELECT jurisdiction FROM subjects WHERE subject_id = ?'),
    insertIfAbsent: db.prepare<[string, string, number]>(
      `INSERT INTO subjects (subject_id, jurisdiction, created_at) VALUES (?, ?, ?)
        ON CONFLICT (subject_id) DO NOTHING`,
    ),
    remove: db.prepare<[string]>('DELETE FROM subjects WHERE subject_id = ?'),
  };
}

const CONTEXT = 'subject directory: sqlite';

/** The SQLite `SubjectDirectory`; open it with `openSqliteDirectory`. */
export class SqliteSubjectDirectory implements SubjectDirectory {
  readonly file: string;
  /** The open database. Internal to store adapters, like `SqliteRegionStore.db`. */
  readonly db: Database.Database;

  readonly #clock: () => number;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #register: Database.Transaction<
    (subjectId: SubjectId, jurisdiction: JurisdictionId) => RegisterOutcome
  >;

  private constructor(file: string, db: Database.Database, clock: () => number) {
    this.file = file;
    this.db = db;
    this.#clock = clock;
    this.#statements = prepareStatements(db);
    // Insert, then read back on a clash, in one immediate transaction: no other writer can
    // remove or re-register the subject in between.
    this.#register = db.transaction((subjectId: SubjectId, jurisdiction: JurisdictionId): RegisterOutcome => {
      if (this.#statements.insertIfAbsent.run(subjectId, jurisdiction, this.#clock()).changes === 1) {
        return 'created';
      }
      return this.#statements.lookup.get(subjectId)?.jurisdiction === jurisdiction ? 'exists' : 'conflict';
    });
  }

  /** See `openSqliteDirectory`. */
  static open(options: SqliteDirectoryOptions): SqliteSubjectDirectory {
    return openSqliteAdapter(
      options,
      { component: SUBJECT_DIRECTORY_COMPONENT, migrations: SUBJECT_DIRECTORY_MIGRATIONS, context: CONTEXT },
      (db) => new SqliteSubjectDirectory(options.file, db, options.clock ?? Date.now),
    );
  }

  async lookup(subjectId: SubjectId): Promise<JurisdictionId | undefined> {
    return this.#run(
      'lookup',
      () => this.#statements.lookup.get(subjectId)?.jurisdiction as JurisdictionId | undefined,
    );
  }

  async register(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RegisterOutcome> {
    return this.#run('register', () => this.#register.immediate(subjectId, jurisdiction));
  }

  async remove(subjectId: SubjectId): Promise<boolean> {
    return this.#run('remove', () => this.#statements.remove.run(subjectId).changes === 1);
  }

  async close(): Promise<void> {
    closeGuarded(this.db, CONTEXT);
  }

  #run<T>(operation: string, work: () => T): T {
    return runGuarded(this.db, CONTEXT, operation, work);
  }
}

/**
 * Opens (creating when missing) the SQLite subject directory. The file may be shared with other
 * components (each keeps its own schema version).
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the file cannot be opened or its schema is newer
 * than this build's.
 *
 * @example
 * const directory = openSqliteDirectory({ file: 'data/directory.sqlite' });
 * await directory.register(subjectId, jurisdiction); // 'created' | 'exists' | 'conflict'
 */
export function openSqliteDirectory(options: SqliteDirectoryOptions): SqliteSubjectDirectory {
  return SqliteSubjectDirectory.open(options);
}
