/**
 * Attacks on authentication: tokens that are forged, tampered with, out of their time window or
 * meant for someone else. Each is refused with 401 before policy is asked, and the refusal is on
 * the record of the subject's jurisdiction (`auth.deny`).
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIssuerPrivateKey } from '../src/server/deployment.js';
import {
  logEntries,
  openTestDeployment,
  putSubject,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment;
const now = Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const claims = { ptype: 'employee', dept: 'us-data-security', loc: 'US', roles: [], mfa: false };

beforeAll(async () => {
  d = await openTestDeployment();
  const put = await putSubject(d, await d.auth(US_STEWARD), 'victim', 'US');
  expect(put.statusCode).toBe(201);
});
afterAll(async () => {
  await d.cleanup();
});

async function signed(
  options: {
    iss?: string;
    aud?: string;
    iat?: number;
    nbf?: number;
    exp?: number;
    key?: 'own' | 'other';
  } = {},
): Promise<string> {
  const key =
    options.key === 'other'
      ? generateKeyPairSync('ed25519').privateKey
      : await loadIssuerPrivateKey(d.dataDir);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject('mallory')
    .setIssuer(options.iss ?? d.config.auth.issuer)
    .setAudience(options.aud ?? d.config.auth.audience)
    .setIssuedAt(options.iat ?? now)
    .setNotBefore(options.nbf ?? now)
    .setExpirationTime(options.exp ?? now + 600)
    .sign(key);
}

const attacks: [string, () => Promise<string>, RegExp][] = [
  [
    'alg: none',
    async () =>
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, sub: 'mallory', iss: 'domicile.local', aud: 'domicile', iat: now, exp: now + 60 })}.`,
    /algorithm not allowed|malformed/,
  ],
  ['a key the deployment does not trust', () => signed({ key: 'other' }), /signature verification failed/],
  ['an expired token', () => signed({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), /expired/],
  ['a token not yet valid', () => signed({ nbf: now + 3600, exp: now + 7200 }), /claim `nbf`/],
  ['another audience', () => signed({ aud: 'someone-else' }), /claim `aud`/],
  ['another issuer', () => signed({ iss: 'evil.example' }), /unknown issuer/],
  [
    'an HMAC token keyed with the public key (algorithm confusion)',
    async () => {
      const secret = new TextEncoder().encode('domicile-public-key-as-secret');
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('mallory')
        .setIssuer(d.config.auth.issuer)
        .setAudience(d.config.auth.audience)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(secret);
    },
    /algorithm not allowed/,
  ],
  [
    'a tampered payload (location changed after signing)',
    async () => {
      const [header, payload, signature] = (await signed()).split('.');
      const changed = { ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), loc: 'CN' };
      return `${header}.${b64(changed)}.${signature}`;
    },
    /signature verification failed/,
  ],
];

describe('a forged or misused token', () => {
  it.each(attacks)('is refused with 401 and logged: %s', async (_name, make, reason) => {
    const token = await make();
    const before = (await logEntries(d, 'US')).length;
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/victim/records',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('DOMICILE_ERR_UNAUTHENTICATED');
    expect(res.json().error.message).toMatch(reason);
    const after = await logEntries(d, 'US');
    expect(after).toHaveLength(before + 1);
    expect(after.at(-1)).toMatchObject({ type: 'auth.deny', decision: 'deny', principal: null });
    expect(after.at(-1)?.reason).toMatch(reason);
    // the entry never holds the token
    expect(JSON.stringify(after.at(-1))).not.toContain(token.split('.')[2] || token);
  });

  it('is refused on every protected route, not only subject routes', async () => {
    const token = await signed({ key: 'other' });
    for (const [method, url] of [
      ['GET', '/v1/access-requests'],
      ['POST', '/v1/access-requests/ar-1/approve'],
      ['GET', '/v1/policies/active'],
    ] as const) {
      const res = await d.app.inject({ method, url, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode, url).toBe(401);
    }
  });
});
