/** `/readyz` as the console reads it: regions up or down, and per jurisdiction who serves it. */
import { callJson } from './api.js';

/** One jurisdiction's readiness (see the gateway's `/readyz`). */
export interface JurisdictionReadiness {
  readonly home: string;
  readonly serving: readonly string[];
  readonly draining: readonly string[];
  readonly servedBy: string | null;
  readonly status: 'home' | 'failover' | 'unavailable';
}

/** The answer of `/readyz` (200 when every region is up, 503 otherwise). */
export interface Readiness {
  readonly status: 'ready' | 'degraded';
  readonly regions: Readonly<Record<string, 'up' | 'down'>>;
  readonly jurisdictions: Readonly<Record<string, JurisdictionReadiness>>;
}

/** Reads `/readyz` (no token needed). */
export async function readReadiness(): Promise<Readiness> {
  const body = await callJson<Partial<Readiness>>('/readyz', { auth: false, accept: [503] });
  return {
    status: body.status === 'ready' ? 'ready' : 'degraded',
    regions: body.regions ?? {},
    jurisdictions: body.jurisdictions ?? {},
  };
}
