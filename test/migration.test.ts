/**
 * `domicile migrate` and `domicile wipe` as an operator runs them: real child processes on the
 * data folder of a deployment that is open (serving the API) at the same time.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClassId } from '../src/domain/ids.js';
import { mayHold } from '../src/domain/residency.js';
import type { SqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import { bin, requireBuild, run } from './support/cli.js';
import { logEntries, openTestDeployment, type TestDeployment, US_STEWARD } from './support/deployment.js';
import { HOME, LEGACY, seededIds, seedLegacy, US } from './support/legacy.js';

const FROM = ['--jurisdiction', 'US', '--from', 'us-va-legacy', '--to', 'oci-us-ashburn'];

let d: TestDeployment | undefined;
const open = async (): Promise<TestDeployment> => {
  d = await openTestDeployment();
  return d;
};
afterEach(async () => {
  await d?.cleanup();
  d = undefined;
});
beforeAll(() => requireBuild());

const cli = (dep: TestDeployment, args: string[]) => run(args, { ...dep.env, DOMICILE_DATA: dep.dataDir });

/** Runs a CLI command without blocking this process (the deployment keeps serving meanwhile). */
function cliAsync(
  dep: TestDeployment,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...dep.env, DOMICILE_DATA: dep.dataDir },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve) =>
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr })),
  );
}

describe('domicile migrate plan', () => {
  it('counts the records and refuses a target outside the jurisdiction (R1)', async () => {
    const dep = await open();
    await seedLegacy(dep, 300);
    const refused = cli(dep, [
      '--json',
      'migrate',
      'plan',
      '--jurisdiction',
      'US',
      '--from',
      'us-va-legacy',
      '--to',
      'sg-singapore',
    ]);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error.code).toBe('DOMICILE_ERR_RESIDENCY');
    const plan = cli(dep, ['--json', 'migrate', 'plan', ...FROM, '--batch', '100']);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({
      records: 300,
      batches: 3,
      otherJurisdictions: 0,
      target: 'oci-us-ashburn',
    });
    expect(JSON.parse(plan.stdout).bytes).toBeGreaterThan(300 * 64);
  });
});

