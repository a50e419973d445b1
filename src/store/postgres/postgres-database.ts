/**
 * A connection pool for a PostgreSQL store adapter: schema-qualified names, versioned
 * migrations under an advisory lock, and the guard that turns every driver failure into
 * `DOMICILE_ERR_STORE_UNAVAILABLE`. Internal to `src/store/postgres/`: the SQLite adapter shares
 * none of it.
 *
 * Subset of the `pg` (node-postgres) API used here:
 *   `new pg.Pool({ connectionString, max, connectionTimeoutMillis, idleTimeoutMillis,
 *   keepAlive, application_name })`, `pool.query<Row>(text, values)` → `{ rows, rowCount }`,
 *   `pool.connect()` → `PoolClient` with `client.query`, `client.release(destroy?)`,
 *   `client.on/off('error')`, `pool.on/off('error')`, `pool.end()`.
 *   Values: `Buffer`/`Uint8Array` bind as BYTEA and BYTEA reads back as `Buffer`; BIGINT and
 *   `count(*)` read back as decimal strings (converted with `Number` where they are read).
 *
 * Failure model: a query on a lost connection rejects (driver error → `STORE_UNAVAILABLE`, with
 * the driver error as `cause`); the pool drops that client and opens a new connection for the
 * next query, so the store recovers by itself when the server is back. An idle client whose
 * server goes away emits `error` on the pool: the pool must have a listener, or Node treats it
 * as an uncaught exception and the process dies.
 */
import pg from 'pg';
import { DomicileError } from '../../domain/errors.js';
import { TlogError } from '../../tlog/errors.js';

/** One step of a component's schema. Steps are numbered 1, 2, 3… and applied in that order, once each. */
export interface Migration {
  readonly version: number;
  /** Short kebab-case name, recorded next to the version. */
  readonly name: string;
  /**
   * Statements run inside the migration transaction, with `search_path` set to the store's
   * schema: write table names unqualified.
   */
  readonly sql: string;
}

/** Where a PostgreSQL adapter connects: an existing pool, or a URL it opens (and ends) a pool for. */
export type PostgresConnectionOptions =
  | {
      /** A pool the caller owns: the adapter never ends it, and several adapters may share it. */
      readonly pool: pg.Pool;
      readonly url?: undefined;
    }
  | {
      /** `postgres://user:password@host:port/database`; the adapter opens its own pool. */
      readonly url: string;
      readonly pool?: undefined;
      /** Most connections of the adapter's pool; default 10. */
      readonly maxConnections?: number;
      /** How long to wait for a new connection before failing; default 5000 ms. */
      readonly connectTimeoutMs?: number;
      /** `application_name` of the connections, shown in `pg_stat_activity`; default `domicile`. */
      readonly applicationName?: string;
    };

/** Options shared by the PostgreSQL adapters. */
export type PostgresAdapterOptions = PostgresConnectionOptions & {
  /**
   * The PostgreSQL schema holding this adapter's tables, created when missing; default
   * `public`. Give each region its own schema to keep several regions in one database.
   * Lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 characters.
   */
  readonly schema?: string;
  /**
   * Receives errors of idle pooled connections (the server closed them). They are otherwise
   * ignored: the next query opens a new connection.
   */
  readonly onConnectionError?: (error: Error) => void;
};

/** Default schema when none is given. */
export const DEFAULT_SCHEMA = 'public';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// Class id of Domicile's advisory locks ('domi' in ASCII), the first of the two int4 keys.
const ADVISORY_LOCK_CLASS = 0x646f6d69;

/**
 * A pool plus the schema and context of one adapter. Each adapter opens its own (on a shared
 * or its own `pg.Pool`); closing it ends the pool only when the adapter opened it.
 */
export class PostgresDatabase {
  /** The schema name, unquoted (`region_us`). */
  readonly schema: string;
  /** Context for error messages, e.g. ``region `oci-us-ashburn`: postgres store``. */
  readonly context: string;

  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #onPoolError: (error: Error) => void;
  #closed = false;

  private constructor(
    pool: pg.Pool,
    ownsPool: boolean,
    schema: string,
    context: string,
    onError: (error: Error) => void,
  ) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.schema = schema;
    this.context = context;
    this.#onPoolError = onError;
    pool.on('error', this.#onPoolError);
  }

  /**
   * Connects (to `options.pool`, or a new pool for `options.url`) and brings `component`'s
   * schema up to date. Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the server cannot be reached,
   * a migration fails, or the schema is newer than `migrations` know.
   */
  static async open(
    options: PostgresAdapterOptions,
    component: string,
    migrations: readonly Migration[],
    context: string,
  ): Promise<PostgresDatabase> {
    const schema = options.schema ?? DEFAULT_SCHEMA;
    if (!SCHEMA_NAME.test(schema)) {
      throw new DomicileError('DOMICILE_ERR_CONFIG', `${context}: invalid schema name \`${schema}\``);
    }
    const onError = options.onConnectionError ?? (() => {});
    const ownsPool = options.pool === undefined;
    const pool =
      options.pool ??
      new pg.Pool({
        connectionString: options.url,
        max: options.maxConnections ?? 10,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
        idleTimeoutMillis: 30_000,
        // TCP keepalive: a connection to a server that vanished without a reset is noticed
        keepAlive: true,
        application_name: options.applicationName ?? 'domicile',
      });
    const database = new PostgresDatabase(pool, ownsPool, schema, context, onError);
    try {
      await database.migrate(component, migrations);
      return database;
    } catch (err) {
      await database.close().catch(() => {});
      throw err;
    }
  }

