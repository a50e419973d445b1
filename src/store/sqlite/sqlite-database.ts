/**
 * Opening a SQLite database file for a store adapter: durability and erasure pragmas, and the
 * versioned schema. Internal to `src/store/sqlite/`: the PostgreSQL adapter shares none of it.
 *
 * Subset of the better-sqlite3 API used here:
 *   `new Database(file, { timeout })`, `db.pragma(source, { simple: true })`, `db.exec(sql)`,
 *   `db.prepare(sql)` → `Statement.get/all/run`, `db.transaction(fn).immediate()`, `db.close()`,
 *   `db.open`.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { DomicileError } from '../../domain/errors.js';

/** One step of a component's schema. Steps are numbered 1, 2, 3… and applied in that order, once each. */
export interface Migration {
  readonly version: number;
  /** Short kebab-case name, recorded next to the version. */
  readonly name: string;
  /** Statements run inside the migration transaction. */
  readonly sql: string;
}

/** Options every SQLite store adapter takes: its file, and how long it waits for a lock. */
export interface SqliteFileOptions {
  /** Path of the database file; created (mode 0600) when missing. Its directory must exist. */
  readonly file: string;
  /** How long a statement waits for another connection's lock before failing; default 5000. */
  readonly busyTimeoutMs?: number;
}

/** The schema one component keeps in a database file, and how that file is used. */
export interface SqliteSchemaOptions {
  /** Names the schema in `schema_migrations`, so several components can share one file. */
  readonly component: string;
  readonly migrations: readonly Migration[];
  /** Context for error messages, e.g. ``region `oci-us-ashburn`: sqlite store``. */
  readonly context: string;
  /**
   * How commits reach the disk. `commit` (default): SQLite fsyncs the write-ahead log inside every
   * commit. `group`: commits only write the log, and every write goes through a `WriteBatcher`
   * with `syncFile`, which fsyncs it off the event loop before acknowledging — same durability,
   * one fsync for all the commits of a moment, and the event loop never waits on the disk.
   */
  readonly durability?: 'commit' | 'group';
}

/** Options for `openSqliteDatabase`. */
export interface OpenSqliteDatabaseOptions extends SqliteFileOptions, SqliteSchemaOptions {}

/** Default wait for a lock held by another connection to the same file. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens (creating when missing) a database file, sets the pragmas every Domicile SQLite file
 * relies on and brings `component`'s schema up to date.
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the file cannot be opened or configured, or when
 * its schema is newer than `migrations` know.
 */
export function openSqliteDatabase(options: OpenSqliteDatabaseOptions): Database.Database {
  return openDatabase(options, options);
}

/**
 * Opens the database like `openSqliteDatabase`, then builds the adapter over it (preparing its
 * statements); closes the database when `build` throws, so a failed open leaves no handle behind.
 *
 * @example
 * const store = openSqliteAdapter(options, { component, migrations, context }, (db) => new Store(db));
 */
export function openSqliteAdapter<T>(
  file: SqliteFileOptions,
  schema: SqliteSchemaOptions,
  build: (db: Database.Database) => T,
): T {
  const db = openDatabase(file, schema);
  try {
    return build(db);
  } catch (err) {
    db.close();
    throw err;
  }
}

