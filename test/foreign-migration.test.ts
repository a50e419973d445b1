/**
 * `domicile migrate` and `domicile wipe` from an application database described by a mapping
 * file, as an operator runs them: real child processes on the data folder of an open deployment,
 * a real SQLite file of the application, and the run's PostgreSQL server.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId, SubjectId } from '../src/domain/ids.js';
import type { SqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import { bin, requireBuild, run } from './support/cli.js';
import { logEntries, openTestDeployment, type TestDeployment, US_STEWARD } from './support/deployment.js';
import { HOME, US } from './support/legacy.js';
import { newSchemaName, postgresUrl } from './support/postgres.js';

let d: TestDeployment | undefined;
let appDir: string | undefined;
const open = async (): Promise<TestDeployment> => {
  d = await openTestDeployment();
  appDir = mkdtempSync(join(tmpdir(), 'domicile-app-'));
  return d;
};
afterEach(async () => {
  await d?.cleanup();
  d = undefined;
  if (appDir) rmSync(appDir, { recursive: true, force: true });
  appDir = undefined;
});
beforeAll(() => requireBuild());

const cli = (dep: TestDeployment, args: string[], env: Record<string, string> = {}) =>
  run(args, { ...dep.env, DOMICILE_DATA: dep.dataDir, ...env });

const lastLine = (stdout: string): Record<string, unknown> =>
  JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;

/** Country of the i-th customer: US, SG, DE (an EU country) in turn. */
const countryOf = (i: number): string => ['US', 'SG', 'DE'][i % 3] ?? 'US';
const refOf = (i: number): string => `cust-${String(i).padStart(4, '0')}`;
const emailOf = (i: number): string => `customer-${i}-${countryOf(i).toLowerCase()}@example.com`;

/** The application's own SQLite database: customers of three jurisdictions in one table. */
function createCrm(dir: string, customers: number): string {
  const file = join(dir, 'crm.db');
  const db = new Database(file);
  db.exec(`CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    customer_ref TEXT,
    country TEXT,
    name TEXT,
    email TEXT,
    balance,
    row_version INTEGER NOT NULL DEFAULT 1
  )`);
  const insert = db.prepare(
    'INSERT INTO customers (customer_ref, country, name, email, balance) VALUES (?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (let i = 0; i < customers; i++) insert.run(refOf(i), countryOf(i), `Name ${i}`, emailOf(i), i * 10);
  })();
  db.close();
  return file;
}

const CUSTOMERS_MAPPING = `# the CRM's customers, one record per customer
version: 1
name: crm
database:
  sqlite: crm.db
table: customers
record:
  subject: customer_ref
  jurisdiction: { column: country }
  key: { fixed: profile }
  class: protected
  value: { columns: [name, email, balance] }
`;

