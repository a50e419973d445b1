/**
 * The deployment's shared state when gateways and region nodes run as separate processes: the
 * subject directory (subject id → jurisdiction, no personal data) and the control store (access
 * requests, grants, policy sets). Every gateway and region node of a deployment opens the same
 * one; nothing of it is cached in a process, so several processes can share it.
 *
 * Where it lives (`--control`, else `DOMICILE_CONTROL_STORE`, else `sqlite`):
 * - `sqlite`: the files `directory/directory.db` and `control/control.db` of the data folder
 *   (processes on one machine);
 * - `postgres://…`: schema `domicile_control` of that database (processes on several machines).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId } from '../domain/ids.js';
import { CedarAuthorizer } from '../services/access/cedar-authorizer.js';
import { Lockbox } from '../services/access/lockbox.js';
import {
  type ActivePolicy,
  followActivePolicy,
  PolicyGovernance,
} from '../services/access/policy-governance.js';
import type { AuditSink } from '../services/audit/audit-event.js';
import type { ControlStore } from '../store/control-store.js';
import { openPostgresControlStore } from '../store/postgres/postgres-control-store.js';
import { openPostgresDirectory } from '../store/postgres/postgres-directory.js';
import type { SubjectDirectory } from '../store/region-store.js';
import { openSqliteControlStore } from '../store/sqlite/sqlite-control-store.js';
import { openSqliteDirectory } from '../store/sqlite/sqlite-directory.js';
import { deploymentPaths, policyDirectoryOf, readPolicyFolder } from './deployment.js';

/** The environment variable naming the control store when `--control` is not given. */
export const CONTROL_STORE_ENV = 'DOMICILE_CONTROL_STORE';

/** The PostgreSQL schema of the directory and the control store. */
export const CONTROL_SCHEMA = 'domicile_control';

/** The shared state of a deployment. */
export interface ControlPlane {
  readonly directory: SubjectDirectory;
  readonly control: ControlStore;
  close(): Promise<void>;
}

/** `sqlite` or a `postgres://` URL: which control store a process uses. */
export function controlStoreSpec(
  given: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const spec = given ?? env[CONTROL_STORE_ENV] ?? 'sqlite';
  if (spec !== 'sqlite' && !/^postgres(ql)?:\/\//.test(spec)) {
    throw new DomicileError('DOMICILE_ERR_USAGE', 'the control store is `sqlite` or a postgres:// URL');
  }
  return spec;
}

/** Opens the directory and control store named by `spec` (see `controlStoreSpec`). */
export async function openControlPlane(spec: string, dataDir: string): Promise<ControlPlane> {
  if (spec === 'sqlite') {
    const paths = deploymentPaths(dataDir);
    await mkdir(join(dataDir, 'directory'), { recursive: true });
    await mkdir(join(dataDir, 'control'), { recursive: true });
    return planeOf(
      openSqliteDirectory({ file: paths.directory }),
      openSqliteControlStore({ file: paths.control }),
    );
  }
  const directory = await openPostgresDirectory({ url: spec, schema: CONTROL_SCHEMA });
  let control: ControlStore;
  try {
    control = await openPostgresControlStore({ url: spec, schema: CONTROL_SCHEMA });
  } catch (error) {
    await directory.close();
    throw error;
  }
  return planeOf(directory, control);
}

function planeOf(directory: SubjectDirectory, control: ControlStore): ControlPlane {
  return {
    directory,
    control,
    async close() {
      await control.close();
      await directory.close();
    },
  };
}

/** What `domicile region` and `domicile gateway` have in common. */
export interface ProcessOptions {
  readonly config: Config;
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The control store (see `controlStoreSpec`). */
  readonly control?: string;
  /** Where to listen (each process has its default). */
  readonly listen?: { readonly host: string; readonly port: number };
  /** How often a policy set activated elsewhere is picked up; default 2000 ms. */
  readonly policyPollMs?: number;
  readonly logger?: boolean | { level: string };
}

/** What a process opened, closed in reverse order (each failure ignored so the rest still close). */
export class Closers {
  private readonly closers: (() => Promise<void> | void)[] = [];

  add(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        // closing what is left
      }
    }
  }
}

/**
 * The access control of a process on the shared control store: the active policy set (followed
 * as other processes activate new ones), the lockbox's grants and the Cedar authorizer.
 */
export async function openAccessControl(options: {
  readonly config: Config;
  readonly plane: ControlPlane;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  readonly policyPollMs?: number | undefined;
  readonly closers: Closers;
  readonly onError: (error: unknown) => void;
}): Promise<{ policies: ActivePolicy; lockbox: Lockbox; authorizer: CedarAuthorizer }> {
  const { config, plane, audit } = options;
  const now = Date.now;
  const { active: policies } = await PolicyGovernance.openActive({
    config,
    store: plane.control,
    folder: () => readPolicyFolder(policyDirectoryOf(config)),
    now,
  });
  options.closers.add(
    followActivePolicy({
      store: plane.control,
      active: policies,
      intervalMs: options.policyPollMs ?? 2000,
      onError: options.onError,
    }),
  );
  const lockbox = new Lockbox({ config, store: plane.control, policies, audit, now });
  const authorizer = new CedarAuthorizer({ config, policies, grants: lockbox, now });
  return { policies, lockbox, authorizer };
}

/** Listens and returns the URL (`scheme://host:port`, the port the system gave when 0 was asked). */
export async function listenOn(
  app: { listen(options: { host: string; port: number }): Promise<string>; server: { address(): unknown } },
  listen: { readonly host: string; readonly port: number },
  scheme: 'http' | 'https',
): Promise<string> {
  await app.listen({ host: listen.host, port: listen.port });
  const address = app.server.address() as { port?: number } | null;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return `${scheme}://${host}:${address?.port ?? listen.port}`;
}
