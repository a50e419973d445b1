/**
 * `domicile backup …` and `domicile transfers report` as operators run them: real child processes
 * against a real `domicile up`, exit codes 0 ok, 2 refused (residency, forbidden) or a backup that
 * does not verify.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, run, startUp } from './support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'domicile-backup-cli-'));
const dataDir = join(root, 'data');
const env = { DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'), DOMICILE_DATA: dataDir };
let server: Awaited<ReturnType<typeof startUp>>;
let steward: string;
let engineer: string;

const token = (...args: string[]): string => {
  const result = run(['token', ...args], env);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
};
const as = (jwt: string) => ({ ...env, DOMICILE_URL: server.url, DOMICILE_TOKEN: jwt });
const ok = (args: string[], jwt = steward): string => {
  const result = run(args, as(jwt));
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
};
const SUBJECTS = ['cli-u-1', 'cli-u-2', 'cli-u-3'];

beforeAll(async () => {
  requireBuild();
  server = await startUp([], env);
  // an operator of US: an employee of its steward department, located in the US (`mayOperate`)
  steward = token('--sub', 'cli-steward', '--dept', 'us-data-security', '--loc', 'US');
  engineer = token('--sub', 'cli-eng', '--dept', 'platform-eng', '--loc', 'US');
  for (const id of SUBJECTS) {
    ok(['subjects', 'add', id, '--jurisdiction', 'US']);
    ok(['records', 'put', id, 'email', JSON.stringify(`${id}@example.com`)]);
  }
}, 90_000);
afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('domicile backup', () => {
  let id = '';

  it('creates a backup in Singapore and refuses one to Frankfurt with exit 2', () => {
    const created = ok(['backup', 'create', '--jurisdiction', 'US', '--to', 'sg-singapore']);
    const match =
      /^created (US-\S+)\tsg-singapore\tUS from oci-us-ashburn\t3 records\t\S+\n {2}root \S+\n$/.exec(
        created,
      );
    expect(match, created).not.toBeNull();
    id = match?.[1] ?? '';

    const refused = run(['backup', 'create', '--jurisdiction', 'US', '--to', 'eu-frankfurt'], as(steward));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('DOMICILE_ERR_RESIDENCY');
    expect(refused.stderr).toContain('eu-frankfurt');

    const forbidden = run(['backup', 'create', '--jurisdiction', 'US', '--to', 'sg-singapore'], as(engineer));
    expect(forbidden.code).toBe(2);
    expect(forbidden.stderr).toContain('DOMICILE_ERR_FORBIDDEN');

    const anonymous = run(['backup', 'list'], { ...env, DOMICILE_URL: server.url, DOMICILE_TOKEN: '' });
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toContain('DOMICILE_ERR_UNAUTHENTICATED');
  });

  it('lists and verifies it', () => {
    expect(ok(['backup', 'list', '--region', 'sg-singapore'])).toContain(`${id}\tsg-singapore\tUS`);
    const listed = JSON.parse(ok(['--json', 'backup', 'list', '--jurisdiction', 'US'])) as {
      backups: { id: string; records: number }[];
    };
    expect(listed.backups).toEqual([expect.objectContaining({ id, records: 3 })]);
    const verified = ok(['backup', 'verify', id]);
    expect(verified).toMatch(
      new RegExp(
        `^backup ${id}: verified\\n {2}signature: backup key of US\\n {2}3 records in 1 files, root `,
      ),
    );
  });

  it('refuses a restore to a foreign region with exit 2, restores into Phoenix, re-applies an erasure', () => {
    for (const to of ['sg-singapore', 'eu-frankfurt']) {
      const refused = run(['backup', 'restore', id, '--to', to], as(steward));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('DOMICILE_ERR_RESIDENCY');
    }
    expect(ok(['backup', 'restore', id, '--to', 'oci-us-phoenix'])).toBe(
      `restored ${id} into oci-us-phoenix: 0 written, 3 already present, 0 erased since, 0 unreadable\n`,
    );
    expect(ok(['subjects', 'erase', 'cli-u-2'])).toMatch(/^erased cli-u-2 at \S+: 1 records\n$/);
    expect(ok(['backup', 'restore', id, '--to', 'oci-us-phoenix'])).toBe(
      `restored ${id} into oci-us-phoenix: 0 written, 2 already present, 1 erased since, 0 unreadable\n`,
    );
    const gone = run(['records', 'get', 'cli-u-2', 'email'], as(steward));
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('NOT_FOUND');
  });

  it('exits 2 when a backup file was edited after signing, for verify and restore', () => {
    const created = ok(['--json', 'backup', 'create', '--jurisdiction', 'US', '--to', 'sg-singapore']);
    const edited = (JSON.parse(created) as { id: string }).id;
    const file = join(dataDir, 'sg-singapore', 'backups', edited, 'records-000000.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"version":1', '"version":7'));
    const verify = run(['backup', 'verify', edited], as(steward));
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain(
      `DOMICILE_ERR_BACKUP_INVALID: backup \`${edited}\`: file \`records-000000.jsonl\` was modified`,
    );
    const restore = run(['backup', 'restore', edited, '--to', 'oci-us-phoenix'], as(steward));
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('DOMICILE_ERR_BACKUP_INVALID');
  });

  it('backs up keys only inside the jurisdiction, and restores them', () => {
    const refused = run(['backup', 'keys', '--jurisdiction', 'US', '--to', 'sg-singapore'], as(steward));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('DOMICILE_ERR_RESIDENCY');
    expect(refused.stderr).toContain('never leaves the jurisdiction');
    const created = ok(['backup', 'keys', '--jurisdiction', 'US', '--to', 'oci-us-phoenix']);
    const match =
      /^created (US-keys-\S+)\toci-us-phoenix\tUS from oci-us-ashburn\t1 keks, 2 subject keys\t/.exec(
        created,
      );
    expect(match, created).not.toBeNull();
    const keysId = match?.[1] ?? '';
    expect(ok(['backup', 'list-keys'])).toContain(keysId);
    const abroad = run(['backup', 'restore-keys', keysId, '--to', 'sg-singapore'], as(steward));
    expect(abroad.code).toBe(2);
    expect(abroad.stderr).toContain('DOMICILE_ERR_RESIDENCY');
    expect(ok(['backup', 'restore-keys', keysId, '--to', 'oci-us-ashburn'])).toBe(
      `restored keys ${keysId} into oci-us-ashburn: 0 keks installed (1 present), 0 subject keys written, 2 already present, 0 erased subjects left out, 0 destroyed, 0 conflicts\n`,
    );
  });
});

describe('domicile transfers report', () => {
  it('shows the backups and refusals from the log, and nothing protected or key material that left', () => {
    const report = ok(['transfers', 'report', '--jurisdiction', 'US']);
    expect(report).toMatch(/^US \(log size \d+\)\n/);
    expect(report).toContain('  protected plaintext records that left the jurisdiction: 0\n');
    expect(report).toContain('  keys that left the jurisdiction: 0\n');
    expect(report).toMatch(
      / {4}backup\t→ sg-singapore \(SG\)\tprotected\tciphertext\tunspecified\t2 transfers\t/,
    );
    expect(report).toMatch(/ {4}backup\t→ oci-us-phoenix \(US\)\tkey-material\tciphertext\t/);
    const refused = report.slice(report.indexOf('  refused:'));
    expect(refused).toMatch(/restore\t→ sg-singapore \(SG\)\tprotected\tplaintext/);
    expect(refused).toMatch(/backup\t→ eu-frankfurt \(DE\)\tprotected\tciphertext/);
    expect(refused).toMatch(/backup\t→ sg-singapore \(SG\)\tkey-material\tciphertext/);
    const json = JSON.parse(ok(['--json', 'transfers', 'report'])) as {
      jurisdictions: { jurisdiction: string; protectedPlaintextLeft: number; keyMaterialLeft: number }[];
    };
    expect(json.jurisdictions.map((j) => j.jurisdiction).sort()).toEqual(['EU', 'SG', 'US']);
    for (const j of json.jurisdictions)
      expect(j).toMatchObject({ protectedPlaintextLeft: 0, keyMaterialLeft: 0 });
  });
});
