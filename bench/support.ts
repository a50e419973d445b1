/** Shared pieces of the benchmarks: child servers, load runs, the result table and cleanup. */
import { type ChildProcess, spawn } from 'node:child_process';
import autocannon from 'autocannon';

/** A child process started by `startServer`. */
export interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  /**
   * What went wrong in it after it was ready: log lines at level warn and above, and anything on
   * stderr; how many, and the last 200.
   */
  problems(): { readonly count: number; readonly recent: readonly string[] };
  /** SIGTERM, then SIGKILL when it has not exited after 10 s; resolves once it has exited. */
  stop(): Promise<void>;
}

const PROBLEMS_KEPT = 200;

/** A pino log line at level warn (40) or above. */
function isWarning(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === 'number' && level >= 40;
  } catch {
    return false;
  }
}

/**
 * Starts a server script as a child process and resolves with its URL once it prints `listening <url>`
 * (or whatever `ready` matches; its first group is the URL). A child that does not get ready is killed.
 */
export async function startServer(
  args: string[],
  env: Record<string, string> = {},
  ready: RegExp = /listening (http:\/\/\S+)/,
): Promise<Server> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  let output = '';
  let isReady = false;
  const recent: string[] = [];
  let count = 0;
  const keep = (lines: string[]): void => {
    const kept = lines.filter((line) => line.trim() !== '');
    count += kept.length;
    recent.push(...kept);
    recent.splice(0, Math.max(0, recent.length - PROBLEMS_KEPT));
  };
  // after it is ready: whole lines only, stdout for warnings, stderr for everything
  const lines = (stream: NodeJS.ReadableStream | null, filter: (line: string) => boolean): void => {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      if (!isReady) return;
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      keep(parts.filter(filter));
    });
  };
  lines(child.stdout, isWarning);
  lines(child.stderr, () => true);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
      const onData = (chunk: Buffer): void => {
        if (isReady) return;
        output += chunk.toString();
        const match = ready.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          isReady = true;
          resolve(match[1]);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${output}`));
      });
    });
    return { url, child, problems: () => ({ count, recent: [...recent] }), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export { freePort } from '../test/support/ports.js';

/** The result of one load run. */
export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
}

/** Options of one load run. */
export interface LoadOptions {
  readonly url: string;
  readonly method: 'GET' | 'PUT';
  readonly path: (n: number) => string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly connections: number;
  readonly durationSeconds: number;
}

/** Runs autocannon against one endpoint; each request gets its own path from `path(n)`. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let n = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    requests: [
      {
        method: options.method,
        headers: {
          ...(options.body ? { 'content-type': 'application/json' } : {}),
          ...(options.headers ?? {}),
        },
        ...(options.body ? { body: options.body } : {}),
        setupRequest: (req) => ({ ...req, path: options.path(n++) }),
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

/**
 * Runs one load split over several equivalent endpoints at once (gateways behind a load
 * balancer): the connections are shared out between them and each request number goes to one
 * endpoint only, so no two endpoints write the same record at the same time. Throughput and
 * errors are summed; p50 and p99 are the worst of the endpoints'.
 */
export async function runLoadAcross(
  urls: readonly string[],
  options: Omit<LoadOptions, 'url'>,
): Promise<LoadResult> {
  const parts = urls.length;
  if (parts === 0) throw new Error('no endpoint to load');
  const results = await Promise.all(
    urls.map((url, i) =>
      runLoad({
        ...options,
        url,
        connections: Math.max(
          1,
          Math.floor(options.connections / parts) + (i < options.connections % parts ? 1 : 0),
        ),
        path: (n) => options.path(n * parts + i),
      }),
    ),
  );
  return {
    requestsPerSecond: results.reduce((sum, r) => sum + r.requestsPerSecond, 0),
    p50Ms: Math.max(...results.map((r) => r.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.p99Ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
  };
}

/** Prints a markdown table. */
export function printTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  console.log(line(header));
  console.log(line(header.map(() => '---')));
  for (const row of rows) console.log(line(row));
}

/** Reads `--name value` from benchmark arguments. */
export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** What a benchmark has to undo (children to stop, folders to remove), run last first. */
export class Teardown {
  readonly #steps: (() => Promise<void> | void)[] = [];

  /** Adds a step; it runs before the steps added earlier. */
  defer(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  /** Runs every step once, each even when an earlier one failed. */
  async run(): Promise<void> {
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step();
      } catch (error) {
        console.error(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

/**
 * Runs `body` with a `Teardown` that runs when the body ends, when it fails, and when the process
 * gets SIGINT or SIGTERM (a PostgreSQL server started with `pg_ctl` is in a session of its own,
 * so Ctrl-C does not reach it).
 */
export async function withTeardown<T>(body: (teardown: Teardown) => Promise<T>): Promise<T> {
  const teardown = new Teardown();
  const onSignal = (signal: NodeJS.Signals): void => {
    void teardown.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(teardown);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await teardown.run();
  }
}
