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
import { DomicileError } from '../domain/errors.js';
import {
  type MappedRows,
  mappedColumns,
  mappingError,
  quoteIdentifier,
  type SourceMapping,
} from '../domain/source-mapping.js';

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

// What follows is the part of reading a mapping that does not depend on the database: which
// columns are read and under which aliases, which rows a filter keeps, how a page ends, and how
// failures are reported. Each adapter renders it in its own SQL.

/**
 * A row as both adapters select it (`selectForeignColumns`): `s` the subject id as text, `k` the
 * key as text (column keys only), `v` the version (when mapped), `c0…` the value columns.
 */
export interface RawForeignRow {
  readonly s: string | null;
  readonly k?: string | null;
  readonly v?: unknown;
  readonly [value: `c${number}`]: unknown;
}

/** How an adapter writes SQL expressions for `selectForeignColumns`. */
export interface ForeignSqlDialect {
  /** A mapped column, quoted (and qualified when the adapter needs it). */
  readonly column: (name: string) => string;
  /** `expression` cast to text. */
  readonly text: (expression: string) => string;
}

/** ``<engine> `<source>` table `t` `` or ``<engine> `<source>` query``, for messages. */
export function describeForeignDatabase(engine: string, source: string, mapping: SourceMapping): string {
  return `${engine} \`${source}\`${mapping.rows.kind === 'table' ? ` table \`${mapping.rows.table}\`` : ' query'}`;
}

/** The columns holding the record's value, in order: the JSON column, or the mapped columns. */
export function foreignValueColumns(mapping: SourceMapping): readonly string[] {
  return 'json' in mapping.value ? [mapping.value.json] : mapping.value.columns;
}

/** The quoted table of a table mapping, `"schema"."table"` or `"table"`. */
export function quoteForeignTable(rows: Extract<MappedRows, { kind: 'table' }>): string {
  return rows.schema === undefined
    ? quoteIdentifier(rows.table)
    : `${quoteIdentifier(rows.schema)}.${quoteIdentifier(rows.table)}`;
}

/** `DOMICILE_ERR_CONFIG` for a table mapping whose table the database does not have. */
export function missingTableError(
  mapping: SourceMapping,
  rows: Extract<MappedRows, { kind: 'table' }>,
): Error {
  const shown = `${rows.schema === undefined ? '' : `${rows.schema}.`}${rows.table}`;
  return mappingError(mapping, 'table', `no table \`${shown}\` in the database`);
}

/** Throws `DOMICILE_ERR_CONFIG` for the first mapped column that `has` says is missing. */
export function checkMappedColumns(mapping: SourceMapping, has: (column: string) => boolean): void {
  for (const { column, path } of mappedColumns(mapping)) {
    if (!has(column)) {
      throw mappingError(
        mapping,
        path,
        `no column \`${column}\` in the ${mapping.rows.kind === 'table' ? 'table' : 'query'}`,
      );
    }
  }
}

/**
 * Which rows `filter` keeps: `true` every row, `false` none (no values, or a mapping whose
 * jurisdiction is fixed), or the rows whose jurisdiction column, as text, is one of `values`.
 */
export function matchRowFilter(
  mapping: SourceMapping,
  filter: RowFilter,
): boolean | { readonly column: string; readonly values: readonly string[] } {
  if (filter.kind === 'all') return true;
  if (filter.kind === 'none' || filter.values.length === 0) return false;
  const jurisdiction = mapping.jurisdiction;
  if (!('column' in jurisdiction)) return false;
  return { column: jurisdiction.column, values: filter.values };
}

/** The select list of a read: the aliases `RawForeignRow` names, in `dialect`'s SQL. */
export function selectForeignColumns(mapping: SourceMapping, dialect: ForeignSqlDialect): string {
  const parts = [`${dialect.text(dialect.column(mapping.subjectColumn))} AS s`];
  if ('column' in mapping.key) parts.push(`${dialect.text(dialect.column(mapping.key.column))} AS k`);
  if (mapping.versionColumn !== undefined) parts.push(`${dialect.column(mapping.versionColumn)} AS v`);
  foreignValueColumns(mapping).forEach((c, i) => {
    parts.push(`${dialect.column(c)} AS c${i}`);
  });
  return parts.join(', ');
}

/** A row read with `selectForeignColumns`, as a `ForeignRow`. */
export function toForeignRow(mapping: SourceMapping, raw: RawForeignRow): ForeignRow {
  return {
    subject: raw.s,
    key: 'fixed' in mapping.key ? mapping.key.fixed : (raw.k ?? null),
    version: mapping.versionColumn === undefined ? undefined : raw.v,
    values: foreignValueColumns(mapping).map((_, i) => raw[`c${i}`]),
  };
}

/**
 * The group a full page may have cut: the last row's subject id and key, or undefined when the
 * page holds fewer than `limit` rows (the end) and so is complete.
 */
export function lastForeignGroup(page: readonly ForeignRow[], limit: number): ForeignCursor | undefined {
  const last = page.at(-1);
  if (page.length < limit || last === undefined) return undefined;
  return { subject: last.subject ?? '', key: last.key ?? '' };
}

/** `page` with its last group (`lastForeignGroup`) replaced by every row of it, `group`. */
export function completeForeignGroup(
  page: readonly ForeignRow[],
  last: ForeignCursor,
  group: readonly ForeignRow[],
): ForeignRow[] {
  // rows sharing the last subject id and key must be seen together
  const same = (r: ForeignRow): boolean => (r.subject ?? '') === last.subject && (r.key ?? '') === last.key;
  return [...page.filter((r) => !same(r)), ...group];
}

/**
 * `DOMICILE_ERR_SOURCE_UNAVAILABLE` for a failed `operation`. The driver's text can quote a value
 * (a constraint message), so only its code (SQLSTATE, `SQLITE_BUSY`) reaches the message.
 */
export function foreignSourceError(description: string, operation: string, cause: unknown): Error {
  if (cause instanceof DomicileError) return cause;
  const code = (cause as { code?: unknown }).code;
  return new DomicileError(
    'DOMICILE_ERR_SOURCE_UNAVAILABLE',
    `${description}: ${operation} failed${typeof code === 'string' ? ` (${code})` : ''}`,
    { cause },
  );
}
