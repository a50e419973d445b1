/**
 * Wiring of the transfer services in one process: the transfer store (erasure ledger, export
 * volumes) in the control database, backup storage folders per region, the backup keys, the
 * backup, export and relocation services, the backup schedule and the HTTP routes.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Keyring } from '../crypto/keyring.js';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId, SubjectId } from '../domain/ids.js';
import { requireJurisdiction } from '../domain/residency.js';
import type { TokenVerifier } from '../services/access/tokens.js';
import { BackupService } from '../services/backup/backup.js';
import { KeyBackupService } from '../services/backup/key-backup.js';
import { BackupScheduler } from '../services/backup/scheduler.js';
import { ExportService } from '../services/transfer/export.js';
import type { TransferGate } from '../services/transfer/gate.js';
import { RelocationService } from '../services/transfer/relocation.js';
import type { RegionClient } from '../services/vault/region-node.js';
import type { BackupStorage } from '../store/backup-storage.js';
import { FolderBackupStorage } from '../store/folder-backup-storage.js';
import type { RegionStore, SubjectDirectory } from '../store/region-store.js';
import { openSqliteTransferStore, type SqliteTransferStore } from '../store/sqlite/sqlite-transfer-store.js';
import type { AuditLogs } from './audit-logs.js';
import { type BackupKeys, ensureBackupKeys } from './backup-keys.js';
import { registerTransferRoutes } from './transfer-routes.js';

/** What `openTransferServices` needs. */
export interface TransferServicesOptions {
  readonly config: Config;
  readonly dataDir: string;
  readonly gate: TransferGate;
  readonly stores: ReadonlyMap<RegionId, RegionStore>;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  readonly nodes: ReadonlyMap<RegionId, RegionClient>;
  readonly directory: SubjectDirectory;
  readonly audit: AuditLogs;
  readonly onError?: (error: unknown) => void;
}

/** The transfer services of a deployment. */
export interface TransferServices {
  readonly gate: TransferGate;
  readonly store: SqliteTransferStore;
  readonly backups: BackupService;
  /** Keyring backups, only to the jurisdiction's own regions. */
  readonly keyBackups: KeyBackupService;
  readonly exports: ExportService;
  readonly relocation: RelocationService;
  /** The backup signing key of a jurisdiction. */
  readonly keys: (jurisdiction: JurisdictionId) => BackupKeys;
  /** The subject's pseudonym in its jurisdiction's log. */
  readonly pseudonym: (jurisdiction: JurisdictionId, subjectId: SubjectId) => string;
  /** The backup storage of a region (`data/<region>/backups/`). */
  readonly storage: (region: RegionId) => BackupStorage;
  /** The key backup storage of a region (`data/<region>/key-backups/`). */
  readonly keyStorage: (region: RegionId) => BackupStorage;
  /** The vault's erasure hook: puts the erasure in the ledger (E1). */
  readonly onErased: (jurisdiction: JurisdictionId, subjectId: SubjectId, erasedAt: Date) => Promise<void>;
  /** Registers the HTTP routes. */
  register(app: FastifyInstance, verifier: TokenVerifier): void;
  /** Starts replication summaries and the backup schedule. */
  start(): void;
  close(): Promise<void>;
}

/** The backup storage of each region in `data/<region>/<folder>/`, opened once per region. */
function folderStorages(dataDir: string, folder: string): (region: RegionId) => BackupStorage {
  const storages = new Map<RegionId, BackupStorage>();
  return (region) => {
    let s = storages.get(region);
    if (!s) {
      s = new FolderBackupStorage(region, join(dataDir, region, folder));
      storages.set(region, s);
    }
    return s;
  };
}

/** Opens the transfer services. */
export async function openTransferServices(options: TransferServicesOptions): Promise<TransferServices> {
  const { config, dataDir, gate, stores, keyrings, nodes, directory, audit } = options;
  await mkdir(join(dataDir, 'control'), { recursive: true });
  const store = openSqliteTransferStore({ file: join(dataDir, 'control', 'control.db') });
  const keys = new Map<JurisdictionId, BackupKeys>();
  for (const j of config.jurisdictions.values()) keys.set(j.id, await ensureBackupKeys(dataDir, j));
  const keysOf = (j: JurisdictionId): BackupKeys => {
    const k = keys.get(j);
    if (!k) throw new DomicileError('DOMICILE_ERR_UNKNOWN_JURISDICTION', `unknown jurisdiction \`${j}\``);
    return k;
  };
  const pseudonym = (j: JurisdictionId, subjectId: SubjectId): string => {
    const log = audit.logs.get(requireJurisdiction(config, j).id);
    if (!log) throw new DomicileError('DOMICILE_ERR_AUDIT_UNAVAILABLE', `no audit log for \`${j}\``);
    return log.subjectPseudonym(subjectId);
  };
  const storage = folderStorages(dataDir, 'backups');
  const keyStorage = folderStorages(dataDir, 'key-backups');
  const backups = new BackupService({
    config,
    stores,
    keyrings,
    storage,
    gate,
    transfers: store,
    directory,
    pseudonym,
    signer: (j) => keysOf(j).signer,
    verifier: (j) => keysOf(j).verifier,
  });
  const keyBackups = new KeyBackupService({
    config,
    keyrings,
    storage: keyStorage,
    gate,
    transfers: store,
    pseudonym,
    signer: (j) => keysOf(j).signer,
    verifier: (j) => keysOf(j).verifier,
  });
  const exports = new ExportService({ config, stores, keyrings, gate, transfers: store, pseudonym });
  const relocation = new RelocationService({
    config,
    directory,
    nodes,
    stores,
    keyrings,
    gate,
    transfers: store,
    pseudonym,
  });
  const scheduler = new BackupScheduler(config, backups, options.onError);
  return {
    gate,
    store,
    backups,
    keyBackups,
    exports,
    relocation,
    keys: keysOf,
    pseudonym,
    storage,
    keyStorage,
    onErased: async (jurisdiction, subjectId, erasedAt) => {
      await store.recordErasure({
        jurisdiction,
        subject: pseudonym(jurisdiction, subjectId),
        erasedAt: erasedAt.getTime(),
      });
    },
    register: (app, verifier) =>
      registerTransferRoutes(app, {
        config,
        verifier,
        backups,
        keyBackups,
        exports,
        relocation,
        gate,
        logs: audit.logs,
      }),
    start: () => {
      gate.start();
      scheduler.start();
    },
    close: async () => {
      await scheduler.stop();
      await gate.stop();
      await store.close();
    },
  };
}
