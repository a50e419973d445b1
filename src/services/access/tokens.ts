/**
 * Bearer tokens: JWTs verified with `jose` against trusted issuers — the deployment's own EdDSA
 * issuer (key pair created by `domicile init`) and any identity provider configured under
 * `auth.issuers` with static keys (PEM or JWK) or a JWKS URL, signing with EdDSA, ES256 or RS256.
 * Claims become a `Principal`; nothing else about the caller (no header, no query) is taken.
 */
import { createPublicKey, generateKeyPairSync, hash, type KeyObject } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { ClaimNames, IssuerConfig, IssuerKeyConfig, TokenAlgorithm } from '../../domain/config.js';
import { DEFAULT_CLAIM_NAMES, TOKEN_ALGORITHMS } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import { COUNTRY_PATTERN, ID_PATTERN, JURISDICTION_PATTERN, LABEL_PATTERN } from '../../domain/ids.js';
import type { Principal } from './principal.js';

/** Claims Domicile's own issuer writes (`domicile token`). */
export interface PrincipalClaims {
  readonly sub: string;
  readonly type: 'employee' | 'service';
  readonly dept?: string;
  readonly roles?: readonly string[];
  readonly loc?: string;
  readonly mfa?: boolean;
  /** A service's home jurisdiction. */
  readonly jur?: string;
}

/** Options to issue a token. */
export interface IssueTokenOptions {
  readonly privateKey: KeyObject;
  readonly issuer: string;
  readonly audience: string;
  readonly claims: PrincipalClaims;
  /** Lifetime in seconds. */
  readonly ttlSeconds: number;
  readonly now?: Date;
}

/** Creates a new Ed25519 issuer key pair. */
export function generateIssuerKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ed25519');
}

/**
 * Issues a signed token with the deployment's own issuer key.
 *
 * @example
 * const token = await issueToken({ privateKey, issuer: 'domicile.local', audience: 'domicile',
 *   claims: { sub: 'alice', type: 'employee', dept: 'us-data-security', loc: 'US' }, ttlSeconds: 3600 });
 */
export async function issueToken(options: IssueTokenOptions): Promise<string> {
  const { claims } = options;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({
    ptype: claims.type,
    ...(claims.dept === undefined ? {} : { dept: claims.dept }),
    roles: claims.roles ?? [],
    ...(claims.loc === undefined ? {} : { loc: claims.loc }),
    mfa: claims.mfa ?? false,
    ...(claims.jur === undefined ? {} : { jur: claims.jur }),
  })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + options.ttlSeconds)
    .sign(options.privateKey);
}

/** An issuer whose tokens are accepted: where its keys are, and how its claims read. */
export interface TrustedIssuer {
  /** Exact `iss` value. */
  readonly issuer: string;
  /** `aud` the token must carry. */
  readonly audience: string;
  readonly algorithms: readonly TokenAlgorithm[];
  /** Finds the verification key for a token's protected header (a jose key set). */
  readonly keys: JWTVerifyGetKey;
  readonly claims: ClaimNames;
  readonly defaultType?: 'employee' | 'service' | undefined;
}

const KEY_TYPES: Record<TokenAlgorithm, { kty: string; crv?: string }> = {
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
  RS256: { kty: 'RSA' },
};

/** Checks that a public JWK fits its algorithm; returns it with `alg` (and `kid`) set. */
function publicJwkFor(alg: TokenAlgorithm, jwk: Readonly<Record<string, unknown>>, kid?: string): JWK {
  const expected = KEY_TYPES[alg];
  if ('d' in jwk || 'k' in jwk) throw new Error('a private or secret key was given: give the public key');
  if (jwk.kty !== expected.kty || (expected.crv !== undefined && jwk.crv !== expected.crv)) {
    throw new Error(
      `algorithm \`${alg}\` needs a ${expected.kty}${expected.crv ? ` ${expected.crv}` : ''} key, got \`${String(jwk.kty)}\``,
    );
  }
  if (alg === 'RS256') {
    const n = typeof jwk.n === 'string' ? Buffer.from(jwk.n, 'base64url').length * 8 : 0;
    if (n < 2048) throw new Error('RSA keys must have at least 2048 bits');
  }
  return { ...jwk, alg, use: 'sig', ...(kid === undefined ? {} : { kid }) } as JWK;
}

