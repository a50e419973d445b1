/**
 * The transparency log against a real `domicile up` process and a real witness process: what an
 * auditor detects when the operator edits, deletes or rolls back the log, and what survives a
 * `kill -9`.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, run, startUp } from './support/cli.js';
import { repoRoot } from './support/deployment.js';

const root = mkdtempSync(join(tmpdir(), 'domicile-audit-'));
const masterKey = randomBytes(32).toString('hex');
const envFor = (data: string, config = join(repoRoot, 'domicile.yaml')) => ({
  DOMICILE_MASTER_KEY: masterKey,
  DOMICILE_DATA: data,
  DOMICILE_CONFIG: config,
  DOMICILE_LOG_LEVEL: 'warn',
});

beforeAll(() => requireBuild());
afterAll(() => rmSync(root, { recursive: true, force: true }));

function init(env: Record<string, string>): string {
  const result = run(['--json', 'init'], env);
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(result.stdout) as { logs: { jurisdiction: string; verifierKey: string }[] };
  const us = report.logs.find((l) => l.jurisdiction === 'US');
  if (!us) throw new Error('no US log');
  return us.verifierKey;
}

async function traffic(
  url: string,
  env: Record<string, string>,
  subject: string,
  writes: number,
): Promise<void> {
  const token = run(
    ['token', '--sub', 'auditor-test', '--dept', 'us-data-security', '--loc', 'US'],
    env,
  ).stdout.trim();
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const reg = await fetch(`${url}/v1/subjects/${subject}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ jurisdiction: 'US' }),
  });
  expect(reg.ok).toBe(true);
  for (let i = 0; i < writes; i++) {
    const res = await fetch(`${url}/v1/subjects/${subject}/records/k${i}`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ class: 'protected', value: i }),
    });
    expect(res.status).toBe(200);
  }
}

/** Waits until the log's checkpoint covers at least `size` entries. */
async function integrated(url: string, size: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const text = await (await fetch(`${url}/v1/logs/US/checkpoint`)).text();
    if (Number(text.split('\n')[1]) >= size) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('log did not integrate');
}

async function checkpointSize(url: string): Promise<number> {
  return Number((await (await fetch(`${url}/v1/logs/US/checkpoint`)).text()).split('\n')[1]);
}

/** The size a witness cosigned last, from its 409 answer to `old 0` with a validly signed checkpoint. */
async function witnessSize(url: string, checkpoint: string): Promise<number> {
  const probe = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: `old 0\n\n${checkpoint}` });
  expect(probe.status).toBe(409);
  return Number((await probe.text()).trim());
}