function writeMapping(dir: string, text: string, name = 'crm.mapping.yaml'): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const from = (mapping: string, jurisdiction = 'US', to = 'oci-us-ashburn') => [
  '--jurisdiction',
  jurisdiction,
  '--from',
  mapping,
  '--to',
  to,
];

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('domicile migrate from a SQLite application database', () => {
  it('migrates the rows of the jurisdiction, leaves and counts the others, verifies and serves them home', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    const crm = createCrm(dir, 300);
    const mapping = writeMapping(dir, CUSTOMERS_MAPPING);
    const before = sha256(crm);

    const refused = cli(dep, ['--json', 'migrate', 'plan', ...from(mapping, 'US', 'sg-singapore')]);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error.code).toBe('DOMICILE_ERR_RESIDENCY');

    const plan = cli(dep, ['--json', 'migrate', 'plan', ...from(mapping), '--batch', '40']);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({
      id: 'US:foreign:crm:oci-us-ashburn',
      source: 'foreign:crm',
      records: 100,
      otherJurisdictions: 200,
      batches: 3,
    });
    expect(JSON.parse(plan.stdout).bytes).toBeGreaterThan(100 * 20);

    const result = cli(dep, ['--json', 'migrate', 'run', ...from(mapping), '--batch', '40']);
    expect(result.code).toBe(0);
    expect(lastLine(result.stdout)).toMatchObject({ status: 'done', processed: 100, copied: 100, failed: 0 });
    const home = dep.stores.get(HOME) as SqliteRegionStore;
    expect(await home.countRecords(US)).toBe(100);

    const verify = cli(dep, ['--json', 'migrate', 'verify', ...from(mapping)]);
    expect(verify.code).toBe(0);
    const report = JSON.parse(verify.stdout);
    expect(report).toMatchObject({ passed: true, records: 100, differenceCount: 0 });
    expect(report.sourceRoot).toBe(report.targetRoot);

    // the subject was registered in US as it was migrated; its record is the row's columns
    const got = await dep.app.inject({
      url: `/v1/subjects/${refOf(3)}/records/profile`,
      headers: await dep.auth(US_STEWARD),
    });
    expect(got.statusCode).toBe(200);
    expect(got.headers['x-domicile-region']).toBe(HOME);
    expect(got.json()).toMatchObject({
      value: { name: 'Name 3', email: emailOf(3), balance: 30 },
      version: 1,
    });
    // an SG customer was left alone: not registered, not copied
    const sg = await dep.app.inject({
      url: `/v1/subjects/${refOf(1)}/records/profile`,
      headers: await dep.auth(US_STEWARD),
    });
    expect(sg.statusCode).toBe(404);
    // the application's file was only read
    expect(sha256(crm)).toBe(before);

    const entries = await logEntries(dep, 'US');
    expect(entries.filter((e) => e.type === 'migrate.batch')).toHaveLength(3);
    const transfers = entries.filter((e) => e.type === 'transfer.migration');
    expect(transfers.length).toBe(3);
    expect(transfers.every((e) => e.decision === 'allow' && e.details.sourceRegion === 'foreign:crm')).toBe(
      true,
    );
    const status = cli(dep, ['--json', 'migrate', 'status']);
    expect(JSON.parse(status.stdout)).toEqual([
      expect.objectContaining({
        id: 'US:foreign:crm:oci-us-ashburn',
        verification: expect.objectContaining({ passed: true }),
      }),
    ]);
  });

  it('reads a mapping with a fixed jurisdiction, a key column and a JSON value column', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    const db = new Database(join(dir, 'prefs.db'));
    db.exec('CREATE TABLE user_settings (user_id INTEGER, setting TEXT, payload TEXT)');
    const insert = db.prepare('INSERT INTO user_settings VALUES (?, ?, ?)');
    for (let u = 1; u <= 20; u++) {
      for (const setting of ['theme', 'locale', 'alerts']) {
        insert.run(u, setting, JSON.stringify({ setting, user: u, on: u % 2 === 0 }));
      }
    }
    db.close();
    const mapping = writeMapping(
      dir,
      `version: 1
name: prefs
database: { sqlite: prefs.db }
table: user_settings
record:
  subject: user_id
  jurisdiction: { fixed: US }
  key: { column: setting }
  class: protected
  value: { json: payload }
`,
      'prefs.yaml',
    );
    // another jurisdiction: nothing of it in a US-only database, every row left alone
    const sgPlan = cli(dep, ['--json', 'migrate', 'plan', ...from(mapping, 'SG', 'sg-singapore')]);
    expect(sgPlan.code).toBe(0);
    expect(JSON.parse(sgPlan.stdout)).toMatchObject({ records: 0, otherJurisdictions: 60 });

    const result = cli(dep, ['--json', 'migrate', 'run', ...from(mapping), '--batch', '7']);
    expect(result.code).toBe(0);
    expect(lastLine(result.stdout)).toMatchObject({ processed: 60, copied: 60, failed: 0 });
    const verify = cli(dep, ['--json', 'migrate', 'verify', ...from(mapping)]);
    expect(JSON.parse(verify.stdout)).toMatchObject({ passed: true, records: 60 });
    const got = await dep.app.inject({
      url: '/v1/subjects/12/records/locale',
      headers: await dep.auth(US_STEWARD),
    });
    expect(got.json()).toMatchObject({ value: { setting: 'locale', user: 12, on: true } });
  });

  it('reports each bad row with its key, migrates the rest, and verify lists them', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    const crm = createCrm(dir, 90);
    const db = new Database(crm);
    const add = db.prepare(
      'INSERT INTO customers (customer_ref, country, name, email, balance) VALUES (?, ?, ?, ?, ?)',
    );
    add.run(null, 'US', 'No Ref', 'noref@example.com', 1);
    add.run('bad id!', 'US', 'Bad Id', 'bad@example.com', 2);
    add.run('cust-blob', 'US', 'Blob', 'blob@example.com', Buffer.from([1, 2, 3]));
    add.run(refOf(0), 'US', 'Second Name 0', 'dup@example.com', 3); // a second row for customer 0
    db.close();
    const mapping = writeMapping(dir, CUSTOMERS_MAPPING);

    const result = cli(dep, ['--json', 'migrate', 'run', ...from(mapping), '--batch', '10']);
    expect(result.code).toBe(1);
    const done = lastLine(result.stdout);
    // 30 US customers + 4 added rows, of which customer 0's two rows are one (failed) record
    expect(done).toMatchObject({ status: 'done', processed: 33, copied: 29, failed: 4 });
    expect(done.failures).toEqual([
      { subjectId: '', key: 'profile', reason: 'subject id column `customer_ref` is NULL' },
      { subjectId: 'bad id!', key: 'profile', reason: 'invalid subject id: expected [A-Za-z0-9._:-]{1,128}' },
      { subjectId: refOf(0), key: 'profile', reason: '2 rows share this subject id and key' },
      { subjectId: 'cust-blob', key: 'profile', reason: 'column `balance` holds binary data' },
    ]);
    // the reasons name columns, never values
    expect(result.stdout).not.toContain('dup@example.com');

    const verify = cli(dep, ['--json', 'migrate', 'verify', ...from(mapping)]);
    expect(verify.code).toBe(2);
    const report = JSON.parse(verify.stdout);
    expect(report).toMatchObject({ passed: false, records: 29, differenceCount: 4 });
    expect(report.differences.map((x: { subjectId: string; kind: string }) => [x.subjectId, x.kind])).toEqual(
      [
        ['', 'unreadable-source'],
        ['bad id!', 'unreadable-source'],
        [refOf(0), 'unreadable-source'],
        ['cust-blob', 'unreadable-source'],
      ],
    );
    // the human output shows them too
    const text = cli(dep, ['migrate', 'verify', ...from(mapping)]);
    expect(text.stdout).toContain(
      'unreadable-source: subject cust-blob key profile (column `balance` holds binary data)',
    );
  });

  it('resumes after a kill from its checkpoint, and a re-run only picks up rows added since', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    const crm = createCrm(dir, 600);
    const mapping = writeMapping(dir, CUSTOMERS_MAPPING);
    // killed once the first batch is committed (slowed down so the kill lands mid-run)
    const child = spawn(
      process.execPath,
      [bin, '--json', 'migrate', 'run', ...from(mapping), '--batch', '20', '--rate', '100'],
      {
        env: { ...process.env, ...dep.env, DOMICILE_DATA: dep.dataDir },
      },
    );
    const killedAt = await new Promise<number>((resolve) => {
      let done = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        const m = /"done":(\d+)/.exec(chunk.toString());
        if (m?.[1] && done === 0) {
          done = Number(m[1]);
          child.kill('SIGKILL');
        }
      });
      child.once('exit', () => resolve(done));
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(200);

    const resumed = cli(dep, ['--json', 'migrate', 'run', ...from(mapping), '--batch', '20']);
    expect(resumed.code).toBe(0);
    const lines = resumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // it went on from the checkpoint, not from the start
    expect(lines[0]).toMatchObject({ event: 'progress' });
    expect(lines[0].done).toBeGreaterThan(20);
    expect(lines.at(-1)).toMatchObject({ status: 'done', processed: 200, failed: 0 });
    expect(lines.at(-1).copied + lines.at(-1).skipped).toBe(200);
    const home = dep.stores.get(HOME) as SqliteRegionStore;
    expect(await home.countRecords(US)).toBe(200);

    // idempotent: a finished migration re-run changes nothing
    const again = cli(dep, ['--json', 'migrate', 'run', ...from(mapping)]);
    expect(lastLine(again.stdout)).toMatchObject({ processed: 200, copied: lines.at(-1).copied });

    // rows the application added after the cursor are picked up by the next run
    const db = new Database(crm);
    db.prepare(
      'INSERT INTO customers (customer_ref, country, name, email, balance) VALUES (?, ?, ?, ?, ?)',
    ).run('cust-9999', 'US', 'Late', 'late@example.com', 5);
    db.close();
    const late = cli(dep, ['--json', 'migrate', 'run', ...from(mapping)]);
    expect(lastLine(late.stdout)).toMatchObject({ processed: 201, copied: lines.at(-1).copied + 1 });
    expect(cli(dep, ['--json', 'migrate', 'verify', ...from(mapping)]).code).toBe(0);
  });

  it('never overwrites a newer record written through the API', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    createCrm(dir, 30);
    const mapping = writeMapping(dir, CUSTOMERS_MAPPING);
    const auth = await dep.auth(US_STEWARD);
    const subject = refOf(6);
    const registered = await dep.app.inject({
      method: 'PUT',
      url: `/v1/subjects/${subject}`,
      headers: auth,
      payload: { jurisdiction: 'US' },
    });
    expect(registered.statusCode).toBe(201);
    for (const value of ['live-1', 'live-2']) {
      const put = await dep.app.inject({
        method: 'PUT',
        url: `/v1/subjects/${subject}/records/profile`,
        headers: auth,
        payload: { class: 'protected', value },
      });
      expect(put.statusCode).toBe(200);
    }
    const result = cli(dep, ['--json', 'migrate', 'run', ...from(mapping)]);
    expect(result.code).toBe(0);
    expect(lastLine(result.stdout)).toMatchObject({ processed: 10, copied: 9, skipped: 1 });
    const got = await dep.app.inject({ url: `/v1/subjects/${subject}/records/profile`, headers: auth });
    expect(got.json()).toMatchObject({ value: 'live-2', version: 2 });
    const verify = cli(dep, ['--json', 'migrate', 'verify', ...from(mapping)]);
    expect(JSON.parse(verify.stdout)).toMatchObject({ passed: true, superseded: 1, records: 9 });
  });

  it('refuses a subject registered in another jurisdiction, row by row', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    createCrm(dir, 30);
    const mapping = writeMapping(dir, CUSTOMERS_MAPPING);
    await dep.directory.register(refOf(9) as SubjectId, 'SG' as JurisdictionId);
    const result = cli(dep, ['--json', 'migrate', 'run', ...from(mapping)]);
    expect(result.code).toBe(1);
    expect(lastLine(result.stdout)).toMatchObject({
      copied: 9,
      failures: [
        { subjectId: refOf(9), key: 'profile', reason: 'subject is registered in another jurisdiction' },
      ],
    });
    expect(await dep.directory.lookup(refOf(9) as SubjectId)).toBe('SG');
  });
});

