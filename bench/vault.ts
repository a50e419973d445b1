/**
 * `npm run bench -- vault [--duration 10] [--warmup 3] [--connections 50] [--store sqlite|postgres] [--topology]`:
 * PUT and GET of 1 KiB protected records over HTTP (1000 US subjects), each Domicile deployment
 * against a baseline measured in the same run. Each load runs `--warmup` seconds (default 3) on
 * each server before it is measured, so that every server is measured warm.
 *
 * - default (`--store sqlite`): a real `domicile up` process against a bare Fastify +
 *   better-sqlite3 CRUD server (no auth, crypto, routing or audit).
 *   Target: Domicile ≥ 60% of the baseline's throughput, p99 ≤ 10 ms. A third server, the floor
 *   (`servers/floor-crud.ts`: the bare server plus AES-256-GCM and a durable audit row per
 *   request, nothing else), shows how much of the baseline those two alone leave.
 * - `--store postgres`: on a throwaway PostgreSQL server with fsync on, Domicile as separate
 *   processes (a gateway, three region nodes each on its own database, the directory and control
 *   store on another) against a bare Fastify + pg CRUD server on the same PostgreSQL server.
 * - `--topology`: two gateways in front of three region-node processes against one `domicile up`
 *   process with the same three regions, both on SQLite; the load is split between the gateways.
 *
 * `--store postgres --topology` runs both. Neither has a target yet: they print their figures.
 *
 * `--cpu-prof DIR` (default mode only) has `domicile up` write a V8 CPU profile into DIR when it
 * stops; `node dist/bench/profile-summary.js <file> --last 11` summarises its last GET run.
 */
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '../test/support/postgres-server.js';
import { createDatabase } from '../test/support/topology-config.js';
import { type BenchRegion, type Deployment, REGIONS, startEmbedded, startProcesses } from './deployments.js';
import {
  argValue,
  type LoadResult,
  printTable,
  runLoadAcross,
  type Server,
  startServer,
  type Teardown,
  withTeardown,
} from './support.js';

const root = new URL('../../', import.meta.url).pathname;
const SUBJECTS = 1000;
const KEYS = 10;
const VALUE = 'x'.repeat(1000);

interface RunOptions {
  readonly durationSeconds: number;
  /** Seconds of the same load run first on each server and discarded (JIT warm-up). */
  readonly warmupSeconds: number;
  readonly connections: number;
}

/** Where a load goes: one server, or several equivalent gateways sharing it. */
interface Target {
  readonly urls: readonly string[];
  readonly headers: Record<string, string>;
  readonly putBody: string;
}

type Row = readonly [operation: string, baseline: LoadResult, ...candidates: LoadResult[]];

export async function run(args: string[]): Promise<void> {
  const options: RunOptions = {
    durationSeconds: Number(argValue(args, 'duration') ?? 10),
    warmupSeconds: Number(argValue(args, 'warmup') ?? 3),
    connections: Number(argValue(args, 'connections') ?? 50),
  };
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isSafeInteger(value) || value < (name === 'warmupSeconds' ? 0 : 1))
      throw new Error(`bad --${name.replace('Seconds', '')}: expected a whole number`);
  }
  const store = argValue(args, 'store') ?? 'sqlite';
  if (store !== 'sqlite' && store !== 'postgres') {
    throw new Error(`unknown --store \`${store}\`: expected sqlite or postgres`);
  }
  const topology = args.includes('--topology');
  if (store === 'sqlite' && !topology) {
    await withTeardown((teardown) => embeddedAgainstBareSqlite(teardown, options, args));
    return;
  }
  if (store === 'postgres') await withTeardown((teardown) => processesAgainstBarePostgres(teardown, options));
  if (topology) await withTeardown((teardown) => processesAgainstEmbedded(teardown, options));
}

