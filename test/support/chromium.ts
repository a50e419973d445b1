/**
 * Headless Chromium for the console tests: Debian's `chromium` package (`/usr/bin/chromium`),
 * driven by playwright-core, which never downloads a browser of its own.
 *
 * When the binary is missing and this process may run apt (root on Debian), it installs the
 * package with `apt-get update` and `apt-get install -y chromium`; otherwise it fails with the
 * reason. The tests never skip. `DOMICILE_TEST_CHROMIUM` names another binary to use.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { installDebianPackages } from './apt.js';

/** The Debian package this module installs when Chromium is missing. */
export const CHROMIUM_APT_PACKAGE = 'chromium';
/** Where Debian (and Ubuntu's transitional packages) put the browser. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

let located: Promise<string> | undefined;

/** The Chromium binary, installed with apt when missing (once per process). */
export function ensureChromium(): Promise<string> {
  located ??= locateOrInstall();
  return located;
}

/**
 * Launches headless Chromium. As root it runs without its sandbox, which needs an unprivileged
 * user; the pages it opens are the console of a server the test started on loopback.
 *
 * @example
 * const browser = await launchChromium();
 * try { const page = await browser.newPage(); … } finally { await browser.close(); }
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureChromium();
  const args = ['--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return chromium.launch({ executablePath, headless: true, args, timeout: 60_000 });
}

async function locateOrInstall(): Promise<string> {
  const found = locate();
  if (found !== undefined) return found;
  await installDebianPackages([CHROMIUM_APT_PACKAGE], {
    what: `Chromium is not installed (looked for ${CANDIDATES.join(', ')} and \`chromium\` on the PATH)`,
    otherwise: 'set DOMICILE_TEST_CHROMIUM',
    log,
  });
  const installed = locate();
  if (installed === undefined) {
    throw new Error(`apt-get installed ${CHROMIUM_APT_PACKAGE}, but no Chromium binary is found`);
  }
  log(`using ${installed}`);
  return installed;
}

function locate(): string | undefined {
  const override = process.env.DOMICILE_TEST_CHROMIUM;
  if (override !== undefined && override !== '') {
    if (!isExecutable(override))
      throw new Error(`DOMICILE_TEST_CHROMIUM=${override} is not an executable file`);
    return override;
  }
  const onThePath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => path.join(dir, 'chromium'));
  return [...CANDIDATES, ...onThePath].find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function log(message: string): void {
  console.log(`[chromium] ${message}`);
}
