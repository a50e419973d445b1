import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../test/support/ports.js';
import { newSchemaName, postgresUrl } from '../../../test/support/postgres.js';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId, SubjectId } from '../../domain/ids.js';
import { accessRequest, describeControlStoreConformance } from '../control-conformance.js';
import type { ControlStore, StoredPolicySet } from '../control-store.js';
import { CONTROL_STORE_COMPONENT, openPostgresControlStore } from './postgres-control-store.js';
import { openPostgresDirectory, SUBJECT_DIRECTORY_COMPONENT } from './postgres-directory.js';
import { openPostgresRegionStore, REGION_STORE_COMPONENT } from './postgres-store.js';
import {
  expectUnavailable,
  rejection,
  rejectionOnLostConnection,
  usePostgresTestAdmin,
} from './postgres-test-support.js';

const url = postgresUrl();
const { admin, dropSchema } = usePostgresTestAdmin(url);

const US = 'US' as JurisdictionId;

/** Opens a store in a fresh schema; `drop()` closes it and drops the schema. */
async function openFresh(overrides: { readonly applicationName?: string } = {}) {
  const schema = newSchemaName('control');
  const store = await openPostgresControlStore({ url, schema, ...overrides });
  return {
    store,
    schema,
    drop: async () => {
      await store.close();
      await dropSchema(schema);
    },
  };
}

function policySet(hash: string): StoredPolicySet {
  return {
    hash,
    schemaText: 'entity User;',
    policies: [{ file: 'a.cedar', text: 'permit (principal, action, resource);' }],
    status: 'proposed',
    proposedBy: 'bob',
    proposedAt: 1,
    activatedAt: null,
    affected: [US],
  };
}

describeControlStoreConformance('postgres', async () => {
  const schema = newSchemaName('control');
  const opened: ControlStore[] = [];
  // each instance has its own pool, as a separate process would
  const openOne = async () => {
    const store = await openPostgresControlStore({ url, schema, maxConnections: 4 });
    opened.push(store);
    return store;
  };
  return {
    store: await openOne(),
    openAnother: openOne,
    cleanup: async () => {
      for (const store of opened) await store.close();
      await dropSchema(schema);
    },
  };
});