function staticKeyJwk(key: IssuerKeyConfig): JWK {
  if (key.pem !== undefined) {
    const jwk = createPublicKey(key.pem).export({ format: 'jwk' }) as Record<string, unknown>;
    return publicJwkFor(key.alg, jwk, key.kid);
  }
  return publicJwkFor(key.alg, key.jwk ?? {}, key.kid ?? (key.jwk?.kid as string | undefined));
}

/** The deployment's own issuer: EdDSA with the key pair of `domicile init`. */
export function ownIssuer(publicKey: KeyObject, issuer: string, audience: string): TrustedIssuer {
  const jwk = publicJwkFor('EdDSA', publicKey.export({ format: 'jwk' }) as Record<string, unknown>);
  return {
    issuer,
    audience,
    algorithms: ['EdDSA'],
    keys: createLocalJWKSet({ keys: [jwk] }),
    claims: DEFAULT_CLAIM_NAMES,
  };
}

/**
 * A configured issuer (`auth.issuers[i]`) as a `TrustedIssuer`.
 * @throws DomicileError `DOMICILE_ERR_CONFIG` when a static key is unusable.
 */
export function trustedIssuer(config: IssuerConfig): TrustedIssuer {
  const base = {
    issuer: config.issuer,
    audience: config.audience,
    claims: config.claims,
    ...(config.defaultType === undefined ? {} : { defaultType: config.defaultType }),
  };
  if (config.jwksUrl !== undefined) {
    return {
      ...base,
      algorithms: config.algorithms ?? TOKEN_ALGORITHMS,
      // jose caches the set, refetches at most every 30 s on an unknown `kid`, and times out at 5 s
      keys: createRemoteJWKSet(new URL(config.jwksUrl), {
        timeoutDuration: 5_000,
        cooldownDuration: 30_000,
        cacheMaxAge: 600_000,
      }),
    };
  }
  const keys = (config.keys ?? []).map((key, i) => {
    try {
      return staticKeyJwk(key);
    } catch (cause) {
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `auth.issuers: issuer \`${config.issuer}\`: keys[${i}]: ${cause instanceof Error ? cause.message : 'unusable key'}`,
        { cause },
      );
    }
  });
  const algorithms = [...new Set(keys.map((k) => k.alg as TokenAlgorithm))].filter(
    (a) => config.algorithms === undefined || config.algorithms.includes(a),
  );
  return { ...base, algorithms, keys: createLocalJWKSet({ keys }) };
}

/** Options of the verifier. */
export interface TokenVerifierOptions {
  readonly issuers: readonly TrustedIssuer[];
  /** Verified tokens kept in memory, so a hot client is not re-verified on every request. */
  readonly cacheSize?: number;
  readonly now?: () => number;
}

const COUNTRY = COUNTRY_PATTERN;
const LABEL = LABEL_PATTERN;
const JURISDICTION = JURISDICTION_PATTERN;

/** Verifies bearer tokens and maps their claims to principals. */
export class TokenVerifier {
  private readonly issuers: ReadonlyMap<string, TrustedIssuer>;
  private readonly cache = new Map<string, { principal: Principal; expiresAt: number }>();
  private readonly cacheSize: number;
  private readonly now: () => number;

  constructor(options: TokenVerifierOptions) {
    this.issuers = new Map(options.issuers.map((i) => [i.issuer, i]));
    this.cacheSize = options.cacheSize ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Verifies `Authorization` header contents.
   * @throws DomicileError `DOMICILE_ERR_UNAUTHENTICATED` with the reason (never the token).
   */
  async verifyHeader(header: string | undefined): Promise<Principal> {
    if (header === undefined || header === '') throw unauthenticated('missing bearer token');
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header);
    if (!match?.[1]) throw unauthenticated('malformed authorization header: expected `Bearer <jwt>`');
    return this.verify(match[1]);
  }

