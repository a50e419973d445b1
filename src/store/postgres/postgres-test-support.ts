/**
 * What the PostgreSQL adapters' tests share: an admin pool on the run's server to inspect and
 * drop schemas, the failure every adapter reports, and a connection lost in the middle of an
 * operation. Test code only; the URL comes from `test/support/postgres.ts` (`postgresUrl()`),
 * which `src/` does not import.
 */
import pg from 'pg';
import { afterAll, expect } from 'vitest';
import { DomicileError } from '../../domain/errors.js';

/** An admin pool on the test server, and the schema clean-up that goes with it. */
export interface PostgresTestAdmin {
  readonly admin: pg.Pool;
  /** Drops `schema` and everything in it; no-op when it does not exist. */
  dropSchema(schema: string): Promise<void>;
}

/**
 * Opens an admin pool of `max` connections on `url`, ended after the test file's tests.
 * Call it at the top of a test file.
 *
 * @example
 * const url = postgresUrl();
 * const { admin, dropSchema } = usePostgresTestAdmin(url);
 */
export function usePostgresTestAdmin(url: string, max = 4): PostgresTestAdmin {
  const admin = new pg.Pool({ connectionString: url, max });
  afterAll(() => admin.end());
  return {
    admin,
    dropSchema: async (schema) => {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}

/** What `promise` rejects with; throws when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

/** Asserts `error` is a `DOMICILE_ERR_STORE_UNAVAILABLE`. */
export function expectUnavailable(error: unknown): asserts error is DomicileError {
  expect(error).toBeInstanceOf(DomicileError);
  expect(error).toHaveProperty('code', 'DOMICILE_ERR_STORE_UNAVAILABLE');
}

/** Polls `probe` every 10 ms until it returns a value; throws after 10 s. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Holds `table` (schema-qualified, quoted) locked from an admin connection so `operation` waits
 * on the lock, terminates the backend of the connection named `applicationName` that waits, and
 * returns what `operation` rejected with. The lock is released before returning.
 */
export async function rejectionOnLostConnection(
  admin: pg.Pool,
  table: string,
  applicationName: string,
  operation: () => Promise<unknown>,
): Promise<unknown> {
  const blocker = await admin.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const inFlight = rejection(operation());
    const pid = await waitFor(async () => {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [applicationName],
      );
      return rows[0]?.pid;
    }, 'the store to wait on the lock');
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    return await inFlight;
  } finally {
    await blocker.query('ROLLBACK');
    blocker.release();
  }
}