describe('domicile migrate run and verify', () => {
  it('copies in batches with progress lines, resumes idempotently, verifies equal roots and logs every step', async () => {
    const dep = await open();
    await seedLegacy(dep, 2_000);
    const first = cli(dep, ['--json', 'migrate', 'run', ...FROM, '--batch', '500']);
    expect(first.code).toBe(0);
    const lines = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.event === 'progress').map((l) => l.done)).toEqual([500, 1000, 1500, 2000]);
    expect(lines.at(-1)).toMatchObject({
      event: 'done',
      status: 'done',
      copied: 2000,
      processed: 2000,
      failed: 0,
    });
    const home = dep.stores.get(HOME) as SqliteRegionStore;
    expect(await home.countRecords(US)).toBe(2000);
    // a second run changes nothing
    const again = cli(dep, ['--json', 'migrate', 'run', ...FROM]);
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1) ?? '')).toMatchObject({
      copied: 2000,
      batches: 4,
    });
    const verify = cli(dep, ['--json', 'migrate', 'verify', ...FROM]);
    expect(verify.code).toBe(0);
    const report = JSON.parse(verify.stdout);
    expect(report).toMatchObject({ passed: true, records: 2000, differenceCount: 0 });
    expect(report.sourceRoot).toBe(report.targetRoot);
    // the home region now serves the migrated record, decrypted under its own keys
    const { subjectId, key } = seededIds(7, 10);
    const got = await dep.app.inject({
      url: `/v1/subjects/${subjectId}/records/${key}`,
      headers: await dep.auth(US_STEWARD),
    });
    expect(got.statusCode).toBe(200);
    expect(got.headers['x-domicile-region']).toBe(HOME);
    const entries = await logEntries(dep, 'US');
    const types = entries.map((e) => e.type);
    expect(types.filter((t) => t === 'migrate.batch')).toHaveLength(4);
    // T1: every batch passed the transfer gate, with its volume
    const transfers = entries.filter((e) => e.type === 'transfer.migration');
    expect(transfers).toHaveLength(4);
    expect(transfers.every((e) => e.decision === 'allow')).toBe(true);
    expect(types).toContain('migrate.complete');
    expect(types).toContain('migrate.verify');
    const status = cli(dep, ['--json', 'migrate', 'status']);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ status: 'done', verification: { passed: true } });
  });

  it('reports a source row that fails to decrypt with its key, carries on, and verify shows it', async () => {
    const dep = await open();
    await seedLegacy(dep, 500);
    const bad = seededIds(123, 10);
    (dep.stores.get(LEGACY) as SqliteRegionStore).db
      .prepare('UPDATE records SET ciphertext = randomblob(60) WHERE subject_id = ? AND key = ?')
      .run(bad.subjectId, bad.key);
    const result = cli(dep, ['--json', 'migrate', 'run', ...FROM, '--batch', '100']);
    expect(result.code).toBe(1);
    const done = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '');
    expect(done).toMatchObject({ status: 'done', copied: 499, failed: 1 });
    expect(done.failures).toEqual([
      { subjectId: bad.subjectId, key: bad.key, reason: 'ciphertext failed authentication' },
    ]);
    const verify = cli(dep, ['--json', 'migrate', 'verify', ...FROM]);
    expect(verify.code).toBe(2);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      passed: false,
      differenceCount: 1,
      differences: [{ subjectId: bad.subjectId, key: bad.key, kind: 'unreadable-source' }],
    });
    // a wipe of an unverified migration is refused, and logged
    const wipe = cli(dep, ['--json', 'wipe', '--region', 'us-va-legacy', '--jurisdiction', 'US']);
    expect(wipe.code).toBe(1);
    expect(JSON.parse(wipe.stdout).error.code).toBe('DOMICILE_ERR_MIGRATION_UNVERIFIED');
    expect(await (dep.stores.get(LEGACY) as SqliteRegionStore).countRecords(US)).toBe(500);
    const forced = cli(dep, [
      '--json',
      'wipe',
      '--region',
      'us-va-legacy',
      '--jurisdiction',
      'US',
      '--force',
      '--reason',
      'row 123 damaged before the move; accepted by DPO',
    ]);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({
      forced: true,
      deletedRecords: 500,
      remainingRecords: 0,
    });
    const entries = await logEntries(dep, 'US');
    expect(entries.find((e) => e.type === 'wipe.refuse')?.decision).toBe('deny');
    expect(entries.find((e) => e.type === 'wipe.force')?.details.operatorReason).toContain('accepted by DPO');
  });
});

