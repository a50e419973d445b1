/**
 * The lockbox over HTTP: request → approve → scoped, time-bound access → expiry or revocation;
 * break-glass with its alert and review. Every step is an entry in the jurisdiction's log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrincipalClaims } from '../src/services/access/tokens.js';
import {
  logEntries,
  openTestDeployment,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';
import { fileRequest, seedLockboxSubjects, stepRequest } from './support/lockbox.js';

let d: TestDeployment;
let clock = Date.now();
const HOUR = 3600_000;

/** A US platform engineer: not in the steward department, so policy alone does not let them in. */
const ENGINEER: Partial<PrincipalClaims> = {
  sub: 'eng-1',
  type: 'employee',
  dept: 'platform-eng',
  loc: 'US',
};

beforeAll(async () => {
  d = await openTestDeployment({ now: () => clock });
  await seedLockboxSubjects(d);
});
afterAll(async () => {
  await d.cleanup();
});

const read = async (claims: Partial<PrincipalClaims>, subject = 'lb-1') =>
  d.app.inject({
    method: 'GET',
    url: `/v1/subjects/${subject}/records/email`,
    headers: await d.auth(claims),
  });

const step = (claims: Partial<PrincipalClaims>, id: string, verb: 'approve' | 'deny' | 'revoke') =>
  stepRequest(d, claims, id, verb);

describe('an access request', () => {
  it('is pending until a US steward approves it, then lets the requester read within its scope', async () => {
    expect((await read(ENGINEER)).statusCode).toBe(403);
    const filed = await fileRequest(d, ENGINEER);
    expect(filed.statusCode).toBe(201);
    const { id, status } = filed.json();
    expect(status).toBe('pending');
    expect((await read(ENGINEER)).statusCode).toBe(403);

    const approved = await step(US_STEWARD, id, 'approve');
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'approved', decidedBy: 'steward-1' });

    const res = await read(ENGINEER);
    expect(res.statusCode).toBe(200);
    expect(res.json().value).toBe('lb-1@example.com');

    const entries = await logEntries(d, 'US');
    const types = entries.filter((e) => e.details.accessRequestId === id).map((e) => [e.type, e.decision]);
    expect(types).toEqual([
      ['access-request.create', 'info'],
      ['access-request.approve', 'allow'],
    ]);
    const use = entries.at(-1);
    expect(use).toMatchObject({
      type: 'record.read',
      decision: 'allow',
      determining: ['grant-scoped-access'],
      details: { grantId: id },
    });
    // the purpose stays in the control store; the log holds its hash only
    expect(JSON.stringify(entries)).not.toContain('support ticket 4711');
  });

  it('is listed for the requester and the steward department, not for another jurisdiction’s steward', async () => {
    const mine = await d.app.inject({
      method: 'GET',
      url: '/v1/access-requests',
      headers: await d.auth(ENGINEER),
    });
    expect(mine.json().accessRequests.length).toBeGreaterThan(0);
    const steward = await d.app.inject({
      method: 'GET',
      url: '/v1/access-requests?jurisdiction=US',
      headers: await d.auth(US_STEWARD),
    });
    expect(steward.json().accessRequests.length).toBe(mine.json().accessRequests.length);
    const other = await d.app.inject({
      method: 'GET',
      url: '/v1/access-requests',
      headers: await d.auth(SG_STEWARD),
    });
    expect(other.json().accessRequests).toEqual([]);
    const auditor = await d.app.inject({
      method: 'GET',
      url: '/v1/access-requests',
      headers: await d.auth({ sub: 'aud-1', type: 'employee', dept: 'audit', roles: ['auditor'], loc: 'US' }),
    });
    expect(auditor.json().accessRequests.length).toBe(mine.json().accessRequests.length);
  });

  it('can be denied by an eligible approver, and then gives nothing', async () => {
    const who = { ...ENGINEER, sub: 'eng-denied' };
    const { id } = (await fileRequest(d, who)).json();
    const denied = await step(US_STEWARD, id, 'deny');
    expect(denied.json().status).toBe('denied');
    expect((await read(who)).statusCode).toBe(403);
    expect((await step(US_STEWARD, id, 'approve')).statusCode).toBe(409);
  });

  it('refuses a duration over the configured maximum (8 h)', async () => {
    const res = await fileRequest(d, ENGINEER, { durationSeconds: 9 * 3600 });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('DOMICILE_ERR_ACCESS_REQUEST_INVALID');
    const last = (await logEntries(d, 'US')).at(-1);
    expect(last).toMatchObject({ type: 'access-request.create', decision: 'deny' });
  });

  it('expires when nobody acts within 12 h, and the expiry is logged by the sweep', async () => {
    const who = { ...ENGINEER, sub: 'eng-waiting' };
    const { id } = (await fileRequest(d, who)).json();
    clock += 12 * HOUR + 1000;
    try {
      const res = await step(US_STEWARD, id, 'approve');
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('DOMICILE_ERR_STATE_CONFLICT');
      await d.lockbox.sweep();
      const entries = (await logEntries(d, 'US')).filter((e) => e.details.accessRequestId === id);
      expect(entries.map((e) => [e.type, e.decision])).toEqual([
        ['access-request.create', 'info'],
        ['access-request.approve', 'deny'],
        ['access-request.expire', 'info'],
      ]);
    } finally {
      clock -= 12 * HOUR + 1000;
    }
  });
});