function openDatabase(file: SqliteFileOptions, schema: SqliteSchemaOptions): Database.Database {
  let db: Database.Database | undefined;
  try {
    createPrivateFile(file.file);
    db = new Database(file.file, { timeout: file.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
    configure(db, schema.context, schema.durability ?? 'commit');
    applyMigrations(db, schema.component, schema.migrations, schema.context);
    return db;
  } catch (err) {
    if (db?.open) db.close();
    if (err instanceof DomicileError) throw err;
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${schema.context}: cannot open database`, {
      cause: err,
    });
  }
}

/**
 * Creates the file with mode 0600 when missing. SQLite gives its `-wal` and `-shm` files the
 * mode of the database file, so none of them is readable by other local users.
 */
function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
  }
}

function configure(db: Database.Database, context: string, durability: 'commit' | 'group'): void {
  // Write-ahead logging: readers do not block the writer, and a commit is one append to the log.
  const journalMode = db.pragma('journal_mode = WAL', { simple: true });
  if (journalMode !== 'wal') {
    throw new DomicileError(
      'DOMICILE_ERR_STORE_UNAVAILABLE',
      `${context}: cannot enable write-ahead logging`,
    );
  }
  // FULL syncs the log on every commit, so an acknowledged write survives a process kill and a
  // power loss. NORMAL leaves that sync to the caller: only with a WriteBatcher that fsyncs the
  // log before it acknowledges (SQLite still syncs around checkpoints itself).
  db.pragma(durability === 'group' ? 'synchronous = NORMAL' : 'synchronous = FULL');
  // On macOS a plain fsync leaves data in the drive cache; F_FULLFSYNC flushes it. No-op elsewhere.
  db.pragma('fullfsync = ON');
  // INVARIANT: E1 — deleted rows are overwritten with zeros in the file, not just unlinked, so an
  // erased subject's ciphertext cannot be carved out of free pages later.
  db.pragma('secure_delete = ON');
  if (db.pragma('secure_delete', { simple: true }) !== 1) {
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${context}: cannot enable secure delete`);
  }
  db.pragma('foreign_keys = ON');
}

interface VersionRow {
  readonly version: number | null;
}

/**
 * Applies the steps of `migrations` that `schema_migrations` does not record for `component`,
 * all in one immediate transaction (two processes opening the same new file serialize here).
 * Refuses a file whose recorded version is newer than the last step: this build would misread it.
 */
export function applyMigrations(
  db: Database.Database,
  component: string,
  migrations: readonly Migration[],
  context: string,
): void {
  migrations.forEach((step, index) => {
    if (step.version !== index + 1) {
      throw new DomicileError(
        'DOMICILE_ERR_INTERNAL',
        `${context}: migration \`${step.name}\` has version ${step.version}, expected ${index + 1}`,
      );
    }
  });
  const latest = migrations.length;

  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      component  TEXT    NOT NULL,
      version    INTEGER NOT NULL,
      name       TEXT    NOT NULL,
      applied_at INTEGER NOT NULL,
      PRIMARY KEY (component, version)
    ) STRICT`);
    const row = db
      .prepare<[string], VersionRow>(
        'SELECT max(version) AS version FROM schema_migrations WHERE component = ?',
      )
      .get(component);
    const current = row?.version ?? 0;
    if (current > latest) {
      throw new DomicileError(
        'DOMICILE_ERR_STORE_UNAVAILABLE',
        `${context}: schema \`${component}\` is at version ${current}, newer than this build supports (${latest}): upgrade domicile`,
      );
    }
    const record = db.prepare<[string, number, string, number]>(
      'INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)',
    );
    for (const step of migrations.slice(current)) {
      db.exec(step.sql);
      record.run(component, step.version, step.name, Date.now());
    }
  }).immediate();
}

/**
 * Runs `work` against an open database, turning any failure into `DOMICILE_ERR_STORE_UNAVAILABLE`
 * with the driver error as `cause` (driver text can quote data, so it never reaches the message).
 */
export function runGuarded<T>(db: Database.Database, context: string, operation: string, work: () => T): T {
  if (!db.open) {
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${context}: ${operation}: store is closed`);
  }
  try {
    return work();
  } catch (err) {
    if (err instanceof DomicileError) throw err;
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${context}: ${operation} failed`, {
      cause: err,
    });
  }
}

