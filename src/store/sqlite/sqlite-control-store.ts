/**
 * The embedded `ControlStore`: access requests, grants, policy sets and approvals in one SQLite
 * file (`data/control/control.db`), apart from every region's data.
 *
 * Subset of the better-sqlite3 API used here (plus what `sqlite-database.ts` declares):
 *   `db.prepare<Params, Row>(sql)` once per statement at open, then `Statement.run(...).changes`,
 *   `Statement.get(...)`, `Statement.all(...)`.
 *
 * A request is one row: the columns the store filters on, and the whole request as JSON.
 *
 * Several processes may open the same file: nothing is kept in memory between calls, and writes
 * run in immediate transactions that wait (up to `busyTimeoutMs`) for another process's write.
 */
import type Database from 'better-sqlite3';
import { DomicileError } from '../../domain/errors.js';
import type {
  ControlStore,
  ControlWriteOutcome,
  PolicyApproval,
  StoredAccessRequest,
  StoredPolicySet,
} from '../control-store.js';
import {
  closeGuarded,
  type Migration,
  openSqliteAdapter,
  runGuarded,
  type SqliteFileOptions,
  WriteBatcher,
} from './sqlite-database.js';

/** Options for `openSqliteControlStore`. */
export type SqliteControlStoreOptions = SqliteFileOptions;

/** Name of the control store's schema in `schema_migrations`. */
export const CONTROL_STORE_COMPONENT = 'control-store';

/** The control store's schema, oldest step first. Append only: never edit a released step. */
export const CONTROL_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-access-requests-and-policy-sets',
    sql: `
      CREATE TABLE access_requests (
        id               TEXT    NOT NULL PRIMARY KEY,
        version          INTEGER NOT NULL,
        requester        TEXT    NOT NULL,
        status           TEXT    NOT NULL,
        grant_expires_at INTEGER,
        created_at       INTEGER NOT NULL,
        data             TEXT    NOT NULL
      ) STRICT;
      CREATE INDEX access_requests_grants ON access_requests (requester, status, grant_expires_at);
      CREATE TABLE policy_sets (
        hash        TEXT    NOT NULL PRIMARY KEY,
        status      TEXT    NOT NULL,
        proposed_at INTEGER NOT NULL,
        data        TEXT    NOT NULL
      ) STRICT;
      CREATE TABLE policy_approvals (
        hash         TEXT    NOT NULL REFERENCES policy_sets (hash),
        principal_id TEXT    NOT NULL,
        approved_at  INTEGER NOT NULL,
        data         TEXT    NOT NULL,
        PRIMARY KEY (hash, principal_id)
      ) STRICT;
    `,
  },
];

interface DataRow {
  readonly data: string;
}