/** `domicile up` against the bare SQLite server, with the targets. */
async function embeddedAgainstBareSqlite(
  teardown: Teardown,
  options: RunOptions,
  args: readonly string[],
): Promise<void> {
  const bare = await startBare(teardown, [join(root, 'dist/bench/servers/bare-crud.js')]);
  const floor = await startBare(teardown, [join(root, 'dist/bench/servers/floor-crud.js')]);
  const profileDir = argValue(args, 'cpu-prof');
  const domicile = await startEmbedded(teardown, {
    ...(profileDir === undefined ? {} : { nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
  });
  if (profileDir !== undefined)
    console.log(`domicile up writes its CPU profile into ${profileDir} when it stops`);
  await registerSubjects(domicile);
  const baseline = bareTarget(bare);
  const floorTarget = bareTarget(floor);
  const candidate = domicileTarget(domicile);
  const results = await compare(baseline, [floorTarget, candidate], options);
  printComparison(['baseline', 'floor', 'Domicile'], results);
  for (const [op, b, f, d] of results) {
    if (!f || !d) continue;
    const ratio = d.requestsPerSecond / b.requestsPerSecond;
    console.log(
      `${op}: ratio ${(ratio * 100).toFixed(0)}% (target ≥ 60%) ${ratio >= 0.6 ? 'met' : 'MISSED'}; p99 ${d.p99Ms} ms (target ≤ 10 ms) ${d.p99Ms <= 10 ? 'met' : 'MISSED'}; the floor reaches ${((100 * f.requestsPerSecond) / b.requestsPerSecond).toFixed(0)}%`,
    );
  }
  printProblems([['baseline', bare], ['floor', floor], ...domicile.servers]);
}

/** Domicile as processes on PostgreSQL against the bare pg server, on one durable PostgreSQL server. */
async function processesAgainstBarePostgres(teardown: Teardown, options: RunOptions): Promise<void> {
  console.log('\n### PostgreSQL: bare Fastify + pg against Domicile (1 gateway, 3 region-node processes)\n');
  const server = await startPostgres({ durable: true });
  teardown.defer(() => server.stop());
  console.log(await describePostgres(server.url));
  const stores = {} as Record<BenchRegion, string>;
  for (const r of REGIONS) stores[r.id] = await createDatabase(server.url, `bench_${r.id}`);
  const control = await createDatabase(server.url, 'bench_control');
  const bare = await startBare(teardown, [join(root, 'dist/bench/servers/bare-pg-crud.js'), server.url]);
  const domicile = await startProcesses(teardown, { stores, control, gateways: ['gateway-1'] });
  await registerSubjects(domicile);
  const baseline = bareTarget(bare);
  const candidate = domicileTarget(domicile);
  printComparison(['bare pg', 'Domicile'], await compare(baseline, [candidate], options));
  printProblems([['bare pg', bare], ...domicile.servers]);
}

/** Two gateways and three region-node processes against one `domicile up`, both on SQLite. */
async function processesAgainstEmbedded(teardown: Teardown, options: RunOptions): Promise<void> {
  console.log(
    '\n### Topology: one `domicile up` against 2 gateways + 3 region-node processes (SQLite, same regions)\n',
  );
  const processes = await startProcesses(teardown, {
    stores: { 'oci-us-ashburn': 'sqlite', 'oci-us-phoenix': 'sqlite', 'sg-singapore': 'sqlite' },
    control: 'sqlite',
    gateways: ['gateway-1', 'gateway-2'],
  });
  const embedded = await startEmbedded(teardown, { config: processes.config });
  await registerSubjects(embedded);
  await registerSubjects(processes);
  const baseline = domicileTarget(embedded);
  const candidate = domicileTarget(processes);
  printComparison(['embedded', '2 gw + 3 nodes'], await compare(baseline, [candidate], options));
  printProblems([...embedded.servers, ...processes.servers]);
}

async function startBare(teardown: Teardown, args: string[]): Promise<Server> {
  const server = await startServer(args);
  teardown.defer(() => server.stop());
  return server;
}

/** The version and durability settings of the server of `url`. */
async function describePostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name`,
    );
    return `PostgreSQL: ${rows.map((r) => `${r.name}=${r.setting}`).join(', ')}`;
  } finally {
    await client.end();
  }
}

function bareTarget(server: Server): Target {
  return { urls: [server.url], headers: {}, putBody: JSON.stringify({ value: VALUE }) };
}

function domicileTarget(deployment: Deployment): Target {
  return {
    urls: deployment.urls,
    headers: { authorization: `Bearer ${deployment.token}` },
    putBody: JSON.stringify({ class: 'protected', value: VALUE }),
  };
}

/** Sends `SUBJECTS` requests through 10 concurrent workers; throws on the first failure. */
async function sendAll(what: string, send: (i: number) => Promise<Response>): Promise<void> {
  const workers = Array.from({ length: 10 }, async (_, w) => {
    for (let i = w; i < SUBJECTS; i += 10) {
      const res = await send(i);
      if (!res.ok) throw new Error(`${what} failed: ${res.status} ${await res.text()}`);
    }
  });
  await Promise.all(workers);
}

async function registerSubjects(deployment: Deployment): Promise<void> {
  const [url] = deployment.urls;
  await sendAll('registering subjects', (i) =>
    fetch(`${url}/v1/subjects/bench-${i}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${deployment.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jurisdiction: 'US' }),
    }),
  );
}

