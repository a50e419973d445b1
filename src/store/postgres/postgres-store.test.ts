import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/ports.js';
import { newSchemaName, postgresUrl } from '../../../test/support/postgres.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { describeRegionStoreConformance } from '../conformance.js';
import type { StoredRecord } from '../region-store.js';
import {
  openPostgresRegionStore,
  type PostgresRegionStore,
  type PostgresRegionStoreOptions,
  REGION_STORE_COMPONENT,
} from './postgres-store.js';
import {
  expectUnavailable,
  rejection,
  rejectionOnLostConnection,
  usePostgresTestAdmin,
  waitFor,
} from './postgres-test-support.js';

const url = postgresUrl();
const { admin, dropSchema } = usePostgresTestAdmin(url);

const regionId = 'oci-us-ashburn' as RegionId;
const s1 = 'subject-1' as SubjectId;
const profile = 'profile' as RecordKey;

function record(overrides: Partial<StoredRecord> = {}): StoredRecord {
  return {
    subjectId: s1,
    key: profile,
    jurisdiction: 'US' as JurisdictionId,
    classId: 'protected' as ClassId,
    version: 1,
    ciphertext: new Uint8Array(64).fill(7),
    keyId: 'dek-1',
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/** Opens a store in a fresh schema; `drop()` closes it and drops the schema. */
async function openFresh(
  overrides: Partial<Pick<PostgresRegionStoreOptions, 'onConnectionError'>> & {
    applicationName?: string;
  } = {},
) {
  const schema = newSchemaName('store');
  const store = await openPostgresRegionStore({ regionId, url, schema, ...overrides });
  return {
    store,
    schema,
    drop: async () => {
      await store.close();
      await dropSchema(schema);
    },
  };
}

describeRegionStoreConformance('postgres', async () => {
  const { store, drop } = await openFresh();
  return { store, cleanup: drop };
});

describe('openPostgresRegionStore', () => {
  describe('when the schema is new', () => {
    it('creates it and records the applied migrations once', async () => {
      const { store, schema, drop } = await openFresh();
      const rows = async () =>
        (await admin.query(`SELECT component, version, name, applied_at FROM "${schema}".schema_migrations`))
          .rows;
      const applied = await rows();
      expect(applied).toEqual([
        {
          component: REGION_STORE_COMPONENT,
          version: 1,
          name: 'create-records',
          applied_at: expect.any(Date),
        },
      ]);
      await store.close();

      const reopened = await openPostgresRegionStore({ regionId, url, schema });
      expect(await rows()).toEqual(applied);
      await reopened.close();
      await drop();
    });

    it('uses native types and byte-order keys', async () => {
      const { schema, drop } = await openFresh();
      const { rows } = await admin.query(
        `SELECT column_name, data_type, collation_name FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = 'records' ORDER BY ordinal_position`,
        [schema],
      );
      expect(rows).toEqual([
        { column_name: 'subject_id', data_type: 'text', collation_name: 'C' },
        { column_name: 'key', data_type: 'text', collation_name: 'C' },
        { column_name: 'jurisdiction', data_type: 'text', collation_name: 'C' },
        { column_name: 'class_id', data_type: 'text', collation_name: 'C' },
        { column_name: 'version', data_type: 'bigint', collation_name: null },
        { column_name: 'ciphertext', data_type: 'bytea', collation_name: null },
        { column_name: 'key_id', data_type: 'text', collation_name: null },
        { column_name: 'updated_at', data_type: 'bigint', collation_name: null },
      ]);
      await drop();
    });

    describe('when several nodes open it at once', () => {
      it('applies each migration once (the advisory lock serializes them)', async () => {
        const schema = newSchemaName('race');
        const stores = await Promise.all(
          Array.from({ length: 6 }, () => openPostgresRegionStore({ regionId, url, schema })),
        );
        const { rows } = await admin.query(`SELECT component, version FROM "${schema}".schema_migrations`);
        expect(rows).toEqual([{ component: REGION_STORE_COMPONENT, version: 1 }]);
        expect(await stores[0]?.putRecord(record(), 0)).toBe('written');
        expect((await stores[5]?.getRecord(s1, profile))?.version).toBe(1);
        for (const store of stores) await store.close();
        await dropSchema(schema);
      });
    });
  });

  describe('when the schema was written by a newer version', () => {
    it('refuses to open it and leaves it unchanged', async () => {
      const { store, schema, drop } = await openFresh();
      await store.putRecord(record(), 0);
      await store.close();
      await admin.query(
        `INSERT INTO "${schema}".schema_migrations (component, version, name) VALUES ($1, 2, 'from-the-future')`,
        [REGION_STORE_COMPONENT],
      );

      const error = await rejection(openPostgresRegionStore({ regionId, url, schema }));
      expectUnavailable(error);
      expect(error.message).toBe(
        'region `oci-us-ashburn`: postgres store: schema `region-store` is at version 2, newer than this build supports (1): upgrade domicile',
      );
      expect((await admin.query(`SELECT count(*)::int AS n FROM "${schema}".records`)).rows).toEqual([
        { n: 1 },
      ]);
      expect((await admin.query(`SELECT max(version) AS v FROM "${schema}".schema_migrations`)).rows).toEqual(
        [{ v: 2 }],
      );
      await drop();
    });
  });

  describe('when the server cannot be reached', () => {
    it('fails with DOMICILE_ERR_STORE_UNAVAILABLE, the driver error as cause, no credentials in the message', async () => {
      const port = await freePort();
      const error = await rejection(
        openPostgresRegionStore({ regionId, url: `postgres://domicile:s3cret@127.0.0.1:${port}/db` }),
      );
      expectUnavailable(error);
      expect(error.message).toBe('region `oci-us-ashburn`: postgres store: migrate failed');
      expect(error.cause).toHaveProperty('code', 'ECONNREFUSED');
    });
  });

  describe('when the schema name is not a plain identifier', () => {
    it.each(['Region', 'a-b', 'x"; DROP SCHEMA public; --', '', 'a'.repeat(64)])(
      'refuses `%s` before connecting',
      async (schema) => {
        const error = await rejection(openPostgresRegionStore({ regionId, url, schema }));
        expect(error).toBeInstanceOf(DomicileError);
        expect(error).toHaveProperty('code', 'DOMICILE_ERR_CONFIG');
      },
    );
  });
});

describe('PostgresRegionStore', () => {
  it('keeps versions and times beyond 32 bits as numbers', async () => {
    const { store, drop } = await openFresh();
    const big = record({ version: 2 ** 40, updatedAt: 8_640_000_000_000 });
    await store.putRecordIfNewer(big);
    const read = await store.getRecord(s1, profile);
    expect(read?.version).toBe(2 ** 40);
    expect(read?.updatedAt).toBe(8_640_000_000_000);
    expect(await store.listRecords(s1, 'US' as JurisdictionId)).toEqual([
      { key: profile, classId: big.classId, version: 2 ** 40, updatedAt: 8_640_000_000_000 },
    ]);
    expect(await store.putRecord(record({ version: 2 ** 40 + 1 }), 2 ** 40)).toBe('written');
    await drop();
  });

  describe('with two regions in different schemas of one database', () => {
    it('keeps their records apart', async () => {
      const a = await openFresh();
      const b = await openFresh();
      expect(await a.store.putRecord(record({ keyId: 'in-a' }), 0)).toBe('written');
      expect(await b.store.getRecord(s1, profile)).toBeUndefined();
      expect(await b.store.putRecord(record({ keyId: 'in-b' }), 0)).toBe('written');
      expect((await a.store.getRecord(s1, profile))?.keyId).toBe('in-a');
      expect((await b.store.getRecord(s1, profile))?.keyId).toBe('in-b');
      expect(await a.store.deleteSubject(s1, 'US' as JurisdictionId)).toBe(1);
      expect(await a.store.countRecords()).toBe(0);
      expect(await b.store.countRecords()).toBe(1);
      await a.drop();
      expect((await b.store.getRecord(s1, profile))?.keyId).toBe('in-b');
      await b.drop();
    });

    it('can share one pool, which closing a store does not end', async () => {
      const pool = new pg.Pool({ connectionString: url, max: 3 });
      const schemas = [newSchemaName('shared'), newSchemaName('shared')];
      const [a, b] = await Promise.all(
        schemas.map((schema) => openPostgresRegionStore({ regionId, pool, schema })),
      );
      if (a === undefined || b === undefined) throw new Error('two stores expected');
      await a.putRecord(record(), 0);
      expect(await b.countRecords()).toBe(0);
      await a.close();
      expectUnavailable(await rejection(a.getRecord(s1, profile)));
      expect(await b.putRecord(record(), 0)).toBe('written');
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await b.close();
      await pool.end();
      for (const schema of schemas) await dropSchema(schema);
    });
  });

  describe('when writers on different connections race with the same expectedVersion', () => {
    it('lets exactly one of them write', async () => {
      const { store, schema, drop } = await openFresh();
      const other = await openPostgresRegionStore({ regionId, url, schema });
      await store.putRecord(record(), 0);
      const nodes = [store, other];
      const attempts = Array.from({ length: 10 }, (_, i) =>
        record({ version: 2, keyId: `writer-${i}`, ciphertext: new Uint8Array(32).fill(i) }),
      );
      const outcomes = await Promise.all(
        attempts.map((r, i) => (nodes[i % 2] as PostgresRegionStore).putRecord(r, 1)),
      );
      expect(outcomes.filter((o) => o === 'written')).toHaveLength(1);
      const winner = attempts[outcomes.indexOf('written')];
      const stored = await other.getRecord(s1, profile);
      expect(stored?.keyId).toBe(winner?.keyId);
      expect(stored?.version).toBe(2);
      await other.close();
      await drop();
    });
  });

  describe('when the connection is lost', () => {
    it('fails the operation in flight with DOMICILE_ERR_STORE_UNAVAILABLE, then works again without reopening', async () => {
      const applicationName = newSchemaName('lost');
      const { store, schema, drop } = await openFresh({ applicationName });
      await store.putRecord(record(), 0);

      // Hold the table so the store's next statement waits on a lock, then kill its backend.
      const error = await rejectionOnLostConnection(admin, `"${schema}".records`, applicationName, () =>
        store.getRecord(s1, profile),
      );
      expectUnavailable(error);
      expect(error.message).toBe('region `oci-us-ashburn`: postgres store: get record failed');
      expect(error.cause).toHaveProperty('code', '57P01'); // admin_shutdown

      expect((await store.getRecord(s1, profile))?.version).toBe(1);
      expect(await store.putRecord(record({ version: 2 }), 1)).toBe('written');
      await store.checkHealth();
      await drop();
    });

    it('survives the server closing idle connections, and reconnects for the next operation', async () => {
      const applicationName = newSchemaName('idle');
      const idleErrors: Error[] = [];
      const { store, drop } = await openFresh({
        applicationName,
        onConnectionError: (error) => idleErrors.push(error),
      });
      // several idle connections in the pool
      await Promise.all(Array.from({ length: 4 }, () => store.countRecords()));
      const { rows } = await admin.query<{ killed: boolean }>(
        'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      expect(rows.length).toBeGreaterThan(0);
      // Without the pool's error listener, each of these would be an uncaught exception.
      await waitFor(async () => (idleErrors.length === rows.length ? true : undefined), 'idle client errors');
      expect(await store.putRecord(record(), 0)).toBe('written');
      await store.checkHealth();
      await drop();
    });
  });
});
