/**
 * Attacks on access control (A1): ways around policy and the lockbox. Each must be denied and
 * each denial must be an entry in the jurisdiction's log with the policy hash.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHIPPED_POLICY_DIRECTORY } from '../src/policy/files.js';
import type { PrincipalClaims } from '../src/services/access/tokens.js';
import {
  logEntries,
  openTestDeployment,
  putSubject,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';
import { fileRequest, seedLockboxSubjects, stepRequest } from './support/lockbox.js';

let d: TestDeployment;
let clock = Date.now();
const HOUR = 3600_000;
const ENGINEER: Partial<PrincipalClaims> = {
  sub: 'eng-2',
  type: 'employee',
  dept: 'platform-eng',
  loc: 'US',
};

beforeAll(async () => {
  d = await openTestDeployment({ now: () => clock });
  await seedLockboxSubjects(d);
  await putSubject(d, await d.auth(SG_STEWARD), 'sg-1', 'SG');
});
afterAll(async () => {
  await d.cleanup();
});

const call = async (
  claims: Partial<PrincipalClaims>,
  method: 'GET' | 'PUT' | 'DELETE',
  url: string,
  extra: Record<string, string> = {},
) =>
  d.app.inject({
    method,
    url,
    headers: { ...(await d.auth(claims)), ...extra },
    ...(method === 'PUT' ? { payload: { class: 'protected', value: 'overwritten' } } : {}),
  });

/** Asserts a 403 whose body names the policy hash, and that the log's last entry is the denial. */
async function expectDeniedAndLogged(
  res: { statusCode: number; json(): { error: { code: string; policyHash?: string } } },
  type: string,
  jurisdiction = 'US',
): Promise<void> {
  expect(res.statusCode).toBe(403);
  expect(res.json().error.code).toBe('DOMICILE_ERR_FORBIDDEN');
  expect(res.json().error.policyHash).toBe(d.policies.current().policyHash);
  const last = (await logEntries(d, jurisdiction)).at(-1);
  expect(last).toMatchObject({ type, decision: 'deny', policyHash: d.policies.current().policyHash });
}

async function approvedGrant(
  claims: Partial<PrincipalClaims>,
  body: Record<string, unknown> = {},
): Promise<string> {
  const filed = await fileRequest(d, claims, body);
  expect(filed.statusCode).toBe(201);
  const id = filed.json().id as string;
  expect((await stepRequest(d, US_STEWARD, id, 'approve')).statusCode).toBe(200);
  return id;
}

describe('a location header spoof', () => {
  it('is ignored: the token’s location decides, and the denial is logged', async () => {
    const abroad = { ...US_STEWARD, sub: 'traveller', loc: 'SG' };
    const res = await call(abroad, 'GET', '/v1/subjects/lb-1/records/email', {
      'x-domicile-location': 'US',
      'x-location': 'US',
      'x-forwarded-for': '3.3.3.3',
      'cf-ipcountry': 'US',
      'x-country': 'US',
    });
    await expectDeniedAndLogged(res, 'record.read');
    expect((await logEntries(d, 'US')).at(-1)?.principal).toMatchObject({ id: 'traveller', country: 'SG' });
  });
});

describe('a principal in a restricted country holding an approved grant', () => {
  it('is denied by the restricted-country forbid, which no grant overrides', async () => {
    const spy = { ...ENGINEER, sub: 'eng-travelling' };
    await approvedGrant(spy);
    expect((await call(spy, 'GET', '/v1/subjects/lb-1/records/email')).statusCode).toBe(200);
    const res = await call({ ...spy, loc: 'CN' }, 'GET', '/v1/subjects/lb-1/records/email');
    await expectDeniedAndLogged(res, 'record.read');
    expect(res.json().error.determining).toEqual(['protected-restricted-country']);
  });

  it('is denied even as a US steward located in a restricted country', async () => {
    const res = await call({ ...US_STEWARD, loc: 'RU' }, 'GET', '/v1/subjects/lb-1/records/email');
    await expectDeniedAndLogged(res, 'record.read');
  });
});

describe('a requester approving their own request', () => {
  it('is forbidden even when the requester is an eligible approver', async () => {
    const steward2 = { ...US_STEWARD, sub: 'steward-2' };
    const { id } = (await fileRequest(d, steward2, { subjects: 'all', actions: ['read', 'delete'] })).json();
    const res = await stepRequest(d, steward2, id, 'approve');
    await expectDeniedAndLogged(res, 'access-request.approve');
    expect(res.json().error.determining).toEqual(['approve-grant-not-requester']);
    const listed = await d.app.inject({
      method: 'GET',
      url: `/v1/access-requests/${id}`,
      headers: await d.auth(steward2),
    });
    expect(listed.json().status).toBe('pending');
  });

  it('is denied to a steward of another jurisdiction, or a US steward abroad', async () => {
    const { id } = (await fileRequest(d, ENGINEER)).json();
    await expectDeniedAndLogged(await stepRequest(d, SG_STEWARD, id, 'approve'), 'access-request.approve');
    await expectDeniedAndLogged(
      await stepRequest(d, { ...US_STEWARD, sub: 'steward-abroad', loc: 'DE' }, id, 'approve'),
      'access-request.approve',
    );
  });
});

