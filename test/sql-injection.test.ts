/**
 * SQL injection: classic payloads thrown at every place where outside text reaches SQL — the
 * HTTP API on the embedded SQLite deployment, the region store and subject directory adapters on
 * SQLite and on the run's PostgreSQL server, and the mapping files and cells of an application
 * database read by `domicile migrate` and `domicile wipe`. What must hold for each payload: it is
 * refused with a `DOMICILE_ERR_*` code (the right HTTP status or CLI exit code), or it is stored
 * and returned verbatim as data; and no other row is read, changed or lost, and no table dropped.
 *
 * Not tested here as an injection: the `query:` form of a mapping file. It is SQL the operator
 * writes on purpose (like `domicile.yaml`, the file is theirs), and it runs on a read-only
 * connection; `foreign-migration.test.ts` checks that a writing query is refused.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../src/domain/ids.js';
import { parseSourceMapping, quoteIdentifier, type SourceMapping } from '../src/domain/source-mapping.js';
import type { PrincipalClaims } from '../src/services/access/tokens.js';
import type { ForeignDatabase, ForeignRow, RowFilter } from '../src/store/foreign-database.js';
import { openPostgresDirectory } from '../src/store/postgres/postgres-directory.js';
import { openPostgresForeignDatabase } from '../src/store/postgres/postgres-foreign-database.js';
import { openPostgresRegionStore } from '../src/store/postgres/postgres-store.js';
import { usePostgresTestAdmin } from '../src/store/postgres/postgres-test-support.js';
import type { RegionStore, StoredRecord, SubjectDirectory } from '../src/store/region-store.js';
import { openSqliteDirectory } from '../src/store/sqlite/sqlite-directory.js';
import { openSqliteForeignDatabase } from '../src/store/sqlite/sqlite-foreign-database.js';
import { openSqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import { requireBuild, run } from './support/cli.js';
import {
  type AuthHeaders,
  demoConfig,
  logEntries,
  openTestDeployment,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';
import { newSchemaName, postgresUrl } from './support/postgres.js';

/** Classic payloads: quote break-outs, stacked statements, comments, wildcards, escapes, look-alike quotes. */
const PAYLOADS: readonly string[] = [
  "' OR '1'='1",
  "'; DROP TABLE records; --",
  '" OR ""="',
  '1; SELECT * FROM tlog_entries',
  "%' --",
  "1' UNION SELECT subject_id, key FROM records --",
  '*/ OR 1=1 /*',
  // a backslash escaping the closing quote (MySQL-style), then a stacked statement
  "\\'; DROP TABLE subjects; --",
  '\\"; DROP TABLE records; --',
  // NUL: C strings end here, SQLite and Node do not
  "x\u0000'; DROP TABLE records; --",
  // look-alike quotes: U+2019, U+02BC, U+FF07 (a normalising layer could turn them into ')
  '\u2019; DROP TABLE records; --',
  '\u02bc OR \u02bc1\u02bc=\u02bc1',
  '\uff07 OR 1=1 --',
];

/** Payloads PostgreSQL `text` can hold: it refuses U+0000 in any text value. */
const PG_PAYLOADS = PAYLOADS.filter((p) => !p.includes('\u0000'));

/** Ids that look like SQL (comments, wildcards, SQLite's `:memory:`) yet fit `[A-Za-z0-9._:-]{1,128}`. */
const SQLISH_IDS: readonly string[] = ['--', '-1', '1.0', ':memory:', '_', 'OR:1', '..--'];

const enc = encodeURIComponent;
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

// ---------------------------------------------------------------------------------------------
// 1. The HTTP API on the embedded SQLite deployment
// ---------------------------------------------------------------------------------------------

/** Every table and index of every SQLite file of a data folder, by file. */
function sqliteSchemas(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.db'));
  for (const file of files.sort()) {
    const db = new Database(join(dir, file), { readonly: true, fileMustExist: true });
    try {
      out[file] = db
        .prepare<[], { entry: string }>(
          "SELECT type || ' ' || name AS entry FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name",
        )
        .all()
        .map((r) => r.entry);
    } finally {
      db.close();
    }
  }
  return out;
}

/** A US platform engineer: may file access requests (the lockbox). */
const ENGINEER: Partial<PrincipalClaims> = {
  sub: 'eng-1',
  type: 'employee',
  dept: 'platform-eng',
  loc: 'US',
};

