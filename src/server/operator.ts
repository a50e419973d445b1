/**
 * Operator commands that work on the data folder directly (`domicile migrate`, `domicile wipe`),
 * next to or without a running `domicile up`: every region's store and keyring, and the
 * jurisdictions' audit logs. SQLite's write-ahead log and busy timeouts let these connections
 * share the files with a running server (one writer at a time; every write here is short).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Keyring } from '../crypto/keyring.js';
import { openLocalKeyring } from '../crypto/local-keyring.js';
import { loadMasterKey } from '../crypto/master-key.js';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId } from '../domain/ids.js';
import { jurisdictionsHeldBy, requireJurisdiction } from '../domain/residency.js';
import type { PrincipalSummary } from '../services/access/principal.js';
import type { AuditSink } from '../services/audit/audit-event.js';
import type { MigrationContext, MigrationSource, MigrationTarget } from '../services/migrate/migration.js';
import { regionSource } from '../services/migrate/region-source.js';
import type { WipeStorage } from '../services/migrate/wipe.js';
import { TransferGate } from '../services/transfer/gate.js';
import {
  countByFullScan,
  measureSqliteJurisdiction,
  openSqliteMigrationStore,
  wipeSqliteJurisdiction,
} from '../store/sqlite/sqlite-migration-store.js';
import { openSqliteRegionStore, type SqliteRegionStore } from '../store/sqlite/sqlite-store.js';
import { type AuditLogs, loadLogKeys, openTransparencyAuditLogs } from './audit-logs.js';
import { deploymentPaths, withRetirements } from './deployment.js';

/** An operator's view of a deployment's data folder. */
export interface Operator {
  readonly config: Config;
  readonly dataDir: string;
  readonly stores: ReadonlyMap<RegionId, SqliteRegionStore>;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  readonly audit: AuditLogs;
  /** The context of migration steps in a jurisdiction. */
  context(jurisdiction: JurisdictionId, principal: PrincipalSummary | null): Promise<MigrationContext>;
  /** A Domicile region as a migration source. */
  regionSource(region: RegionId, jurisdiction: JurisdictionId): MigrationSource;
  /** A region as a migration target. */
  target(region: RegionId): MigrationTarget;
  /** What a wipe of a region's file needs. */
  wipeStorage(region: RegionId, jurisdiction: JurisdictionId): WipeStorage;
  close(): Promise<void>;
}

/** The operator of the CLI: `DOMICILE_OPERATOR` or the local user, for the log. */
export function operatorPrincipal(env: Readonly<Record<string, string | undefined>>): PrincipalSummary {
  return {
    id: env.DOMICILE_OPERATOR ?? `operator:${env.USER ?? 'unknown'}`,
    type: 'employee',
    department: null,
    country: null,
  };
}

/** Opens every region's store and keyring and the audit logs of a data folder. */
export async function openOperator(options: {
  readonly config: Config;
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}): Promise<Operator> {
  const { dataDir } = options;
  const config = withRetirements(options.config, dataDir);
  const paths = deploymentPaths(dataDir);
  const master = await loadMasterKey({ env: options.env, file: paths.masterKey });
  const stores = new Map<RegionId, SqliteRegionStore>();
  const keyrings = new Map<RegionId, Keyring>();
  const close = async (): Promise<void> => {
    for (const store of stores.values()) await store.close();
    for (const keyring of keyrings.values()) await keyring.close();
  };
  try {
    for (const region of config.regions.values()) {
      if (region.status === 'retired') continue;
      await mkdir(join(dataDir, region.id, 'keyring'), { recursive: true });
      keyrings.set(
        region.id,
        await openLocalKeyring({
          regionId: region.id,
          file: paths.keyring(region.id),
          masterKey: master.key,
          allowedJurisdictions: jurisdictionsHeldBy(config, region.id),
        }),
      );
      // a longer busy timeout than the server's: a bulk batch may wait for the server's writes
      stores.set(
        region.id,
        openSqliteRegionStore({ regionId: region.id, file: paths.store(region.id), busyTimeoutMs: 30_000 }),
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  const audit = await openTransparencyAuditLogs({ config, dataDir, stores });
  const storeOf = (region: RegionId): SqliteRegionStore => {
    const store = stores.get(region);
    if (!store) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `region \`${region}\` has no open store`);
    return store;
  };
  const keyringOf = (region: RegionId): Keyring => {
    const keyring = keyrings.get(region);
    if (!keyring) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `region \`${region}\` has no keyring`);
    return keyring;
  };
  const gate = new TransferGate({ config, audit: (j) => audit.sink(j) });
  return {
    config,
    dataDir,
    stores,
    keyrings,
    audit,
    async context(jurisdiction, principal) {
      const j = requireJurisdiction(config, jurisdiction);
      const sink: AuditSink = audit.sink(j.id);
      return {
        config,
        audit: sink,
        pseudonymKey: (await loadLogKeys(dataDir, j)).pseudonymKey,
        principal,
        requestId: `cli-${process.pid}-${Date.now()}`,
        transfer: (request) => gate.authorize(request),
      };
    },
    regionSource(region, jurisdiction) {
      const store = storeOf(region);
      return regionSource({
        regionId: region,
        jurisdiction,
        store,
        keyring: keyringOf(region),
        measure: async () => {
          const v = measureSqliteJurisdiction(store, jurisdiction);
          return { records: v.records, bytes: v.bytes, otherJurisdictions: v.otherRecords };
        },
      });
    },
    target(region) {
      const store = storeOf(region);
      return { regionId: region, store, keyring: keyringOf(region), state: openSqliteMigrationStore(store) };
    },
    wipeStorage(region, jurisdiction) {
      const store = storeOf(region);
      return {
        secureErase: true,
        deleteAll: (onPage) => wipeSqliteJurisdiction(store, jurisdiction, onPage),
        countByFullScan: async () => countByFullScan(store, jurisdiction),
      };
    },
    async close() {
      await audit.close();
      await close();
    },
  };
}
