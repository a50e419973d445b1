/**
 * The server `ControlStore`: access requests, grants, policy sets and approvals in PostgreSQL,
 * shared by every gateway of a deployment.
 *
 * Subset of the `pg` API used here (plus what `postgres-database.ts` declares):
 *   `pool.query<Row>(text, values)` and, inside `PostgresDatabase.transaction`, `client.query`
 *   → `rows`, `rowCount`; parameters `$1…$n`; BIGINT written from a number and read back as a
 *   string; TEXT[] bound from and read back as a string array; JSONB bound from JSON text and
 *   read back parsed; BOOLEAN as boolean.
 *
 * Sharing: the store holds nothing between calls but its pool. Every read goes to the database,
 * so any number of processes may open the same schema and none serves another's stale state.
 * Each method is one statement (its own transaction), except `activatePolicySet`: one
 * transaction that first locks the policy-set table against other activations, so concurrent
 * activations, from this process or another, run one after the other and each supersedes the
 * set active before it. Compare-and-set updates rely on row locks, not on reads first: a writer
 * that waits for a concurrent one re-checks its `WHERE` against the committed row (READ
 * COMMITTED), so of writers racing on one version exactly one succeeds.
 *
 * Tables are named `control_*`, so the store may share a schema with the subject directory
 * (`subjects`), a region store (`records`) and its log (`tlog_*`). Ids are `COLLATE "C"`: they
 * compare and sort in byte order, like the SQLite adapter, whatever the database's default
 * collation.
 */
import type pg from 'pg';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId } from '../../domain/ids.js';
import type {
  AccessRequestStatus,
  ControlStore,
  ControlWriteOutcome,
  PolicyApproval,
  PolicySetStatus,
  StoredAccessRequest,
  StoredPolicySet,
} from '../control-store.js';
import {
  type Migration,
  type PostgresAdapterOptions,
  PostgresDatabase,
  placeholders,
} from './postgres-database.js';

/** Options for `openPostgresControlStore`: where to connect and the schema of its tables. */
export type PostgresControlStoreOptions = PostgresAdapterOptions;

/** Name of the control store's schema in `schema_migrations`. */
export const CONTROL_STORE_COMPONENT = 'control-store';

/** The control store's schema, oldest step first. Append only: never edit a released step. */
export const CONTROL_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-access-requests-and-policy-sets',
    sql: `
      CREATE TABLE control_access_requests (
        id                     TEXT    NOT NULL COLLATE "C" PRIMARY KEY,
        version                BIGINT  NOT NULL CHECK (version >= 1),
        requester              TEXT    NOT NULL COLLATE "C",
        requester_department   TEXT,
        requester_country      TEXT,
        jurisdiction           TEXT    NOT NULL COLLATE "C",
        class_id               TEXT    NOT NULL COLLATE "C",
        -- true: every subject of the jurisdiction (and subjects is empty)
        all_subjects           BOOLEAN NOT NULL,
        subjects               TEXT[]  NOT NULL,
        actions                TEXT[]  NOT NULL,
        purpose                TEXT    NOT NULL,
        duration_seconds       BIGINT  NOT NULL,
        break_glass            BOOLEAN NOT NULL,
        status                 TEXT    NOT NULL
          CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'revoked')),
        created_at             BIGINT  NOT NULL,
        pending_expires_at     BIGINT  NOT NULL,
        decided_at             BIGINT,
        decided_by             TEXT,
        grant_expires_at       BIGINT,
        revoked_at             BIGINT,
        revoked_by             TEXT,
        review_due_at          BIGINT,
        reviewed_at            BIGINT,
        reviewed_by            TEXT,
        review_outcome         TEXT    CHECK (review_outcome IN ('accepted', 'rejected')),
        review_overdue_alerted BOOLEAN NOT NULL,
        CHECK (NOT all_subjects OR cardinality(subjects) = 0)
      );
      CREATE INDEX control_access_requests_newest_first ON control_access_requests (created_at DESC, id);
      CREATE INDEX control_access_requests_grants ON control_access_requests (requester, grant_expires_at)
        WHERE status = 'approved';

      CREATE TABLE control_policy_sets (
        hash         TEXT   NOT NULL COLLATE "C" PRIMARY KEY,
        schema_text  TEXT   NOT NULL,
        -- [{ "file": …, "text": … }, …] in the proposer's order
        policies     JSONB  NOT NULL CHECK (jsonb_typeof(policies) = 'array'),
        status       TEXT   NOT NULL CHECK (status IN ('proposed', 'active', 'superseded')),
        proposed_by  TEXT   NOT NULL,
        proposed_at  BIGINT NOT NULL,
        activated_at BIGINT,
        affected     TEXT[] NOT NULL
      );
      -- INVARIANT: at most one active policy set, whoever writes the table.
      CREATE UNIQUE INDEX control_policy_sets_one_active ON control_policy_sets (status)
        WHERE status = 'active';
      CREATE INDEX control_policy_sets_newest_first ON control_policy_sets (proposed_at DESC, hash);

      CREATE TABLE control_policy_approvals (
        hash         TEXT    NOT NULL COLLATE "C" REFERENCES control_policy_sets (hash),
        principal_id TEXT    NOT NULL COLLATE "C",
        capacity     TEXT    NOT NULL CHECK (capacity IN ('auditor', 'steward')),
        -- the jurisdictions of a steward's approval; empty for the auditor
        steward_of   TEXT[]  NOT NULL,
        approved_at  BIGINT  NOT NULL,
        PRIMARY KEY (hash, principal_id),
        CHECK (capacity = 'steward' OR cardinality(steward_of) = 0)
      );
    `,
  },
];

