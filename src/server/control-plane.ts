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
import { DomicileError } from '../domain/errors.js';
import type { ControlStore } from '../store/control-store.js';
import { openPostgresControlStore } from '../store/postgres/postgres-control-store.js';
import { openPostgresDirectory } from '../store/postgres/postgres-directory.js';
import type { SubjectDirectory } from '../store/region-store.js';
import { openSqliteControlStore } from '../store/sqlite/sqlite-control-store.js';
import { openSqliteDirectory } from '../store/sqlite/sqlite-directory.js';
import { deploymentPaths } from './deployment.js';

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
    const directory = openSqliteDirectory({ file: paths.directory });
    const control = openSqliteControlStore({ file: paths.control });
    return {
      directory,
      control,
      async close() {
        await control.close();
        await directory.close();
      },
    };
  }
  const directory = await openPostgresDirectory({ url: spec, schema: CONTROL_SCHEMA });
  let control: ControlStore;
  try {
    control = await openPostgresControlStore({ url: spec, schema: CONTROL_SCHEMA });
  } catch (error) {
    await directory.close();
    throw error;
  }
  return {
    directory,
    control,
    async close() {
      await control.close();
      await directory.close();
    },
  };
}