describe('domicile wipe --from a mapping file', () => {
  it('is refused before verify, then deletes exactly the jurisdiction’s rows so they are gone from the file, and logs a receipt', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    const crm = createCrm(dir, 300);
    const mapping = writeMapping(dir, CUSTOMERS_MAPPING);
    const wipe = ['--json', 'wipe', '--from', mapping, '--jurisdiction', 'US'];

    const early = cli(dep, wipe);
    expect(early.code).toBe(1);
    expect(JSON.parse(early.stdout).error.code).toBe('DOMICILE_ERR_MIGRATION_UNVERIFIED');
    expect(cli(dep, ['migrate', 'run', ...from(mapping)]).code).toBe(0);
    // run but not verified: still refused
    expect(JSON.parse(cli(dep, wipe).stdout).error.code).toBe('DOMICILE_ERR_MIGRATION_UNVERIFIED');
    const count = (where: string): number => {
      const db = new Database(crm, { readonly: true });
      try {
        return (db.prepare(`SELECT count(*) AS n FROM customers WHERE ${where}`).get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    expect(count("country = 'US'")).toBe(100);

    expect(cli(dep, ['migrate', 'verify', ...from(mapping)]).code).toBe(0);
    const wiped = cli(dep, wipe);
    expect(wiped.code).toBe(0);
    const receipt = JSON.parse(wiped.stdout);
    expect(receipt).toMatchObject({
      region: 'foreign:crm',
      deletedRecords: 100,
      remainingRecords: 0,
      forced: false,
      secureErase: true,
      notSecurelyErased: [],
    });
    expect(count("country = 'US'")).toBe(0);
    expect(count("country = 'SG'")).toBe(100);
    expect(count("country = 'DE'")).toBe(100);
    // the deleted rows cannot be carved out of the file; the others are still there
    const bytes = readFileSync(crm);
    expect(bytes.includes(Buffer.from(emailOf(3)))).toBe(false);
    expect(bytes.includes(Buffer.from(emailOf(4)))).toBe(true);

    const entries = await logEntries(dep, 'US');
    expect(entries.find((e) => e.type === 'wipe.refuse')?.decision).toBe('deny');
    const logged = entries.find((e) => e.type === 'wipe.receipt');
    expect(logged?.decision).toBe('allow');
    expect(logged?.details).toMatchObject({
      region: 'foreign:crm',
      deletedRecords: 100,
      remainingRecords: 0,
      deletedRoot: receipt.deletedRoot,
    });
  });

  it('cannot wipe a query mapping row by row: deletes nothing, says so, and exits 1', async () => {
    const dep = await open();
    const dir = appDir ?? '';
    const crm = createCrm(dir, 30);
    const mapping = writeMapping(
      dir,
      `version: 1
name: crm-report
database: { sqlite: crm.db }
query: |
  SELECT customer_ref AS ref, upper(country) AS jurisdiction, name, email
    FROM customers WHERE balance >= 0;
record:
  subject: ref
  jurisdiction: { column: jurisdiction }
  key: { fixed: profile }
  class: protected
  value: { columns: [name, email] }
`,
    );
    expect(cli(dep, ['migrate', 'run', ...from(mapping)]).code).toBe(0);
    expect(cli(dep, ['migrate', 'verify', ...from(mapping)]).code).toBe(0);
    const wiped = cli(dep, ['--json', 'wipe', '--from', mapping, '--jurisdiction', 'US']);
    expect(wiped.code).toBe(1);
    const receipt = JSON.parse(wiped.stdout);
    expect(receipt).toMatchObject({ deletedRecords: 0, remainingRecords: 10, secureErase: false });
    expect(receipt.notSecurelyErased[0]).toContain('reads a query');
    const db = new Database(crm, { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n).toBe(30);
    db.close();
  });
});

describe('an invalid mapping file', () => {
  const attempt = (dep: TestDeployment, text: string) => {
    const mapping = writeMapping(appDir ?? '', text);
    const result = cli(dep, ['migrate', 'plan', ...from(mapping)]);
    return { ...result, mapping };
  };

  it('is reported as file:line: path: reason, exit 3, before anything is read', async () => {
    const dep = await open();
    createCrm(appDir ?? '', 3);
    const noTable = attempt(dep, CUSTOMERS_MAPPING.replace('table: customers\n', ''));
    expect(noTable.code).toBe(3);
    expect(noTable.stderr).toContain('DOMICILE_ERR_CONFIG');
    expect(noTable.stderr).toContain(
      `${noTable.mapping}: table: expected exactly one of \`table\` or \`query\``,
    );

    const hostile = attempt(
      dep,
      CUSTOMERS_MAPPING.replace('subject: customer_ref', 'subject: "x\\"; DROP TABLE customers; --"'),
    );
    expect(hostile.code).toBe(3);
    expect(hostile.stderr).toContain(`${hostile.mapping}:8: record.subject: expected a column name`);

    const missingTable = attempt(dep, CUSTOMERS_MAPPING.replace('table: customers', 'table: clients'));
    expect(missingTable.code).toBe(3);
    expect(missingTable.stderr).toContain(
      `${missingTable.mapping}:6: table: no table \`clients\` in the database`,
    );

    const missingColumn = attempt(dep, CUSTOMERS_MAPPING.replace('[name, email, balance]', '[name, phone]'));
    expect(missingColumn.code).toBe(3);
    expect(missingColumn.stderr).toContain(
      `${missingColumn.mapping}:12: record.value.columns[1]: no column \`phone\` in the table`,
    );

    const writing = attempt(
      dep,
      CUSTOMERS_MAPPING.replace('table: customers', 'query: DELETE FROM customers RETURNING *'),
    );
    expect(writing.code).toBe(3);
    expect(writing.stderr).toContain(`${writing.mapping}:6: query: does not compile`);
    const db = new Database(join(appDir ?? '', 'crm.db'), { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n).toBe(3);
    db.close();
  });
});

describe('domicile migrate and wipe from a PostgreSQL application database', () => {
  const admin = new pg.Pool({ connectionString: postgresUrl(), max: 2 });
  afterAll(() => admin.end());

  it('plans, runs, verifies and wipes through a mapping whose URL comes from the environment', async () => {
    const dep = await open();
    const schema = newSchemaName('crm');
    await admin.query(`CREATE SCHEMA ${schema}`);
    try {
      await admin.query(`CREATE TABLE ${schema}.accounts (
        account_id BIGINT PRIMARY KEY, region_code TEXT, full_name TEXT, profile JSONB,
        opened_at TIMESTAMPTZ, revision BIGINT NOT NULL)`);
      // ids as numbers: ordered as text (1, 10, 100, 101…), the way the cursor compares them
      await admin.query(
        `INSERT INTO ${schema}.accounts
           SELECT i, (ARRAY['US', 'SG', 'FR'])[i % 3 + 1], 'Person ' || i,
                  jsonb_build_object('tier', i % 4, 'tags', jsonb_build_array('a', i)),
                  timestamptz '2020-01-01 00:00:00Z' + i * interval '1 day', 1 + i % 5
             FROM generate_series(1, 150) AS i`,
      );
      const mapping = writeMapping(
        appDir ?? '',
        `version: 1
name: accounts
database:
  postgresEnv: ACCOUNTS_DATABASE_URL
table: ${schema}.accounts
record:
  subject: account_id
  jurisdiction: { column: region_code }
  key: { fixed: account }
  class: protected
  version: revision
  value: { columns: [full_name, profile, opened_at] }
`,
      );
      const env = { ACCOUNTS_DATABASE_URL: postgresUrl() };
      const unset = cli(dep, ['migrate', 'plan', ...from(mapping)]);
      expect(unset.code).toBe(3);
      expect(unset.stderr).toContain('database.postgresEnv: environment variable `ACCOUNTS_DATABASE_URL`');

      const plan = cli(dep, ['--json', 'migrate', 'plan', ...from(mapping)], env);
      expect(plan.code).toBe(0);
      expect(JSON.parse(plan.stdout)).toMatchObject({ records: 50, otherJurisdictions: 100 });
      const result = cli(dep, ['--json', 'migrate', 'run', ...from(mapping), '--batch', '16'], env);
      expect(result.code).toBe(0);
      expect(lastLine(result.stdout)).toMatchObject({ processed: 50, copied: 50, failed: 0, batches: 4 });
      const verify = cli(dep, ['--json', 'migrate', 'verify', ...from(mapping)], env);
      expect(verify.code).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ passed: true, records: 50 });
      // account 3 is US (3 % 3 = 0): its columns, JSON column parsed, timestamp as ISO text
      const got = await dep.app.inject({
        url: '/v1/subjects/3/records/account',
        headers: await dep.auth(US_STEWARD),
      });
      expect(got.json()).toMatchObject({
        version: 4,
        value: {
          full_name: 'Person 3',
          profile: { tier: 3, tags: ['a', 3] },
          opened_at: '2020-01-04T00:00:00.000Z',
        },
      });

      const wiped = cli(dep, ['--json', 'wipe', '--from', mapping, '--jurisdiction', 'US'], env);
      expect(wiped.code).toBe(0);
      const receipt = JSON.parse(wiped.stdout);
      expect(receipt).toMatchObject({ deletedRecords: 50, remainingRecords: 0, secureErase: false });
      expect(receipt.notSecurelyErased.join(' ')).toContain('do not overwrite');
      const left = await admin.query<{ code: string; n: string }>(
        `SELECT region_code AS code, count(*) AS n FROM ${schema}.accounts GROUP BY 1 ORDER BY 1`,
      );
      expect(left.rows).toEqual([
        { code: 'FR', n: '50' },
        { code: 'SG', n: '50' },
      ]);
      const logged = (await logEntries(dep, 'US')).find((e) => e.type === 'wipe.receipt');
      expect(logged?.details).toMatchObject({
        region: 'foreign:accounts',
        deletedRecords: 50,
        remainingRecords: 0,
      });
    } finally {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    }
  });
});
