/**
 * An application's PostgreSQL database as a migration source (`ForeignDatabase`), read through
 * a mapping.
 *
 * Reading uses connections whose every transaction is read-only
 * (`default_transaction_read_only`), and each read is an explicit `BEGIN READ ONLY` transaction
 * too: a mapped table cannot be changed and an operator's `query` can only read. A wipe (table
 * mappings only) uses a read-write pool, deletes a group of subjects per statement with
 * `DELETE … RETURNING`, then VACUUMs the table. VACUUM makes the space reusable; it does not
 * overwrite it, so the wipe reports that the bytes may persist (table files, WAL, replicas,
 * backups).
 *
 * Identifiers come from the mapping file: validated there and quoted here; values are bound.
 * Text order is byte order (`COLLATE "C"`) whatever the database's collation.
 *
 * Subset of `pg` used: `new pg.Pool({ connectionString, max, connectionTimeoutMillis,
 * idleTimeoutMillis, application_name, options })`, `pool.connect()` → `client.query(text,
 * values)` → `{ rows, fields }`, `client.release(destroy?)`, `pool.query`, `pool.on('error')`,
 * `pool.end()`. BIGINT and NUMERIC read back as strings, JSON as parsed values, BYTEA as `Buffer`.
 */
import pg from 'pg';
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
import { runTransaction } from './postgres-database.js';

/** Options of `openPostgresForeignDatabase`. */
export interface PostgresForeignDatabaseOptions {
  readonly mapping: SourceMapping;
  /** `postgres://user:password@host:port/database` (never shown in a message). */
  readonly url: string;
  /** `read`: read-only connections; `wipe`: read-write (table mappings only). */
  readonly mode: 'read' | 'wipe';
  /** How long to wait for a connection; default 5000 ms. */
  readonly connectTimeoutMs?: number;
}

/** Numbers `$1, $2…` as parameters are added. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * Opens an application's PostgreSQL database through `mapping`, checking that the mapped table
 * (or query) and every mapped column exist.
 *
 * @throws DomicileError `DOMICILE_ERR_CONFIG` (`file:line: path: reason`) for a missing table or
 *   column or a query that does not run; `DOMICILE_ERR_SOURCE_UNAVAILABLE` when the server cannot
 *   be reached.
 * @example
 * const db = await openPostgresForeignDatabase({ mapping, url: process.env.CRM_URL, mode: 'read' });
 */
export async function openPostgresForeignDatabase(
  options: PostgresForeignDatabaseOptions,
): Promise<ForeignDatabase> {
  const { mapping } = options;
  const description = describeForeignDatabase('postgres', mapping.name, mapping);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: 2,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'domicile-migrate',
    // INVARIANT: a source is only read — every transaction of a reading connection is read-only
    ...(options.mode === 'read' ? { options: '-c default_transaction_read_only=on' } : {}),
  });
  // an idle connection the server closed: the next query opens a new one
  pool.on('error', () => {});
  const database = new PostgresForeignDatabase(pool, mapping, description);
  try {
    await database.check();
    return database;
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
}

class PostgresForeignDatabase implements ForeignDatabase {
  readonly description: string;
  readonly #pool: pg.Pool;
  readonly #mapping: SourceMapping;
  readonly #valueColumns: readonly string[];
  #closed = false;

  constructor(pool: pg.Pool, mapping: SourceMapping, description: string) {
    this.#pool = pool;
    this.#mapping = mapping;
    this.description = description;
    this.#valueColumns = foreignValueColumns(mapping);
  }

