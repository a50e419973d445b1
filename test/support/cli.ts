/** Runs the built `domicile` command as a real child process. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './deployment.js';

export const bin = join(repoRoot, 'dist/src/cli/bin.js');

/** Fails clearly when the build is missing (`npm test` builds before running the tests). */
export function requireBuild(): void {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);
}

/** Runs a command to completion. */
export function run(
  args: string[],
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `domicile up` and resolves with its URL once it listens. */
export async function startUp(
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [bin, ...args, 'up', '--port', '0'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`domicile up did not start:\n${output}`)), 30_000);
    const check = (): void => {
      const match = /Domicile is up at (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`domicile up exited with ${code}:\n${output}`)));
  });
  return {
    url,
    child,
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