describe('cut-over', () => {
  it('reads unmigrated records from the draining region, writes home only, never lets the migration overwrite a newer write, and reaches 100% home', async () => {
    const dep = await open();
    await seedLegacy(dep, 3_000);
    const auth = await dep.auth(US_STEWARD);
    const a = seededIds(0, 10);
    const b = seededIds(1, 10);
    const before = await dep.app.inject({
      url: `/v1/subjects/${b.subjectId}/records/${b.key}`,
      headers: auth,
    });
    expect(before.statusCode).toBe(200);
    expect(before.headers['x-domicile-region']).toBe(LEGACY);
    // written through the API while the migration runs: home only, continuing the legacy version
    const running = cliAsync(dep, ['--json', 'migrate', 'run', ...FROM, '--batch', '200']);
    const writes = [];
    for (let n = 0; n < 30; n++) {
      const { subjectId, key } = seededIds(n * 97, 10);
      writes.push(
        dep.app.inject({
          method: 'PUT',
          url: `/v1/subjects/${subjectId}/records/${key}`,
          headers: auth,
          payload: { class: 'protected', value: `live-${n}` },
        }),
      );
    }
    for (const w of await Promise.all(writes)) {
      expect(w.statusCode).toBe(200);
      expect(w.json()).toMatchObject({ version: 2, region: HOME });
    }
    const result = await running;
    expect(result.code).toBe(0);
    const value = await dep.app.inject({
      url: `/v1/subjects/${a.subjectId}/records/${a.key}`,
      headers: auth,
    });
    expect(value.json()).toMatchObject({ value: 'live-0', version: 2 });
    expect(value.headers['x-domicile-region']).toBe(HOME);
    const verify = JSON.parse(cli(dep, ['--json', 'migrate', 'verify', ...FROM]).stdout);
    expect(verify).toMatchObject({ passed: true, superseded: 30, records: 2970 });
    // after the migration, every read is served home
    for (let n = 0; n < 100; n++) {
      const { subjectId, key } = seededIds(n * 13, 10);
      const r = await dep.app.inject({ url: `/v1/subjects/${subjectId}/records/${key}`, headers: auth });
      expect(r.headers['x-domicile-region']).toBe(HOME);
    }
    // the routing report: the legacy region served the read before the migration, home everything since
    const routing = (await dep.app.inject({ url: '/v1/routing' })).json();
    expect(routing.jurisdictions).toEqual([
      expect.objectContaining({
        jurisdiction: 'US',
        byRegion: { [HOME]: 131, [LEGACY]: 1 },
        recentHomeShare: 1,
      }),
    ]);
    const metrics = (await dep.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/domicile_home_share_ratio\{jurisdiction="US"\} 1\n/);
  });
});

describe('domicile wipe', () => {
  it('wipes a verified legacy region so nothing is left in the file, destroys its keys, logs a receipt and retires it', async () => {
    const dep = await open();
    await seedLegacy(dep, 1_000);
    const legacy = dep.stores.get(LEGACY) as SqliteRegionStore;
    const sample = Buffer.from(
      (legacy.db.prepare('SELECT ciphertext FROM records LIMIT 1').get() as { ciphertext: Buffer })
        .ciphertext,
    ).subarray(12, 44);
    expect(cli(dep, ['migrate', 'run', ...FROM]).code).toBe(0);
    expect(cli(dep, ['migrate', 'verify', ...FROM]).code).toBe(0);
    const wipe = cli(dep, ['--json', 'wipe', '--region', 'us-va-legacy', '--jurisdiction', 'US']);
    expect(wipe.code).toBe(0);
    const receipt = JSON.parse(wipe.stdout);
    expect(receipt).toMatchObject({
      deletedRecords: 1000,
      remainingRecords: 0,
      kekRemains: false,
      destroyedKeks: 1,
      destroyedSubjectKeys: 100,
      forced: false,
    });
    await dep.close();
    for (const suffix of ['', '-wal']) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(`${dep.dataDir}/us-va-legacy/store.db${suffix}`);
      } catch {
        continue;
      }
      expect(bytes.includes(sample)).toBe(false);
    }
    // reopened: the region is retired for US, so it may neither hold nor serve its data
    const reopened = await openTestDeployment({
      dataDir: dep.dataDir,
      masterKey: dep.env.DOMICILE_MASTER_KEY ?? '',
    });
    d = reopened;
    expect(mayHold(reopened.config, LEGACY, US, 'protected' as ClassId)).toBe(false);
    const entries = await logEntries(reopened, 'US');
    const logged = entries.find((e) => e.type === 'wipe.receipt');
    expect(logged?.details).toMatchObject({
      deletedRecords: 1000,
      remainingRecords: 0,
      deletedRoot: receipt.deletedRoot,
    });
    expect(entries.map((e) => e.type)).toContain('region.retire');
    const { subjectId, key } = seededIds(5, 10);
    const r = await reopened.app.inject({
      url: `/v1/subjects/${subjectId}/records/${key}`,
      headers: await reopened.auth(US_STEWARD),
    });
    expect(r.headers['x-domicile-region']).toBe(HOME);
  });
});