  /** The quoted table name, `"schema"."table"` or `"table"`. */
  #table(): string {
    const rows = this.#mapping.rows;
    if (rows.kind !== 'table') throw new Error('not a table mapping');
    return quoteForeignTable(rows);
  }

  #from(): string {
    const rows = this.#mapping.rows;
    return rows.kind === 'query' ? `(${rows.sql})` : this.#table();
  }

  #column(name: string): string {
    return `src.${quoteIdentifier(name)}`;
  }

  #subject(): string {
    return `(coalesce((${this.#column(this.#mapping.subjectColumn)})::text, '') COLLATE "C")`;
  }

  #key(): string | undefined {
    const key = this.#mapping.key;
    return 'column' in key ? `(coalesce((${this.#column(key.column)})::text, '') COLLATE "C")` : undefined;
  }

  #where(filter: RowFilter, params: Params): string {
    const match = matchRowFilter(this.#mapping, filter);
    if (typeof match === 'boolean') return match ? 'TRUE' : 'FALSE';
    return `(${this.#column(match.column)})::text IN (${match.values.map((v) => params.add(v)).join(', ')})`;
  }

  #select(): string {
    return selectForeignColumns(this.#mapping, {
      column: (name) => this.#column(name),
      text: (expression) => `(${expression})::text`,
    });
  }

  #toRow(raw: RawForeignRow): ForeignRow {
    return toForeignRow(this.#mapping, raw);
  }

  /** Runs `work` in one read-only transaction. */
  async #read<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#transaction(operation, 'BEGIN TRANSACTION READ ONLY', work);
  }

  async #transaction<T>(
    operation: string,
    begin: string,
    work: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) {
      throw new DomicileError('DOMICILE_ERR_SOURCE_UNAVAILABLE', `${this.description}: ${operation}: closed`);
    }
    return runTransaction(this.#pool, begin, work, (cause) =>
      foreignSourceError(this.description, operation, cause),
    );
  }

  /** Checks that the mapped table or query and every mapped column exist. */
  async check(): Promise<void> {
    const mapping = this.#mapping;
    const available = await this.#read('check the mapping', async (client) => {
      if (mapping.rows.kind === 'table') {
        const table = this.#table();
        const found = await client.query<{ name: string }>(
          `SELECT attname AS name FROM pg_attribute
            WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
          [table],
        );
        if (found.rows.length === 0) throw missingTableError(mapping, mapping.rows);
        return new Set(found.rows.map((r) => r.name));
      }
      try {
        const result = await client.query(`SELECT * FROM (${mapping.rows.sql}) AS src LIMIT 0`);
        return new Set(result.fields.map((f) => f.name));
      } catch (err) {
        // the server's answer to a query that reads no row names the SQL, not data
        if (err instanceof pg.DatabaseError) {
          throw mappingError(mapping, 'query', `does not run: ${err.message}`);
        }
        throw err;
      }
    });
    checkMappedColumns(mapping, (column) => available.has(column));
  }

  async measure(filter: RowFilter): Promise<{ rows: number; bytes: number; others: number }> {
    const params = new Params();
    const where = this.#where(filter, params);
    const bytes = this.#valueColumns
      .map((c) => `coalesce(octet_length((${this.#column(c)})::text), 0)`)
      .join(' + ');
    const sql = `SELECT count(*) AS total,
        coalesce(sum(CASE WHEN ${where} THEN 1 ELSE 0 END), 0) AS rows,
        coalesce(sum(CASE WHEN ${where} THEN ${bytes} ELSE 0 END), 0) AS bytes
      FROM ${this.#from()} AS src`;
    const row = await this.#read('measure', async (client) => {
      const result = await client.query<{ total: string; rows: string; bytes: string }>(sql, params.values);
      return result.rows[0];
    });
    const total = Number(row?.total ?? 0);
    const rows = Number(row?.rows ?? 0);
    return { rows, bytes: Number(row?.bytes ?? 0), others: total - rows };
  }

  async readPage(filter: RowFilter, after: ForeignCursor | null, limit: number): Promise<ForeignRow[]> {
    const subject = this.#subject();
    const key = this.#key();
    const order = key === undefined ? subject : `${subject}, ${key}`;
    const base = `SELECT ${this.#select()} FROM ${this.#from()} AS src`;
    const params = new Params();
    let where = this.#where(filter, params);
    if (after !== null) {
      where +=
        key === undefined
          ? ` AND ${subject} > ${params.add(after.subject)}`
          : ` AND (${subject}, ${key}) > (${params.add(after.subject)}, ${params.add(after.key)})`;
    }
    const pageSql = `${base} WHERE ${where} ORDER BY ${order} LIMIT ${params.add(limit)}`;
    return this.#read('read', async (client) => {
      const page = (await client.query<RawForeignRow>(pageSql, params.values)).rows.map((r) =>
        this.#toRow(r),
      );
      const last = lastForeignGroup(page, limit);
      if (last === undefined) return page;
      const group = new Params();
      let groupWhere = `${this.#where(filter, group)} AND ${subject} = ${group.add(last.subject)}`;
      if (key !== undefined) groupWhere += ` AND ${key} = ${group.add(last.key)}`;
      const rest = (await client.query<RawForeignRow>(`${base} WHERE ${groupWhere}`, group.values)).rows;
      return completeForeignGroup(
        page,
        last,
        rest.map((r) => this.#toRow(r)),
      );
    });
  }

  async wipe(filter: RowFilter, onPage: (rows: readonly ForeignRow[]) => void): Promise<ForeignWipeOutcome> {
    const table = this.#table();
    const params = new Params();
    const where = this.#where(filter, params);
    const innerWhere = this.#where(filter, params);
    const subject = this.#subject();
    const sql = `DELETE FROM ${table} AS src
      WHERE ${where} AND ${subject} IN (
        SELECT ${subject} FROM ${table} AS src WHERE ${innerWhere} LIMIT ${params.add(1_000)})
      RETURNING ${this.#select()}`;
    let deleted = 0;
    for (;;) {
      const page = await this.#transaction('delete', 'BEGIN', async (client) => {
        return (await client.query<RawForeignRow>(sql, params.values)).rows;
      });
      if (page.length === 0) break;
      onPage(page.map((r) => this.#toRow(r)));
      deleted += page.length;
    }
    const notSecurelyErased = [
      'PostgreSQL: DELETE and VACUUM make the rows’ space reusable but do not overwrite it: the bytes may persist in the table’s files, the write-ahead log and its archive, replicas and base backups until overwritten',
    ];
    try {
      // VACUUM cannot run inside a transaction block: one statement of its own
      await this.#pool.query(`VACUUM ${table}`);
    } catch {
      notSecurelyErased.push(
        'VACUUM failed: the deleted rows’ tuples remain in the table’s pages until the next vacuum',
      );
    }
    return { deleted, notSecurelyErased };
  }

  async countByFullScan(filter: RowFilter): Promise<number> {
    const params = new Params();
    const where = this.#where(filter, params);
    return this.#read('full scan', async (client) => {
      // a sequential scan: a damaged or stale index cannot hide a survivor
      await client.query('SET LOCAL enable_indexscan = off');
      await client.query('SET LOCAL enable_indexonlyscan = off');
      await client.query('SET LOCAL enable_bitmapscan = off');
      const result = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${this.#from()} AS src WHERE ${where}`,
        params.values,
      );
      return Number(result.rows[0]?.n ?? 0);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