interface AccessRequestRow {
  readonly id: string;
  readonly version: string;
  readonly requester: string;
  readonly requester_department: string | null;
  readonly requester_country: string | null;
  readonly jurisdiction: string;
  readonly class_id: string;
  readonly all_subjects: boolean;
  readonly subjects: string[];
  readonly actions: string[];
  readonly purpose: string;
  readonly duration_seconds: string;
  readonly break_glass: boolean;
  readonly status: AccessRequestStatus;
  readonly created_at: string;
  readonly pending_expires_at: string;
  readonly decided_at: string | null;
  readonly decided_by: string | null;
  readonly grant_expires_at: string | null;
  readonly revoked_at: string | null;
  readonly revoked_by: string | null;
  readonly review_due_at: string | null;
  readonly reviewed_at: string | null;
  readonly reviewed_by: string | null;
  readonly review_outcome: 'accepted' | 'rejected' | null;
  readonly review_overdue_alerted: boolean;
}

interface PolicySetRow {
  readonly hash: string;
  readonly schema_text: string;
  readonly policies: { readonly file: string; readonly text: string }[];
  readonly status: PolicySetStatus;
  readonly proposed_by: string;
  readonly proposed_at: string;
  readonly activated_at: string | null;
  readonly affected: string[];
}

interface ApprovalRow {
  readonly hash: string;
  readonly principal_id: string;
  readonly capacity: 'auditor' | 'steward';
  readonly steward_of: string[];
  readonly approved_at: string;
}

// Also the parameter order of every request statement: $1 is the id, $2 the version.
const REQUEST_COLUMN_NAMES = [
  'id',
  'version',
  'requester',
  'requester_department',
  'requester_country',
  'jurisdiction',
  'class_id',
  'all_subjects',
  'subjects',
  'actions',
  'purpose',
  'duration_seconds',
  'break_glass',
  'status',
  'created_at',
  'pending_expires_at',
  'decided_at',
  'decided_by',
  'grant_expires_at',
  'revoked_at',
  'revoked_by',
  'review_due_at',
  'reviewed_at',
  'reviewed_by',
  'review_outcome',
  'review_overdue_alerted',
] as const;
const REQUEST_COLUMNS = REQUEST_COLUMN_NAMES.join(', ');
const SET_COLUMNS = 'hash, schema_text, policies, status, proposed_by, proposed_at, activated_at, affected';
const APPROVAL_COLUMNS = 'hash, principal_id, capacity, steward_of, approved_at';

