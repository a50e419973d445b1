import { describe, expect, it } from 'vitest';
import { newSchemaName, postgresUrl } from '../../../test/support/postgres.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { describeSubjectDirectoryConformance } from '../conformance.js';
import { openPostgresDirectory, SUBJECT_DIRECTORY_COMPONENT } from './postgres-directory.js';
import { openPostgresRegionStore, REGION_STORE_COMPONENT } from './postgres-store.js';
import { usePostgresTestAdmin } from './postgres-test-support.js';

const url = postgresUrl();
const { admin, dropSchema } = usePostgresTestAdmin(url);

const US = 'US' as JurisdictionId;
const EU = 'EU' as JurisdictionId;
const s1 = 's1' as SubjectId;

describeSubjectDirectoryConformance('postgres', async () => {
  const schema = newSchemaName('directory');
  const directory = await openPostgresDirectory({ url, schema });
  return {
    directory,
    cleanup: async () => {
      await directory.close();
      await dropSchema(schema);
    },
  };
});

describe('openPostgresDirectory', () => {
  it('keeps subjects across close and reopen, with the creation time from the clock', async () => {
    const schema = newSchemaName('directory');
    const directory = await openPostgresDirectory({ url, schema, clock: () => 1_234 });
    await directory.register(s1, US);
    await directory.close();

    const reopened = await openPostgresDirectory({ url, schema });
    expect(await reopened.lookup(s1)).toBe(US);
    const { rows } = await admin.query(
      `SELECT subject_id, jurisdiction, created_at FROM "${schema}".subjects`,
    );
    expect(rows).toEqual([{ subject_id: 's1', jurisdiction: 'US', created_at: '1234' }]);
    await reopened.close();
    await dropSchema(schema);
  });

  it('shares a schema with a region store, each with its own schema version', async () => {
    const schema = newSchemaName('shared');
    const directory = await openPostgresDirectory({ url, schema });
    const store = await openPostgresRegionStore({ regionId: 'r1' as RegionId, url, schema });
    await directory.register(s1, US);
    expect(
      await store.putRecord(
        {
          subjectId: s1,
          key: 'k' as RecordKey,
          jurisdiction: US,
          classId: 'protected' as ClassId,
          version: 1,
          ciphertext: new Uint8Array(28),
          keyId: 'dek',
          updatedAt: 1,
        },
        0,
      ),
    ).toBe('written');
    const { rows } = await admin.query(
      `SELECT component, version FROM "${schema}".schema_migrations ORDER BY component`,
    );
    expect(rows).toEqual([
      { component: REGION_STORE_COMPONENT, version: 1 },
      { component: SUBJECT_DIRECTORY_COMPONENT, version: 1 },
    ]);
    await store.close();
    await directory.close();
    await dropSchema(schema);
  });
});

describe('PostgresSubjectDirectory', () => {
  describe('when its connection is lost in the middle of a registration', () => {
    it('fails with DOMICILE_ERR_STORE_UNAVAILABLE, changes nothing, then works again without reopening', async () => {
      const schema = newSchemaName('directory');
      const applicationName = newSchemaName('lost');
      const directory = await openPostgresDirectory({ url, schema, applicationName });
      const blocker = await admin.connect();
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${schema}".subjects IN ACCESS EXCLUSIVE MODE`);
      const inFlight = directory.register(s1, US).then(
        () => undefined,
        (err: unknown) => err,
      );
      let pid: number | undefined;
      for (const deadline = Date.now() + 10_000; pid === undefined && Date.now() < deadline; ) {
        const { rows } = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [applicationName],
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(pid).toBeDefined();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);

      const error = await inFlight;
      expect(error).toBeInstanceOf(DomicileError);
      expect(error).toHaveProperty('code', 'DOMICILE_ERR_STORE_UNAVAILABLE');
      expect(error).toHaveProperty('message', 'subject directory: postgres: register failed');
      await blocker.query('ROLLBACK');
      blocker.release();

      expect(await directory.lookup(s1)).toBeUndefined();
      expect(await directory.register(s1, EU)).toBe('created');
      expect(await directory.lookup(s1)).toBe(EU);
      await directory.close();
      await dropSchema(schema);
    });
  });

  describe('when registrations race with removals', () => {
    it('answers each registration with what it saw, and ends with one home', async () => {
      const schema = newSchemaName('directory');
      const directory = await openPostgresDirectory({ url, schema });
      const other = await openPostgresDirectory({ url, schema });
      const operations = Array.from({ length: 40 }, (_, i) =>
        i % 4 === 3
          ? (i % 8 === 3 ? directory : other).remove(s1)
          : (i % 2 ? directory : other).register(s1, i % 3 ? US : EU),
      );
      const outcomes = await Promise.all(operations);
      expect(
        outcomes.every((o) => typeof o === 'boolean' || ['created', 'exists', 'conflict'].includes(o)),
      ).toBe(true);
      expect(outcomes.filter((o) => o === 'created').length).toBeGreaterThanOrEqual(1);
      const home = await directory.lookup(s1);
      if (home !== undefined) expect([US, EU]).toContain(home);
      await other.close();
      await directory.close();
      await dropSchema(schema);
    });
  });
});
