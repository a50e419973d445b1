/**
 * An application database read through a mapping file (`domain/source-mapping.ts`): the rows of
 * the mapped table or query, raw, in (subject id, key) order, and — for a table mapping — their
 * deletion. The SQLite adapter (`sqlite/sqlite-foreign-database.ts`) and the PostgreSQL adapter
 * (`postgres/postgres-foreign-database.ts`) implement it; turning rows into records (ids,
 * versions, values) is the migration service's business (`services/migrate/foreign-source.ts`).
 *
 * Ordering: by the subject id column as text, then the key column as text, byte by byte (SQLite
 * BINARY, PostgreSQL `COLLATE "C"`), NULL read as the empty string. A page never splits rows that
 * share a subject id and key, so such duplicates are always seen together.
 */

/** Which rows belong to the jurisdiction being migrated. */
export type RowFilter =
  /** Every row (a mapping with a fixed jurisdiction, the one being migrated). */
  | { readonly kind: 'all' }
  /** No row (a mapping with a fixed jurisdiction, another one). */
  | { readonly kind: 'none' }
  /** Rows whose jurisdiction column, as text, is one of `values`. */
  | { readonly kind: 'values'; readonly values: readonly string[] };

/** One row, as the database holds it. */
export interface ForeignRow {
  /** The subject id column as text; null when NULL. */
  readonly subject: string | null;
  /** The key column as text (or the mapping's fixed key); null when NULL. */
  readonly key: string | null;
  /** The version column's value (number, bigint, string…); undefined when not mapped. */
  readonly version: unknown;
  /** The value columns in the mapping's order (one for a JSON value column). */
  readonly values: readonly unknown[];
}

/** A position in the order: the last row's subject id and key, NULL as the empty string. */
export interface ForeignCursor {
  readonly subject: string;
  readonly key: string;
}

/** What a wipe of the mapped rows did, and what it could not do. */
export interface ForeignWipeOutcome {
  readonly deleted: number;
  /** What may still hold deleted rows (empty when the rows were overwritten in place). */
  readonly notSecurelyErased: readonly string[];
}

/** An application database as a migration source. */
export interface ForeignDatabase {
  /** For messages: ``sqlite `crm.db` table `customers` ``. */
  readonly description: string;
  /** Rows of the filter, their value columns' bytes (as text), and the other rows. */
  measure(filter: RowFilter): Promise<{ rows: number; bytes: number; others: number }>;
  /** At least `limit` rows of the filter after `after` (fewer at the end), completing the last group. */
  readPage(filter: RowFilter, after: ForeignCursor | null, limit: number): Promise<ForeignRow[]>;
  /**
   * Deletes the rows of the filter a group of subjects at a time, showing each group before it is
   * gone (`onPage`), then compacts the database. Only for a table mapping opened for writing.
   */
  wipe(filter: RowFilter, onPage: (rows: readonly ForeignRow[]) => void): Promise<ForeignWipeOutcome>;
  /** Counts the rows of the filter by reading every row, not an index. */
  countByFullScan(filter: RowFilter): Promise<number>;
  close(): Promise<void>;
}