function buildStatements(database: PostgresDatabase) {
  const requests = database.table('control_access_requests');
  const sets = database.table('control_policy_sets');
  const approvals = database.table('control_policy_approvals');
  // every column but the id, from the parameters of `toRequestParams`
  const assignments = REQUEST_COLUMN_NAMES.map((column, i) => `${column} = $${i + 1}`)
    .slice(1)
    .join(', ');
  return {
    insertRequest: `INSERT INTO ${requests} (${REQUEST_COLUMNS}) VALUES (${placeholders(1, REQUEST_COLUMN_NAMES.length)})`,
    getRequest: `SELECT ${REQUEST_COLUMNS} FROM ${requests} WHERE id = $1`,
    // ORDER BY uses the columns' "C" collation: byte order, as in SQLite.
    listRequests: `SELECT ${REQUEST_COLUMNS} FROM ${requests} ORDER BY created_at DESC, id`,
    activeGrants: `SELECT ${REQUEST_COLUMNS} FROM ${requests}
      WHERE requester = $1 AND status = 'approved' AND grant_expires_at > $2 ORDER BY id`,
    // compare-and-set: only from the version before ($2 is the new version)
    updateRequest: `UPDATE ${requests} SET ${assignments}
      WHERE id = $1 AND version = $2::bigint - 1`,
    insertSet: `INSERT INTO ${sets} (${SET_COLUMNS}) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
      ON CONFLICT (hash) DO NOTHING`,
    getSet: `SELECT ${SET_COLUMNS} FROM ${sets} WHERE hash = $1`,
    listSets: `SELECT ${SET_COLUMNS} FROM ${sets} ORDER BY proposed_at DESC, hash`,
    activeSet: `SELECT ${SET_COLUMNS} FROM ${sets} WHERE status = 'active'`,
    // SHARE ROW EXCLUSIVE conflicts with itself and with writes: activations (and new sets) queue
    // here one at a time; reads and approvals go on.
    lockSets: `LOCK TABLE ${sets} IN SHARE ROW EXCLUSIVE MODE`,
    supersede: `UPDATE ${sets} SET status = 'superseded' WHERE status = 'active' AND hash <> $1`,
    activate: `UPDATE ${sets} SET status = 'active', activated_at = $2 WHERE hash = $1`,
    insertApproval: `INSERT INTO ${approvals} (${APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (hash, principal_id) DO NOTHING`,
    approvals: `SELECT ${APPROVAL_COLUMNS} FROM ${approvals} WHERE hash = $1 ORDER BY approved_at, principal_id`,
  };
}

/** The statement parameters of `r`, in the order of `REQUEST_COLUMN_NAMES`. */
function toRequestParams(r: StoredAccessRequest): unknown[] {
  const columns: Record<(typeof REQUEST_COLUMN_NAMES)[number], unknown> = {
    id: r.id,
    version: r.version,
    requester: r.requester,
    requester_department: r.requesterDepartment,
    requester_country: r.requesterCountry,
    jurisdiction: r.jurisdiction,
    class_id: r.classId,
    all_subjects: r.subjects === 'all',
    subjects: r.subjects === 'all' ? [] : [...r.subjects],
    actions: [...r.actions],
    purpose: r.purpose,
    duration_seconds: r.durationSeconds,
    break_glass: r.breakGlass,
    status: r.status,
    created_at: r.createdAt,
    pending_expires_at: r.pendingExpiresAt,
    decided_at: r.decidedAt,
    decided_by: r.decidedBy,
    grant_expires_at: r.grantExpiresAt,
    revoked_at: r.revokedAt,
    revoked_by: r.revokedBy,
    review_due_at: r.reviewDueAt,
    reviewed_at: r.reviewedAt,
    reviewed_by: r.reviewedBy,
    review_outcome: r.reviewOutcome,
    review_overdue_alerted: r.reviewOverdueAlerted,
  };
  return REQUEST_COLUMN_NAMES.map((column) => columns[column]);
}