  /** Verifies a compact JWT. */
  async verify(token: string): Promise<Principal> {
    // The cache is keyed by a digest of the whole token, signature included: a forged token never
    // matches a verified one.
    const cacheKey = hash('sha256', token, 'base64');
    const cached = this.cache.get(cacheKey);
    const nowMs = this.now();
    if (cached) {
      if (cached.expiresAt > nowMs) return cached.principal;
      // its signature was verified and it is past its `exp` now: refused without verifying it again,
      // so a replayed expired token costs a lookup, not a signature check (`exp` is required)
      throw unauthenticated('expired');
    }
    // `iss` is untrusted until the signature verifies: it only picks which keys to verify with,
    // and jwtVerify then checks it again against the issuer it picked.
    let claimedIssuer: unknown;
    try {
      claimedIssuer = decodeJwt(token).iss;
    } catch {
      throw unauthenticated('malformed');
    }
    const issuer = typeof claimedIssuer === 'string' ? this.issuers.get(claimedIssuer) : undefined;
    if (!issuer) throw unauthenticated('claim `iss` check failed: unknown issuer');
    let payload: JWTPayload;
    try {
      payload = await verifyWith(token, issuer, nowMs);
    } catch (error) {
      throw unauthenticated(reasonOf(error));
    }
    const principal = toPrincipal(payload, issuer);
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : nowMs;
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) {
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(cacheKey, { principal, expiresAt: exp });
    }
    return principal;
  }
}

async function verifyWith(token: string, issuer: TrustedIssuer, nowMs: number): Promise<JWTPayload> {
  const options = {
    issuer: issuer.issuer,
    audience: issuer.audience,
    // never `none`, never an HMAC: only the algorithms of this issuer's keys
    algorithms: [...issuer.algorithms],
    requiredClaims: ['exp', 'iat', issuer.claims.id],
    currentDate: new Date(nowMs),
  };
  try {
    return (await jwtVerify(token, issuer.keys, options)).payload;
  } catch (error) {
    // several keys fit the header (no `kid`): try each, as jose documents
    if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new joseErrors.JWSSignatureVerificationFailed();
  }
}

function unauthenticated(reason: string): DomicileError {
  return new DomicileError('DOMICILE_ERR_UNAUTHENTICATED', `invalid token: ${reason}`);
}

function reasonOf(error: unknown): string {
  if (error instanceof DomicileError) return error.message;
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim \`${error.claim}\` ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the issuer matches';
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid)
    return 'issuer keys unavailable';
  if (error instanceof joseErrors.JOSENotSupported) return 'algorithm not supported';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'malformed';
  return 'verification failed';
}

function toPrincipal(payload: JWTPayload, issuer: TrustedIssuer): Principal {
  // claims are trusted only as far as the signature goes: check their shape anyway
  const names = issuer.claims;
  const id = payload[names.id];
  const type = payload[names.type] ?? issuer.defaultType;
  const dept = payload[names.department];
  const loc = payload[names.country];
  const jur = payload[names.jurisdiction];
  let roles = payload[names.roles];
  if (typeof roles === 'string') roles = roles.split(' ').filter((r) => r !== '');
  const mfa = payload[names.mfa];
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw unauthenticated(`claim \`${names.id}\` is not a valid id`);
  if (type !== 'employee' && type !== 'service')
    throw unauthenticated(`claim \`${names.type}\` must be employee or service`);
  if (dept !== undefined && (typeof dept !== 'string' || !LABEL.test(dept)))
    throw unauthenticated(`claim \`${names.department}\` is invalid`);
  if (loc !== undefined && (typeof loc !== 'string' || !COUNTRY.test(loc)))
    throw unauthenticated(`claim \`${names.country}\` is invalid`);
  if (jur !== undefined && (typeof jur !== 'string' || !JURISDICTION.test(jur)))
    throw unauthenticated(`claim \`${names.jurisdiction}\` is invalid`);
  if (
    roles !== undefined &&
    (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && LABEL.test(r)))
  ) {
    throw unauthenticated(`claim \`${names.roles}\` is invalid`);
  }
  return {
    id,
    type,
    department: dept as string | undefined,
    roles: (roles as string[] | undefined) ?? [],
    country: loc as string | undefined,
    // `true`, or an `amr`-style list that names mfa
    mfa: mfa === true || (Array.isArray(mfa) && mfa.includes('mfa')),
    ...(jur === undefined ? {} : { jurisdiction: jur as string }),
  };
}