  /** `name` qualified with the quoted schema: `"region_us".records`. */
  table(name: string): string {
    return `${quoteIdentifier(this.schema)}.${name}`;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Runs one statement (its own transaction) through the pool. */
  async query<Row extends pg.QueryResultRow>(
    operation: string,
    text: string,
    values: readonly unknown[] = [],
  ): Promise<pg.QueryResult<Row>> {
    this.#checkOpen(operation);
    try {
      return await this.#pool.query<Row>(text, [...values]);
    } catch (err) {
      throw this.#storeError(operation, err);
    }
  }

  /**
   * Runs `work` in one transaction on one connection: committed when `work` resolves, rolled
   * back when it throws (and its error rethrown, store errors as `STORE_UNAVAILABLE`).
   */
  async transaction<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#checkOpen(operation);
    return runTransaction(this.#pool, 'BEGIN', work, (err) => this.#storeError(operation, err));
  }

  /** Stops using the pool (ending it when this adapter opened it); closing twice is a no-op. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsPool) {
      this.#pool.off('error', this.#onPoolError);
      return;
    }
    try {
      await this.#pool.end();
    } catch (err) {
      throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${this.context}: close failed`, {
        cause: err,
      });
    }
  }

  /**
   * Applies the steps of `migrations` that `schema_migrations` does not record for
   * `component`, all in one transaction holding an advisory lock on the schema, so two nodes
   * starting at once apply each step once. Refuses a schema whose recorded version is newer
   * than the last step: this build would misread it.
   */
  async migrate(component: string, migrations: readonly Migration[]): Promise<void> {
    migrations.forEach((step, index) => {
      if (step.version !== index + 1) {
        throw new DomicileError(
          'DOMICILE_ERR_INTERNAL',
          `${this.context}: migration \`${step.name}\` has version ${step.version}, expected ${index + 1}`,
        );
      }
    });
    const latest = migrations.length;
    const schema = quoteIdentifier(this.schema);
    await this.transaction('migrate', async (client) => {
      // Transaction-scoped: released at COMMIT or ROLLBACK, also when the connection dies.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        ADVISORY_LOCK_CLASS,
        this.schema,
      ]);
      // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when the
      // schema exists; a least-privileged role given an existing schema must still start.
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        component  TEXT        NOT NULL COLLATE "C",
        version    INTEGER     NOT NULL,
        name       TEXT        NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (component, version)
      )`);
      const row = await client.query<{ version: number | null }>(
        'SELECT max(version) AS version FROM schema_migrations WHERE component = $1',
        [component],
      );
      const current = row.rows[0]?.version ?? 0;
      if (current > latest) {
        throw new DomicileError(
          'DOMICILE_ERR_STORE_UNAVAILABLE',
          `${this.context}: schema \`${component}\` is at version ${current}, newer than this build supports (${latest}): upgrade domicile`,
        );
      }
      for (const step of migrations.slice(current)) {
        await client.query(step.sql);
        await client.query('INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)', [
          component,
          step.version,
          step.name,
        ]);
      }
    });
  }

  #checkOpen(operation: string): void {
    if (this.#closed) {
      throw new DomicileError(
        'DOMICILE_ERR_STORE_UNAVAILABLE',
        `${this.context}: ${operation}: store is closed`,
      );
    }
  }

  #storeError(operation: string, err: unknown): Error {
    // Errors of our own (a refused migration, a stale log integration) keep their code.
    if (err instanceof DomicileError || err instanceof TlogError) return err;
    // Driver text can quote data (a key in a constraint message), so it stays in `cause`.
    return new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${this.context}: ${operation} failed`, {
      cause: err,
    });
  }
}

/**
 * Runs `work` in one transaction (opened with `begin`, e.g. `BEGIN TRANSACTION READ ONLY`) on one
 * connection of `pool`: committed when `work` resolves, rolled back when it throws. Every failure
 * (no connection, a statement, the commit) is rethrown through `toError`.
 */
export async function runTransaction<T>(
  pool: pg.Pool,
  begin: string,
  work: (client: pg.PoolClient) => Promise<T>,
  toError: (err: unknown) => Error,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toError(err);
  }
  // While checked out, a client whose connection drops between queries emits `error`; without
  // a listener that would be an uncaught exception. The failure reaches us through the next
  // query instead.
  const ignore = () => {};
  client.on('error', ignore);
  let broken = false;
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw toError(err);
  } finally {
    client.off('error', ignore);
    // a connection that failed mid-transaction is destroyed, not handed to the next caller
    client.release(broken);
  }
}

/** Quotes an identifier already checked against `SCHEMA_NAME`. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `$first, $first+1, …` for `count` parameters: placeholders of one row of a multi-row VALUES. */
export function placeholders(first: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `$${first + i}`).join(', ');
}