const toNumber = (value: string | null): number | null => (value === null ? null : Number(value));

function toAccessRequest(row: AccessRequestRow): StoredAccessRequest {
  return {
    id: row.id,
    version: Number(row.version),
    requester: row.requester,
    requesterDepartment: row.requester_department,
    requesterCountry: row.requester_country,
    jurisdiction: row.jurisdiction as JurisdictionId,
    classId: row.class_id,
    subjects: row.all_subjects ? 'all' : row.subjects,
    actions: row.actions,
    purpose: row.purpose,
    durationSeconds: Number(row.duration_seconds),
    breakGlass: row.break_glass,
    status: row.status,
    createdAt: Number(row.created_at),
    pendingExpiresAt: Number(row.pending_expires_at),
    decidedAt: toNumber(row.decided_at),
    decidedBy: row.decided_by,
    grantExpiresAt: toNumber(row.grant_expires_at),
    revokedAt: toNumber(row.revoked_at),
    revokedBy: row.revoked_by,
    reviewDueAt: toNumber(row.review_due_at),
    reviewedAt: toNumber(row.reviewed_at),
    reviewedBy: row.reviewed_by,
    reviewOutcome: row.review_outcome,
    reviewOverdueAlerted: row.review_overdue_alerted,
  };
}

function toPolicySet(row: PolicySetRow): StoredPolicySet {
  return {
    hash: row.hash,
    schemaText: row.schema_text,
    policies: row.policies.map((p) => ({ file: p.file, text: p.text })),
    status: row.status,
    proposedBy: row.proposed_by,
    proposedAt: Number(row.proposed_at),
    activatedAt: toNumber(row.activated_at),
    affected: row.affected as JurisdictionId[],
  };
}

function toApproval(row: ApprovalRow): PolicyApproval {
  return {
    hash: row.hash,
    principalId: row.principal_id,
    capacity: row.capacity === 'auditor' ? 'auditor' : { stewardOf: row.steward_of as JurisdictionId[] },
    approvedAt: Number(row.approved_at),
  };
}

const CONTEXT = 'control store: postgres';

const outcome = (result: pg.QueryResult): ControlWriteOutcome =>
  result.rowCount === 1 ? 'written' : 'conflict';

/** The PostgreSQL `ControlStore`; open it with `openPostgresControlStore`. */
export class PostgresControlStore implements ControlStore {
  /** The pool, schema and migrations. Internal to store adapters. */
  readonly database: PostgresDatabase;

  readonly #sql: ReturnType<typeof buildStatements>;

  private constructor(database: PostgresDatabase) {
    this.database = database;
    this.#sql = buildStatements(database);
  }

  /** See `openPostgresControlStore`. */
  static async open(options: PostgresControlStoreOptions): Promise<PostgresControlStore> {
    const database = await PostgresDatabase.open(
      options,
      CONTROL_STORE_COMPONENT,
      CONTROL_STORE_MIGRATIONS,
      CONTEXT,
    );
    return new PostgresControlStore(database);
  }

  async insertAccessRequest(request: StoredAccessRequest): Promise<void> {
    await this.database.query('insert access request', this.#sql.insertRequest, toRequestParams(request));
  }

  async getAccessRequest(id: string): Promise<StoredAccessRequest | undefined> {
    const { rows } = await this.database.query<AccessRequestRow>('get access request', this.#sql.getRequest, [
      id,
    ]);
    const row = rows[0];
    return row === undefined ? undefined : toAccessRequest(row);
  }

  async listAccessRequests(): Promise<StoredAccessRequest[]> {
    const { rows } = await this.database.query<AccessRequestRow>(
      'list access requests',
      this.#sql.listRequests,
    );
    return rows.map(toAccessRequest);
  }

