/**
 * `npm run bench -- vault [--duration 10] [--connections 50]`: PUT and GET of 1 KiB protected
 * records over HTTP through a real `domicile up` process, against a bare Fastify +
 * better-sqlite3 CRUD server (no auth, crypto, routing or audit) measured in the same run.
 * Target: Domicile ≥ 60% of the baseline's throughput, p99 ≤ 10 ms.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argValue, type LoadResult, printTable, runLoad, startServer } from './support.js';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'dist/src/cli/bin.js');
const SUBJECTS = 1000;
const KEYS = 10;

export async function run(args: string[]): Promise<void> {
  const durationSeconds = Number(argValue(args, 'duration') ?? 10);
  const connections = Number(argValue(args, 'connections') ?? 50);
  const dataDir = mkdtempSync(join(tmpdir(), 'domicile-bench-vault-'));
  const env = {
    DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'),
    DOMICILE_DATA: dataDir,
    DOMICILE_LOG_LEVEL: 'warn',
  };
  const value = 'x'.repeat(1000);
  const bare = await startServer([join(root, 'dist/bench/servers/bare-crud.js')]);
  const domicile = await startServer([bin, 'up', '--port', '0'], env, /Domicile is up at (http:\/\/\S+)/);
  try {
    const token = spawnSync(
      process.execPath,
      [
        bin,
        'token',
        '--sub',
        'bench-app',
        '--type',
        'service',
        '--roles',
        'app',
        '--jurisdiction',
        'US',
        '--loc',
        'US',
      ],
      {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      },
    ).stdout.trim();
    const headers = { authorization: `Bearer ${token}` };
    for (let i = 0; i < SUBJECTS; i++) {
      const res = await fetch(`${domicile.url}/v1/subjects/bench-${i}`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ jurisdiction: 'US' }),
      });
      if (!res.ok) throw new Error(`registering subjects failed: ${res.status} ${await res.text()}`);
    }
    // every subject gets record k0 on both servers first, so that GETs always find a record
    await prefill(bare.url, {}, JSON.stringify({ value }));
    await prefill(domicile.url, headers, JSON.stringify({ class: 'protected', value }));
    const getPath = (n: number) => `/v1/subjects/bench-${n % SUBJECTS}/records/k0`;
    const path = (n: number) =>
      `/v1/subjects/bench-${n % SUBJECTS}/records/k${Math.floor(n / SUBJECTS) % KEYS}`;
    const common = { connections, durationSeconds, path };
    const putBody = JSON.stringify({ class: 'protected', value });
    const results: [string, LoadResult, LoadResult][] = [];
    console.log(
      `running: ${durationSeconds}s per run, ${connections} connections, 1 KiB values, ${SUBJECTS} US subjects`,
    );
    const barePut = await runLoad({
      ...common,
      url: bare.url,
      method: 'PUT',
      body: JSON.stringify({ value }),
    });
    const domPut = await runLoad({ ...common, url: domicile.url, method: 'PUT', body: putBody, headers });
    results.push(['PUT 1 KiB', barePut, domPut]);
    const bareGet = await runLoad({ ...common, path: getPath, url: bare.url, method: 'GET' });
    const domGet = await runLoad({ ...common, path: getPath, url: domicile.url, method: 'GET', headers });
    results.push(['GET 1 KiB', bareGet, domGet]);
    printTable(
      [
        'operation',
        'baseline req/s',
        'baseline p99 ms',
        'Domicile req/s',
        'Domicile p99 ms',
        'ratio',
        'errors',
      ],
      results.map(([op, b, d]) => [
        op,
        b.requestsPerSecond.toFixed(0),
        b.p99Ms.toFixed(1),
        d.requestsPerSecond.toFixed(0),
        d.p99Ms.toFixed(1),
        `${((100 * d.requestsPerSecond) / b.requestsPerSecond).toFixed(0)}%`,
        `${b.errors + b.non2xx}/${d.errors + d.non2xx}`,
      ]),
    );
    for (const [op, b, d] of results) {
      const ratio = d.requestsPerSecond / b.requestsPerSecond;
      console.log(
        `${op}: ratio ${(ratio * 100).toFixed(0)}% (target ≥ 60%) ${ratio >= 0.6 ? 'met' : 'MISSED'}; p99 ${d.p99Ms} ms (target ≤ 10 ms) ${d.p99Ms <= 10 ? 'met' : 'MISSED'}`,
      );
    }
  } finally {
    await domicile.stop();
    await bare.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function prefill(url: string, headers: Record<string, string>, body: string): Promise<void> {
  const workers = Array.from({ length: 10 }, async (_, w) => {
    for (let i = w; i < SUBJECTS; i += 10) {
      const res = await fetch(`${url}/v1/subjects/bench-${i}/records/k0`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
      });
      if (!res.ok) throw new Error(`prefill failed: ${res.status} ${await res.text()}`);
    }
  });
  await Promise.all(workers);
}
