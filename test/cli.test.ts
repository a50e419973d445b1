/**
 * The `domicile` command as a user runs it: a real `domicile up` process, and the CLI talking
 * to it over HTTP. Also checks that a stored value never appears in any file under the data
 * folder, nor in the process's output.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, run, startUp } from './support/cli.js';
import { repoRoot } from './support/deployment.js';

const dataDir = mkdtempSync(join(tmpdir(), 'domicile-cli-'));
const env = { DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'), DOMICILE_DATA: dataDir };
const PLAINTEXT = `plaintext-${randomBytes(6).toString('hex')}@example.com`;
let server: Awaited<ReturnType<typeof startUp>>;

beforeAll(async () => {
  requireBuild();
  server = await startUp([], env);
});
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('domicile CLI against a running `domicile up`', () => {
  it('prints a token, registers a subject, writes, reads and lists records', () => {
    const token = run(
      ['token', '--sub', 'alice', '--dept', 'us-data-security', '--loc', 'US', '--ttl', '10m'],
      env,
    );
    expect(token.code).toBe(0);
    const api = { ...env, DOMICILE_URL: server.url, DOMICILE_TOKEN: token.stdout.trim() };

    const add = run(['--json', 'subjects', 'add', 'cli-user', '--jurisdiction', 'US'], api);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toEqual({ subjectId: 'cli-user', jurisdiction: 'US' });

    const put = run(['records', 'put', 'cli-user', 'email', JSON.stringify(PLAINTEXT)], api);
    expect(put.code).toBe(0);
    expect(put.stdout).toContain('stored email v1 (protected) in oci-us-ashburn');

    const get = run(['--json', 'records', 'get', 'cli-user', 'email'], api);
    expect(JSON.parse(get.stdout)).toMatchObject({ value: PLAINTEXT, region: 'oci-us-ashburn', version: 1 });

    const list = run(['records', 'list', 'cli-user'], api);
    expect(list.stdout).toMatch(/email\tprotected\tv1/);

    const info = run(['subjects', 'get', 'cli-user'], api);
    expect(info.stdout).toContain('jurisdiction US, home oci-us-ashburn, 1 records');
  });

  it('exits 2 when access is denied and 1 when the subject does not exist', () => {
    const abroad = run(
      ['token', '--sub', 'bob', '--dept', 'us-data-security', '--loc', 'SG'],
      env,
    ).stdout.trim();
    const denied = run(['records', 'get', 'cli-user', 'email'], {
      ...env,
      DOMICILE_URL: server.url,
      DOMICILE_TOKEN: abroad,
    });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain('DOMICILE_ERR_FORBIDDEN');
    const missing = run(['--json', 'records', 'get', 'nobody', 'email'], {
      ...env,
      DOMICILE_URL: server.url,
      DOMICILE_TOKEN: abroad,
    });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).error.code).toBe('DOMICILE_ERR_SUBJECT_NOT_FOUND');
  });

  it('reports the requests routed per serving region and the home shares, and fails clearly without a gateway', () => {
    // the records put, get and list and the subjects get above: four US requests, all served home
    const api = { ...env, DOMICILE_URL: server.url };
    const human = run(['routing', 'report'], api);
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(
      'US: 4 requests, 100.0% served by home since start, 100.0% of the recent ones\n  oci-us-ashburn\t4\n',
    );
    const json = run(['--json', 'routing', 'report'], api);
    expect(JSON.parse(json.stdout)).toEqual([
      { jurisdiction: 'US', total: 4, home: 4, byRegion: { 'oci-us-ashburn': 4 }, recentHomeShare: 1 },
    ]);
    const down = run(['routing', 'report'], { ...env, DOMICILE_URL: 'http://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('DOMICILE_ERR_REGION_UNAVAILABLE');
    expect(down.stderr).toContain('is `domicile up` running?');
  });

  it('never writes the plaintext of a stored value to any file under the data folder or to its output', () => {
    const files = filesUnder(dataDir);
    expect(files.some((f) => f.endsWith('store.db'))).toBe(true);
    for (const file of files) {
      expect(readFileSync(file).includes(Buffer.from(PLAINTEXT)), file).toBe(false);
    }
    expect(server.output()).not.toContain(PLAINTEXT);
  });
});

describe('configuration errors', () => {
  it('exit with code 3 and name the file, line, path and reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'domicile-config-'));
    const file = join(dir, 'domicile.yaml');
    const text = readFileSync(join(repoRoot, 'domicile.yaml'), 'utf8').replace(
      'home: oci-us-ashburn',
      'home: sg-singapore',
    );
    writeFileSync(file, text);
    const result = run(['--config', file, '--data', join(dir, 'data'), 'init'], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      new RegExp(
        `${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: jurisdictions\\[0\\]\\.home: home region \`sg-singapore\` is in country \`SG\`, which is not a country of jurisdiction \`US\``,
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('exit with code 3 for a missing file', () => {
    const result = run(['--config', '/nonexistent/domicile.yaml', 'init'], env);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('DOMICILE_ERR_CONFIG');
  });
});
