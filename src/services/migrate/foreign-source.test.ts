/**
 * The application-database source over both adapters (a real SQLite file, the run's PostgreSQL
 * server): the same table, the same mapping, the same rows out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoConfig } from '../../../test/support/deployment.js';
import { newSchemaName, postgresUrl } from '../../../test/support/postgres.js';
import type { JurisdictionId } from '../../domain/ids.js';
import { parseSourceMapping, type SourceMapping } from '../../domain/source-mapping.js';
import type { ForeignDatabase } from '../../store/foreign-database.js';
import { openPostgresForeignDatabase } from '../../store/postgres/postgres-foreign-database.js';
import { openSqliteForeignDatabase } from '../../store/sqlite/sqlite-foreign-database.js';
import { foreignSource, foreignWipeStorage } from './foreign-source.js';
import type { SourceRow } from './migration.js';

const config = demoConfig();
const US = 'US' as JurisdictionId;
const EU = 'EU' as JurisdictionId;

/** (subject, key, country, version, note): ids as numbers and text, NULLs, a duplicate, bad versions. */
const ROWS: [number | string | null, string | null, string | null, number | string, string][] = [
  [1, 'a', 'US', 1, 'one'],
  [2, 'a', 'DE', 1, 'eu by country'],
  [10, 'a', 'US', 3, 'ten'],
  [10, 'b', 'US', 1, 'ten b'],
  [100, 'a', 'US', 2, 'hundred'],
  [100, 'a', 'US', 2, 'hundred again'],
  [11, 'a', 'US', 1, 'eleven'],
  [null, 'a', 'US', 1, 'no subject'],
  ['bad id', 'a', 'US', 1, 'bad subject'],
  [12, null, 'US', 1, 'no key'],
  [13, 'a', 'US', 0, 'version zero'],
  [14, 'a', null, 1, 'no jurisdiction'],
  [15, 'a', 'SG', 1, 'sg'],
  ['u-9', 'z', 'US', 7, 'text id'],
];

/** What the rows of US must read as, in byte order of (subject id as text, key). */
const US_ROWS = [
  { subjectId: '', key: 'a', reason: 'subject id column `subject_id` is NULL' },
  { subjectId: '1', key: 'a', version: 1, value: { note: 'one' } },
  { subjectId: '10', key: 'a', version: 3, value: { note: 'ten' } },
  { subjectId: '10', key: 'b', version: 1, value: { note: 'ten b' } },
  { subjectId: '100', key: 'a', reason: '2 rows share this subject id and key' },
  { subjectId: '11', key: 'a', version: 1, value: { note: 'eleven' } },
  { subjectId: '12', key: '', reason: 'record key is NULL' },
  { subjectId: '13', key: 'a', reason: 'version column `version` is not a positive integer' },
  { subjectId: 'bad id', key: 'a', reason: 'invalid subject id: expected [A-Za-z0-9._:-]{1,128}' },
  { subjectId: 'u-9', key: 'z', version: 7, value: { note: 'text id' } },
];

const mappingText = (database: string, table: string) => `version: 1
name: app
database: ${database}
table: ${table}
record:
  subject: subject_id
  jurisdiction: { column: country }
  key: { column: record_key }
  class: protected
  version: version
  value: { columns: [note] }
`;

const plain = (row: SourceRow) =>
  row.ok
    ? {
        subjectId: row.record.subjectId,
        key: row.record.key,
        version: row.record.version,
        value: JSON.parse(Buffer.from(row.record.plaintext).toString('utf8')),
      }
    : { subjectId: row.subjectId, key: row.key, reason: row.reason };

async function readAll(database: ForeignDatabase, mapping: SourceMapping, pageSize: number) {
  const source = foreignSource({ config, mapping, jurisdiction: US, database });
  const out: SourceRow[] = [];
  let after: { subjectId: string; key: string } | null = null;
  for (;;) {
    const page = await source.readPage(after, pageSize);
    if (page.length === 0) return out.map(plain);
    out.push(...page);
    const last = page.at(-1);
    if (!last) break;
    after = last.ok ? { subjectId: last.record.subjectId, key: last.record.key } : last;
  }
  return out.map(plain);
}

interface Adapter {
  readonly name: string;
  setUp(): Promise<void>;
  open(mode: 'read' | 'wipe'): Promise<{ database: ForeignDatabase; mapping: SourceMapping }>;
  count(where: string): Promise<number>;
  tearDown(): Promise<void>;
}

