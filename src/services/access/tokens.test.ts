import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CLAIM_NAMES, type IssuerConfig } from '../../domain/config.js';
import { issueToken, ownIssuer, TokenVerifier, trustedIssuer } from './tokens.js';

const own = generateKeyPairSync('ed25519');
const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const es2 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rs = generateKeyPairSync('rsa', { modulusLength: 2048 });
const now = Math.floor(Date.now() / 1000);

function issuerConfig(partial: Partial<IssuerConfig> & Pick<IssuerConfig, 'issuer'>): IssuerConfig {
  return { audience: 'domicile', claims: DEFAULT_CLAIM_NAMES, ...partial };
}

const pem = (k: { publicKey: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer } }) =>
  String(k.publicKey.export({ type: 'spki', format: 'pem' }));

async function sign(
  alg: 'ES256' | 'RS256' | 'EdDSA',
  key: Parameters<SignJWT['sign']>[0],
  claims: Record<string, unknown>,
  options: { iss: string; aud?: string; kid?: string; exp?: number; nbf?: number } = { iss: 'x' },
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, ...(options.kid === undefined ? {} : { kid: options.kid }) })
    .setIssuer(options.iss)
    .setAudience(options.aud ?? 'domicile')
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 600);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(key);
}

let jwksServer: Server;
let jwksUrl: string;
let jwksHits = 0;
beforeAll(async () => {
  const jwk = { ...rs.publicKey.export({ format: 'jwk' }), kid: 'rs-1', alg: 'RS256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    jwksHits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
});

describe('TokenVerifier', () => {
  describe('with the deployment’s own EdDSA issuer', () => {
    const verifier = new TokenVerifier({ issuers: [ownIssuer(own.publicKey, 'domicile.local', 'domicile')] });

    it('maps claims to principal attributes', async () => {
      const token = await issueToken({
        privateKey: own.privateKey,
        issuer: 'domicile.local',
        audience: 'domicile',
        ttlSeconds: 60,
        claims: { sub: 'svc-1', type: 'service', roles: ['app'], loc: 'US', mfa: true, jur: 'US' },
      });
      expect(await verifier.verify(token)).toEqual({
        id: 'svc-1',
        type: 'service',
        department: undefined,
        roles: ['app'],
        country: 'US',
        mfa: true,
        jurisdiction: 'US',
      });
    });

    /** A token of the deployment's own issuer for employee `alice`, valid 60 s. */
    const aliceToken = () =>
      issueToken({
        privateKey: own.privateKey,
        issuer: 'domicile.local',
        audience: 'domicile',
        ttlSeconds: 60,
        claims: { sub: 'alice', type: 'employee' },
      });

    it('keeps a verified token in its cache (same principal object)', async () => {
      const token = await aliceToken();
      expect(await verifier.verify(token)).toBe(await verifier.verify(token));
    });

    it('refuses a cached token as expired once its `exp` has passed', async () => {
      let nowMs = Date.now();
      const clocked = new TokenVerifier({
        issuers: [ownIssuer(own.publicKey, 'domicile.local', 'domicile')],
        now: () => nowMs,
      });
      const token = await aliceToken();
      expect((await clocked.verify(token)).id).toBe('alice');
      nowMs += 59_000;
      expect((await clocked.verify(token)).id).toBe('alice');
      nowMs += 2_000;
      for (let i = 0; i < 2; i++) {
        await expect(clocked.verify(token)).rejects.toMatchObject({
          code: 'DOMICILE_ERR_UNAUTHENTICATED',
          message: 'invalid token: expired',
        });
      }
    });
  });

  describe('with an ES256 issuer configured by PEM', () => {
    const verifier = new TokenVerifier({
      issuers: [
        trustedIssuer(
          issuerConfig({ issuer: 'https://idp.example', keys: [{ alg: 'ES256', pem: pem(es) }] }),
        ),
      ],
    });

    it('accepts its tokens', async () => {
      const token = await sign(
        'ES256',
        es.privateKey,
        { sub: 'bob', ptype: 'employee', loc: 'SG' },
        { iss: 'https://idp.example' },
      );
      expect(await verifier.verify(token)).toMatchObject({ id: 'bob', country: 'SG' });
    });

    it('refuses a token signed by another P-256 key', async () => {
      const token = await sign(
        'ES256',
        es2.privateKey,
        { sub: 'bob', ptype: 'employee' },
        { iss: 'https://idp.example' },
      );
      await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'DOMICILE_ERR_UNAUTHENTICATED' });
    });

    it('refuses an algorithm its keys do not use', async () => {
      const token = await sign(
        'RS256',
        rs.privateKey,
        { sub: 'bob', ptype: 'employee' },
        { iss: 'https://idp.example' },
      );
      await expect(verifier.verify(token)).rejects.toThrow(/algorithm not allowed/);
    });
  });

  describe('with two static keys and no kid in the token', () => {
    it('tries each key', async () => {
      const verifier = new TokenVerifier({
        issuers: [
          trustedIssuer(
            issuerConfig({
              issuer: 'multi',
              keys: [
                { alg: 'ES256', pem: pem(es) },
                { alg: 'ES256', pem: pem(es2) },
              ],
            }),
          ),
        ],
      });
      const token = await sign(
        'ES256',
        es2.privateKey,
        { sub: 'carol', ptype: 'employee' },
        { iss: 'multi' },
      );
      expect((await verifier.verify(token)).id).toBe('carol');
    });
  });

  describe('with an RS256 issuer configured by JWK and custom claim names', () => {
    const verifier = new TokenVerifier({
      issuers: [
        trustedIssuer(
          issuerConfig({
            issuer: 'corp-idp',
            keys: [
              {
                alg: 'RS256',
                jwk: rs.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
                kid: 'k1',
              },
            ],
            claims: {
              ...DEFAULT_CLAIM_NAMES,
              id: 'oid',
              department: 'department',
              roles: 'scp',
              country: 'ctry',
              mfa: 'amr',
            },
            defaultType: 'employee',
          }),
        ),
      ],
    });

    it('maps the configured claims, `amr` containing mfa and space-separated roles', async () => {
      const token = await sign(
        'RS256',
        rs.privateKey,
        {
          oid: 'dave',
          department: 'eu-data-protection',
          scp: 'reader auditor',
          ctry: 'DE',
          amr: ['pwd', 'mfa'],
        },
        { iss: 'corp-idp', kid: 'k1' },
      );
      expect(await verifier.verify(token)).toEqual({
        id: 'dave',
        type: 'employee',
        department: 'eu-data-protection',
        roles: ['reader', 'auditor'],
        country: 'DE',
        mfa: true,
      });
    });
  });

  describe('with a JWKS URL', () => {
    it('fetches the key set and verifies RS256 tokens by kid', async () => {
      const verifier = new TokenVerifier({
        issuers: [trustedIssuer(issuerConfig({ issuer: 'jwks-idp', jwksUrl }))],
      });
      const token = await sign(
        'RS256',
        rs.privateKey,
        { sub: 'erin', ptype: 'employee' },
        { iss: 'jwks-idp', kid: 'rs-1' },
      );
      expect((await verifier.verify(token)).id).toBe('erin');
      expect(jwksHits).toBeGreaterThan(0);
    });
  });

  describe('when a configured key is unusable', () => {
    it.each([
      ['a P-256 key for RS256', { alg: 'RS256' as const, pem: pem(es) }],
      [
        'a private JWK',
        { alg: 'ES256' as const, jwk: es.privateKey.export({ format: 'jwk' }) as Record<string, unknown> },
      ],
      [
        'a short RSA key',
        { alg: 'RS256' as const, pem: pem(generateKeyPairSync('rsa', { modulusLength: 1024 })) },
      ],
    ])('refuses %s at start with DOMICILE_ERR_CONFIG', (_name, key) => {
      expect(() => trustedIssuer(issuerConfig({ issuer: 'bad', keys: [key] }))).toThrow(
        expect.objectContaining({ code: 'DOMICILE_ERR_CONFIG' }),
      );
    });
  });

  it('refuses a token of an issuer it does not trust', async () => {
    const verifier = new TokenVerifier({ issuers: [ownIssuer(own.publicKey, 'domicile.local', 'domicile')] });
    const token = await sign('EdDSA', own.privateKey, { sub: 'x', ptype: 'employee' }, { iss: 'elsewhere' });
    await expect(verifier.verify(token)).rejects.toThrow(/unknown issuer/);
  });
});
