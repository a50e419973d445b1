/**
 * An application's SQLite file as a migration source (`ForeignDatabase`), read through a mapping.
 *
 * Reading opens the file read-only, so neither a mapped table nor an operator's `query` can
 * change it. A wipe opens it for writing (table mappings only), turns `secure_delete` on so the
 * deleted cells are zeroed, VACUUMs the file and truncates its write-ahead log, and says what may
 * still hold the rows (a WAL other connections kept open, a persistent rollback journal).
 *
 * Identifiers come from the mapping file: validated there and quoted here; values are bound.
 *
 * Subset of better-sqlite3 used: `new Database(file, { readonly, fileMustExist, timeout })`,
 * `prepare` → `all`/`get`/`columns`/`safeIntegers`/`readonly`, `pragma`, `exec`, `close`.
 * Integers are read as `bigint` (`safeIntegers`), so none loses precision on the way.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import Database from 'better-sqlite3';
import { DomicileError } from '../../domain/errors.js';
import { mappingError, quoteIdentifier, type SourceMapping } from '../../domain/source-mapping.js';
import {
  checkMappedColumns,
  completeForeignGroup,
  describeForeignDatabase,
  type ForeignCursor,
  type ForeignDatabase,
  type ForeignRow,
  type ForeignWipeOutcome,
  foreignSourceError,
  foreignValueColumns,
  lastForeignGroup,
  matchRowFilter,
  missingTableError,
  quoteForeignTable,
  type RawForeignRow,
  type RowFilter,
  selectForeignColumns,
  toForeignRow,
} from '../foreign-database.js';

/** Options of `openSqliteForeignDatabase`. */
export interface SqliteForeignDatabaseOptions {
  readonly mapping: SourceMapping;
  /** The database file, resolved against the mapping file's folder. */
  readonly file: string;
  /** `read` opens the file read-only; `wipe` opens it for writing (table mappings only). */
  readonly mode: 'read' | 'wipe';
  /** How long to wait for the application's locks; default 30 s. */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens an application's SQLite file through `mapping`, checking that the mapped table (or query)
 * and every mapped column exist.
 *
 * @throws DomicileError `DOMICILE_ERR_CONFIG` (`file:line: path: reason`) for a missing file,
 *   table or column, or a query that does not compile; `DOMICILE_ERR_SOURCE_UNAVAILABLE` when the
 *   file cannot be opened.
 * @example
 * const db = openSqliteForeignDatabase({ mapping, file: '/srv/crm/crm.db', mode: 'read' });
 * const page = await db.readPage({ kind: 'values', values: ['US'] }, null, 2000);
 */
export function openSqliteForeignDatabase(options: SqliteForeignDatabaseOptions): ForeignDatabase {
  const { mapping, file } = options;
  const description = describeForeignDatabase('sqlite', basename(file), mapping);
  try {
    if (!statSync(file).isFile()) throw mappingError(mapping, 'database.sqlite', `\`${file}\` is not a file`);
  } catch (err) {
    if (err instanceof DomicileError) throw err;
    throw mappingError(mapping, 'database.sqlite', `no such file \`${file}\``);
  }
  let db: Database.Database;
  try {
    db = new Database(file, {
      readonly: options.mode === 'read',
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? 30_000,
    });
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_SOURCE_UNAVAILABLE', `${description}: cannot open the file`, {
      cause,
    });
  }
  try {
    checkMapping(db, mapping);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteForeignDatabase(db, mapping, description);
}

function checkMapping(db: Database.Database, mapping: SourceMapping): void {
  let available: Set<string>;
  if (mapping.rows.kind === 'table') {
    const { schema, table } = mapping.rows;
    // table-valued pragma: the names are bound, not spliced into the SQL
    const columns = db
      .prepare<[string, string], { name: string }>('SELECT name FROM pragma_table_xinfo(?, ?)')
      .all(table, schema ?? 'main');
    if (columns.length === 0) throw missingTableError(mapping, mapping.rows);
    available = new Set(columns.map((c) => c.name.toLowerCase()));
  } else {
    let statement: Database.Statement;
    try {
      statement = db.prepare(`SELECT * FROM (${mapping.rows.sql}) AS src LIMIT 0`);
    } catch (err) {
      // compile errors name the SQL, never a row: no data has been read
      throw mappingError(mapping, 'query', `does not compile: ${(err as Error).message}`);
    }
    if (!statement.readonly) throw mappingError(mapping, 'query', 'must only read');
    available = new Set(statement.columns().map((c) => c.name.toLowerCase()));
  }
  checkMappedColumns(mapping, (column) => available.has(column.toLowerCase()));
}