function sqliteAdapter(): Adapter {
  let dir = '';
  let file = '';
  return {
    name: 'sqlite',
    async setUp() {
      dir = mkdtempSync(join(tmpdir(), 'domicile-foreign-'));
      file = join(dir, 'app.db');
      const db = new Database(file);
      // no declared types: SQLite keeps integers as integers, as an application's file may
      db.exec('CREATE TABLE records (subject_id, record_key, country, version, note)');
      const insert = db.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?)');
      // integers bound as bigint are stored as INTEGER (a JS number would be stored as REAL)
      for (const row of ROWS) insert.run(...row.map((v) => (typeof v === 'number' ? BigInt(v) : v)));
      db.close();
    },
    async open(mode) {
      const mapping = parseSourceMapping(
        mappingText('{ sqlite: app.db }', 'records'),
        join(dir, 'm.yaml'),
        config,
      );
      return { mapping, database: openSqliteForeignDatabase({ mapping, file, mode }) };
    },
    async count(where) {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare(`SELECT count(*) AS n FROM records WHERE ${where}`).get() as { n: number }).n;
      } finally {
        db.close();
      }
    },
    async tearDown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresAdapter(): Adapter {
  const url = postgresUrl();
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  const schema = newSchemaName('app');
  return {
    name: 'postgres',
    async setUp() {
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(
        `CREATE TABLE ${schema}.records (subject_id TEXT, record_key TEXT, country TEXT, version TEXT, note TEXT)`,
      );
      for (const row of ROWS) {
        await admin.query(
          `INSERT INTO ${schema}.records VALUES ($1, $2, $3, $4, $5)`,
          row.map((v) => v?.toString() ?? null),
        );
      }
    },
    async open(mode) {
      const mapping = parseSourceMapping(
        mappingText(`{ postgres: "${url}" }`, `${schema}.records`),
        'm.yaml',
        config,
      );
      return { mapping, database: await openPostgresForeignDatabase({ mapping, url, mode }) };
    },
    async count(where) {
      const result = await admin.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${schema}.records WHERE ${where}`,
      );
      return Number(result.rows[0]?.n);
    },
    async tearDown() {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

describe.each([sqliteAdapter(), postgresAdapter()])('foreignSource over $name', (adapter) => {
  beforeAll(() => adapter.setUp());
  afterAll(() => adapter.tearDown());

  it('reads the jurisdiction’s rows in byte order of the ids as text, each bad row with its reason', async () => {
    const { database, mapping } = await adapter.open('read');
    try {
      expect(await readAll(database, mapping, 1_000)).toEqual(US_ROWS);
    } finally {
      await database.close();
    }
  });

  it('gives the same rows whatever the page size: a page never splits rows sharing a subject id and key', async () => {
    const { database, mapping } = await adapter.open('read');
    try {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 12 }), async (pageSize) => {
          expect(await readAll(database, mapping, pageSize)).toEqual(US_ROWS);
        }),
        { numRuns: 12 },
      );
    } finally {
      await database.close();
    }
  });

  it('counts the jurisdiction’s rows (a country of it counts) and the others (another, none)', async () => {
    const { database, mapping } = await adapter.open('read');
    try {
      const us = foreignSource({ config, mapping, jurisdiction: US, database });
      expect(await us.measure()).toMatchObject({ records: 11, otherJurisdictions: 3 });
      const eu = foreignSource({ config, mapping, jurisdiction: EU, database });
      expect(await eu.measure()).toMatchObject({ records: 1, otherJurisdictions: 13 });
      expect((await eu.readPage(null, 10)).map(plain)).toEqual([
        { subjectId: '2', key: 'a', version: 1, value: { note: 'eu by country' } },
      ]);
    } finally {
      await database.close();
    }
  });

  it('cannot write through a reading connection', async () => {
    const { database, mapping } = await adapter.open('read');
    try {
      const storage = foreignWipeStorage({ config, mapping, jurisdiction: EU, database, secureErase: false });
      await expect(storage.deleteAll(() => {})).rejects.toMatchObject({
        code: 'DOMICILE_ERR_SOURCE_UNAVAILABLE',
      });
      expect(await adapter.count("country = 'DE'")).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('wipes only the jurisdiction’s rows, showing each before it goes, and scans to zero', async () => {
    const { database, mapping } = await adapter.open('wipe');
    try {
      const storage = foreignWipeStorage({ config, mapping, jurisdiction: US, database, secureErase: true });
      const seen: string[] = [];
      const deleted = await storage.deleteAll((rows) => {
        for (const r of rows) seen.push(`${r.subjectId}/${r.key}/${r.version}`);
      });
      expect(deleted).toBe(11);
      expect(seen).toHaveLength(11);
      expect(seen).toContain('100/a/2');
      expect(await storage.countByFullScan()).toBe(0);
      expect(await adapter.count("country = 'US'")).toBe(0);
      expect(await adapter.count('true')).toBe(3);
    } finally {
      await database.close();
    }
  });
});
