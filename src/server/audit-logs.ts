/**
 * The audit logs of a deployment: one transparency log per jurisdiction, stored in the SQLite
 * file of its home region, signed with the key `domicile init` made, and submitted to the
 * configured witnesses after every new checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, Jurisdiction } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId } from '../domain/ids.js';
import type { AuditSink } from '../services/audit/audit-event.js';
import { AuditLog } from '../services/audit/audit-log.js';
import type { IndexedLogStorage } from '../store/region-store.js';
import { openSqliteLogStorage } from '../store/sqlite/sqlite-log-storage.js';
import type { SqliteRegionStore } from '../store/sqlite/sqlite-store.js';
import { parseCheckpoint } from '../tlog/checkpoint.js';
import { type CosignHook, TransparencyLog } from '../tlog/log.js';
import { generateEd25519Key, newEd25519Signer } from '../tlog/note.js';
import { submitCheckpoint } from '../tlog/witness.js';

/** Where a jurisdiction's log keys live: in its home region's folder. */
export function logKeyDir(dataDir: string, jurisdiction: Jurisdiction): string {
  return join(dataDir, jurisdiction.home, 'logs', jurisdiction.id);
}

/** A log's key files as `domicile init` writes them. */
export interface LogKeys {
  readonly privateKey: string;
  readonly verifierKey: string;
  readonly pseudonymKey: Buffer;
}

/**
 * Creates a jurisdiction's log signing key (named after the log's origin) and its pseudonym key
 * when missing. Returns the verifier key an auditor needs and whether anything was created.
 */
export async function ensureLogKeys(
  dataDir: string,
  jurisdiction: Jurisdiction,
): Promise<{ verifierKey: string; created: boolean }> {
  const dir = logKeyDir(dataDir, jurisdiction);
  if (existsSync(join(dir, 'log.vkey')))
    return { verifierKey: (await loadLogKeys(dataDir, jurisdiction)).verifierKey, created: false };
  await mkdir(dir, { recursive: true });
  const key = generateEd25519Key(jurisdiction.logOrigin);
  await writeFile(join(dir, 'log.key'), `${key.privateKey}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'pseudonym.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'log.vkey'), `${key.verifierKey}\n`, { mode: 0o644 });
  return { verifierKey: key.verifierKey, created: true };
}

/** Reads a jurisdiction's log keys. */
export async function loadLogKeys(dataDir: string, jurisdiction: Jurisdiction): Promise<LogKeys> {
  const dir = logKeyDir(dataDir, jurisdiction);
  try {
    const [privateKey, verifierKey, pseudonym] = await Promise.all(
      ['log.key', 'log.vkey', 'pseudonym.key'].map(async (f) =>
        (await readFile(join(dir, f), 'utf8')).trim(),
      ),
    );
    return {
      privateKey: privateKey ?? '',
      verifierKey: verifierKey ?? '',
      pseudonymKey: Buffer.from(pseudonym ?? '', 'hex'),
    };
  } catch (cause) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `${dir}: log keys of jurisdiction \`${jurisdiction.id}\` missing: run \`domicile init\``,
      {
        cause,
      },
    );
  }
}

/** Submits each new checkpoint to every configured witness; returns their cosignature lines. */
function witnessHook(
  config: Config,
  logRef: () => TransparencyLog | undefined,
  onError: (e: unknown) => void,
): CosignHook | undefined {
  if (config.audit.witnesses.length === 0) return undefined;
  const known = new Map<string, bigint>();
  return async (signed) => {
    const size = parseCheckpoint(signed.slice(0, signed.indexOf('\n\n') + 1)).size;
    const lines: string[] = [];
    for (const witness of config.audit.witnesses) {
      try {
        const got = await submitCheckpoint(witness.url, {
          checkpoint: signed,
          oldSize: known.get(witness.url) ?? 0n,
          witnessKey: witness.key,
          proofFrom: async (old) => {
            const log = logRef();
            if (!log || old === 0n || old === BigInt(size)) return [];
            return log.consistencyProof(Number(old), Number(size));
          },
        });
        known.set(witness.url, BigInt(size));
        lines.push(...got);
      } catch (error) {
        onError(error);
      }
    }
    return lines;
  };
}

