/**
 * The policy as a co-maintained protocol: a proposed set becomes active only once a steward of
 * every affected jurisdiction and the auditor approved it; each step is in the logs; the active
 * set survives a restart.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPolicyDirectory, SHIPPED_POLICY_DIRECTORY } from '../src/policy/files.js';
import type { PrincipalClaims } from '../src/services/access/tokens.js';
import {
  logEntries,
  openTestDeployment,
  putRecord,
  putSubject,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment;
let dir: string;
const ANALYST: Partial<PrincipalClaims> = {
  sub: 'analyst-1',
  type: 'employee',
  dept: 'us-analytics',
  loc: 'US',
};
const AUDITOR: Partial<PrincipalClaims> = {
  sub: 'auditor-1',
  type: 'employee',
  dept: 'audit-firm',
  roles: ['auditor'],
};

beforeAll(async () => {
  d = await openTestDeployment();
  const steward = await d.auth(US_STEWARD);
  await putSubject(d, steward, 'pg-1', 'US');
  await putRecord(d, steward, 'pg-1', 'email', { class: 'protected', value: 'pg-1@example.com' });
  dir = mkdtempSync(join(tmpdir(), 'domicile-policy-'));
  cpSync(SHIPPED_POLICY_DIRECTORY, dir, { recursive: true });
  writeFileSync(
    join(dir, 'us-analytics.cedar'),
    `// US analysts in the US may read US protected data.
@id("us-analytics-read")
permit (principal is Domicile::Principal, action == Domicile::Action::"read", resource is Domicile::Record)
when {
  resource.jurisdiction == Domicile::Jurisdiction::"US" &&
  resource.class == "protected" &&
  principal.department == "us-analytics" &&
  resource.jurisdiction.countries.contains(principal.country)
};
`,
  );
});
afterAll(async () => {
  await d.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const analystRead = async () =>
  d.app.inject({ method: 'GET', url: '/v1/subjects/pg-1/records/email', headers: await d.auth(ANALYST) });

const approve = async (claims: Partial<PrincipalClaims>, hash: string) =>
  d.app.inject({
    method: 'POST',
    url: `/v1/policies/proposals/${hash}/approve`,
    headers: await d.auth(claims),
  });

describe('a proposed policy set', () => {
  let hash: string;
  let oldHash: string;

  it('is staged with its diff and the jurisdictions it affects, and is not yet in force', async () => {
    oldHash = d.policies.current().policyHash;
    expect((await analystRead()).statusCode).toBe(403);
    const files = await readPolicyDirectory(dir);
    const res = await d.app.inject({
      method: 'POST',
      url: '/v1/policies/proposals',
      headers: await d.auth(US_STEWARD),
      payload: { schema: files.schemaText, policies: files.policies },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    hash = body.hash;
    expect(body).toMatchObject({
      status: 'proposed',
      affected: ['US'],
      missing: ['steward:US', 'auditor'],
      diff: { fromHash: oldHash, toHash: hash, added: ['us-analytics-read'], removed: [], changed: [] },
    });
    expect(d.policies.current().policyHash).toBe(oldHash);
    expect((await logEntries(d, 'US')).at(-1)).toMatchObject({ type: 'policy.propose', policyHash: hash });
    // SG is not affected: its log does not carry the proposal
    expect((await logEntries(d, 'SG')).some((e) => e.type === 'policy.propose')).toBe(false);
  });

  it('refuses approval by someone who is neither the auditor nor a steward of an affected jurisdiction', async () => {
    for (const who of [ANALYST, SG_STEWARD]) {
      const res = await approve(who, hash);
      expect(res.statusCode).toBe(403);
      expect((await logEntries(d, 'US')).at(-1)).toMatchObject({ type: 'policy.approve', decision: 'deny' });
    }
  });

  it('stays inactive with the steward’s approval alone', async () => {
    const res = await approve(US_STEWARD, hash);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'proposed', missing: ['auditor'] });
    expect((await approve(US_STEWARD, hash)).statusCode).toBe(409);
    expect(d.policies.current().policyHash).toBe(oldHash);
    expect((await analystRead()).statusCode).toBe(403);
  });

  it('becomes active with the auditor’s approval, on the record of every jurisdiction', async () => {
    const res = await approve(AUDITOR, hash);
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('active');
    expect(d.policies.current().policyHash).toBe(hash);
    for (const j of ['US', 'SG', 'EU']) {
      expect((await logEntries(d, j)).find((e) => e.type === 'policy.activate')).toMatchObject({
        policyHash: hash,
        details: { previousPolicyHash: oldHash },
      });
    }
    const read = await analystRead();
    expect(read.statusCode).toBe(200);
    expect((await logEntries(d, 'US')).at(-1)).toMatchObject({
      type: 'record.read',
      policyHash: hash,
      determining: ['us-analytics-read'],
    });
  });

  it('survives a restart', async () => {
    await d.close();
    d = await openTestDeployment({ dataDir: d.dataDir, masterKey: d.env.DOMICILE_MASTER_KEY ?? '' });
    expect(d.policies.current().policyHash).toBe(hash);
    expect((await analystRead()).statusCode).toBe(200);
    const active = await d.app.inject({
      method: 'GET',
      url: '/v1/policies/active',
      headers: await d.auth(ANALYST),
    });
    expect(active.json().hash).toBe(hash);
  });

  it('a generic change affects every jurisdiction', async () => {
    const files = await readPolicyDirectory(SHIPPED_POLICY_DIRECTORY);
    const res = await d.app.inject({
      method: 'POST',
      url: '/v1/policies/diff',
      headers: await d.auth(US_STEWARD),
      payload: { schema: files.schemaText, policies: files.policies },
    });
    expect(res.json()).toMatchObject({ fromHash: hash, toHash: oldHash, removed: ['us-analytics-read'] });
    const proposed = await d.app.inject({
      method: 'POST',
      url: '/v1/policies/proposals',
      headers: await d.auth(US_STEWARD),
      payload: {
        schema: files.schemaText,
        policies: files.policies.map((p) =>
          p.file === 'interoperable.cedar' ? { ...p, text: p.text.replace('"app"', '"application"') } : p,
        ),
      },
    });
    expect(proposed.json()).toMatchObject({
      affected: ['US', 'SG', 'EU'],
      missing: ['steward:US', 'steward:SG', 'steward:EU', 'auditor'],
      diff: { changed: ['interoperable-write'] },
    });
  });
});