describe('break-glass', () => {
  const ONCALL: Partial<PrincipalClaims> = {
    sub: 'oncall-1',
    type: 'employee',
    dept: 'sre',
    loc: 'US',
    mfa: true,
  };

  it('needs MFA and a short duration', async () => {
    const noMfa = await fileRequest(d, { ...ONCALL, mfa: false }, { breakGlass: true });
    expect(noMfa.statusCode).toBe(422);
    const tooLong = await fileRequest(d, ONCALL, { breakGlass: true, durationSeconds: 2 * 3600 });
    expect(tooLong.statusCode).toBe(422);
  });

  it('takes effect at once, raises an alert, and shows as overdue until reviewed', async () => {
    const filed = await fileRequest(d, ONCALL, {
      breakGlass: true,
      durationSeconds: 1800,
      subjects: ['lb-2'],
    });
    expect(filed.statusCode).toBe(201);
    const { id, status } = filed.json();
    expect(status).toBe('approved');
    expect((await read(ONCALL, 'lb-2')).statusCode).toBe(200);
    const entries = (await logEntries(d, 'US')).filter((e) => e.details.accessRequestId === id);
    expect(entries.map((e) => [e.type, e.decision])).toEqual([
      ['alert.break-glass', 'info'],
      ['access-request.break-glass', 'allow'],
    ]);
    expect(entries[0]?.details.alert).toBe(true);

    clock += 25 * HOUR;
    try {
      // the grant itself ended after 30 minutes
      expect((await read(ONCALL, 'lb-2')).statusCode).toBe(403);
      const overdue = await d.app.inject({
        method: 'GET',
        url: '/v1/access-requests?reviewOverdue=true',
        headers: await d.auth(US_STEWARD),
      });
      expect(overdue.json().accessRequests.map((r: { id: string }) => r.id)).toEqual([id]);
      await d.lockbox.sweep();
      await d.lockbox.sweep();
      const alerts = (await logEntries(d, 'US')).filter(
        (e) => e.details.accessRequestId === id && e.type === 'alert.review-overdue',
      );
      expect(alerts).toHaveLength(1);

      // the grantee cannot review its own break-glass
      const self = await d.app.inject({
        method: 'POST',
        url: `/v1/access-requests/${id}/review`,
        headers: await d.auth(ONCALL),
        payload: { outcome: 'accepted' },
      });
      expect(self.statusCode).toBe(403);
      const reviewed = await d.app.inject({
        method: 'POST',
        url: `/v1/access-requests/${id}/review`,
        headers: await d.auth(US_STEWARD),
        payload: { outcome: 'accepted' },
      });
      expect(reviewed.statusCode).toBe(200);
      expect(reviewed.json().review).toMatchObject({
        outcome: 'accepted',
        overdue: false,
        reviewedBy: 'steward-1',
      });
    } finally {
      clock -= 25 * HOUR;
    }
  });
});