  async activeGrants(grantee: string, nowMs: number): Promise<StoredAccessRequest[]> {
    const { rows } = await this.database.query<AccessRequestRow>('active grants', this.#sql.activeGrants, [
      grantee,
      nowMs,
    ]);
    return rows.map(toAccessRequest);
  }

  async updateAccessRequest(next: StoredAccessRequest): Promise<ControlWriteOutcome> {
    return outcome(
      await this.database.query('update access request', this.#sql.updateRequest, toRequestParams(next)),
    );
  }

  async insertPolicySet(set: StoredPolicySet): Promise<ControlWriteOutcome> {
    return outcome(
      await this.database.query('insert policy set', this.#sql.insertSet, [
        set.hash,
        set.schemaText,
        JSON.stringify(set.policies.map((p) => ({ file: p.file, text: p.text }))),
        set.status,
        set.proposedBy,
        set.proposedAt,
        set.activatedAt,
        [...set.affected],
      ]),
    );
  }

  async getPolicySet(hash: string): Promise<StoredPolicySet | undefined> {
    const { rows } = await this.database.query<PolicySetRow>('get policy set', this.#sql.getSet, [hash]);
    const row = rows[0];
    return row === undefined ? undefined : toPolicySet(row);
  }

  async listPolicySets(): Promise<StoredPolicySet[]> {
    const { rows } = await this.database.query<PolicySetRow>('list policy sets', this.#sql.listSets);
    return rows.map(toPolicySet);
  }

  async activePolicySet(): Promise<StoredPolicySet | undefined> {
    const { rows } = await this.database.query<PolicySetRow>('active policy set', this.#sql.activeSet);
    const row = rows[0];
    return row === undefined ? undefined : toPolicySet(row);
  }

  async activatePolicySet(hash: string, atMs: number): Promise<void> {
    await this.database.transaction('activate policy set', async (client) => {
      // Without the lock, two activations would each supersede only the set active in their own
      // snapshot, and the second to commit would then violate the one-active index.
      await client.query(this.#sql.lockSets);
      // superseded first: the one-active index is checked row by row, not at commit
      await client.query(this.#sql.supersede, [hash]);
      const activated = await client.query(this.#sql.activate, [hash, atMs]);
      if (activated.rowCount !== 1) {
        // rolls the supersede back
        throw new DomicileError(
          'DOMICILE_ERR_NOT_FOUND',
          `${CONTEXT}: activate policy set: no set \`${hash}\``,
        );
      }
    });
  }

  async insertPolicyApproval(approval: PolicyApproval): Promise<ControlWriteOutcome> {
    const steward = approval.capacity === 'auditor' ? undefined : approval.capacity;
    return outcome(
      await this.database.query('insert policy approval', this.#sql.insertApproval, [
        approval.hash,
        approval.principalId,
        steward === undefined ? 'auditor' : 'steward',
        steward === undefined ? [] : [...steward.stewardOf],
        approval.approvedAt,
      ]),
    );
  }

  async policyApprovals(hash: string): Promise<PolicyApproval[]> {
    const { rows } = await this.database.query<ApprovalRow>('policy approvals', this.#sql.approvals, [hash]);
    return rows.map(toApproval);
  }

  async close(): Promise<void> {
    await this.database.close();
  }
}

/**
 * Opens the PostgreSQL control store: connects and brings its schema up to date (creating the
 * schema and tables when missing). Any number of processes may open the same schema at once;
 * the schema may also hold the subject directory and region stores (each keeps its own version
 * in `schema_migrations`).
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the server cannot be reached or the schema is
 * newer than this build's; `DOMICILE_ERR_CONFIG` for an invalid schema name.
 *
 * @example
 * const control = await openPostgresControlStore({ url: process.env.DATABASE_URL, schema: 'control' });
 * const grants = await control.activeGrants('alice', Date.now());
 */
export function openPostgresControlStore(
  options: PostgresControlStoreOptions,
): Promise<PostgresControlStore> {
  return PostgresControlStore.open(options);
}
