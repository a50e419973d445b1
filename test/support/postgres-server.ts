/**
 * A throwaway PostgreSQL server: a fresh cluster in a temp folder, listening on a free loopback
 * port only, with a random password, removed again by `stop()`. The test run starts one in its
 * global setup (`test/global-setup.ts`); the vault benchmark starts a durable one. Nothing here
 * depends on Vitest, so plain Node scripts can import it.
 *
 * Finds the server binaries (Debian keeps them in `/usr/lib/postgresql/<version>/bin`, off the
 * PATH) and installs them with `apt-get install -y postgresql` when they are missing and this
 * process may do so. `initdb` refuses to run as root, so as root the cluster is created and run
 * as the unprivileged `postgres` user (or `nobody` when there is no such user).
 *
 * By default the cluster trades durability for speed (`fsync=off`): it holds test data only and
 * is deleted afterwards. `durable: true` keeps PostgreSQL's defaults (fsync, synchronous commit,
 * full page writes), so a benchmark pays for each commit what a production server pays. It uses
 * an ICU collation for its default, like a production database created with a linguistic locale,
 * so a query that forgets `COLLATE "C"` orders differently and fails the conformance suite
 * instead of passing by luck.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { installDebianPackages } from './apt.js';
import { describeExecError } from './exec-error.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Options of `startPostgres`. */
export interface StartPostgresOptions {
  /**
   * Keep PostgreSQL's durability settings (fsync, synchronous commit, full page writes) instead
   * of turning them off; for benchmarks. Default false: tests do not need their data to survive
   * a crash of the machine.
   */
  readonly durable?: boolean;
}

/** A running throwaway server. */
export interface TestPostgres {
  /** `postgres://…@127.0.0.1:<port>/domicile_test`, with the password in it. */
  readonly url: string;
  /** Stops the server and deletes its folder; a second call is a no-op. */
  stop(): Promise<void>;
}

const DATABASE = 'domicile_test';
const SUPERUSER = 'domicile';

/**
 * Starts a fresh PostgreSQL server on a free 127.0.0.1 port and creates the test database.
 * Rejects with the reason (and the server log, when there is one) when it cannot.
 *
 * @example
 * const server = await startPostgres();
 * try { … new pg.Pool({ connectionString: server.url }) … } finally { await server.stop(); }
 * // a benchmark: every commit waits for its WAL record to reach the disk
 * const durable = await startPostgres({ durable: true });
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const bin = await findBinaries();
  const runAs = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-pg-'));
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'socket');
  const logFile = path.join(root, 'server.log');
  const passwordFile = path.join(root, 'password');
  const password = randomBytes(18).toString('base64url');
  let started = false;

  const asServerUser = (file: string, args: readonly string[]) =>
    runAs === undefined
      ? run(file, [...args], { cwd: root })
      : run('runuser', ['-u', runAs.name, '--', file, ...args], { cwd: root });

  const stop = async (): Promise<void> => {
    try {
      if (started) {
        started = false;
        // immediate: the data is thrown away, so there is no point in a clean shutdown checkpoint
        await asServerUser(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  };

  try {
    fs.mkdirSync(socketDir, { mode: 0o700 });
    fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs !== undefined) {
      for (const p of [root, socketDir, passwordFile]) fs.chownSync(p, runAs.uid, runAs.gid);
    }
    await initCluster(asServerUser, bin, dataDir, passwordFile);
    fs.rmSync(passwordFile);

    const durability = options.durable ? 'on' : 'off';
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const settings = [
        `-c listen_addresses=127.0.0.1`,
        `-c port=${port}`,
        `-c unix_socket_directories=${socketDir}`,
        '-c max_connections=300',
        `-c fsync=${durability}`,
        `-c synchronous_commit=${durability}`,
        `-c full_page_writes=${durability}`,
      ].join(' ');
      try {
        await asServerUser(path.join(bin, 'pg_ctl'), [
          '-D',
          dataDir,
          '-l',
          logFile,
          '-w',
          '-t',
          '30',
          '-o',
          settings,
          'start',
        ]);
        started = true;
        break;
      } catch (err) {
        // another process may have taken the port between freePort() and the server's bind
        if (attempt >= 3) throw err;
      }
    }

    const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
    const admin = new pg.Client({ connectionString: `${url}/postgres` });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
    return { url: `${url}/${DATABASE}`, stop };
  } catch (err) {
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    await stop().catch(() => {});
    throw new Error(
      `cannot start a test PostgreSQL server: ${describeExecError(err)}${log ? `\nserver log:\n${log}` : ''}`,
      { cause: err },
    );
  }
}

async function initCluster(
  asServerUser: (file: string, args: readonly string[]) => Promise<unknown>,
  bin: string,
  dataDir: string,
  passwordFile: string,
): Promise<void> {
  const common = [
    '-D',
    dataDir,
    `--username=${SUPERUSER}`,
    `--pwfile=${passwordFile}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--no-sync',
    '--no-instructions',
  ];
  try {
    // An ICU default collation orders 'B' after 'a', as en_US does (PostgreSQL 15 and later).
    await asServerUser(path.join(bin, 'initdb'), [
      ...common,
      '--locale=C.UTF-8',
      '--locale-provider=icu',
      '--icu-locale=en-US',
    ]);
  } catch {
    // a server built without ICU, or older than 15: fall back to the plain libc locale
    fs.rmSync(dataDir, { recursive: true, force: true });
    await asServerUser(path.join(bin, 'initdb'), [...common, '--locale=C.UTF-8']);
  }
}

interface ServerUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** Who runs the server: undefined for this process's own user, unless that user is root. */
function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { name, uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error(
    'running as root, and there is neither a `postgres` nor a `nobody` user to run the server as',
  );
}

/** The folder holding `initdb`, `pg_ctl` and `postgres`, installing them with apt when missing. */
async function findBinaries(): Promise<string> {
  const found = locateBinaries();
  if (found !== undefined) return found;
  await installDebianPackages(['postgresql'], {
    what: 'the PostgreSQL server binaries (initdb, pg_ctl) are not installed',
    otherwise: 'put the bin folder of an installed PostgreSQL on the PATH',
    log: (message) => console.log(`[postgres] ${message}`),
  });
  const installed = locateBinaries();
  if (installed === undefined) {
    throw new Error('apt-get installed postgresql, but initdb and pg_ctl are still not found');
  }
  console.log(`[postgres] installed; using ${installed}`);
  return installed;
}

function locateBinaries(): string | undefined {
  const has = (dir: string) =>
    ['initdb', 'pg_ctl', 'postgres'].every((name) => fs.existsSync(path.join(dir, name)));
  const debian = '/usr/lib/postgresql';
  if (fs.existsSync(debian)) {
    const versions = fs
      .readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = path.join(debian, v, 'bin');
      if (has(dir)) return dir;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    // resolve symlinks (e.g. /usr/local/bin/pg_ctl → /usr/lib/postgresql/15/bin/pg_ctl), so that
    // pg_ctl finds the `postgres` of the same installation next to itself
    if (dir !== '' && has(dir)) return path.dirname(fs.realpathSync(path.join(dir, 'pg_ctl')));
  }
  return undefined;
}