describe('an expired grant', () => {
  it('gives nothing once its time is over', async () => {
    const who = { ...ENGINEER, sub: 'eng-expiring' };
    await approvedGrant(who, { durationSeconds: 600 });
    expect((await call(who, 'GET', '/v1/subjects/lb-1/records/email')).statusCode).toBe(200);
    clock += HOUR;
    try {
      await expectDeniedAndLogged(await call(who, 'GET', '/v1/subjects/lb-1/records/email'), 'record.read');
    } finally {
      clock -= HOUR;
    }
  });
});

describe('a revoked grant', () => {
  it('gives nothing from the moment of revocation', async () => {
    const who = { ...ENGINEER, sub: 'eng-revoked' };
    const id = await approvedGrant(who);
    expect((await call(who, 'GET', '/v1/subjects/lb-1/records/email')).statusCode).toBe(200);
    const revoked = await stepRequest(d, US_STEWARD, id, 'revoke');
    expect(revoked.json().status).toBe('revoked');
    expect((await logEntries(d, 'US')).at(-1)).toMatchObject({
      type: 'access-request.revoke',
      decision: 'allow',
    });
    await expectDeniedAndLogged(await call(who, 'GET', '/v1/subjects/lb-1/records/email'), 'record.read');
  });

  it('cannot be revoked by someone who is neither an approver nor the grantee', async () => {
    const id = await approvedGrant({ ...ENGINEER, sub: 'eng-kept' });
    await expectDeniedAndLogged(await stepRequest(d, ENGINEER, id, 'revoke'), 'access-request.revoke');
  });
});

describe('a grant used outside its scope', () => {
  const who = { ...ENGINEER, sub: 'eng-scoped' };
  beforeAll(async () => {
    await approvedGrant(who);
  });

  it('allows exactly its subject and action', async () => {
    expect((await call(who, 'GET', '/v1/subjects/lb-1/records/email')).statusCode).toBe(200);
  });

  it.each([
    ['another subject', 'GET', '/v1/subjects/lb-2/records/email', 'record.read', 'US'],
    ['another action (write)', 'PUT', '/v1/subjects/lb-1/records/email', 'record.write', 'US'],
    ['another action (delete)', 'DELETE', '/v1/subjects/lb-1/records/email', 'record.delete', 'US'],
    ['another action (list)', 'GET', '/v1/subjects/lb-1/records', 'record.list', 'US'],
    ['another jurisdiction', 'GET', '/v1/subjects/sg-1/records', 'record.list', 'SG'],
  ] as const)('is denied and logged: %s', async (_name, method, url, type, jurisdiction) => {
    await expectDeniedAndLogged(await call(who, method, url), type, jurisdiction);
  });

  it('is not usable by anyone but its grantee', async () => {
    await expectDeniedAndLogged(
      await call({ ...ENGINEER, sub: 'eng-other' }, 'GET', '/v1/subjects/lb-1/records/email'),
      'record.read',
    );
  });
});

describe('a policy set that fails validation', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'domicile-bad-policy-'));
    cpSync(SHIPPED_POLICY_DIRECTORY, dir, { recursive: true });
    // a typo in an attribute: Cedar's validator refuses it against the schema
    writeFileSync(
      join(dir, 'open-door.cedar'),
      '@id("open-door")\npermit (principal, action, resource is Domicile::Record) when { resource.klass == "protected" };\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused with Cedar’s message, logged, and the old set stays active', async () => {
    const before = d.policies.current().policyHash;
    const { readPolicyDirectory } = await import('../src/policy/files.js');
    const files = await readPolicyDirectory(dir);
    const res = await d.app.inject({
      method: 'POST',
      url: '/v1/policies/proposals',
      headers: await d.auth(US_STEWARD),
      payload: { schema: files.schemaText, policies: files.policies },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('DOMICILE_ERR_POLICY_INVALID');
    expect(res.json().error.message).toMatch(/open-door.*klass/s);
    expect(d.policies.current().policyHash).toBe(before);
    for (const j of ['US', 'SG', 'EU']) {
      expect((await logEntries(d, j)).at(-1)).toMatchObject({
        type: 'policy.propose',
        decision: 'deny',
        policyHash: before,
      });
    }
    // and nothing it would have allowed is allowed
    await expectDeniedAndLogged(
      await call(ENGINEER, 'GET', '/v1/subjects/lb-2/records/email'),
      'record.read',
    );
  });
});