/** The audit logs of a deployment. */
export interface AuditLogs {
  readonly logs: ReadonlyMap<JurisdictionId, AuditLog>;
  sink(jurisdiction: JurisdictionId): AuditSink;
  close(): Promise<void>;
}

/** What opening the audit logs needs. */
export interface AuditLogsOptions {
  readonly config: Config;
  readonly dataDir: string;
  readonly stores: ReadonlyMap<RegionId, SqliteRegionStore>;
  readonly onError?: (error: unknown) => void;
}

/** Opens the audit logs of a deployment (the seam tests and other deployments can replace). */
export type AuditFactory = (options: AuditLogsOptions) => Promise<AuditLogs>;

/** What opening one jurisdiction's log needs. */
export interface JurisdictionLogOptions {
  readonly config: Config;
  readonly dataDir: string;
  readonly jurisdiction: Jurisdiction;
  /** The log's storage in the home region's store (SQLite or PostgreSQL). */
  readonly storage: IndexedLogStorage;
  readonly onError?: (error: unknown) => void;
}

/**
 * Opens a jurisdiction's log on its storage with the keys `domicile init` made (creating them
 * when missing), submitting checkpoints to the configured witnesses, and starts integrating.
 */
export async function openJurisdictionLog(options: JurisdictionLogOptions): Promise<AuditLog> {
  const { config, dataDir, jurisdiction, storage } = options;
  const onError = options.onError ?? (() => {});
  await ensureLogKeys(dataDir, jurisdiction);
  const keys = await loadLogKeys(dataDir, jurisdiction);
  let log: TransparencyLog | undefined;
  const cosign = witnessHook(config, () => log, onError);
  log = await TransparencyLog.open({
    storage,
    origin: jurisdiction.logOrigin,
    signer: newEd25519Signer(keys.privateKey),
    integrateIntervalMs: config.audit.integrateIntervalMs,
    ...(cosign ? { cosign } : {}),
    onError,
  });
  log.start();
  return new AuditLog({ jurisdiction: jurisdiction.id, log, storage, pseudonymKey: keys.pseudonymKey });
}

/** Opens one audit log per jurisdiction in its home region's store, and starts integrating. */
export async function openTransparencyAuditLogs(args: AuditLogsOptions): Promise<AuditLogs> {
  const { config, dataDir, stores } = args;
  const logs = new Map<JurisdictionId, AuditLog>();
  for (const jurisdiction of config.jurisdictions.values()) {
    const store = stores.get(jurisdiction.home);
    if (!store)
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `home region \`${jurisdiction.home}\` of \`${jurisdiction.id}\` has no store`,
      );
    const storage = openSqliteLogStorage(store, jurisdiction.id);
    logs.set(
      jurisdiction.id,
      await openJurisdictionLog({
        config,
        dataDir,
        jurisdiction,
        storage,
        ...(args.onError ? { onError: args.onError } : {}),
      }),
    );
  }
  return auditLogsOf(logs);
}

/** `AuditLogs` over opened logs: `sink` fails closed for a jurisdiction without one. */
export function auditLogsOf(logs: ReadonlyMap<JurisdictionId, AuditLog>): AuditLogs {
  return {
    logs,
    sink: (jurisdiction) => {
      const log = logs.get(jurisdiction);
      if (!log)
        throw new DomicileError(
          'DOMICILE_ERR_AUDIT_UNAVAILABLE',
          `no audit log for jurisdiction \`${jurisdiction}\``,
        );
      return log;
    },
    async close() {
      for (const log of logs.values()) await log.log.close();
    },
  };
}
