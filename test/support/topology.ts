/**
 * A deployment of separate processes for tests: region nodes (`domicile region`) and gateways
 * (`domicile gateway`), each a real child process on loopback, with PostgreSQL behind them: one
 * database per region node and one for the shared control store, on the run's throwaway server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIssuerPrivateKey } from '../../src/server/deployment.js';
import { issueToken, type PrincipalClaims } from '../../src/services/access/tokens.js';
import { bin, run } from './cli.js';
import { repoRoot } from './deployment.js';
import { freePort } from './ports.js';
import { postgresUrl } from './postgres.js';
import { createDatabase, TOPOLOGY_REGIONS, type TopologyRegion, topologyConfig } from './topology-config.js';

/** A running child process of the topology. */
export interface Child {
  readonly process: ChildProcess;
  output(): string;
  /** Sends a signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `domicile <args>` and resolves once its output matches `ready`. */
export async function startChild(args: string[], env: Record<string, string>, ready: RegExp): Promise<Child> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
  let output = '';
  const collect = (c: Buffer) => {
    output += c.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`\`${args.join(' ')}\` did not start:\n${output}`)),
      60_000,
    );
    const check = () => {
      if (ready.test(output)) {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve();
      }
    };
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`\`${args.join(' ')}\` exited with ${code}:\n${output}`));
    };
    child.stdout.on('data', check);
    child.once('exit', exited);
  });
  return {
    process: child,
    output: () => output,
    kill: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/** A topology of region node and gateway processes. */
export class Topology {
  readonly root: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly env: Record<string, string>;
  readonly stores: Readonly<Record<TopologyRegion, string>>;
  readonly control: string;
  readonly ports: Readonly<Record<TopologyRegion, number>>;
  readonly regions = new Map<TopologyRegion, Child>();
  readonly gateways = new Map<string, { child: Child; url: string }>();

  private constructor(options: {
    root: string;
    stores: Record<TopologyRegion, string>;
    control: string;
    ports: Record<TopologyRegion, number>;
  }) {
    this.root = options.root;
    this.dataDir = join(options.root, 'data');
    this.configFile = join(options.root, 'domicile.yaml');
    this.stores = options.stores;
    this.control = options.control;
    this.ports = options.ports;
    this.env = {
      DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'),
      DOMICILE_DATA: this.dataDir,
      DOMICILE_CONFIG: this.configFile,
      DOMICILE_LOG_LEVEL: 'warn',
      DOMICILE_CONTROL_STORE: options.control,
    };
  }

  /** Creates the databases, the configuration and the keys and certificates (`init --pki`). */
  static async create(
    gateways: readonly string[] = ['gateway-1', 'gateway-2'],
    options: { control?: 'postgres' | 'sqlite' } = {},
  ): Promise<Topology> {
    const root = mkdtempSync(join(tmpdir(), 'domicile-topology-'));
    const ports = {} as Record<TopologyRegion, number>;
    const stores = {} as Record<TopologyRegion, string>;
    for (const r of TOPOLOGY_REGIONS) {
      ports[r.id] = await freePort();
      stores[r.id] = await createDatabase(postgresUrl(), `${r.id}_${randomBytes(5).toString('hex')}`);
    }
    const topology = new Topology({
      root,
      stores,
      control:
        options.control === 'sqlite'
          ? 'sqlite'
          : await createDatabase(postgresUrl(), `control_${randomBytes(5).toString('hex')}`),
      ports,
    });
    writeFileSync(topology.configFile, topologyConfig(ports, 'audit:\n  integrateIntervalMs: 100\n'));
    const init = run(['init', '--pki', '--gateways', gateways.join(',')], topology.env);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    return topology;
  }

  /** Starts (or restarts) a region node. */
  async startRegion(region: TopologyRegion): Promise<Child> {
    const child = await startChild(
      ['region', '--region', region, '--store', this.stores[region]],
      this.env,
      new RegExp(`region ${region} is up at`),
    );
    this.regions.set(region, child);
    return child;
  }

  /** Starts a gateway on a free port. */
  async startGateway(name: string): Promise<string> {
    const port = await freePort();
    const child = await startChild(
      ['gateway', '--name', name, '--listen', `127.0.0.1:${port}`],
      this.env,
      /gateway \S+ is up at/,
    );
    const url = `http://127.0.0.1:${port}`;
    this.gateways.set(name, { child, url });
    return url;
  }

  /** A bearer token of the deployment's issuer. */
  async token(claims: Partial<PrincipalClaims>): Promise<string> {
    return issueToken({
      privateKey: await loadIssuerPrivateKey(this.dataDir),
      issuer: 'domicile.local',
      audience: 'domicile',
      ttlSeconds: 3600,
      claims: { sub: 'test', type: 'employee', ...claims },
    });
  }

  /** Stops every process and removes the files. */
  async close(): Promise<void> {
    for (const { child } of this.gateways.values()) await child.kill('SIGKILL');
    for (const child of this.regions.values()) await child.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}
