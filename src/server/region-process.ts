/**
 * One region node as its own process (`domicile region`): the region's store (SQLite file or
 * PostgreSQL), its keyring, the logs of the jurisdictions whose home it is, and its internal
 * HTTPS API over mutual TLS (`region-app.ts`) for gateways and the other region nodes.
 *
 * What a node needs from the data folder: the master key (or `DOMICILE_MASTER_KEY`), its
 * keyring (`<region>/keyring/`), its certificate and the CA certificate (`pki/`), the issuer's
 * public key, and, in a home region, the logs' keys (`<region>/logs/<J>/`). Never the CA key.
 *
 * Audit (L1) for a jurisdiction whose home is another region: events go to the home node; while
 * it cannot be reached they wait in a durable spool in this region (`<region>/audit-spool/`),
 * and are delivered in order when it can (`SpoolingAuditSink`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openLocalKeyring } from '../crypto/local-keyring.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { countryOfCertificate } from '../crypto/peer-identity.js';
import type { Config, Region } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId, SubjectId } from '../domain/ids.js';
import { jurisdictionsHeldBy } from '../domain/residency.js';
import type { AuditEvent, AuditSink } from '../services/audit/audit-event.js';
import type { AuditLog } from '../services/audit/audit-log.js';
import { SpoolingAuditSink } from '../services/audit/relay.js';
import { HttpsRegionClient, type HttpsRegionClientOptions } from '../services/routing/https-region-client.js';
import { encodeReplica, type WireReplica } from '../services/routing/region-wire.js';
import { SpooledForwarder } from '../services/routing/spooled-forwarder.js';
import { TransferGate } from '../services/transfer/gate.js';
import type { Replica, RequestContext, SubjectRef } from '../services/vault/region-node.js';
import { RegionNode, type RegionNodeOptions } from '../services/vault/region-node.js';
import { openPostgresLogStorage } from '../store/postgres/postgres-log-storage.js';
import { openPostgresRegionStore, type PostgresRegionStore } from '../store/postgres/postgres-store.js';
import type { IndexedLogStorage, RegionStore } from '../store/region-store.js';
import { openSqliteLogStorage } from '../store/sqlite/sqlite-log-storage.js';
import { openSqliteRegionStore, type SqliteRegionStore } from '../store/sqlite/sqlite-store.js';
import { openSqliteTransferStore } from '../store/sqlite/sqlite-transfer-store.js';
import { auditLogsOf, openJurisdictionLog } from './audit-logs.js';
import {
  Closers,
  controlStoreSpec,
  listenOn,
  openAccessControl,
  openControlPlane,
  type ProcessOptions,
} from './control-plane.js';
import { deploymentPaths, withRetirements } from './deployment.js';
import { loadRegionTls, type TlsMaterial } from './pki.js';
import { buildRegionApp, type RegionApp } from './region-app.js';
import { type OpenSpool, openSpool } from './spools.js';

/** Options of `openRegionProcess` (`listen` defaults to the host and port of the region's `endpoint`). */
export interface RegionProcessOptions extends ProcessOptions {
  readonly regionId: string;
  /** `sqlite` or a postgres:// URL; default: the region's `store` in the configuration. */
  readonly store?: string;
}

/** A running region node. */
export interface RegionProcess {
  readonly regionId: RegionId;
  readonly app: RegionApp;
  readonly node: RegionNode;
  readonly store: RegionStore;
  /** The logs of the jurisdictions whose home this region is. */
  readonly logs: ReadonlyMap<JurisdictionId, AuditLog>;
  /** `https://host:port` it listens on. */
  readonly url: string;
  close(): Promise<void>;
}

/** The PostgreSQL schema of a region's tables: regions may share one database. */
export function regionSchema(regionId: RegionId): string {
  const schema = `region_${regionId.replace(/-/g, '_')}`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `region \`${regionId}\`: id too long for a schema name`);
  }
  return schema;
}