describe('the HTTP API on the embedded SQLite deployment', () => {
  let d: TestDeployment;
  let us: AuthHeaders;
  let sg: AuthHeaders;
  /** Records of other subjects that no payload may read, change or remove. */
  const SENTINELS = {
    'sentinel-us': {
      jurisdiction: 'US',
      records: { profile: { name: 'Sam', email: 'sam@example.com' }, ssn: '078-05-1120' },
    },
    'sentinel-sg': { jurisdiction: 'SG', records: { profile: { name: 'Siti' } } },
  } as const;
  let before: { rows: string[]; schemas: Record<string, string[]> };

  /** The sentinels' stored rows (ciphertext hashed) in every region, and every table of every file. */
  const snapshot = async () => {
    const rows: string[] = [];
    for (const [region, store] of d.stores) {
      for (const r of await store.scanRecords({ limit: 100_000 })) {
        if (r.subjectId in SENTINELS) {
          rows.push(`${region} ${r.subjectId}/${r.key}@${r.version} ${r.classId} ${sha256(r.ciphertext)}`);
        }
      }
    }
    return { rows: rows.sort(), schemas: sqliteSchemas(d.dataDir) };
  };

  /** Asserts the sentinels and every table are as they were, over the API and in the files. */
  const expectUntouched = async () => {
    expect(await snapshot()).toEqual(before);
    for (const [subject, s] of Object.entries(SENTINELS)) {
      const headers = s.jurisdiction === 'US' ? us : sg;
      const list = await d.app.inject({ url: `/v1/subjects/${subject}/records`, headers });
      expect(list.statusCode).toBe(200);
      expect(list.json().records.map((r: { key: string }) => r.key)).toEqual(Object.keys(s.records).sort());
      for (const [key, value] of Object.entries(s.records)) {
        const got = await d.app.inject({ url: `/v1/subjects/${subject}/records/${key}`, headers });
        expect(got.json()).toMatchObject({ version: 1, value });
      }
      expect(await d.directory.lookup(subject as SubjectId)).toBe(s.jurisdiction);
    }
  };

  const expectError = (res: { statusCode: number; json(): unknown }, status: number, code: string) => {
    expect({
      status: res.statusCode,
      code: (res.json() as { error?: { code?: string } }).error?.code,
    }).toEqual({
      status,
      code,
    });
  };

  beforeAll(async () => {
    d = await openTestDeployment();
    us = await d.auth(US_STEWARD);
    sg = await d.auth(SG_STEWARD);
    for (const [subject, s] of Object.entries(SENTINELS)) {
      const headers = s.jurisdiction === 'US' ? us : sg;
      const put = await d.app.inject({
        method: 'PUT',
        url: `/v1/subjects/${subject}`,
        headers,
        payload: { jurisdiction: s.jurisdiction },
      });
      expect(put.statusCode).toBe(201);
      for (const [key, value] of Object.entries(s.records)) {
        const rec = await d.app.inject({
          method: 'PUT',
          url: `/v1/subjects/${subject}/records/${key}`,
          headers,
          payload: { class: 'protected', value },
        });
        expect(rec.statusCode).toBe(200);
      }
    }
    before = await snapshot();
    // three records, some replicated to a second region of their jurisdiction
    expect(before.rows.length).toBeGreaterThanOrEqual(3);
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  describe('a payload as a subject id', () => {
    it.each(PAYLOADS)('is refused on every subject route with 400 DOMICILE_ERR_INVALID_ID: %j', async (p) => {
      const s = enc(p);
      const requests = [
        { method: 'PUT', url: `/v1/subjects/${s}`, payload: { jurisdiction: 'US' } },
        { method: 'GET', url: `/v1/subjects/${s}` },
        { method: 'DELETE', url: `/v1/subjects/${s}` },
        {
          method: 'PUT',
          url: `/v1/subjects/${s}/records/profile`,
          payload: { class: 'protected', value: 1 },
        },
        { method: 'GET', url: `/v1/subjects/${s}/records/profile` },
        { method: 'DELETE', url: `/v1/subjects/${s}/records/profile` },
        { method: 'GET', url: `/v1/subjects/${s}/records` },
        { method: 'GET', url: `/v1/subjects/${s}/access-log` },
      ] as const;
      for (const request of requests) {
        const res = await d.app.inject({ ...request, headers: us });
        expect([request.method, request.url, res.statusCode, res.json().error?.code]).toEqual([
          request.method,
          request.url,
          400,
          'DOMICILE_ERR_INVALID_ID',
        ]);
      }
      await expectUntouched();
    });
  });

  describe('a payload as a record key of an existing subject', () => {
    it.each(PAYLOADS)('is refused on every record route with 400 DOMICILE_ERR_INVALID_ID: %j', async (p) => {
      const url = `/v1/subjects/sentinel-us/records/${enc(p)}`;
      for (const method of ['PUT', 'GET', 'DELETE'] as const) {
        const res = await d.app.inject({
          method,
          url,
          headers: us,
          ...(method === 'PUT' ? { payload: { class: 'protected', value: 'x' } } : {}),
        });
        expectError(res, 400, 'DOMICILE_ERR_INVALID_ID');
      }
      await expectUntouched();
    });
  });

  describe('a payload as the jurisdiction of a registration', () => {
    it.each(PAYLOADS)('is refused and registers nothing: %j', async (p) => {
      const subject = `reg-${sha256(utf8(p)).slice(0, 12)}`;
      const res = await d.app.inject({
        method: 'PUT',
        url: `/v1/subjects/${subject}`,
        headers: us,
        payload: { jurisdiction: p },
      });
      // the body schema caps a jurisdiction at 16 characters; a shorter one is not configured
      if ([...p].length > 16) expectError(res, 400, 'DOMICILE_ERR_BAD_REQUEST');
      else expectError(res, 422, 'DOMICILE_ERR_UNKNOWN_JURISDICTION');
      expect(await d.directory.lookup(subject as SubjectId)).toBeUndefined();
      expectError(
        await d.app.inject({ url: `/v1/subjects/${subject}`, headers: us }),
        404,
        'DOMICILE_ERR_SUBJECT_NOT_FOUND',
      );
      await expectUntouched();
    });
  });

  describe('a payload as the class of a record', () => {
    it.each(PAYLOADS)('is refused with 400 and writes nothing: %j', async (p) => {
      const res = await d.app.inject({
        method: 'PUT',
        url: '/v1/subjects/sentinel-us/records/class-probe',
        headers: us,
        payload: { class: p, value: 'x' },
      });
      // the body schema caps a class at 32 characters; a shorter one is not configured
      if ([...p].length > 32) expectError(res, 400, 'DOMICILE_ERR_BAD_REQUEST');
      else expectError(res, 400, 'DOMICILE_ERR_UNKNOWN_CLASS');
      await expectUntouched();
    });
  });

  describe('payloads inside a record value', () => {
    it('are stored and returned byte for byte, and the subject lists only its own keys', async () => {
      const subject = 'vault-values';
      expect(
        (
          await d.app.inject({
            method: 'PUT',
            url: `/v1/subjects/${subject}`,
            headers: us,
            payload: { jurisdiction: 'US' },
          })
        ).statusCode,
      ).toBe(201);
      const values = PAYLOADS.map((p, i) => [`v-${i}`, p] as const);
      // as an object's keys and inside arrays too
      const nested = Object.fromEntries(PAYLOADS.map((p) => [p, [p, { [p]: p }]]));
      for (const [key, value] of [...values, ['nested', nested] as const]) {
        const put = await d.app.inject({
          method: 'PUT',
          url: `/v1/subjects/${subject}/records/${key}`,
          headers: us,
          payload: { class: 'protected', value },
        });
        expect(put.statusCode).toBe(200);
      }
      for (const [key, value] of values) {
        const got = await d.app.inject({ url: `/v1/subjects/${subject}/records/${key}`, headers: us });
        expect(got.statusCode).toBe(200);
        const returned = got.json().value;
        expect(typeof returned).toBe('string');
        expect(utf8(returned).equals(utf8(value))).toBe(true);
      }
      const got = await d.app.inject({ url: `/v1/subjects/${subject}/records/nested`, headers: us });
      expect(got.json().value).toStrictEqual(nested);

      const list = await d.app.inject({ url: `/v1/subjects/${subject}/records`, headers: us });
      expect(list.json().records.map((r: { key: string }) => r.key)).toEqual(
        [...values.map(([k]) => k), 'nested'].sort(),
      );
      await expectUntouched();
    });
  });

  describe('ids that look like SQL but fit the id pattern', () => {
    it('are ids like any other: each subject sees only its own record, and erasing one erases only it', async () => {
      for (const id of SQLISH_IDS) {
        const put = await d.app.inject({
          method: 'PUT',
          url: `/v1/subjects/${enc(id)}`,
          headers: us,
          payload: { jurisdiction: 'US' },
        });
        expect([id, put.statusCode]).toEqual([id, 201]);
        const rec = await d.app.inject({
          method: 'PUT',
          url: `/v1/subjects/${enc(id)}/records/${enc(id)}`,
          headers: us,
          payload: { class: 'protected', value: `value of ${id}` },
        });
        expect([id, rec.statusCode]).toEqual([id, 200]);
      }
      for (const id of SQLISH_IDS) {
        const list = await d.app.inject({ url: `/v1/subjects/${enc(id)}/records`, headers: us });
        expect([id, list.json().records.map((r: { key: string }) => r.key)]).toEqual([id, [id]]);
        // no subject answers for another's key (`_` would match any one-character key under LIKE)
        for (const otherKey of SQLISH_IDS.filter((k) => k !== id)) {
          const other = await d.app.inject({
            url: `/v1/subjects/${enc(id)}/records/${enc(otherKey)}`,
            headers: us,
          });
          expect([id, otherKey, other.statusCode]).toEqual([id, otherKey, 404]);
        }
      }
      const erased = await d.app.inject({ method: 'DELETE', url: '/v1/subjects/--', headers: us });
      expect(erased.statusCode).toBe(200);
      expect(erased.json()).toMatchObject({ subjectId: '--', records: 1 });
      for (const id of SQLISH_IDS.filter((i) => i !== '--')) {
        const got = await d.app.inject({ url: `/v1/subjects/${enc(id)}/records/${enc(id)}`, headers: us });
        expect([id, got.json().value]).toEqual([id, `value of ${id}`]);
      }
      await expectUntouched();
    });
  });

  describe('a payload in the transparency log endpoints', () => {
    it.each(PAYLOADS)('is refused in the path and in every query parameter with 400: %j', async (p) => {
      const q = enc(p);
      expectError(await d.app.inject({ url: `/v1/logs/${q}/checkpoint` }), 400, 'DOMICILE_ERR_INVALID_ID');
      for (const url of [
        `/v1/logs/US/proof/inclusion?index=${q}`,
        `/v1/logs/US/proof/inclusion?index=0&size=${q}`,
        `/v1/logs/US/proof/consistency?from=${q}`,
        `/v1/logs/US/proof/consistency?from=1&to=${q}`,
      ]) {
        expectError(await d.app.inject({ url }), 400, 'DOMICILE_ERR_BAD_REQUEST');
      }
      const tile = await d.app.inject({ url: `/v1/logs/US/tile/${q}` });
      expect(tile.statusCode).toBe(400);
      expect(tile.json().error.code).toMatch(/^DOMICILE_ERR_/);
      // the log still answers
      expect((await d.app.inject({ url: '/v1/logs/US/checkpoint' })).statusCode).toBe(200);
      await expectUntouched();
    });
  });

  describe('payloads in an access request (the lockbox)', () => {
    it('are refused as ids and jurisdictions, and kept verbatim as the purpose', async () => {
      const engineer = await d.auth(ENGINEER);
      const file = (body: Record<string, unknown>) =>
        d.app.inject({
          method: 'POST',
          url: '/v1/access-requests',
          headers: engineer,
          payload: {
            jurisdiction: 'US',
            class: 'protected',
            subjects: ['sentinel-us'],
            actions: ['read'],
            purpose: 'ticket 1',
            durationSeconds: 3600,
            ...body,
          },
        });
      for (const p of PAYLOADS) {
        expectError(await file({ subjects: [p] }), 400, 'DOMICILE_ERR_INVALID_ID');
        const jurisdiction = await file({ jurisdiction: p });
        if ([...p].length > 16) expectError(jurisdiction, 400, 'DOMICILE_ERR_BAD_REQUEST');
        else expectError(jurisdiction, 422, 'DOMICILE_ERR_UNKNOWN_JURISDICTION');
        expectError(
          await d.app.inject({ url: `/v1/access-requests/${enc(p)}`, headers: engineer }),
          400,
          'DOMICILE_ERR_INVALID_ID',
        );
        const listed = await d.app.inject({ url: `/v1/access-requests?jurisdiction=${enc(p)}`, headers: us });
        if ([...p].length > 16) expectError(listed, 400, 'DOMICILE_ERR_BAD_REQUEST');
        else expect([listed.statusCode, listed.json().accessRequests]).toEqual([200, []]);
      }
      const purpose = PAYLOADS.join(' | ');
      const filed = await file({ purpose });
      expect(filed.statusCode).toBe(201);
      const shown = await d.app.inject({ url: `/v1/access-requests/${filed.json().id}`, headers: engineer });
      expect(utf8(shown.json().purpose).equals(utf8(purpose))).toBe(true);
      const mine = await d.app.inject({ url: '/v1/access-requests', headers: engineer });
      expect(mine.json().accessRequests.map((r: { id: string }) => r.id)).toEqual([filed.json().id]);
      await expectUntouched();
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 2. The store adapters, on SQLite and on PostgreSQL, below the edge's id validation
// ---------------------------------------------------------------------------------------------

const pgUrl = postgresUrl();
const { admin, dropSchema } = usePostgresTestAdmin(pgUrl);

interface StoreFixture {
  readonly store: RegionStore;
  readonly directory: SubjectDirectory;
  /** Tables and indexes of the store, to show none was dropped. */
  readonly tables: () => Promise<string[]>;
  readonly cleanup: () => Promise<void>;
}

const US = 'US' as JurisdictionId;
const EU = 'EU' as JurisdictionId;

function storedRecord(subjectId: string, key: string, overrides: Partial<StoredRecord> = {}): StoredRecord {
  return {
    subjectId: subjectId as SubjectId,
    key: key as RecordKey,
    jurisdiction: US,
    classId: 'protected' as ClassId,
    version: 1,
    ciphertext: new Uint8Array(createHash('sha256').update(`${subjectId}/${key}`).digest()),
    keyId: `dek:${subjectId}`,
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

const plain = (r: StoredRecord | undefined) =>
  r === undefined ? undefined : { ...r, ciphertext: Buffer.from(r.ciphertext).toString('hex') };

async function openSqliteStores(): Promise<StoreFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'domicile-sqli-'));
  const store = openSqliteRegionStore({ regionId: 'r1' as RegionId, file: join(dir, 'store.db') });
  const directory = openSqliteDirectory({ file: join(dir, 'directory.db') });
  return {
    store,
    directory,
    tables: async () => Object.values(sqliteSchemas(dir)).flat().sort(),
    cleanup: async () => {
      await store.close();
      await directory.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgresStores(): Promise<StoreFixture> {
  const schema = newSchemaName('sqli');
  const store = await openPostgresRegionStore({ regionId: 'r1' as RegionId, url: pgUrl, schema });
  const directory = await openPostgresDirectory({ url: pgUrl, schema });
  return {
    store,
    directory,
    tables: async () =>
      (
        await admin.query<{ name: string }>(
          "SELECT relkind::text || ' ' || relname AS name FROM pg_class WHERE relnamespace = $1::regnamespace ORDER BY 1",
          [schema],
        )
      ).rows.map((r) => r.name),
    cleanup: async () => {
      await store.close();
      await directory.close();
      await dropSchema(schema);
    },
  };
}

const STORE_ADAPTERS: readonly [string, readonly string[], () => Promise<StoreFixture>][] = [
  ['sqlite', PAYLOADS, openSqliteStores],
  ['postgres', PG_PAYLOADS, openPostgresStores],
];

describe.each(STORE_ADAPTERS)('the %s region store and subject directory', (_name, payloads, open) => {
  // The edge refuses these ids (section 1); the adapters must bind them anyway (defence in depth).
  it('keep payload ids, keys, classes and jurisdictions as data, each in its own row', async () => {
    const { store, directory, tables, cleanup } = await open();
    try {
      const sentinels = [
        storedRecord('sentinel', 'a'),
        storedRecord('sentinel', 'b'),
        storedRecord('other', 'a'),
      ];
      for (const r of sentinels) expect(await store.putRecord(r, 0)).toBe('written');
      expect(await directory.register('sentinel' as SubjectId, US)).toBe('created');
      const tablesBefore = await tables();
      expect(tablesBefore.length).toBeGreaterThan(0);

      for (const p of payloads) {
        const record = storedRecord(p, p, {
          jurisdiction: p as JurisdictionId,
          classId: p as ClassId,
          keyId: p,
        });
        expect(await store.putRecord(record, 0)).toBe('written');
        const v2 = { ...record, version: 2, ciphertext: new Uint8Array([1, 2, 3]) };
        expect(await store.putRecord(v2, 1)).toBe('written');
        expect(await store.putRecordIfNewer(record)).toBe('conflict');
        expect(plain(await store.getRecord(p as SubjectId, p as RecordKey))).toEqual(plain(v2));
        expect(await store.getRecord(p as SubjectId, 'a' as RecordKey)).toBeUndefined();
        expect((await store.listRecords(p as SubjectId, p as JurisdictionId)).map((r) => r.key)).toEqual([p]);
        expect(await store.listRecords(p as SubjectId, US)).toEqual([]);
        expect(await store.countRecords(p as JurisdictionId)).toBe(1);
        expect(
          (await store.scanRecords({ jurisdiction: p as JurisdictionId, limit: 100 })).map(plain),
        ).toEqual([plain(v2)]);
        // as a key of an existing subject
        expect(await store.putRecord(storedRecord('sentinel', p), 0)).toBe('written');
        expect((await store.listRecords('sentinel' as SubjectId, US)).map((r) => r.key)).toEqual(
          ['a', 'b', p].sort((x, y) => Buffer.compare(utf8(x), utf8(y))),
        );
        expect(await store.deleteRecord('sentinel' as SubjectId, p as RecordKey, US)).toBe(true);
        expect(await store.deleteRecord(p as SubjectId, 'a' as RecordKey, US)).toBe(false);
        expect(await store.deleteSubject(p as SubjectId, US)).toBe(0);
        expect(await store.deleteSubject(p as SubjectId, p as JurisdictionId)).toBe(1);

        expect(await directory.register(p as SubjectId, US)).toBe('created');
        expect(await directory.register(p as SubjectId, EU)).toBe('conflict');
        expect(await directory.lookup(p as SubjectId)).toBe(US);
        expect(await directory.remove(p as SubjectId)).toBe(true);
        expect(await directory.lookup(p as SubjectId)).toBeUndefined();
      }

      expect(await store.countRecords()).toBe(sentinels.length);
      for (const r of sentinels) expect(plain(await store.getRecord(r.subjectId, r.key))).toEqual(plain(r));
      expect(await directory.lookup('sentinel' as SubjectId)).toBe(US);
      expect(await tables()).toEqual(tablesBefore);
    } finally {
      await cleanup();
    }
  });
});

describe('the postgres region store and subject directory', () => {
  it('refuse an id holding U+0000, which PostgreSQL text cannot hold, and write nothing', async () => {
    const { store, directory, cleanup } = await openPostgresStores();
    try {
      const nul = PAYLOADS.find((p) => p.includes('\u0000')) ?? '';
      await expect(store.putRecord(storedRecord(nul, 'k'), 0)).rejects.toMatchObject({
        code: 'DOMICILE_ERR_STORE_UNAVAILABLE',
      });
      await expect(directory.register(nul as SubjectId, US)).rejects.toMatchObject({
        code: 'DOMICILE_ERR_STORE_UNAVAILABLE',
      });
      expect(await store.countRecords()).toBe(0);
    } finally {
      await cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Application databases read through a mapping file
// ---------------------------------------------------------------------------------------------

const config = demoConfig();

/** A mapping of the `customers` table below, with a key column; `database` and `table` as YAML. */
const mappingText = (database: string, table: string, subject = 'customer_ref') => `version: 1
name: crm
database: ${database}
table: ${table}
record:
  subject: ${subject}
  jurisdiction: { column: country }
  key: { column: kind }
  class: protected
  version: row_version
  value: { columns: [name, email] }
`;

/** Places in a mapping file that name a table or a column (the setting), and the file with `name` there. */
const MAPPED_NAMES: readonly [string, string, (name: string) => string][] = (() => {
  // JSON strings are YAML double-quoted scalars: the name arrives in the mapping intact
  const q = (name: string): string => JSON.stringify(name);
  const base = mappingText('{ sqlite: crm.db }', 'customers');
  return [
    ['the table', 'table', (n) => mappingText('{ sqlite: crm.db }', q(n))],
    ['the schema of the table', 'table', (n) => mappingText('{ sqlite: crm.db }', q(`${n}.customers`))],
    ['record.subject', 'record.subject', (n) => mappingText('{ sqlite: crm.db }', 'customers', q(n))],
    [
      'record.jurisdiction.column',
      'record.jurisdiction.column',
      (n) => base.replace('column: country', `column: ${q(n)}`),
    ],
    ['record.key.column', 'record.key.column', (n) => base.replace('column: kind', `column: ${q(n)}`)],
    ['record.version', 'record.version', (n) => base.replace('version: row_version', `version: ${q(n)}`)],
    [
      'record.value.columns[1]',
      'record.value.columns[1]',
      (n) => base.replace('[name, email]', `[name, ${q(n)}]`),
    ],
    [
      'record.value.json',
      'record.value.json',
      (n) => base.replace('{ columns: [name, email] }', `{ json: ${q(n)} }`),
    ],
  ];
})();

/** A row of the application's `customers` table. */
interface CustomerRow {
  readonly customer_ref: string;
  readonly country: string;
  readonly kind: string;
  readonly name: string;
  readonly email: string;
}

/**
 * The application's customers: US rows whose values are payloads (migrated as data), US rows
 * whose subject id or key is a payload (failures), rows whose country is a payload (not US:
 * left alone), and SG rows. Decoy tables named like Domicile's show that nothing was dropped.
 */
function customerRows(payloads: readonly string[]): {
  good: CustomerRow[];
  badSubject: CustomerRow[];
  badKey: CustomerRow[];
  others: CustomerRow[];
} {
  const n = payloads.length;
  const at = (i: number): string => payloads[i % n] ?? '';
  const countries = [...payloads, "US' OR '1'='1", "US'; --", 'US" --', 'us'];
  return {
    good: payloads.map((p, i) => ({
      customer_ref: `c-${i}`,
      country: 'US',
      kind: 'profile',
      name: p,
      email: at(i + 1),
    })),
    badSubject: payloads.map((p) => ({
      customer_ref: p,
      country: 'US',
      kind: 'profile',
      name: 'bad subject',
      email: '',
    })),
    badKey: payloads.map((p, i) => ({
      customer_ref: `k-${i}`,
      country: 'US',
      kind: p,
      name: 'bad key',
      email: '',
    })),
    others: [
      ...countries.map((c, i) => ({
        customer_ref: `j-${i}`,
        country: c,
        kind: 'profile',
        name: 'elsewhere',
        email: '',
      })),
      { customer_ref: 'sg-1', country: 'SG', kind: 'profile', name: 'Siti', email: 'siti@example.sg' },
    ],
  };
}

const DECOYS = ['records', 'tlog_entries', 'subjects', 'decoy'] as const;

/** Statements creating the application's tables, in SQL both engines read. */
const createApplicationTables = (prefix: string): string[] => [
  `CREATE TABLE ${prefix}customers (id INTEGER PRIMARY KEY, customer_ref TEXT, country TEXT, kind TEXT, name TEXT, email TEXT, row_version INTEGER NOT NULL DEFAULT 1)`,
  ...DECOYS.flatMap((t) => [
    `CREATE TABLE ${prefix}${t} (id INTEGER PRIMARY KEY, secret TEXT NOT NULL)`,
    `INSERT INTO ${prefix}${t} (id, secret) VALUES (1, '${t} one'), (2, '${t} two'), (3, '${t} three')`,
  ]),
];

const INSERT_CUSTOMER = (prefix: string, p: (i: number) => string) =>
  `INSERT INTO ${prefix}customers (id, customer_ref, country, kind, name, email) VALUES (${[1, 2, 3, 4, 5, 6].map(p).join(', ')})`;

/** Creates the application's SQLite file; returns its path. */
function createSqliteApplication(dir: string, rows: readonly CustomerRow[]): string {
  const file = join(dir, 'crm.db');
  const db = new Database(file);
  try {
    for (const sql of createApplicationTables('')) db.exec(sql);
    const insert = db.prepare(INSERT_CUSTOMER('', () => '?'));
    rows.forEach((r, i) => {
      insert.run(i + 1, r.customer_ref, r.country, r.kind, r.name, r.email);
    });
  } finally {
    db.close();
  }
  return file;
}

/** Every row of every table of the application's SQLite file, by table. */
function dumpSqlite(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all();
    return Object.fromEntries(
      tables.map(({ name }) => [
        name,
        db.prepare(`SELECT * FROM ${quoteIdentifier(name)} ORDER BY id`).all(),
      ]),
    );
  } finally {
    db.close();
  }
}

/** `rows` with only the given customers, as `dumpSqlite` shows them. */
function expectedDump(before: Record<string, unknown[]>, keep: (row: { country: string }) => boolean) {
  return { ...before, customers: (before.customers ?? []).filter((r) => keep(r as { country: string })) };
}

/** Every row of the filter, page after page of `limit` rows, as `migrate run` reads them. */
async function readAll(db: ForeignDatabase, filter: RowFilter, limit: number): Promise<ForeignRow[]> {
  const rows: ForeignRow[] = [];
  let after: { subject: string; key: string } | null = null;
  for (;;) {
    const page = await db.readPage(filter, after, limit);
    rows.push(...page);
    const last = page.at(-1);
    if (page.length < limit || last === undefined) return rows;
    after = { subject: last.subject ?? '', key: last.key ?? '' };
  }
}

const US_ROWS: RowFilter = { kind: 'values', values: ['US'] };
const byIds = (a: { subject: string | null; key: string | null }, b: typeof a) =>
  Buffer.compare(utf8(`${a.subject}\u0000${a.key}`), utf8(`${b.subject}\u0000${b.key}`));

describe('a mapping file naming tables and columns', () => {
  it.each(MAPPED_NAMES)(
    'refuses a payload as %s at parse time with DOMICILE_ERR_CONFIG',
    (_what, path, place) => {
      for (const p of PAYLOADS) {
        const text = place(p);
        let error: unknown;
        try {
          parseSourceMapping(text, 'crm.mapping.yaml', config);
        } catch (err) {
          error = err;
        }
        expect(error, p).toMatchObject({ code: 'DOMICILE_ERR_CONFIG' });
        expect((error as Error).message, p).toMatch(
          new RegExp(`crm\\.mapping\\.yaml:\\d+: ${path.replace(/[.[\]]/g, '\\$&')}: expected a `),
        );
      }
      // the same file with a plain name parses: the refusal is the name's
      expect(() => parseSourceMapping(place('customer_ref'), 'crm.mapping.yaml', config)).not.toThrow();
    },
  );

  it('quotes only plain identifiers: any other name is refused where SQL is written too', () => {
    for (const p of PAYLOADS) {
      expect(() => quoteIdentifier(p), p).toThrow(expect.objectContaining({ code: 'DOMICILE_ERR_CONFIG' }));
    }
    expect(quoteIdentifier('select')).toBe('"select"');
  });
});

interface ForeignFixture {
  readonly payloads: readonly string[];
  readonly mapping: (table?: string) => SourceMapping;
  readonly open: (mapping: SourceMapping, mode: 'read' | 'wipe') => Promise<ForeignDatabase>;
  /** Every row of every table, by table (`customers` ordered by id). */
  readonly dump: () => Promise<Record<string, unknown[]>>;
  /** Runs SQL on the application database (test setup only). */
  readonly exec: (sql: string) => Promise<void>;
  readonly cleanup: () => Promise<void>;
}

const FOREIGN_ADAPTERS: readonly [string, () => Promise<ForeignFixture>][] = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'domicile-sqli-app-'));
      const { good, badSubject, badKey, others } = customerRows(PAYLOADS);
      const file = createSqliteApplication(dir, [...good, ...badSubject, ...badKey, ...others]);
      return {
        payloads: PAYLOADS,
        mapping: (table = 'customers') =>
          parseSourceMapping(mappingText('{ sqlite: crm.db }', table), join(dir, 'crm.mapping.yaml'), config),
        open: async (mapping, mode) => openSqliteForeignDatabase({ mapping, file, mode }),
        dump: async () => dumpSqlite(file),
        exec: async (sql) => {
          const db = new Database(file);
          db.exec(sql);
          db.close();
        },
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const schema = newSchemaName('sqli_app');
      const prefix = `${schema}.`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      for (const sql of createApplicationTables(prefix)) await admin.query(sql);
      const { good, badSubject, badKey, others } = customerRows(PG_PAYLOADS);
      const rows = [...good, ...badSubject, ...badKey, ...others];
      for (const [i, r] of rows.entries()) {
        await admin.query(
          INSERT_CUSTOMER(prefix, (n) => `$${n}`),
          [i + 1, r.customer_ref, r.country, r.kind, r.name, r.email],
        );
      }
      return {
        payloads: PG_PAYLOADS,
        mapping: (table = 'customers') =>
          parseSourceMapping(
            mappingText(`{ postgres: ${JSON.stringify(pgUrl)} }`, `${schema}.${table}`),
            'crm.mapping.yaml',
            config,
          ),
        open: (mapping, mode) => openPostgresForeignDatabase({ mapping, url: pgUrl, mode }),
        dump: async () => {
          const tables = (
            await admin.query<{ name: string }>(
              'SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY 1',
              [schema],
            )
          ).rows;
          const out: Record<string, unknown[]> = {};
          for (const { name } of tables) {
            out[name] = (
              await admin.query(
                `SELECT * FROM ${quoteIdentifier(schema)}.${quoteIdentifier(name)} ORDER BY id`,
              )
            ).rows;
          }
          return out;
        },
        exec: async (sql) => {
          await admin.query(`SET search_path TO ${schema}; ${sql}; SET search_path TO DEFAULT`);
        },
        cleanup: () => dropSchema(schema),
      };
    },
  ],
];

describe.each(FOREIGN_ADAPTERS)('a %s application database read through a mapping', (_name, create) => {
  it('reads payload cells as data, page by page, and wipes exactly the jurisdiction’s rows', async () => {
    const app = await create();
    try {
      const before = await app.dump();
      expect(Object.keys(before)).toEqual([...DECOYS, 'customers'].sort());
      const { good, badSubject, badKey, others } = customerRows(app.payloads);
      const usRows = [...good, ...badSubject, ...badKey];
      const mapping = app.mapping();

      const reader = await app.open(mapping, 'read');
      try {
        expect(await reader.measure(US_ROWS)).toMatchObject({ rows: usRows.length, others: others.length });
        // pages of 2: every cursor is a payload subject id or key
        const rows = await readAll(reader, US_ROWS, 2);
        const expected = usRows.map((r) => ({
          subject: r.customer_ref,
          key: r.kind,
          version: expect.anything(),
          values: [r.name, r.email],
        }));
        expect([...rows].sort(byIds)).toEqual([...expected].sort(byIds));
        expect(rows).toHaveLength(usRows.length);
        // the values arrive byte for byte
        for (const row of rows.filter((r) => r.subject?.startsWith('c-'))) {
          const source = good.find((g) => g.customer_ref === row.subject);
          expect(utf8(String(row.values[0])).equals(utf8(source?.name ?? '?'))).toBe(true);
        }
      } finally {
        await reader.close();
      }
      expect(await app.dump()).toEqual(before);

      const wiper = await app.open(mapping, 'wipe');
      try {
        const shown: ForeignRow[] = [];
        const outcome = await wiper.wipe(US_ROWS, (page) => {
          shown.push(...page);
        });
        expect(outcome.deleted).toBe(usRows.length);
        expect(shown).toHaveLength(usRows.length);
        expect(await wiper.countByFullScan(US_ROWS)).toBe(0);
      } finally {
        await wiper.close();
      }
      // the other jurisdictions' rows (payload countries included) and every decoy are as they were
      expect(await app.dump()).toEqual(expectedDump(before, (r) => r.country !== 'US'));
    } finally {
      await app.cleanup();
    }
  });

  it('quotes table and column names that are SQL keywords, so they stay names', async () => {
    const app = await create();
    try {
      await app.exec(
        'CREATE TABLE "order" ("select" TEXT, "where" TEXT, "group" TEXT, "from" TEXT, "union" TEXT, "drop" INTEGER); ' +
          `INSERT INTO "order" VALUES ('s-1', 'US', 'k', 'v1', 'w1', 1), ('s-2', 'SG', 'k', 'v2', 'w2', 1)`,
      );
      const base = app.mapping('order');
      const mapping: SourceMapping = {
        ...base,
        subjectColumn: 'select',
        jurisdiction: { column: 'where' },
        key: { column: 'group' },
        versionColumn: 'drop',
        value: { columns: ['from', 'union'] },
      };
      const db = await app.open(mapping, 'read');
      try {
        expect(await readAll(db, US_ROWS, 1)).toEqual([
          { subject: 's-1', key: 'k', version: expect.anything(), values: ['v1', 'w1'] },
        ]);
      } finally {
        await db.close();
      }
    } finally {
      await app.cleanup();
    }
  });

  it('refuses, when opened, a mapping whose names bypassed the parser, and drops nothing', async () => {
    const app = await create();
    try {
      const before = await app.dump();
      const base = app.mapping();
      for (const p of app.payloads) {
        const rows = base.rows.kind === 'table' ? base.rows : undefined;
        for (const mapping of [
          { ...base, rows: { kind: 'table' as const, schema: rows?.schema, table: p } },
          { ...base, subjectColumn: p },
          { ...base, value: { columns: ['name', p] } },
        ]) {
          await expect(app.open(mapping, 'wipe'), p).rejects.toMatchObject({ code: 'DOMICILE_ERR_CONFIG' });
        }
      }
      expect(await app.dump()).toEqual(before);
    } finally {
      await app.cleanup();
    }
  });
});

describe('domicile migrate and wipe on a SQLite application database holding payloads', () => {
  let d: TestDeployment;
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    d = await openTestDeployment();
    dir = mkdtempSync(join(tmpdir(), 'domicile-sqli-cli-'));
  });
  afterAll(async () => {
    await d?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const cli = (args: string[]) => run(args, { ...d.env, DOMICILE_DATA: d.dataDir });
  const from = (mapping: string) => ['--jurisdiction', 'US', '--from', mapping, '--to', 'oci-us-ashburn'];

  it('refuses a payload table name with exit 3 before reading, and every table stays', () => {
    const { good, others } = customerRows(PAYLOADS);
    const file = createSqliteApplication(dir, [...good, ...others]);
    const before = dumpSqlite(file);
    const mapping = join(dir, 'hostile.mapping.yaml');
    writeFileSync(mapping, mappingText('{ sqlite: crm.db }', '"customers; DROP TABLE decoy; --"'));
    const plan = cli(['migrate', 'plan', ...from(mapping)]);
    expect(plan.code).toBe(3);
    expect(plan.stderr).toContain('DOMICILE_ERR_CONFIG');
    expect(plan.stderr).toContain(`${mapping}:4: table: expected a table name`);
    const wipe = cli(['wipe', '--from', mapping, '--jurisdiction', 'US', '--force', '--reason', 'test']);
    expect(wipe.code).toBe(3);
    expect(dumpSqlite(file)).toEqual(before);
    rmSync(file);
  });

  it('migrates payload values verbatim, reports payload ids as failures, and wipes only the jurisdiction', async () => {
    const { good, badSubject, badKey, others } = customerRows(PAYLOADS);
    const file = createSqliteApplication(dir, [...good, ...badSubject, ...badKey, ...others]);
    const before = dumpSqlite(file);
    const mapping = join(dir, 'crm.mapping.yaml');
    writeFileSync(mapping, mappingText('{ sqlite: crm.db }', 'customers'));

    const plan = cli(['--json', 'migrate', 'plan', ...from(mapping)]);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({
      records: good.length + badSubject.length + badKey.length,
      otherJurisdictions: others.length,
    });

    const result = cli(['--json', 'migrate', 'run', ...from(mapping), '--batch', '3']);
    expect(result.code).toBe(1);
    const done = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '');
    expect(done).toMatchObject({
      status: 'done',
      copied: good.length,
      failed: badSubject.length + badKey.length,
    });
    const failures = (done.failures as { subjectId: string; key: string; reason: string }[]).sort(byIdsOf);
    expect(failures).toEqual(
      [
        ...badSubject.map((r) => ({
          subjectId: r.customer_ref,
          key: 'profile',
          reason: 'invalid subject id: expected [A-Za-z0-9._:-]{1,128}',
        })),
        ...badKey.map((r) => ({
          subjectId: r.customer_ref,
          key: r.kind,
          reason: 'invalid record key: expected [A-Za-z0-9._:-]{1,128}',
        })),
      ].sort(byIdsOf),
    );
    expect(dumpSqlite(file)).toEqual(before);

    // the values are served as they were in the application's cells
    const headers = await d.auth(US_STEWARD);
    for (const row of good) {
      const got = await d.app.inject({ url: `/v1/subjects/${row.customer_ref}/records/profile`, headers });
      expect(got.statusCode).toBe(200);
      const value = got.json().value as { name: string; email: string };
      expect(utf8(value.name).equals(utf8(row.name)) && utf8(value.email).equals(utf8(row.email))).toBe(true);
    }
    // nothing of another jurisdiction was registered
    for (const row of others) expect(await d.directory.lookup(row.customer_ref as SubjectId)).toBeUndefined();

    const wipe = ['--json', 'wipe', '--from', mapping, '--force'];
    const hostile = cli([...wipe, '--jurisdiction', "US' OR '1'='1", '--reason', 'test']);
    expect(hostile.code).toBe(1);
    expect(JSON.parse(hostile.stdout).error.code).toBe('DOMICILE_ERR_UNKNOWN_JURISDICTION');
    expect(dumpSqlite(file)).toEqual(before);

    const reason = "'; DROP TABLE decoy; --";
    const wiped = cli([...wipe, '--jurisdiction', 'US', '--reason', reason]);
    expect(wiped.code).toBe(0);
    expect(JSON.parse(wiped.stdout)).toMatchObject({
      deletedRecords: good.length + badSubject.length + badKey.length,
      remainingRecords: 0,
    });
    expect(dumpSqlite(file)).toEqual(expectedDump(before, (r) => r.country !== 'US'));
    const forced = (await logEntries(d, 'US')).find((e) => e.type === 'wipe.force');
    expect(forced?.details.operatorReason).toBe(reason);
  });
});

function byIdsOf(a: { subjectId: string; key: string }, b: { subjectId: string; key: string }): number {
  return byIds({ subject: a.subjectId, key: a.key }, { subject: b.subjectId, key: b.key });
}
