/**
 * The server `SubjectDirectory`: subject id → home jurisdiction in PostgreSQL, shared by every
 * gateway.
 *
 * Subset of the `pg` API used here (plus what `postgres-database.ts` declares):
 *   `pool.query<Row>(text, values)` and `client.query` in a transaction → `rows`, `rowCount`;
 *   parameters `$1…$n`; BIGINT written from a number.
 *
 * Every method is one statement or (`register`: an insert, then a read of the row it clashed
 * with) one transaction.
 */

import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId, SubjectId } from '../../domain/ids.js';
import type { RegisterOutcome, SubjectDirectory } from '../region-store.js';
import { type Migration, type PostgresAdapterOptions, PostgresDatabase } from './postgres-database.js';

/** Options for `openPostgresDirectory`. */
export type PostgresDirectoryOptions = PostgresAdapterOptions & {
  /** Epoch milliseconds for `created_at`; `Date.now` by default. */
  readonly clock?: () => number;
};

/** Name of the directory's schema in `schema_migrations`. */
export const SUBJECT_DIRECTORY_COMPONENT = 'subject-directory';

/** The directory's schema, oldest step first. Append only: never edit a released step. */
export const SUBJECT_DIRECTORY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-subjects',
    sql: `
      CREATE TABLE subjects (
        subject_id   TEXT   NOT NULL COLLATE "C" PRIMARY KEY,
        jurisdiction TEXT   NOT NULL COLLATE "C",
        created_at   BIGINT NOT NULL
      );
    `,
  },
];

interface JurisdictionRow {
  readonly jurisdiction: string;
}

const CONTEXT = 'subject directory: postgres';

// A registration that keeps meeting a row that is removed before it can be read is racing an
// erasure loop; a handful of rounds is far more than a real race needs.
const REGISTER_ATTEMPTS = 5;

/** The PostgreSQL `SubjectDirectory`; open it with `openPostgresDirectory`. */
export class PostgresSubjectDirectory implements SubjectDirectory {
  /** The pool, schema and migrations. Internal to store adapters. */
  readonly database: PostgresDatabase;

  readonly #clock: () => number;
  readonly #sql: { readonly lookup: string; readonly insertIfAbsent: string; readonly remove: string };

  private constructor(database: PostgresDatabase, clock: () => number) {
    this.database = database;
    this.#clock = clock;
    const subjects = database.table('subjects');
    this.#sql = {
      lookup: `SELECT jurisdiction FROM ${subjects} WHERE subject_id = $1`,
      insertIfAbsent: `INSERT INTO ${subjects} (subject_id, jurisdiction, created_at) VALUES ($1, $2, $3)
        ON CONFLICT (subject_id) DO NOTHING`,
      remove: `DELETE FROM ${subjects} WHERE subject_id = $1`,
    };
  }

  /** See `openPostgresDirectory`. */
  static async open(options: PostgresDirectoryOptions): Promise<PostgresSubjectDirectory> {
    const database = await PostgresDatabase.open(
      options,
      SUBJECT_DIRECTORY_COMPONENT,
      SUBJECT_DIRECTORY_MIGRATIONS,
      CONTEXT,
    );
    return new PostgresSubjectDirectory(database, options.clock ?? Date.now);
  }

  async lookup(subjectId: SubjectId): Promise<JurisdictionId | undefined> {
    const { rows } = await this.database.query<JurisdictionRow>('lookup', this.#sql.lookup, [subjectId]);
    return rows[0]?.jurisdiction as JurisdictionId | undefined;
  }

  async register(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RegisterOutcome> {
    return this.database.transaction('register', async (client) => {
      for (let attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
        // ON CONFLICT DO NOTHING waits for a concurrent insert of the same id to commit or roll
        // back, so exactly one of racing registrations inserts.
        const inserted = await client.query(this.#sql.insertIfAbsent, [
          subjectId,
          jurisdiction,
          this.#clock(),
        ]);
        if (inserted.rowCount === 1) return 'created';
        // Each statement takes a new snapshot (READ COMMITTED), so this one sees the row that won.
        const { rows } = await client.query<JurisdictionRow>(this.#sql.lookup, [subjectId]);
        const existing = rows[0]?.jurisdiction;
        if (existing !== undefined) return existing === jurisdiction ? 'exists' : 'conflict';
        // removed between the two statements: the id is free again, so try to take it
      }
      throw new DomicileError(
        'DOMICILE_ERR_STORE_UNAVAILABLE',
        `${CONTEXT}: register: the subject was removed concurrently ${REGISTER_ATTEMPTS} times`,
      );
    });
  }

  async remove(subjectId: SubjectId): Promise<boolean> {
    const result = await this.database.query('remove', this.#sql.remove, [subjectId]);
    return result.rowCount === 1;
  }

  async close(): Promise<void> {
    await this.database.close();
  }
}

/**
 * Opens the PostgreSQL subject directory: connects and brings its schema up to date. The schema
 * may be shared with other components (each keeps its own version in `schema_migrations`).
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the server cannot be reached or the schema is
 * newer than this build's.
 *
 * @example
 * const directory = await openPostgresDirectory({ url: process.env.DATABASE_URL, schema: 'directory' });
 * await directory.register(subjectId, jurisdiction); // 'created' | 'exists' | 'conflict'
 */
export function openPostgresDirectory(options: PostgresDirectoryOptions): Promise<PostgresSubjectDirectory> {
  return PostgresSubjectDirectory.open(options);
}