function withStore(data: string, edit: (db: Database.Database) => void): void {
  const db = new Database(join(data, 'oci-us-ashburn', 'store.db'));
  edit(db);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

describe('an auditor with only the URL and the verifier key', () => {
  it('detects a flipped byte in an entry, a flipped byte in a stored hash, and a deleted entry', async () => {
    const data = join(root, 'tamper');
    const env = envFor(data);
    const key = init(env);
    let server = await startUp([], env);
    await traffic(server.url, env, 't-1', 5);
    await integrated(server.url, 7);
    const verify = () =>
      run(['audit', 'verify', '--url', `${server.url}/v1/logs/US`, '--key', key, '--full'], env);
    expect(verify().code).toBe(0);
    await server.stop();

    const cases: [string, (db: Database.Database) => void, RegExp][] = [
      [
        'entry byte',
        (db) => {
          const row = db
            .prepare("SELECT idx, data FROM tlog_entries WHERE log_id = 'US' AND idx = 3")
            .get() as { idx: number; data: Buffer };
          const data = Buffer.from(row.data);
          data[data.length - 3] = (data[data.length - 3] ?? 0) ^ 0x01;
          db.prepare("UPDATE tlog_entries SET data = ? WHERE log_id = 'US' AND idx = 3").run(data);
        },
        /DOMICILE_ERR_TLOG_ENTRY_MISMATCH|DOMICILE_ERR_TLOG_ENTRY_REJECTED/,
      ],
      [
        'hash byte',
        (db) => {
          const row = db
            .prepare("SELECT hashes FROM tlog_tiles WHERE log_id = 'US' AND level = 0 AND idx = 0")
            .get() as { hashes: Buffer };
          const hashes = Buffer.from(row.hashes);
          hashes[40] = (hashes[40] ?? 0) ^ 0x80;
          db.prepare("UPDATE tlog_tiles SET hashes = ? WHERE log_id = 'US' AND level = 0 AND idx = 0").run(
            hashes,
          );
        },
        /DOMICILE_ERR_TLOG_(ENTRY|TILE|ROOT)_MISMATCH/,
      ],
      [
        'deleted entry',
        (db) => db.prepare("DELETE FROM tlog_entries WHERE log_id = 'US' AND idx = 2").run(),
        /DOMICILE_ERR_TLOG|DOMICILE_ERR_INTERNAL/,
      ],
    ];
    const pristine = join(root, 'tamper-pristine');
    cpSync(data, pristine, { recursive: true });
    for (const [name, edit, reason] of cases) {
      rmSync(data, { recursive: true, force: true });
      cpSync(pristine, data, { recursive: true });
      withStore(data, edit);
      server = await startUp([], env);
      const result = verify();
      await server.stop();
      expect(result.code, `${name}: ${result.stderr}`).toBe(2);
      expect(result.stderr, name).toMatch(reason);
    }
  });

  it('detects a rollback of the database to an older copy followed by new entries (a fork)', async () => {
    const data = join(root, 'fork');
    const env = envFor(data);
    const key = init(env);
    const state = join(root, 'fork-auditor');
    let server = await startUp([], env);
    await traffic(server.url, env, 'f-1', 2);
    await integrated(server.url, 4);
    expect(
      run(['audit', 'verify', '--url', `${server.url}/v1/logs/US`, '--key', key, '--state', state], env).code,
    ).toBe(0);
    await server.stop();
    const snapshot = join(root, 'fork-snapshot');
    cpSync(data, snapshot, { recursive: true });

    server = await startUp([], env);
    await traffic(server.url, env, 'f-2', 3);
    const trustedSize = 4 + 1 + 4;
    await integrated(server.url, trustedSize);
    const second = run(
      ['--json', 'audit', 'verify', '--url', `${server.url}/v1/logs/US`, '--key', key, '--state', state],
      env,
    );
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ trustedSize: 4 });
    await server.stop();

    // the operator restores the old copy and carries on: a different history past the trusted size
    rmSync(data, { recursive: true, force: true });
    cpSync(snapshot, data, { recursive: true });
    server = await startUp([], env);
    await traffic(server.url, env, 'f-3', 6);
    await integrated(server.url, trustedSize + 1);
    const forked = run(
      ['audit', 'verify', '--url', `${server.url}/v1/logs/US`, '--key', key, '--state', state],
      env,
    );
    await server.stop();
    expect(forked.code).toBe(2);
    expect(forked.stderr).toContain('DOMICILE_ERR_TLOG_INCONSISTENT');
  });

  it('requires the witness cosignature, and the witness refuses the forked history and keeps its state', async () => {
    const data = join(root, 'witnessed');
    const witnessKeyFile = join(root, 'witness.key');
    const keygen = run(
      ['--json', 'witness', 'keygen', '--name', 'witness.test/w1', '--out', witnessKeyFile],
      {},
    );
    expect(keygen.code, keygen.stderr).toBe(0);
    const witnessKey = (JSON.parse(keygen.stdout) as { verifierKey: string }).verifierKey;

    const plainEnv = envFor(data);
    const key = init(plainEnv);
    const witnessState = join(root, 'witness-state');
    const { startServer } = await import('../bench/support.js');
    const witness = await startServer(
      [
        join(repoRoot, 'dist/src/cli/bin.js'),
        'witness',
        'serve',
        '--key',
        witnessKeyFile,
        '--log',
        key,
        '--state',
        witnessState,
        '--port',
        '0',
      ],
      {},
      /listening at (http:\/\/\S+)\/add-checkpoint/,
    );
    const config = join(root, 'witnessed.yaml');
    writeFileSync(
      config,
      `${readFileSync(join(repoRoot, 'domicile.yaml'), 'utf8')}\naudit:\n  integrateIntervalMs: 100\n  witnesses:\n    - { url: "${witness.url}/add-checkpoint", key: "${witnessKey}" }\n`,
    );
    const env = envFor(data, config);
    try {
      let server = await startUp([], env);
      await traffic(server.url, env, 'w-1', 2);
      await integrated(server.url, 4);
      await new Promise((r) => setTimeout(r, 500));
      const checkpoint = await (await fetch(`${server.url}/v1/logs/US/checkpoint`)).text();
      expect(checkpoint).toContain('— witness.test/w1 ');
      const ok = run(
        ['audit', 'verify', '--url', `${server.url}/v1/logs/US`, '--key', key, '--witness', witnessKey],
        env,
      );
      expect(ok.code, ok.stderr).toBe(0);
      const cosignedSize = await checkpointSize(server.url);
      await server.stop();
      const snapshot = join(root, 'witnessed-snapshot');
      cpSync(data, snapshot, { recursive: true });

      server = await startUp([], env);
      await traffic(server.url, env, 'w-2', 2);
      await integrated(server.url, cosignedSize + 4);
      await new Promise((r) => setTimeout(r, 500));
      const honest = await (await fetch(`${server.url}/v1/logs/US/checkpoint`)).text();
      await server.stop();
      // what the witness cosigned last (stopping may integrate and submit a final entry)
      const witnessedSize = await witnessSize(witness.url, honest);
      expect(witnessedSize).toBeGreaterThanOrEqual(cosignedSize + 4);

      rmSync(data, { recursive: true, force: true });
      cpSync(snapshot, data, { recursive: true });
      server = await startUp([], env);
      await traffic(server.url, env, 'w-3', 4);
      await integrated(server.url, witnessedSize + 1);
      await new Promise((r) => setTimeout(r, 500));
      const forked = await (await fetch(`${server.url}/v1/logs/US/checkpoint`)).text();
      const noQuorum = run(
        ['audit', 'verify', '--url', `${server.url}/v1/logs/US`, '--key', key, '--witness', witnessKey],
        env,
      );
      await server.stop();
      expect(forked).not.toContain('— witness.test/w1 ');
      expect(noQuorum.code).toBe(2);
      expect(noQuorum.stderr).toContain('DOMICILE_ERR_TLOG_WITNESS_QUORUM');
      // the witness still holds the size of the honest history it cosigned last
      expect(await witnessSize(witness.url, forked)).toBe(witnessedSize);
    } finally {
      await witness.stop();
    }
  });
});

describe('after `kill -9`', () => {
  it('every acknowledged operation has its entry, and restart integrates what was sequenced', async () => {
    const data = join(root, 'killed');
    const env = envFor(data);
    const key = init(env);
    const server = await startUp([], env);
    await traffic(server.url, env, 'k-1', 25);
    server.child.kill('SIGKILL');
    await new Promise((r) => server.child.once('exit', r));
    const again = await startUp([], env);
    try {
      const token = run(['token', '--sub', 'k-1'], env).stdout.trim();
      const res = await fetch(`${again.url}/v1/subjects/k-1/access-log`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await res.json()) as { entries: { entry: { type: string } }[] };
      expect(body.entries.filter((e) => e.entry.type === 'record.write')).toHaveLength(25);
      expect(run(['audit', 'verify', '--url', `${again.url}/v1/logs/US`, '--key', key], env).code).toBe(0);
    } finally {
      await again.stop();
    }
  });
});