class SqliteForeignDatabase implements ForeignDatabase {
  readonly description: string;
  readonly #db: Database.Database;
  readonly #mapping: SourceMapping;
  readonly #valueColumns: readonly string[];

  constructor(db: Database.Database, mapping: SourceMapping, description: string) {
    this.#db = db;
    this.#mapping = mapping;
    this.description = description;
    this.#valueColumns = foreignValueColumns(mapping);
  }

  /** `FROM` target: the quoted table, or the operator's query as a subquery. */
  #from(): string {
    const rows = this.#mapping.rows;
    return rows.kind === 'query' ? `(${rows.sql})` : quoteForeignTable(rows);
  }

  #column(prefix: string, name: string): string {
    return `${prefix}${quoteIdentifier(name)}`;
  }

  #subject(prefix: string): string {
    return `(coalesce(CAST(${this.#column(prefix, this.#mapping.subjectColumn)} AS TEXT), '') COLLATE BINARY)`;
  }

  /** The key expression, or undefined for a fixed key (then the subject alone orders the rows). */
  #key(prefix: string): string | undefined {
    const key = this.#mapping.key;
    return 'column' in key
      ? `(coalesce(CAST(${this.#column(prefix, key.column)} AS TEXT), '') COLLATE BINARY)`
      : undefined;
  }

  #where(prefix: string, filter: RowFilter, params: unknown[]): string {
    const match = matchRowFilter(this.#mapping, filter);
    if (typeof match === 'boolean') return match ? '1' : '0';
    params.push(...match.values);
    return `CAST(${this.#column(prefix, match.column)} AS TEXT) IN (${match.values.map(() => '?').join(', ')})`;
  }

  #select(prefix: string): string {
    return selectForeignColumns(this.#mapping, {
      column: (name) => this.#column(prefix, name),
      text: (expression) => `CAST(${expression} AS TEXT)`,
    });
  }

  #toRow(raw: RawForeignRow): ForeignRow {
    return toForeignRow(this.#mapping, raw);
  }

  #all(operation: string, sql: string, params: readonly unknown[]): RawForeignRow[] {
    return this.#guard(operation, () =>
      this.#db
        .prepare<unknown[], RawForeignRow>(sql)
        .safeIntegers(true)
        .all(...params),
    );
  }

  #guard<T>(operation: string, work: () => T): T {
    if (!this.#db.open) {
      throw new DomicileError('DOMICILE_ERR_SOURCE_UNAVAILABLE', `${this.description}: ${operation}: closed`);
    }
    try {
      return work();
    } catch (cause) {
      throw foreignSourceError(this.description, operation, cause);
    }
  }

  async measure(filter: RowFilter): Promise<{ rows: number; bytes: number; others: number }> {
    const params: unknown[] = [];
    const where = this.#where('src.', filter, params);
    const bytes = this.#valueColumns
      .map((c) => `coalesce(length(CAST(${this.#column('src.', c)} AS BLOB)), 0)`)
      .join(' + ');
    const sql = `SELECT count(*) AS total,
        coalesce(sum(CASE WHEN ${where} THEN 1 ELSE 0 END), 0) AS rows,
        coalesce(sum(CASE WHEN ${where} THEN ${bytes} ELSE 0 END), 0) AS bytes
      FROM ${this.#from()} AS src`;
    const row = this.#guard('measure', () =>
      this.#db
        .prepare<unknown[], { total: number; rows: number; bytes: number }>(sql)
        .get(...params, ...params),
    );
    const total = Number(row?.total ?? 0);
    const rows = Number(row?.rows ?? 0);
    return { rows, bytes: Number(row?.bytes ?? 0), others: total - rows };
  }

  async readPage(filter: RowFilter, after: ForeignCursor | null, limit: number): Promise<ForeignRow[]> {
    const subject = this.#subject('src.');
    const key = this.#key('src.');
    const params: unknown[] = [];
    let where = this.#where('src.', filter, params);
    if (after !== null) {
      if (key === undefined) {
        where += ` AND ${subject} > ?`;
        params.push(after.subject);
      } else {
        where += ` AND (${subject}, ${key}) > (?, ?)`;
        params.push(after.subject, after.key);
      }
    }
    const order = key === undefined ? subject : `${subject}, ${key}`;
    const base = `SELECT ${this.#select('src.')} FROM ${this.#from()} AS src`;
    const page = this.#all('read', `${base} WHERE ${where} ORDER BY ${order} LIMIT ?`, [...params, limit]);
    const rows = page.map((r) => this.#toRow(r));
    const last = lastForeignGroup(rows, limit);
    if (last === undefined) return rows;
    const groupParams: unknown[] = [];
    let groupWhere = `${this.#where('src.', filter, groupParams)} AND ${subject} = ?`;
    groupParams.push(last.subject);
    if (key !== undefined) {
      groupWhere += ` AND ${key} = ?`;
      groupParams.push(last.key);
    }
    const group = this.#all('read', `${base} WHERE ${groupWhere}`, groupParams).map((r) => this.#toRow(r));
    return completeForeignGroup(rows, last, group);
  }

  async wipe(filter: RowFilter, onPage: (rows: readonly ForeignRow[]) => void): Promise<ForeignWipeOutcome> {
    if (this.#mapping.rows.kind !== 'table' || this.#db.readonly) {
      throw new DomicileError(
        'DOMICILE_ERR_SOURCE_UNAVAILABLE',
        `${this.description}: wipe: only a table mapping opened for writing can be wiped`,
      );
    }
    const notSecurelyErased: string[] = [];
    const secure = this.#guard('wipe', () => {
      this.#db.pragma('secure_delete = ON');
      return this.#db.pragma('secure_delete', { simple: true }) === 1;
    });
    // INVARIANT: E1 — with secure_delete on, SQLite zeroes the deleted cells in place
    if (!secure)
      notSecurelyErased.push('secure_delete could not be turned on: deleted rows may persist in free pages');
    const params: unknown[] = [];
    const where = this.#where('', filter, params);
    const inner: unknown[] = [];
    const innerWhere = this.#where('', filter, inner);
    // no alias in DELETE: unqualified names resolve to the table of the nearest FROM
    const sql = `DELETE FROM ${this.#from()}
      WHERE ${where} AND ${this.#subject('')} IN (
        SELECT ${this.#subject('')} FROM ${this.#from()} WHERE ${innerWhere} LIMIT ?)
      RETURNING ${this.#select('')}`;
    let deleted = 0;
    for (;;) {
      const page = this.#all('delete', sql, [...params, ...inner, 1_000]);
      if (page.length === 0) break;
      onPage(page.map((r) => this.#toRow(r)));
      deleted += page.length;
    }
    const journal = String(this.#guard('wipe', () => this.#db.pragma('journal_mode', { simple: true })));
    try {
      this.#guard('vacuum', () => this.#db.exec('VACUUM'));
    } catch {
      notSecurelyErased.push(
        'VACUUM failed (the application holds the database): freed pages stay in the file until the next VACUUM',
      );
    }
    const name = this.#db.name;
    if (journal === 'wal') {
      const result = this.#guard(
        'checkpoint',
        () => this.#db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number }[],
      );
      const outcome = result[0];
      if (outcome === undefined || outcome.busy !== 0 || outcome.log > 0) {
        notSecurelyErased.push(
          `\`${basename(name)}-wal\` could not be truncated while other connections read the database: it may hold deleted rows until its next checkpoint`,
        );
      }
    } else if (journal === 'persist') {
      notSecurelyErased.push(
        `\`${basename(name)}-journal\` (journal_mode=persist) keeps the page images of the last transaction`,
      );
    }
    return { deleted, notSecurelyErased };
  }

  async countByFullScan(filter: RowFilter): Promise<number> {
    const params: unknown[] = [];
    const where = this.#where('src.', filter, params);
    // NOT INDEXED: a damaged or stale index cannot hide a survivor (tables only; a query is read as written)
    const hint = this.#mapping.rows.kind === 'table' ? ' NOT INDEXED' : '';
    const row = this.#guard('full scan', () =>
      this.#db
        .prepare<unknown[], { n: number }>(
          `SELECT count(*) AS n FROM ${this.#from()} AS src${hint} WHERE ${where}`,
        )
        .get(...params),
    );
    return Number(row?.n ?? 0);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