function prepareStatements(db: Database.Database) {
  return {
    insertRequest: db.prepare<[string, number, string, string, number | null, number, string]>(
      `INSERT INTO access_requests (id, version, requester, status, grant_expires_at, created_at, data)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    getRequest: db.prepare<[string], DataRow>('SELECT data FROM access_requests WHERE id = ?'),
    listRequests: db.prepare<[], DataRow>('SELECT data FROM access_requests ORDER BY created_at DESC, id'),
    activeGrants: db.prepare<[string, number], DataRow>(
      `SELECT data FROM access_requests
        WHERE requester = ? AND status = 'approved' AND grant_expires_at > ? ORDER BY id`,
    ),
    updateRequest: db.prepare<[number, string, number | null, string, string, number]>(
      `UPDATE access_requests SET version = ?, status = ?, grant_expires_at = ?, data = ?
        WHERE id = ? AND version = ?`,
    ),
    insertSet: db.prepare<[string, string, number, string]>(
      `INSERT INTO policy_sets (hash, status, proposed_at, data) VALUES (?, ?, ?, ?)
        ON CONFLICT (hash) DO NOTHING`,
    ),
    getSet: db.prepare<[string], DataRow>('SELECT data FROM policy_sets WHERE hash = ?'),
    listSets: db.prepare<[], DataRow>('SELECT data FROM policy_sets ORDER BY proposed_at DESC, hash'),
    activeSet: db.prepare<[], DataRow>("SELECT data FROM policy_sets WHERE status = 'active'"),
    setStatus: db.prepare<[string, string, string]>(
      'UPDATE policy_sets SET status = ?, data = ? WHERE hash = ?',
    ),
    insertApproval: db.prepare<[string, string, number, string]>(
      `INSERT INTO policy_approvals (hash, principal_id, approved_at, data) VALUES (?, ?, ?, ?)
        ON CONFLICT (hash, principal_id) DO NOTHING`,
    ),
    approvals: db.prepare<[string], DataRow>(
      'SELECT data FROM policy_approvals WHERE hash = ? ORDER BY approved_at, principal_id',
    ),
  };
}

const CONTEXT = 'control store: sqlite';

const parse = <T>(row: DataRow): T => JSON.parse(row.data) as T;

/** A conditional write changed its one row, or a concurrent writer got there first. */
const outcome = (changes: number): ControlWriteOutcome => (changes === 1 ? 'written' : 'conflict');

/** The SQLite `ControlStore`; open it with `openSqliteControlStore`. */
export class SqliteControlStore implements ControlStore {
  readonly file: string;
  readonly db: Database.Database;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #writes: WriteBatcher;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
    this.#statements = prepareStatements(db);
    this.#writes = new WriteBatcher(db, CONTEXT);
  }

  /** See `openSqliteControlStore`. */
  static open(options: SqliteControlStoreOptions): SqliteControlStore {
    return openSqliteAdapter(
      options,
      { component: CONTROL_STORE_COMPONENT, migrations: CONTROL_STORE_MIGRATIONS, context: CONTEXT },
      (db) => new SqliteControlStore(options.file, db),
    );
  }

  async insertAccessRequest(request: StoredAccessRequest): Promise<void> {
    await this.#writes.run('insert access request', () => {
      this.#statements.insertRequest.run(
        request.id,
        request.version,
        request.requester,
        request.status,
        request.grantExpiresAt,
        request.createdAt,
        JSON.stringify(request),
      );
    });
  }

  async getAccessRequest(id: string): Promise<StoredAccessRequest | undefined> {
    return this.#one('get access request', this.#statements.getRequest, id);
  }

  async listAccessRequests(): Promise<StoredAccessRequest[]> {
    return this.#many('list access requests', this.#statements.listRequests);
  }

  async activeGrants(grantee: string, nowMs: number): Promise<StoredAccessRequest[]> {
    return this.#many('active grants', this.#statements.activeGrants, grantee, nowMs);
  }

  async updateAccessRequest(next: StoredAccessRequest): Promise<ControlWriteOutcome> {
    return this.#writes.run('update access request', () =>
      outcome(
        this.#statements.updateRequest.run(
          next.version,
          next.status,
          next.grantExpiresAt,
          JSON.stringify(next),
          next.id,
          next.version - 1,
        ).changes,
      ),
    );
  }

  async insertPolicySet(set: StoredPolicySet): Promise<ControlWriteOutcome> {
    return this.#writes.run('insert policy set', () =>
      outcome(
        this.#statements.insertSet.run(set.hash, set.status, set.proposedAt, JSON.stringify(set)).changes,
      ),
    );
  }

  async getPolicySet(hash: string): Promise<StoredPolicySet | undefined> {
    return this.#one('get policy set', this.#statements.getSet, hash);
  }

  async listPolicySets(): Promise<StoredPolicySet[]> {
    return this.#many('list policy sets', this.#statements.listSets);
  }

  async activePolicySet(): Promise<StoredPolicySet | undefined> {
    return this.#one('active policy set', this.#statements.activeSet);
  }

  async activatePolicySet(hash: string, atMs: number): Promise<void> {
    await this.#writes.run('activate policy set', () => {
      const row = this.#statements.getSet.get(hash);
      if (!row) {
        throw new DomicileError(
          'DOMICILE_ERR_NOT_FOUND',
          `${CONTEXT}: activate policy set: no set \`${hash}\``,
        );
      }
      for (const active of this.#statements.activeSet.all()) {
        const set = parse<StoredPolicySet>(active);
        if (set.hash === hash) continue;
        this.#statements.setStatus.run(
          'superseded',
          JSON.stringify({ ...set, status: 'superseded' }),
          set.hash,
        );
      }
      const set = parse<StoredPolicySet>(row);
      this.#statements.setStatus.run(
        'active',
        JSON.stringify({ ...set, status: 'active', activatedAt: atMs }),
        hash,
      );
    });
  }

  async insertPolicyApproval(approval: PolicyApproval): Promise<ControlWriteOutcome> {
    return this.#writes.run('insert policy approval', () =>
      outcome(
        this.#statements.insertApproval.run(
          approval.hash,
          approval.principalId,
          approval.approvedAt,
          JSON.stringify(approval),
        ).changes,
      ),
    );
  }

  async policyApprovals(hash: string): Promise<PolicyApproval[]> {
    return this.#many('policy approvals', this.#statements.approvals, hash);
  }

  async close(): Promise<void> {
    closeGuarded(this.db, CONTEXT);
  }

  /** The JSON document of the row `statement` finds, if any. */
  #one<T, P extends unknown[]>(
    operation: string,
    statement: Database.Statement<P, DataRow>,
    ...params: P
  ): T | undefined {
    return runGuarded(this.db, CONTEXT, operation, () => {
      const row = statement.get(...params);
      return row ? parse<T>(row) : undefined;
    });
  }

  /** The JSON documents of the rows `statement` finds, in its order. */
  #many<T, P extends unknown[]>(
    operation: string,
    statement: Database.Statement<P, DataRow>,
    ...params: P
  ): T[] {
    return runGuarded(this.db, CONTEXT, operation, () => statement.all(...params).map((r) => parse<T>(r)));
  }
}

/**
 * Opens (creating when missing) the SQLite control store.
 *
 * @example
 * const control = openSqliteControlStore({ file: 'data/control/control.db' });
 * const grants = await control.activeGrants('alice', Date.now());
 */
export function openSqliteControlStore(options: SqliteControlStoreOptions): SqliteControlStore {
  return SqliteControlStore.open(options);
}