/** Every subject gets record k0 first, so that GETs always find a record. */
async function prefill(target: Target): Promise<void> {
  const [url] = target.urls;
  await sendAll('prefill', (i) =>
    fetch(`${url}/v1/subjects/bench-${i}/records/k0`, {
      method: 'PUT',
      headers: { ...target.headers, 'content-type': 'application/json' },
      body: target.putBody,
    }),
  );
}

/** Prefills every target, then runs PUT then GET, each on the baseline then on each candidate in turn. */
async function compare(baseline: Target, candidates: readonly Target[], options: RunOptions): Promise<Row[]> {
  for (const target of [baseline, ...candidates]) await prefill(target);
  const putPath = (n: number) =>
    `/v1/subjects/bench-${n % SUBJECTS}/records/k${Math.floor(n / SUBJECTS) % KEYS}`;
  const getPath = (n: number) => `/v1/subjects/bench-${n % SUBJECTS}/records/k0`;
  const load = { connections: options.connections, durationSeconds: options.durationSeconds };
  const { warmupSeconds } = options;
  console.log(
    `running: ${options.durationSeconds}s per run after ${options.warmupSeconds}s of warm-up (not measured), ${options.connections} connections, 1 KiB values, ${SUBJECTS} US subjects`,
  );
  // every server gets the same warm-up, so that each is measured in its steady state and not
  // while its JIT compiles the path (which would weigh most on the server with the most code)
  const warmedUp = async (
    t: Target,
    options: Omit<Parameters<typeof runLoadAcross>[1], 'connections' | 'durationSeconds'>,
  ) => {
    if (warmupSeconds > 0)
      await runLoadAcross(t.urls, { ...options, ...load, durationSeconds: warmupSeconds });
    return runLoadAcross(t.urls, { ...options, ...load });
  };
  const put = (t: Target) =>
    warmedUp(t, { path: putPath, method: 'PUT', body: t.putBody, headers: t.headers });
  const get = (t: Target) => warmedUp(t, { path: getPath, method: 'GET', headers: t.headers });
  const rows: Row[] = [];
  for (const [operation, load] of [
    ['PUT 1 KiB', put],
    ['GET 1 KiB', get],
  ] as const) {
    const measured = [await load(baseline)];
    for (const candidate of candidates) measured.push(await load(candidate));
    const [first, ...rest] = measured as [LoadResult, ...LoadResult[]];
    rows.push([operation, first, ...rest]);
  }
  return rows;
}

/** One table row per operation: each server's throughput and p99, each candidate's ratio. */
function printComparison([baseline, ...candidates]: readonly string[], rows: readonly Row[]): void {
  printTable(
    [
      'operation',
      `${baseline} req/s`,
      `${baseline} p99 ms`,
      ...candidates.flatMap((c) => [`${c} req/s`, `${c} p99 ms`, `${c} ratio`]),
      'errors',
    ],
    rows.map(([op, b, ...ds]) => [
      op,
      b.requestsPerSecond.toFixed(0),
      b.p99Ms.toFixed(1),
      ...ds.flatMap((d) => [
        d.requestsPerSecond.toFixed(0),
        d.p99Ms.toFixed(1),
        `${((100 * d.requestsPerSecond) / b.requestsPerSecond).toFixed(0)}%`,
      ]),
      [b, ...ds].map((r) => r.errors + r.non2xx).join('/'),
    ]),
  );
}

/** Warnings and errors the servers logged during the runs, so that a fast run with failures shows. */
function printProblems(servers: Iterable<readonly [string, Server]>): void {
  for (const [name, server] of servers) {
    const { count, recent } = server.problems();
    if (count === 0) continue;
    console.log(`${name}: ${count} warning or error lines; last: ${recent.at(-1)?.slice(0, 300)}`);
  }
}
