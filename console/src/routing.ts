/**
 * `GET /v1/routing` as the console reads it: per jurisdiction, requests per serving region since
 * the gateway started and the share served by the home region (the figures `domicile routing
 * report` prints).
 */
import { callJson } from './api.js';

/** One jurisdiction's routing figures (see the gateway's `GET /v1/routing`). */
export interface JurisdictionRouting {
  readonly jurisdiction: string;
  /** Requests routed since the gateway started. */
  readonly total: number;
  /** Of those, served by the home region. */
  readonly home: number;
  readonly byRegion: Readonly<Record<string, number>>;
  /** Share of the recent requests served by the home region (0..1), or null before any. */
  readonly recentHomeShare: number | null;
}

/** The answer of `GET /v1/routing`: jurisdictions without requests yet are absent. */
export interface RoutingReport {
  readonly jurisdictions: readonly JurisdictionRouting[];
}

/** Reads `GET /v1/routing` (no token needed), by jurisdiction. */
export async function readRouting(): Promise<Map<string, JurisdictionRouting>> {
  const body = await callJson<Partial<RoutingReport>>('/v1/routing', { auth: false });
  return new Map((body.jurisdictions ?? []).map((r) => [r.jurisdiction, r]));
}

/** Share of the requests since start served by the home region, or null before any. */
export function homeShareSinceStart(routing: JurisdictionRouting | undefined): number | null {
  return routing === undefined || routing.total === 0 ? null : routing.home / routing.total;
}

/** `0.5` → `50.0%`. */
export const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;
