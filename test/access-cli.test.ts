/**
 * `domicile access …` and `domicile policy …` as users run them: real child processes against a
 * real `domicile up`, exit codes 0 ok, 2 denied or mismatch, 3 invalid policy.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, run, startUp } from './support/cli.js';
import { repoRoot } from './support/deployment.js';

const root = mkdtempSync(join(tmpdir(), 'domicile-access-cli-'));
const dataDir = join(root, 'data');
const env = { DOMICILE_MASTER_KEY: randomBytes(32).toString('hex'), DOMICILE_DATA: dataDir };
let server: Awaited<ReturnType<typeof startUp>>;

const token = (...args: string[]): string => {
  const result = run(['token', ...args], env);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
};
const as = (jwt: string) => ({ ...env, DOMICILE_URL: server.url, DOMICILE_TOKEN: jwt });

beforeAll(async () => {
  requireBuild();
  server = await startUp([], env);
});
afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('domicile access', () => {
  it('requests, refuses self-approval with exit 2, approves as a steward, lists', () => {
    const steward = token('--sub', 'cli-steward', '--dept', 'us-data-security', '--loc', 'US');
    const engineer = token('--sub', 'cli-eng', '--dept', 'platform-eng', '--loc', 'US');
    const filed = run(
      [
        '--json',
        'access',
        'request',
        '--jurisdiction',
        'US',
        '--subjects',
        'u-1,u-2',
        '--actions',
        'read,list',
        '--purpose',
        'incident 12',
        '--duration',
        '2h',
      ],
      as(engineer),
    );
    expect(filed.code, filed.stderr).toBe(0);
    const request = JSON.parse(filed.stdout) as { id: string; status: string };
    expect(request.status).toBe('pending');

    const self = run(['access', 'approve', request.id], as(engineer));
    expect(self.code).toBe(2);
    expect(self.stderr).toContain('DOMICILE_ERR_FORBIDDEN');

    const approved = run(['access', 'approve', request.id], as(steward));
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`${request.id}\tapproved`);

    const list = run(['access', 'list', '--status', 'approved'], as(steward));
    expect(list.stdout).toContain(request.id);

    const revoked = run(['--json', 'access', 'revoke', request.id], as(engineer));
    expect(JSON.parse(revoked.stdout).status).toBe('revoked');

    const tooLong = run(
      [
        'access',
        'request',
        '--jurisdiction',
        'US',
        '--all-subjects',
        '--actions',
        'read',
        '--purpose',
        'x',
        '--duration',
        '9h',
      ],
      as(engineer),
    );
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toContain('DOMICILE_ERR_ACCESS_REQUEST_INVALID');
  });
});

describe('domicile policy', () => {
  const shipped = join(repoRoot, 'policies');

  it('validates the shipped policies, and exits 3 with Cedar’s message on an invalid set', () => {
    const ok = run(['policy', 'validate', shipped], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^valid: \d+ policies, policy hash [0-9a-f]{64}/);
    const bad = join(root, 'bad');
    cpSync(shipped, bad, { recursive: true });
    writeFileSync(
      join(bad, 'broken.cedar'),
      '@id("broken")\npermit (principal, action, resource) when { principal.nope };\n',
    );
    const invalid = run(['policy', 'validate', bad], env);
    expect(invalid.code).toBe(3);
    expect(invalid.stderr).toContain('DOMICILE_ERR_POLICY_INVALID');
    expect(invalid.stderr).toContain('broken');
    const single = run(['policy', 'validate', join(bad, 'broken.cedar')], env);
    expect(single.code).toBe(3);
  });

  it('runs test cases: exit 0 when all pass, exit 2 listing each mismatch', () => {
    const cases = {
      cases: [
        {
          name: 'US steward reads',
          principal: { type: 'employee', id: 'a', department: 'us-data-security', country: 'US' },
          action: 'read',
          resource: { type: 'record', jurisdiction: 'US', class: 'protected', subject: 's' },
          expect: 'allow',
        },
        {
          name: 'own approval',
          principal: { type: 'employee', id: 'a', department: 'us-data-security', country: 'US' },
          action: 'approveGrant',
          resource: { type: 'accessRequest', jurisdiction: 'US', requester: 'a' },
          expect: 'deny',
          determining: ['approve-grant-not-requester'],
        },
      ],
    };
    const good = join(root, 'cases.json');
    writeFileSync(good, JSON.stringify(cases));
    const pass = run(['policy', 'test', good], env);
    expect(pass.code, pass.stderr).toBe(0);
    expect(pass.stdout).toContain('2 passed, 0 failed');

    const wrong = join(root, 'cases.yaml');
    writeFileSync(
      wrong,
      [
        'cases:',
        '  - name: SG steward reads US data',
        '    principal: { type: employee, id: b, department: sg-data-protection, country: SG }',
        '    action: read',
        '    resource: { type: record, jurisdiction: US, class: protected, subject: s }',
        '    expect: allow',
      ].join('\n'),
    );
    const fail = run(['policy', 'test', wrong], env);
    expect(fail.code).toBe(2);
    expect(fail.stdout).toContain('MISMATCH SG steward reads US data: expected allow, got deny');
  });

  it('diffs, proposes and approves through the gateway with each approver’s own token', () => {
    const changed = join(root, 'changed');
    cpSync(shipped, changed, { recursive: true });
    writeFileSync(
      join(changed, 'sg-extra.cedar'),
      '@id("sg-extra")\nforbid (principal, action, resource is Domicile::Record) when { resource.jurisdiction == Domicile::Jurisdiction::"SG" && resource.class == "deidentified" };\n',
    );
    const steward = token('--sub', 'sg-steward', '--dept', 'sg-data-protection', '--loc', 'SG');
    const auditor = token('--sub', 'the-auditor', '--roles', 'auditor');

    const diff = run(['policy', 'diff', changed], as(steward));
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('+ sg-extra');

    const proposed = run(['--json', 'policy', 'propose', changed], as(steward));
    expect(proposed.code, proposed.stderr).toBe(0);
    const { hash, missing } = JSON.parse(proposed.stdout) as { hash: string; missing: string[] };
    expect(missing).toEqual(['steward:SG', 'auditor']);

    const first = run(['policy', 'approve', hash], as(steward));
    expect(first.stdout).toContain('missing: auditor');
    const second = run(['policy', 'approve', hash], as(auditor));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`policy set ${hash}: active`);
  });
});
