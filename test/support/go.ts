/**
 * The Go toolchain for interoperability tests: checks Domicile's signed notes, checkpoints and
 * Merkle proofs with golang.org/x/mod `sumdb/note` and `sumdb/tlog`, the reference code an
 * auditor would reach for, so that no Domicile code takes part in the verification.
 *
 * Needs Debian's `golang-go` (Go 1.19 in bookworm) and `golang-golang-x-mod-dev` (x/mod source
 * under `/usr/share/gocode/src`). When either is missing and this process may run apt (root on
 * Debian), it installs both with `apt-get update` and `apt-get install -y golang-go
 * golang-golang-x-mod-dev`; otherwise it fails with the reason. The test never skips.
 *
 * The program is built offline in GOPATH mode (`GO111MODULE=off`, `GOPATH=/usr/share/gocode`,
 * `GOPROXY=off`, `CGO_ENABLED=0`), once per process, into a temporary folder removed at exit.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { installDebianPackages } from './apt.js';
import { describeExecError } from './exec-error.js';

const run = promisify(execFile);

/** Where Debian's packages put the Go source tree that GOPATH mode builds against. */
export const DEBIAN_GOPATH = '/usr/share/gocode';
/** The apt packages this module installs when they are missing. */
export const GO_APT_PACKAGES = ['golang-go', 'golang-golang-x-mod-dev'] as const;
/** Folders searched for `go` besides the PATH (Debian keeps the real binary off the PATH). */
const GO_DIRS = ['/usr/lib/go-1.19/bin', '/usr/lib/go/bin', '/usr/local/go/bin'];
/** The x/mod packages the program imports, relative to `<GOPATH>/src`. */
const XMOD_PACKAGES = ['golang.org/x/mod/sumdb/note', 'golang.org/x/mod/sumdb/tlog'];

/** A usable toolchain. */
export interface GoToolchain {
  /** Absolute path of the `go` binary. */
  readonly go: string;
  /** `go version` output, e.g. `go version go1.19.8 linux/amd64`. */
  readonly version: string;
  /** The GOPATH holding golang.org/x/mod. */
  readonly gopath: string;
  /** The environment for offline GOPATH-mode builds. */
  readonly env: NodeJS.ProcessEnv;
}

/** Result of one run of a built program. */
export interface GoRun {
  /** Exit status; 0 is success. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let toolchain: Promise<GoToolchain> | undefined;
const builds = new Map<string, Promise<string>>();

/**
 * The Go toolchain with golang.org/x/mod, installed with apt when missing (once per process).
 * Rejects with the reason when it cannot be found or installed.
 */
export function ensureGoToolchain(): Promise<GoToolchain> {
  toolchain ??= locateOrInstall();
  return toolchain;
}

/**
 * Builds the Go `main` package in `sourceDir` once per process and returns the binary's path.
 * Rejects with the compiler output when the build fails.
 */
export function buildGoProgram(sourceDir: string): Promise<string> {
  const key = path.resolve(sourceDir);
  let build = builds.get(key);
  if (build === undefined) {
    build = compile(key);
    builds.set(key, build);
  }
  return build;
}

/**
 * Builds the program in `sourceDir` and returns a function that runs it with `stdin` (a job
 * object is sent as JSON). A non-zero exit is a result, not an exception: negative tests look at
 * `code` and `stderr`. Rejects only when the program cannot be run at all.
 *
 * @example
 * const verify = await goProgram(join(repoRoot, 'test/interop/go'));
 * const { code, stdout, stderr } = await verify({ checkpoint, verifierKey, entries: [] });
 */
export async function goProgram(sourceDir: string): Promise<(job: unknown) => Promise<GoRun>> {
  const binary = await buildGoProgram(sourceDir);
  return (job) => runWithStdin(binary, typeof job === 'string' ? job : JSON.stringify(job));
}

// ------------------------------------------------------------------------------------------------

async function locateOrInstall(): Promise<GoToolchain> {
  const found = await locate();
  if (found.toolchain !== undefined) return found.toolchain;
  await installDebianPackages(GO_APT_PACKAGES, { what: found.missing, log });
  const installed = await locate();
  if (installed.toolchain === undefined) {
    throw new Error(`apt-get installed ${GO_APT_PACKAGES.join(' ')}, but still: ${installed.missing}`);
  }
  log(`using ${installed.toolchain.version} at ${installed.toolchain.go}`);
  return installed.toolchain;
}

async function locate(): Promise<{ toolchain?: GoToolchain; missing: string }> {
  const go = findGo();
  const gopath = [process.env.DOMICILE_TEST_GOPATH, DEBIAN_GOPATH].find(
    (dir): dir is string =>
      dir !== undefined && dir !== '' && XMOD_PACKAGES.every((p) => fs.existsSync(path.join(dir, 'src', p))),
  );
  if (go === undefined) return { missing: 'no `go` binary on the PATH or in /usr/lib/go*/bin' };
  if (gopath === undefined)
    return { missing: `golang.org/x/mod is not under ${DEBIAN_GOPATH}/src (Debian golang-golang-x-mod-dev)` };
  const env = buildEnv(gopath);
  let version: string;
  try {
    version = (await run(go, ['version'], { env })).stdout.trim();
  } catch (err) {
    throw new Error(`${go} version failed: ${describeExecError(err)}`, { cause: err });
  }
  return { toolchain: { go, version, gopath, env }, missing: '' };
}

function findGo(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...GO_DIRS];
  for (const dir of dirs) {
    if (dir === '') continue;
    const file = path.join(dir, 'go');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Offline GOPATH mode: no module proxy, no toolchain download, no C compiler needed. */
function buildEnv(gopath: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: gopath,
    GOFLAGS: '',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
  // the build cache needs a home; give it one when the environment has none (minimal containers)
  if (!env.GOCACHE && !env.HOME && !env.XDG_CACHE_HOME) {
    env.GOCACHE = path.join(os.tmpdir(), 'domicile-go-cache');
  }
  return env;
}

let buildRoot: string | undefined;

async function compile(sourceDir: string): Promise<string> {
  const tc = await ensureGoToolchain();
  if (!fs.existsSync(path.join(sourceDir, 'main.go'))) throw new Error(`${sourceDir}/main.go is missing`);
  if (buildRoot === undefined) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-go-'));
    buildRoot = root;
    process.once('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  }
  const binary = path.join(buildRoot, `${path.basename(sourceDir)}-${builds.size}`);
  const started = Date.now();
  try {
    // GOPATH mode builds the files given on the command line; imports come from GOPATH/src
    const files = fs
      .readdirSync(sourceDir)
      .filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))
      .map((f) => path.join(sourceDir, f));
    await run(tc.go, ['build', '-o', binary, ...files], { env: tc.env, cwd: sourceDir });
  } catch (err) {
    throw new Error(`go build of ${sourceDir} failed (${tc.version}): ${describeExecError(err)}`, {
      cause: err,
    });
  }
  log(`built ${path.relative(process.cwd(), sourceDir) || sourceDir} in ${Date.now() - started} ms`);
  return binary;
}

function runWithStdin(binary: string, input: string): Promise<GoRun> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      [],
      { timeout: 30_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const code = 'code' in err ? err.code : undefined;
        if (typeof code === 'number' && err.killed !== true) resolve({ code, stdout, stderr });
        else reject(new Error(`${binary} did not run: ${err.message}\n${stderr}`, { cause: err }));
      },
    );
    child.stdin?.end(input);
  });
}

function log(message: string): void {
  console.log(`[go] ${message}`);
}
