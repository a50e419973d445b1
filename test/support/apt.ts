/**
 * Installs missing Debian packages for the test support that needs system software (Chromium,
 * Go, the PostgreSQL server), so that those tests install what they need instead of skipping.
 * No Vitest here: the benchmarks import `postgres-server.ts`, which uses it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describeExecError } from './exec-error.js';

const run = promisify(execFile);

/** Options of `installDebianPackages`. */
export interface InstallDebianPackagesOptions {
  /** What is missing, the start of the error when this process cannot install it. */
  readonly what: string;
  /** Another way out for the user, offered after the `apt-get install` command. */
  readonly otherwise?: string;
  /** Where progress lines go (apt can take minutes). */
  readonly log: (message: string) => void;
}

/**
 * Runs `apt-get update` and `apt-get install -y <packages>` non-interactively. Rejects with the
 * reason when this process cannot (not Linux, no apt-get, not root) or when apt-get fails.
 *
 * @example
 * await installDebianPackages(['chromium'], {
 *   what: 'Chromium is not installed',
 *   otherwise: 'set DOMICILE_TEST_CHROMIUM',
 *   log: (m) => console.log(`[chromium] ${m}`),
 * });
 */
export async function installDebianPackages(
  packages: readonly string[],
  options: InstallDebianPackagesOptions,
): Promise<void> {
  const { what, otherwise, log } = options;
  const command = `apt-get install -y ${packages.join(' ')}`;
  if (process.platform !== 'linux' || !onPath('apt-get') || process.getuid?.() !== 0) {
    throw new Error(
      `${what}, and this process cannot install it (it needs root on Debian/Ubuntu): run \`${command}\`${otherwise === undefined ? '' : ` or ${otherwise}`}`,
    );
  }
  log(`${what}: installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = async (args: readonly string[]): Promise<void> => {
    const started = Date.now();
    log(`running apt-get ${args.join(' ')}`);
    try {
      await run('apt-get', [...args], { env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      throw new Error(`apt-get ${args.join(' ')} failed: ${describeExecError(err)}`, { cause: err });
    }
    log(`apt-get ${args[0] ?? ''} done in ${Date.now() - started} ms`);
  };
  await apt(['update', '-qq']);
  // waits for the dpkg lock instead of failing when another installer (Chromium, Go, PostgreSQL)
  // holds it: test files install in parallel
  await apt(['install', '-y', '-qq', '-o', 'DPkg::Lock::Timeout=300', ...packages]);
}

/** Whether an executable `name` is in a folder of the PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      const file = path.join(dir, name);
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  });
}