describe('openPostgresControlStore', () => {
  describe('when the schema is new', () => {
    it('creates native tables and records the applied migration once', async () => {
      const { store, schema, drop } = await openFresh();
      const { rows: columns } = await admin.query(
        `SELECT table_name, column_name, data_type, collation_name FROM information_schema.columns
          WHERE table_schema = $1 AND starts_with(table_name, 'control_')
            AND column_name IN ('id', 'version', 'subjects', 'break_glass', 'grant_expires_at', 'hash',
              'policies', 'affected', 'principal_id', 'steward_of')
          ORDER BY table_name, ordinal_position`,
        [schema],
      );
      expect(columns).toEqual([
        { table_name: 'control_access_requests', column_name: 'id', data_type: 'text', collation_name: 'C' },
        {
          table_name: 'control_access_requests',
          column_name: 'version',
          data_type: 'bigint',
          collation_name: null,
        },
        {
          table_name: 'control_access_requests',
          column_name: 'subjects',
          data_type: 'ARRAY',
          collation_name: null,
        },
        {
          table_name: 'control_access_requests',
          column_name: 'break_glass',
          data_type: 'boolean',
          collation_name: null,
        },
        {
          table_name: 'control_access_requests',
          column_name: 'grant_expires_at',
          data_type: 'bigint',
          collation_name: null,
        },
        {
          table_name: 'control_policy_approvals',
          column_name: 'hash',
          data_type: 'text',
          collation_name: 'C',
        },
        {
          table_name: 'control_policy_approvals',
          column_name: 'principal_id',
          data_type: 'text',
          collation_name: 'C',
        },
        {
          table_name: 'control_policy_approvals',
          column_name: 'steward_of',
          data_type: 'ARRAY',
          collation_name: null,
        },
        { table_name: 'control_policy_sets', column_name: 'hash', data_type: 'text', collation_name: 'C' },
        {
          table_name: 'control_policy_sets',
          column_name: 'policies',
          data_type: 'jsonb',
          collation_name: null,
        },
        {
          table_name: 'control_policy_sets',
          column_name: 'affected',
          data_type: 'ARRAY',
          collation_name: null,
        },
      ]);
      const migrations = async () =>
        (await admin.query(`SELECT component, version, name FROM "${schema}".schema_migrations`)).rows;
      const applied = [
        { component: CONTROL_STORE_COMPONENT, version: 1, name: 'create-access-requests-and-policy-sets' },
      ];
      expect(await migrations()).toEqual(applied);
      await store.close();

      const reopened = await openPostgresControlStore({ url, schema });
      expect(await migrations()).toEqual(applied);
      await reopened.close();
      await drop();
    });

    it('applies the migration once when several processes open it at once', async () => {
      const schema = newSchemaName('control_race');
      const stores = await Promise.all(
        Array.from({ length: 6 }, () => openPostgresControlStore({ url, schema, maxConnections: 2 })),
      );
      const { rows } = await admin.query(`SELECT component, version FROM "${schema}".schema_migrations`);
      expect(rows).toEqual([{ component: CONTROL_STORE_COMPONENT, version: 1 }]);
      await stores[0]?.insertAccessRequest(accessRequest('ar-1'));
      expect((await stores[5]?.getAccessRequest('ar-1'))?.id).toBe('ar-1');
      for (const store of stores) await store.close();
      await dropSchema(schema);
    });
  });

  describe('when the schema also holds the subject directory and a region store', () => {
    it('keeps its own tables and schema version next to theirs', async () => {
      const schema = newSchemaName('shared');
      const directory = await openPostgresDirectory({ url, schema });
      const region = await openPostgresRegionStore({ regionId: 'r1' as RegionId, url, schema });
      const control = await openPostgresControlStore({ url, schema });
      await directory.register('s1' as SubjectId, US);
      await control.insertAccessRequest(accessRequest('ar-1'));
      expect(await directory.lookup('s1' as SubjectId)).toBe(US);
      expect((await control.listAccessRequests()).map((r) => r.id)).toEqual(['ar-1']);

      const { rows: migrations } = await admin.query(
        `SELECT component, version FROM "${schema}".schema_migrations ORDER BY component`,
      );
      expect(migrations).toEqual([
        { component: CONTROL_STORE_COMPONENT, version: 1 },
        { component: REGION_STORE_COMPONENT, version: 1 },
        { component: SUBJECT_DIRECTORY_COMPONENT, version: 1 },
      ]);
      const { rows: tables } = await admin.query(
        `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`,
        [schema],
      );
      expect(tables.map((t) => t.tablename)).toEqual([
        'control_access_requests',
        'control_policy_approvals',
        'control_policy_sets',
        'records',
        'schema_migrations',
        'subjects',
      ]);
      for (const closeable of [control, region, directory]) await closeable.close();
      await dropSchema(schema);
    });
  });

  describe('when the schema was written by a newer version', () => {
    it('refuses to open it and leaves it unchanged', async () => {
      const { store, schema, drop } = await openFresh();
      await store.insertAccessRequest(accessRequest('ar-1'));
      await store.close();
      await admin.query(
        `INSERT INTO "${schema}".schema_migrations (component, version, name) VALUES ($1, 2, 'from-the-future')`,
        [CONTROL_STORE_COMPONENT],
      );

      const error = await rejection(openPostgresControlStore({ url, schema }));
      expectUnavailable(error);
      expect(error.message).toBe(
        'control store: postgres: schema `control-store` is at version 2, newer than this build supports (1): upgrade domicile',
      );
      expect(
        (await admin.query(`SELECT count(*)::int AS n FROM "${schema}".control_access_requests`)).rows,
      ).toEqual([{ n: 1 }]);
      await drop();
    });
  });

  describe('when the server cannot be reached', () => {
    it('fails with DOMICILE_ERR_STORE_UNAVAILABLE, the driver error as cause, no credentials in the message', async () => {
      const port = await freePort();
      const error = await rejection(
        openPostgresControlStore({ url: `postgres://domicile:s3cret@127.0.0.1:${port}/db` }),
      );
      expectUnavailable(error);
      expect(error.message).toBe('control store: postgres: migrate failed');
      expect(error.cause).toHaveProperty('code', 'ECONNREFUSED');
    });
  });

  describe('when the schema name is not a plain identifier', () => {
    it.each(['Control', 'a-b', 'x"; DROP SCHEMA public; --', ''])(
      'refuses `%s` before connecting',
      async (schema) => {
        const error = await rejection(openPostgresControlStore({ url, schema }));
        expect(error).toBeInstanceOf(DomicileError);
        expect(error).toHaveProperty('code', 'DOMICILE_ERR_CONFIG');
      },
    );
  });
});

