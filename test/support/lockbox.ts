/** Lockbox helpers shared by the lockbox and bypass tests. */
import type { PrincipalClaims } from '../../src/services/access/tokens.js';
import { putRecord, putSubject, type TestDeployment, US_STEWARD } from './deployment.js';

/**
 * Registers the US subjects `lb-1` and `lb-2` that the lockbox tests request access to, each
 * with the protected record `email` = `<id>@example.com`.
 */
export async function seedLockboxSubjects(t: TestDeployment): Promise<void> {
  const steward = await t.auth(US_STEWARD);
  for (const s of ['lb-1', 'lb-2']) {
    await putSubject(t, steward, s, 'US');
    await putRecord(t, steward, s, 'email', { class: 'protected', value: `${s}@example.com` });
  }
}

/** An API answer as the tests read it. */
export interface Answer {
  readonly statusCode: number;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  json(): any;
}

/** Files an access request (default: read `lb-1`'s protected data in US for one hour). */
export async function fileRequest(
  t: TestDeployment,
  claims: Partial<PrincipalClaims>,
  body: Record<string, unknown> = {},
): Promise<Answer> {
  return t.app.inject({
    method: 'POST',
    url: '/v1/access-requests',
    headers: await t.auth(claims),
    payload: {
      jurisdiction: 'US',
      class: 'protected',
      subjects: ['lb-1'],
      actions: ['read'],
      purpose: 'support ticket 4711',
      durationSeconds: 3600,
      ...body,
    },
  });
}

/** Approves, denies, revokes an access request as a principal. */
export async function stepRequest(
  t: TestDeployment,
  claims: Partial<PrincipalClaims>,
  id: string,
  verb: 'approve' | 'deny' | 'revoke',
): Promise<Answer> {
  return t.app.inject({
    method: 'POST',
    url: `/v1/access-requests/${id}/${verb}`,
    headers: await t.auth(claims),
  });
}
