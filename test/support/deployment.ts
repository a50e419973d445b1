/**
 * Test deployments: the demo topology on real SQLite files in a temporary folder, with the
 * gateway and every region node in this process, exactly as `domicile up` wires them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type Config, parseConfig } from '../../src/domain/config.js';
import type { JurisdictionId, RegionId } from '../../src/domain/ids.js';
import { type Embedded, loadIssuerPrivateKey, openEmbedded } from '../../src/server/deployment.js';
import { issueToken, type PrincipalClaims } from '../../src/services/access/tokens.js';
import { decodeLogEntry, type LogEntry } from '../../src/services/audit/entry.js';
import { openSqliteLogStorage } from '../../src/store/sqlite/sqlite-log-storage.js';
import type { SqliteRegionStore } from '../../src/store/sqlite/sqlite-store.js';

/** The repository root. */
export const repoRoot = new URL('../../', import.meta.url).pathname;

/** The shipped demo configuration. */
export function demoConfig(): Config {
  const file = join(repoRoot, 'domicile.yaml');
  return parseConfig(readFileSync(file, 'utf8'), file);
}

/** A running test deployment. */
export interface TestDeployment extends Embedded {
  readonly dataDir: string;
  readonly env: Record<string, string>;
  token(claims: Partial<PrincipalClaims> & { sub?: string }, ttlSeconds?: number): Promise<string>;
  /** Authorization header for a principal. */
  auth(claims: Partial<PrincipalClaims>): Promise<{ authorization: string }>;
  node(region: string): NonNullable<ReturnType<Embedded['nodes']['get']>>;
  cleanup(): Promise<void>;
}

/** Options of `openTestDeployment`. */
export interface TestDeploymentOptions {
  readonly dataDir?: string;
  readonly masterKey?: string;
  readonly now?: () => number;
  readonly policyDirectory?: string;
  /**
   * Receives every line the gateway logs (pino JSON, every level from `trace` up), for tests of
   * what reaches the operator log; without it the deployment logs nothing.
   */
  readonly logSink?: (line: string) => void;
}

/** Opens the demo topology in a fresh temporary data folder. */
export async function openTestDeployment(options: TestDeploymentOptions = {}): Promise<TestDeployment> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'domicile-test-'));
  const env = { DOMICILE_MASTER_KEY: options.masterKey ?? randomBytes(32).toString('base64') };
  const config = demoConfig();
  const embedded = await openEmbedded({
    config,
    dataDir,
    env,
    logger: options.logSink === undefined ? false : { level: 'trace' },
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.policyDirectory === undefined ? {} : { policyDirectory: options.policyDirectory }),
  });
  if (options.logSink !== undefined) redirectLog(embedded.app, options.logSink);
  const privateKey = await loadIssuerPrivateKey(dataDir);
  const token = (claims: Partial<PrincipalClaims>, ttlSeconds = 600): Promise<string> =>
    issueToken({
      privateKey,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      ttlSeconds,
      claims: { sub: 'tester', type: 'employee', ...claims },
    });
  return {
    ...embedded,
    close: () => embedded.close(),
    dataDir,
    env,
    token,
    auth: async (claims) => ({ authorization: `Bearer ${await token(claims)}` }),
    node: (region) => {
      const node = embedded.nodes.get(region as RegionId);
      if (!node) throw new Error(`no node ${region}`);
      return node;
    },
    cleanup: async () => {
      await embedded.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Sends every line an app logs to `sink` instead of stdout. `buildApp` takes pino options, not a
 * destination, so the destination (pino's public `symbols.streamSym`) is replaced on the logger
 * that owns it; the child logger of every request inherits it from there.
 */
export function redirectLog(app: FastifyInstance, sink: (line: string) => void): void {
  let owner: object | null = app.log;
  while (owner !== null && !Object.hasOwn(owner, pino.symbols.streamSym))
    owner = Object.getPrototypeOf(owner);
  if (owner === null) throw new Error('the app logger has no pino destination to redirect');
  (owner as Record<symbol, unknown>)[pino.symbols.streamSym] = { write: sink };
}

/** Authorization headers, as `TestDeployment.auth` makes them. */
export type AuthHeaders = { authorization: string };

/** Registers a subject in a jurisdiction over the API (`PUT /v1/subjects/{id}`). */
export function putSubject(d: TestDeployment, headers: AuthHeaders, subject: string, jurisdiction: string) {
  return d.app.inject({ method: 'PUT', url: `/v1/subjects/${subject}`, headers, payload: { jurisdiction } });
}

/** Writes a subject's record over the API (`PUT /v1/subjects/{id}/records/{key}`). */
export function putRecord(
  d: TestDeployment,
  headers: AuthHeaders,
  subject: string,
  key: string,
  record: { class: string; value: unknown },
) {
  return d.app.inject({
    method: 'PUT',
    url: `/v1/subjects/${subject}/records/${key}`,
    headers,
    payload: record,
  });
}

/** Every entry of a jurisdiction's log, read from its home region's store. */
export async function logEntries(d: Embedded, jurisdiction: string): Promise<LogEntry[]> {
  const j = d.config.jurisdictions.get(jurisdiction as JurisdictionId);
  if (!j) throw new Error(`no jurisdiction ${jurisdiction}`);
  const storage = openSqliteLogStorage(d.stores.get(j.home) as SqliteRegionStore, j.id);
  const size = await storage.sequencedSize();
  return (await storage.readEntries(0, size)).map((e) => decodeLogEntry(e));
}

/** A US data-security steward located in the US. */
export const US_STEWARD: Partial<PrincipalClaims> = {
  sub: 'steward-1',
  type: 'employee',
  dept: 'us-data-security',
  loc: 'US',
};
/** A US application service (role `app`): the shipped policies let only applications write interoperable data. */
export const US_APP: Partial<PrincipalClaims> = {
  sub: 'us-video-app',
  type: 'service',
  roles: ['app'],
  jur: 'US',
  loc: 'US',
};
/** An SG data-protection officer located in Singapore. */
export const SG_STEWARD: Partial<PrincipalClaims> = {
  sub: 'sg-officer',
  type: 'employee',
  dept: 'sg-data-protection',
  loc: 'SG',
};