describe('PostgresControlStore', () => {
  describe('when a statement fails in the database', () => {
    it('reports DOMICILE_ERR_STORE_UNAVAILABLE without the driver text, which can quote data', async () => {
      const { store, drop } = await openFresh();
      await store.insertAccessRequest(accessRequest('ar-secret-id'));
      const error = await rejection(store.insertAccessRequest(accessRequest('ar-secret-id')));
      expectUnavailable(error);
      expect(error.message).toBe('control store: postgres: insert access request failed');
      expect(error.cause).toHaveProperty('code', '23505'); // unique_violation
      await drop();
    });
  });

  describe('when another writer of the database tries to make a second set active', () => {
    it('is refused by the schema', async () => {
      const { store, schema, drop } = await openFresh();
      await store.insertPolicySet(policySet('h1'));
      await store.insertPolicySet(policySet('h2'));
      await store.activatePolicySet('h1', 10);
      const error = await rejection(
        admin.query(`UPDATE "${schema}".control_policy_sets SET status = 'active' WHERE hash = 'h2'`),
      );
      expect(error).toHaveProperty('code', '23505');
      expect((await store.activePolicySet())?.hash).toBe('h1');
      await drop();
    });
  });

  describe('with a pool shared with other components', () => {
    it('leaves the pool open when the store is closed', async () => {
      const pool = new pg.Pool({ connectionString: url, max: 3 });
      const schema = newSchemaName('control_pool');
      const store = await openPostgresControlStore({ pool, schema });
      await store.insertPolicySet(policySet('h1'));
      await store.close();
      expectUnavailable(await rejection(store.getPolicySet('h1')));
      const { rows } = await pool.query(`SELECT hash FROM "${schema}".control_policy_sets`);
      expect(rows).toEqual([{ hash: 'h1' }]);
      await pool.end();
      await dropSchema(schema);
    });
  });

  describe('when the connection is lost', () => {
    it('fails the operation in flight with DOMICILE_ERR_STORE_UNAVAILABLE, then works again without reopening', async () => {
      const applicationName = newSchemaName('control_lost');
      const { store, schema, drop } = await openFresh({ applicationName });
      await store.insertPolicySet(policySet('h1'));
      await store.insertPolicySet(policySet('h2'));
      await store.activatePolicySet('h1', 10);

      // Hold the table so the activation waits on its lock, then kill its backend.
      const error = await rejectionOnLostConnection(
        admin,
        `"${schema}".control_policy_sets`,
        applicationName,
        () => store.activatePolicySet('h2', 20),
      );
      expectUnavailable(error);
      expect(error.message).toBe('control store: postgres: activate policy set failed');
      expect(error.cause).toHaveProperty('code', '57P01'); // admin_shutdown

      expect((await store.activePolicySet())?.hash).toBe('h1');
      await store.activatePolicySet('h2', 30);
      expect((await store.activePolicySet())?.hash).toBe('h2');
      await drop();
    });
  });
});
