/**
 * Bearer tokens: EdDSA JWTs issued by the deployment's issuer key (created by `domicile init`)
 * and verified with `jose`. Claims become a `Principal`; nothing else about the caller is taken.
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { DomicileError } from '../../domain/errors.js';
import { ID_PATTERN } from '../../domain/ids.js';
import type { Principal } from './principal.js';

/** Claims Domicile reads from a token. */
export interface PrincipalClaims {
  readonly sub: string;
  readonly type: 'employee' | 'service';
  readonly dept?: string;
  readonly roles?: readonly string[];
  readonly loc?: string;
  readonly mfa?: boolean;
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
 * Issues a signed token.
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

/** Options of the verifier. */
export interface TokenVerifierOptions {
  readonly publicKey: KeyObject;
  readonly issuer: string;
  readonly audience: string;
  /** Verified tokens kept in memory, so a hot client is not re-verified on every request. */
  readonly cacheSize?: number;
  readonly now?: () => number;
}

const COUNTRY = /^[A-Z]{2}$/;
const LABEL = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Verifies bearer tokens and maps their claims to principals. */
export class TokenVerifier {
  private readonly options: TokenVerifierOptions;
  private readonly cache = new Map<string, { principal: Principal; expiresAt: number }>();
  private readonly cacheSize: number;
  private readonly now: () => number;

  constructor(options: TokenVerifierOptions) {
    this.options = options;
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
    const cacheKey = createHash('sha256').update(token).digest('base64');
    const cached = this.cache.get(cacheKey);
    const nowMs = this.now();
    if (cached && cached.expiresAt > nowMs) return cached.principal;
    if (cached) this.cache.delete(cacheKey);
    let payload: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, this.options.publicKey, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: ['EdDSA'],
        requiredClaims: ['sub', 'exp', 'iat'],
        currentDate: new Date(nowMs),
      });
      payload = result.payload as Record<string, unknown>;
    } catch (error) {
      throw unauthenticated(reasonOf(error));
    }
    const principal = toPrincipal(payload);
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : nowMs;
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(cacheKey, { principal, expiresAt: exp });
    return principal;
  }
}

function unauthenticated(reason: string): DomicileError {
  return new DomicileError('DOMICILE_ERR_UNAUTHENTICATED', `invalid token: ${reason}`);
}

function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim \`${error.claim}\` ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'malformed';
  return 'verification failed';
}

function toPrincipal(payload: Record<string, unknown>): Principal {
  // claims are trusted only as far as the signature goes: check their shape anyway
  const { sub, ptype, dept, roles, loc, mfa } = payload;
  if (typeof sub !== 'string' || !ID_PATTERN.test(sub))
    throw unauthenticated('claim `sub` is not a valid id');
  if (ptype !== 'employee' && ptype !== 'service')
    throw unauthenticated('claim `ptype` must be employee or service');
  if (dept !== undefined && (typeof dept !== 'string' || !LABEL.test(dept)))
    throw unauthenticated('claim `dept` is invalid');
  if (loc !== undefined && (typeof loc !== 'string' || !COUNTRY.test(loc)))
    throw unauthenticated('claim `loc` is invalid');
  if (
    roles !== undefined &&
    (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string' && LABEL.test(r)))
  ) {
    throw unauthenticated('claim `roles` is invalid');
  }
  return {
    id: sub,
    type: ptype,
    department: dept as string | undefined,
    roles: (roles as string[] | undefined) ?? [],
    country: loc as string | undefined,
    mfa: mfa === true,
  };
}