/** Closes the database; closing twice is a no-op. */
export function closeGuarded(db: Database.Database, context: string): void {
  if (!db.open) return;
  try {
    db.close();
  } catch (err) {
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${context}: close failed`, { cause: err });
  }
}

interface PendingWrite {
  readonly operation: string;
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Options of a `WriteBatcher`. */
export interface WriteBatcherOptions {
  /**
   * The write-ahead log file (`<db>-wal`) to fsync before acknowledging, for a database opened
   * with `durability: 'group'`. Without it, commits are durable by themselves (`synchronous = FULL`).
   */
  readonly syncFile?: string;
}

/**
 * Group commit: writes queued in the same turn of the event loop run in one transaction, so
 * concurrent requests share one commit instead of paying one each. Each write runs in its own
 * savepoint: one that throws is rolled back alone and rejects alone; the others commit.
 *
 * With `syncFile`, the fsync that makes commits durable runs on libuv's thread pool, not on the
 * event loop, and one fsync covers every commit made before it started. Every promise settles
 * only once the transaction holding its write is durable (or failed).
 */
export class WriteBatcher {
  readonly #db: Database.Database;
  readonly #context: string;
  readonly #syncFile: string | undefined;
  #queue: PendingWrite[] = [];
  #scheduled = false;
  #handle: Promise<fs.promises.FileHandle> | undefined;
  #syncRunning: Promise<void> | undefined;
  #syncNext: Promise<void> | undefined;
  readonly #commit: (work: () => void) => void;
  readonly #savepoint: Database.Statement;
  readonly #release: Database.Statement;
  readonly #rollbackTo: Database.Statement;

  constructor(db: Database.Database, context: string, options: WriteBatcherOptions = {}) {
    this.#db = db;
    this.#context = context;
    this.#syncFile = options.syncFile;
    // prepared once: a transaction wrapper per write costs more than the write itself
    const transaction = db.transaction((work: () => void) => work());
    this.#commit = (work) => transaction.immediate(work);
    this.#savepoint = db.prepare('SAVEPOINT domicile_write');
    this.#release = db.prepare('RELEASE domicile_write');
    this.#rollbackTo = db.prepare('ROLLBACK TO domicile_write');
  }

  /** Queues `work` (synchronous SQLite statements) for the next group commit. */
  run<T>(operation: string, work: () => T): Promise<T> {
    if (!this.#db.open) {
      return Promise.reject(
        new DomicileError(
          'DOMICILE_ERR_STORE_UNAVAILABLE',
          `${this.#context}: ${operation}: store is closed`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ operation, work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Closes the handle used for fsync (the database itself is closed by its owner). */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#commit(() => {
        for (const pending of batch) {
          // a savepoint per write: a failing write is undone alone
          this.#savepoint.run();
          try {
            outcomes.push({ ok: true, value: pending.work() });
            this.#release.run();
          } catch (error) {
            this.#rollbackTo.run();
            this.#release.run();
            outcomes.push({ ok: false, error: toStoreError(this.#context, pending.operation, error) });
          }
        }
      });
    } catch (error) {
      // the transaction itself failed (closed, busy, disk): nothing of the batch is durable
      for (const pending of batch) pending.reject(toStoreError(this.#context, pending.operation, error));
      return;
    }
    const settle = (): void => {
      batch.forEach((pending, i) => {
        const outcome = outcomes[i];
        if (outcome?.ok) pending.resolve(outcome.value);
        else pending.reject(outcome?.error);
      });
    };
    if (this.#syncFile === undefined) {
      settle();
      return;
    }
    this.#durable().then(settle, (error: unknown) => {
      // committed but not known to be on disk: not acknowledged
      for (const pending of batch) pending.reject(toStoreError(this.#context, pending.operation, error));
    });
  }

  /** Resolves after an fsync of the log that started after this call: it covers every commit so far. */
  #durable(): Promise<void> {
    if (this.#syncNext) return this.#syncNext;
    if (!this.#syncRunning) {
      this.#syncRunning = this.#fsync().finally(() => {
        this.#syncRunning = undefined;
      });
      return this.#syncRunning;
    }
    // an fsync is under way and may have started before our commit: queue exactly one more
    const next = this.#syncRunning
      .catch(() => {})
      .then(() => {
        this.#syncNext = undefined;
        this.#syncRunning = this.#fsync().finally(() => {
          this.#syncRunning = undefined;
        });
        return this.#syncRunning;
      });
    this.#syncNext = next;
    return next;
  }

  async #fsync(): Promise<void> {
    if (this.#syncFile === undefined) return;
    // the log file exists once the first commit is written; its inode stays for the database's life
    this.#handle ??= fs.promises.open(this.#syncFile, 'r');
    let handle: fs.promises.FileHandle;
    try {
      handle = await this.#handle;
    } catch (error) {
      this.#handle = undefined;
      throw error;
    }
    // fdatasync, as SQLite itself uses: data and the size needed to read it back, not timestamps
    await handle.datasync();
  }
}

function toStoreError(context: string, operation: string, error: unknown): unknown {
  if (error instanceof DomicileError) return error;
  return new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${context}: ${operation} failed`, {
    cause: error,
  });
}
