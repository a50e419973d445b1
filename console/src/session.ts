/**
 * The bearer token of this browser tab. It lives in `sessionStorage` (gone when the tab closes)
 * and never in the address: `domicile up` prints a link with the demo token in its fragment
 * (`#token=…`, which browsers never send to a server); `adoptTokenFromFragment` moves it into
 * the session and strips it from the address bar before anything else runs.
 */

const KEY = 'domicile.console.token';

/** The session's token, or null. */
export function readToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** Keeps a token for this tab. */
export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
}

/** Forgets the token. */
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * Moves `#token=…` from the address into the session and removes the fragment from the address
 * bar and from the history entry, whatever else it held.
 */
export function adoptTokenFromFragment(location: Location, history: History): void {
  if (location.hash === '') return;
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token !== null && token.trim() !== '') storeToken(token);
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
}

/** What a token says about its holder: shown to the user only, never trusted for anything. */
export interface TokenClaims {
  readonly sub?: string;
  readonly type?: string;
  readonly dept?: string;
  readonly loc?: string;
  readonly roles?: readonly string[];
  /** Expiry, epoch seconds. */
  readonly exp?: number;
}

/** Decodes a JWT's payload without verifying it (the server verifies every call); {} when unreadable. */
export function readClaims(token: string): TokenClaims {
  const payload = token.split('.')[1];
  if (payload === undefined) return {};
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json) as Record<string, unknown>;
    const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r) => typeof r === 'string') : undefined;
    const out: { -readonly [K in keyof TokenClaims]: TokenClaims[K] } = {};
    const sub = text(claims.sub);
    if (sub !== undefined) out.sub = sub;
    const type = text(claims.ptype) ?? text(claims.type);
    if (type !== undefined) out.type = type;
    const dept = text(claims.dept);
    if (dept !== undefined) out.dept = dept;
    const loc = text(claims.loc);
    if (loc !== undefined) out.loc = loc;
    if (roles !== undefined) out.roles = roles;
    if (typeof claims.exp === 'number') out.exp = claims.exp;
    return out;
  } catch {
    return {};
  }
}
