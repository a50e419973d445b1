/**
 * The Domicile deployments the vault benchmark measures, each made of real child processes with
 * its own temp folder: `domicile up` (the gateway and every region node in one process), and
 * separate processes — region nodes (`domicile region`) behind gateways (`domicile gateway`),
 * talking over mutual TLS on loopback — on SQLite files or on PostgreSQL. Everything started here
 * is stopped and removed by the `Teardown` it is given.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type TopologyRegion as BenchRegion,
  TOPOLOGY_REGIONS as REGIONS,
  topologyConfig,
} from '../test/support/topology-config.js';
import { freePort, type Server, startServer, type Teardown } from './support.js';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'dist/src/cli/bin.js');

/** A running deployment. */
export interface Deployment {
  /** The public API, one URL per gateway (`domicile up` has one). */
  readonly urls: readonly string[];
  /** A bearer token of a US application service (role `app`): it may write US protected records. */
  readonly token: string;
  /** Every process of the deployment, by name. */
  readonly servers: ReadonlyMap<string, Server>;
}

export {
  TOPOLOGY_REGIONS as REGIONS,
  type TopologyRegion as BenchRegion,
} from '../test/support/topology-config.js';

/** A fresh data folder and the environment of every `domicile` command run on it. */
function newDeploymentFolder(teardown: Teardown, name: string): { dir: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), `domicile-bench-${name}-`));
  teardown.defer(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    env: {
      DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'),
      DOMICILE_DATA: join(dir, 'data'),
      DOMICILE_LOG_LEVEL: 'warn',
    },
  };
}

/** Runs a `domicile` command to completion; throws with its output when it fails. */
function runCommand(args: readonly string[], env: Record<string, string>): string {
  const result = spawnSync(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`\`domicile ${args.join(' ')}\` failed (${result.status}):\n${result.stderr}`);
  }
  return result.stdout;
}

function serviceToken(env: Record<string, string>): string {
  const args = ['--sub', 'bench-app', '--type', 'service', '--roles', 'app'];
  return runCommand(['token', ...args, '--jurisdiction', 'US', '--loc', 'US'], env).trim();
}

async function startChild(
  teardown: Teardown,
  args: readonly string[],
  env: Record<string, string>,
  ready: RegExp,
  nodeOptions: readonly string[] = [],
): Promise<Server> {
  const server = await startServer([...nodeOptions, bin, ...args], env, ready);
  teardown.defer(() => server.stop());
  return server;
}

/** Options of `startEmbedded`. */
export interface EmbeddedOptions {
  /** Its configuration; default: the repository's `domicile.yaml`. */
  readonly config?: string;
  /** Options for its `node` (e.g. `--cpu-prof`). */
  readonly nodeOptions?: readonly string[];
}

/** Starts `domicile up` on its own data folder (SQLite stores). */
export async function startEmbedded(teardown: Teardown, options: EmbeddedOptions = {}): Promise<Deployment> {
  const { env } = newDeploymentFolder(teardown, 'embedded');
  if (options.config !== undefined) env.DOMICILE_CONFIG = options.config;
  const up = await startChild(
    teardown,
    ['up', '--port', '0'],
    env,
    /Domicile is up at (http:\/\/\S+)/,
    options.nodeOptions,
  );
  return { urls: [up.url], token: serviceToken(env), servers: new Map([['domicile up', up]]) };
}

/** Options of `startProcesses`. */
export interface ProcessesOptions {
  /** Each region node's store: `sqlite` (a file in the data folder) or a postgres:// URL. */
  readonly stores: Readonly<Record<BenchRegion, string>>;
  /** The shared directory and control store: `sqlite` or a postgres:// URL. */
  readonly control: string;
  /** Gateway names; one gateway process each. */
  readonly gateways: readonly string[];
}

/** A process deployment and the configuration file it runs on. */
export interface ProcessDeployment extends Deployment {
  /** The configuration of the three regions, for an embedded deployment to compare with. */
  readonly config: string;
}

/**
 * Creates a deployment's keys and certificates (`domicile init --pki`), then starts a region node
 * per region and the gateways.
 */
export async function startProcesses(
  teardown: Teardown,
  options: ProcessesOptions,
): Promise<ProcessDeployment> {
  const { dir, env } = newDeploymentFolder(teardown, 'processes');
  const config = join(dir, 'domicile.yaml');
  env.DOMICILE_CONFIG = config;
  const ports = {} as Record<BenchRegion, number>;
  for (const r of REGIONS) ports[r.id] = await freePort();
  writeFileSync(config, topologyConfig(ports));
  runCommand(['init', '--pki', '--gateways', options.gateways.join(',')], env);
  const servers = new Map<string, Server>();
  const control = ['--control', options.control];
  await Promise.all(
    REGIONS.map(async (r) => {
      const args = ['region', '--region', r.id, '--store', options.stores[r.id], ...control];
      servers.set(r.id, await startChild(teardown, args, env, /region \S+ is up at (https:\/\/\S+)/));
    }),
  );
  const urls: string[] = [];
  for (const name of options.gateways) {
    const args = ['gateway', '--name', name, '--listen', '127.0.0.1:0', ...control];
    const gateway = await startChild(teardown, args, env, /gateway \S+ is up at (http:\/\/\S+)/);
    servers.set(name, gateway);
    urls.push(gateway.url);
  }
  return { urls, token: serviceToken(env), servers, config };
}