/** The region of `regionId`, if configured and not retired. */
function requireServedRegion(config: Config, regionId: string): Region {
  const region = config.regions.get(regionId as RegionId);
  if (!region) throw new DomicileError('DOMICILE_ERR_CONFIG', `region \`${regionId}\` is not configured`);
  if (region.status === 'retired') {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `region \`${regionId}\` is retired`);
  }
  return region;
}

/** Host and port of an `https://host:port` endpoint. */
export function endpointAddress(endpoint: string): { host: string; port: number } {
  const url = new URL(endpoint);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
}

/** Refuses a certificate that does not name the region's configured country. */
function assertCertificateCountry(region: Region, tls: TlsMaterial): void {
  const named = countryOfCertificate(tls.cert);
  if (named !== region.country) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `region \`${region.id}\`: its certificate names country \`${named ?? 'none'}\`, the configuration says \`${region.country}\`: reissue it with \`domicile init --pki\``,
    );
  }
}

/** HTTPS clients of the regions that have an endpoint (but `except`), for routing, replication and erasure. */
export function regionClients<C extends HttpsRegionClient = HttpsRegionClient>(
  config: Config,
  tls: TlsMaterial,
  except?: RegionId,
  make: (options: HttpsRegionClientOptions) => C = (options) => new HttpsRegionClient(options) as C,
): Map<RegionId, C> {
  const clients = new Map<RegionId, C>();
  for (const region of config.regions.values()) {
    if (region.id === except || region.status === 'retired' || region.endpoint === undefined) continue;
    clients.set(region.id, make({ regionId: region.id, url: region.endpoint, tls, country: region.country }));
  }
  return clients;
}

async function openStore(
  spec: string,
  regionId: RegionId,
  dataDir: string,
): Promise<SqliteRegionStore | PostgresRegionStore> {
  if (spec === 'sqlite') {
    await mkdir(join(dataDir, regionId), { recursive: true });
    return openSqliteRegionStore({ regionId, file: deploymentPaths(dataDir).store(regionId) });
  }
  return openPostgresRegionStore({ url: spec, schema: regionSchema(regionId), regionId });
}

async function openLogStorage(
  store: SqliteRegionStore | PostgresRegionStore,
  jurisdiction: JurisdictionId,
): Promise<IndexedLogStorage> {
  return 'database' in store
    ? openPostgresLogStorage(store, jurisdiction)
    : openSqliteLogStorage(store, jurisdiction);
}

/**
 * Opens one region node and starts listening.
 *
 * @example
 * const node = await openRegionProcess({ config, dataDir: 'data', env: process.env,
 *   regionId: 'oci-us-ashburn', store: 'postgres://domicile@db-ashburn/domicile' });
 */
