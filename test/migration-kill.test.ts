/**
 * `kill -9` of a migration at random moments, at least five times during one run of 100,000
 * records, then resume: verify equal, no duplicates, nothing lost.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import { bin, requireBuild, run } from './support/cli.js';
import { openTestDeployment, type TestDeployment } from './support/deployment.js';
import { HOME, LEGACY, seedLegacy, US } from './support/legacy.js';

const RECORDS = 100_000;
const FROM = ['--jurisdiction', 'US', '--from', 'us-va-legacy', '--to', 'oci-us-ashburn'];

let d: TestDeployment;
beforeAll(async () => {
  requireBuild();
  d = await openTestDeployment();
  await seedLegacy(d, RECORDS, { perSubject: 10, valueBytes: 32 });
  await d.close();
}, 60_000);
afterAll(async () => {
  await d.cleanup();
});

const env = () => ({ ...d.env, DOMICILE_DATA: d.dataDir });

/** Starts a migration run and kills it with SIGKILL once it has committed a batch and `delayMs` passed. */
function runAndKill(delayMs: number): Promise<{ killed: boolean; lastDone: number }> {
  const child = spawn(process.execPath, [bin, '--json', 'migrate', 'run', ...FROM, '--batch', '2500'], {
    env: { ...process.env, ...env() },
  });
  let lastDone = 0;
  let timer: NodeJS.Timeout | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      const m = /"done":(\d+)/.exec(line);
      if (m?.[1]) lastDone = Number(m[1]);
    }
    // kill at a random moment after the run got going (mid-batch, mid-commit or between batches)
    timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
  });
  return new Promise((resolve) =>
    child.once('exit', (_code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', lastDone });
    }),
  );
}

describe('a migration killed with SIGKILL', () => {
  it('resumes after five kills and ends with equal roots, no duplicates and nothing lost', async () => {
    let kills = 0;
    const progress: number[] = [];
    for (let attempt = 0; attempt < 12 && kills < 5; attempt++) {
      const outcome = await runAndKill(50 + Math.floor(Math.random() * 400));
      if (outcome.killed) kills++;
      progress.push(outcome.lastDone);
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    // it resumed rather than restarted: progress grew across the kills
    expect(progress.at(-1)).toBeGreaterThan(progress[0] ?? 0);
    const finish = run(['--json', 'migrate', 'run', ...FROM, '--batch', '5000'], env());
    expect(finish.code).toBe(0);
    const done = JSON.parse(finish.stdout.trim().split('\n').at(-1) ?? '');
    expect(done).toMatchObject({ status: 'done', failed: 0 });
    // every source record was processed exactly once across all runs (a batch whose commit was
    // killed is redone, not double counted: the cursor commits with the batch)
    expect(done.processed).toBe(RECORDS);
    expect(done.copied + done.skipped).toBe(RECORDS);
    const verify = run(['--json', 'migrate', 'verify', ...FROM], env());
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ passed: true, records: RECORDS, differenceCount: 0 });
    const reopened = await openTestDeployment({
      dataDir: d.dataDir,
      masterKey: d.env.DOMICILE_MASTER_KEY ?? '',
    });
    try {
      const home = reopened.stores.get(HOME) as SqliteRegionStore;
      const legacy = reopened.stores.get(LEGACY) as SqliteRegionStore;
      expect(await home.countRecords(US)).toBe(RECORDS);
      expect(await legacy.countRecords(US)).toBe(RECORDS);
      const distinct = home.db
        .prepare(
          "SELECT count(DISTINCT subject_id || '/' || key) AS n FROM records WHERE jurisdiction = 'US'",
        )
        .get() as { n: number };
      expect(distinct.n).toBe(RECORDS);
    } finally {
      await reopened.close();
    }
  }, 120_000);
});