export async function openRegionProcess(options: RegionProcessOptions): Promise<RegionProcess> {
  const { dataDir } = options;
  const config = withRetirements(options.config, dataDir);
  const region = requireServedRegion(config, options.regionId);
  const regionId = region.id;
  const listen =
    options.listen ?? (region.endpoint === undefined ? undefined : endpointAddress(region.endpoint));
  if (!listen) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `region \`${regionId}\` has no \`endpoint\` in the configuration: give --listen or set it`,
    );
  }
  const tls = await loadRegionTls(dataDir, regionId);
  assertCertificateCountry(region, tls);
  const paths = deploymentPaths(dataDir);
  const master = await loadMasterKey({ env: options.env, file: paths.masterKey });
  const held = jurisdictionsHeldBy(config, regionId);
  const closers = new Closers();
  let app: RegionApp | undefined;
  const warn = (message: string) => (error: unknown) => app?.log.warn({ err: error }, message);
  try {
    const keyring = await openLocalKeyring({
      regionId,
      file: paths.keyring(regionId),
      masterKey: master.key,
      allowedJurisdictions: held,
    });
    closers.add(() => keyring.close());
    const store = await openStore(options.store ?? region.store, regionId, dataDir);
    closers.add(() => store.close());
    const controlSpec = controlStoreSpec(options.control, options.env);
    const plane = await openControlPlane(controlSpec, dataDir);
    closers.add(() => plane.close());

    // replicas for a region that is down wait here and reach it when it is back
    const clients = regionClients(
      config,
      tls,
      regionId,
      (options) =>
        new ReplicaHandoff(
          options,
          openSpool<WireReplica>(dataDir, regionId, 'replicas', options.regionId),
          warn(`replica handoff to ${options.regionId}`),
        ),
    );
    closers.add(async () => {
      for (const client of clients.values()) await client.close();
    });

    // the logs of the jurisdictions whose home this is; a spooling relay to the others' homes
    const logs = new Map<JurisdictionId, AuditLog>();
    const relays = new Map<JurisdictionId, SpoolingAuditSink>();
    for (const jurisdictionId of held) {
      const jurisdiction = config.jurisdictions.get(jurisdictionId);
      if (!jurisdiction) continue;
      if (jurisdiction.home === regionId) {
        const storage = await openLogStorage(store, jurisdictionId);
        logs.set(
          jurisdictionId,
          await openJurisdictionLog({ config, dataDir, jurisdiction, storage, onError: warn('audit log') }),
        );
        continue;
      }
      const home = clients.get(jurisdiction.home);
      if (!home) continue;
      const spool = openSpool<AuditEvent>(dataDir, regionId, 'audit', jurisdictionId);
      closers.add(() => spool.close());
      const relay = new SpoolingAuditSink({
        home,
        spool: spool.pending,
        rejected: spool.rejected,
        onError: warn('audit relay'),
      });
      closers.add(() => relay.close());
      relays.set(jurisdictionId, relay);
    }
    const ownLogs = auditLogsOf(logs);
    closers.add(() => ownLogs.close());
    const audit = (jurisdiction: JurisdictionId): AuditSink => {
      const relay = relays.get(jurisdiction);
      return relay ?? ownLogs.sink(jurisdiction);
    };

    // with the control files of the data folder, erasures go into its ledger, which backup
    // restores read (a deployment on a PostgreSQL control store has no file backups)
    let ledger: ErasureLedger | undefined;
    if (controlSpec === 'sqlite' && logs.size > 0) {
      const transfers = openSqliteTransferStore({ file: paths.control });
      closers.add(() => transfers.close());
      ledger = async (jurisdiction, subjectId, erasedAt) => {
        const log = ownLogs.logs.get(jurisdiction);
        if (!log) return;
        await transfers.recordErasure({
          jurisdiction,
          subject: log.subjectPseudonym(subjectId),
          erasedAt: erasedAt.getTime(),
        });
      };
    }
    const { policies, authorizer } = await openAccessControl({
      config,
      plane,
      audit,
      policyPollMs: options.policyPollMs,
      closers,
      onError: warn('policy refresh failed'),
    });
    const gate = new TransferGate({ config, audit, onError: warn('transfer summary failed') });
    gate.start();
    closers.add(() => gate.stop());
    const node = new ProcessRegionNode([...clients.values()], ledger, {
      config,
      regionId,
      store,
      keyring,
      authorizer,
      audit,
      peers: (id) => clients.get(id),
      gate,
    });
    app = await buildRegionApp({
      node,
      regionId,
      config,
      tls,
      audit,
      logs,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const started = app;
    closers.add(() => started.close());
    for (const [jurisdiction] of logs) {
      await audit(jurisdiction).append({
        type: 'config.load',
        requestId: `start-${regionId}-${process.pid}`,
        principal: null,
        jurisdiction,
        region: regionId,
        decision: 'info',
        reason: 'configuration loaded',
        policyHash: policies.current().policyHash,
        details: { configSha256: config.sha256, regions: [regionId] },
      });
    }
    const url = await listenOn(app, listen, 'https');
    return { regionId, app, node, store, logs, url, close: () => closers.closeAll() };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/**
 * Another region node as this node's peer, reached over HTTPS, except that a replica it cannot
 * take now (it is down) waits in a spool in this region and reaches it, in order, when it is
 * back, so a home region that restarts after a failover catches up.
 */
class ReplicaHandoff extends HttpsRegionClient {
  private readonly forwarder: SpooledForwarder<WireReplica>;
  private readonly spool: OpenSpool<WireReplica>;

  /** `spool`: what waits for the region, and the replicas it refused for good (e.g. of a subject erased there meanwhile). */
  constructor(
    options: HttpsRegionClientOptions,
    spool: OpenSpool<WireReplica>,
    onError: (error: unknown) => void,
  ) {
    super(options);
    this.spool = spool;
    this.forwarder = new SpooledForwarder({
      send: (wire) => this.sendReplica(wire),
      spool: spool.pending,
      rejected: spool.rejected,
      onError,
    });
  }

  override receiveReplica(replica: Replica): Promise<void> {
    return this.forwarder.forward(encodeReplica(replica));
  }

  /** Delivers what waits for the region; returns how many replicas still wait. */
  async deliver(): Promise<number> {
    await this.forwarder.drain();
    return this.forwarder.pending;
  }

  /** Stops delivering (what waits stays on disk) and closes the connections and the spools. */
  override async close(): Promise<void> {
    await this.forwarder.close();
    super.close();
    this.spool.close();
  }
}

/** Where a home region node records erasures so that restores re-apply them (the erasure ledger). */
type ErasureLedger = (jurisdiction: JurisdictionId, subjectId: SubjectId, erasedAt: Date) => Promise<void>;

/**
 * A region node in its own process. INVARIANT E1, across processes:
 * - an erasure is served by the jurisdiction's home region only (it needs the home region
 *   anyway, to purge there, and holds the log whose pseudonym the erasure ledger records); a
 *   failover region refuses it as unavailable, so the caller retries;
 * - before it erases or purges a subject, the replicas it still holds for regions that were down
 *   are delivered (a late replica must not bring an erased subject back); when one cannot be
 *   delivered, the erasure fails and is retried;
 * - the erasure is in the erasure ledger before it is acknowledged, where the deployment keeps one.
 */
class ProcessRegionNode extends RegionNode {
  private readonly handoffs: readonly ReplicaHandoff[];
  private readonly ledger: ErasureLedger | undefined;
  private readonly config: Config;

  constructor(
    handoffs: readonly ReplicaHandoff[],
    ledger: ErasureLedger | undefined,
    options: RegionNodeOptions,
  ) {
    super(options);
    this.handoffs = handoffs;
    this.ledger = ledger;
    this.config = options.config;
  }

  override async eraseSubject(ctx: RequestContext, ref: SubjectRef): Promise<{ records: number }> {
    const jurisdiction = this.config.jurisdictions.get(ref.jurisdiction);
    if (jurisdiction?.home !== this.regionId) {
      throw new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `region \`${this.regionId}\`: an erasure is served by the home region of \`${ref.jurisdiction}\`: retry when it is back`,
      );
    }
    await this.deliverHandoffs();
    const erased = await super.eraseSubject(ctx, ref);
    await this.ledger?.(ref.jurisdiction, ref.subjectId, new Date());
    return erased;
  }

  override async purgeSubject(ref: SubjectRef): Promise<number> {
    await this.deliverHandoffs();
    return super.purgeSubject(ref);
  }

  private async deliverHandoffs(): Promise<void> {
    for (const handoff of this.handoffs) {
      if ((await handoff.deliver()) > 0) {
        throw new DomicileError(
          'DOMICILE_ERR_REGION_UNAVAILABLE',
          `replicas for region \`${handoff.regionId}\` are still waiting: erasure retried when it is back`,
        );
      }
    }
  }
}
