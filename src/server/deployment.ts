/**
 * A deployment's files and how they are opened. `domicile init` creates the keys; `domicile up`
 * opens every region's store and keyring in one process and wires the gateway to them.
 *
 * Layout under the data folder (`$DOMICILE_DATA`, default `./data`):
 * ```
 * master.key                      master key (0600), unless DOMICILE_MASTER_KEY is set
 * issuer/issuer.key, issuer.pub   the token issuer's Ed25519 key pair
 * directory/directory.db          subject directory (subject id → jurisdiction; no personal data)
 * <region>/store.db               the region's records (ciphertext only) and, in a home region, logs
 * <region>/keyring/keyring.db     the region's keyring, apart from the data
 * <region>/logs/<J>/              a jurisdiction's log keys, in its home region
 * control/control.db              access requests, grants, policy sets and approvals
 * ```
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Keyring } from '../crypto/keyring.js';
import { openLocalKeyring } from '../crypto/local-keyring.js';
import { loadMasterKey, type MasterKey } from '../crypto/master-key.js';
import { type Config, parseConfig, withRetiredHoldings } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId } from '../domain/ids.js';
import { jurisdictionsHeldBy } from '../domain/residency.js';
import { readPolicyDirectory, SHIPPED_POLICY_DIRECTORY } from '../policy/files.js';
import type { Authorizer } from '../services/access/authorizer.js';
import { CedarAuthorizer } from '../services/access/cedar-authorizer.js';
import { Lockbox } from '../services/access/lockbox.js';
import {
  type ActivePolicy,
  type PolicyFiles,
  PolicyGovernance,
} from '../services/access/policy-governance.js';
import { generateIssuerKey, ownIssuer, TokenVerifier, trustedIssuer } from '../services/access/tokens.js';
import { Router } from '../services/routing/router.js';
import { TransferGate } from '../services/transfer/gate.js';
import { RegionNode } from '../services/vault/region-node.js';
import { VaultService } from '../services/vault/vault.js';
import { CachedSubjectDirectory } from '../store/cached-directory.js';
import type { ControlStore } from '../store/control-store.js';
import type { RegionStore, SubjectDirectory } from '../store/region-store.js';
import { openSqliteControlStore } from '../store/sqlite/sqlite-control-store.js';
import { openSqliteDirectory } from '../store/sqlite/sqlite-directory.js';
import { readRetirements } from '../store/sqlite/sqlite-retirements.js';
import { openSqliteRegionStore, type SqliteRegionStore } from '../store/sqlite/sqlite-store.js';
import { registerAccessRoutes } from './access-routes.js';
import { buildApp } from './app.js';
import { type AuditFactory, type AuditLogs, ensureLogKeys, openTransparencyAuditLogs } from './audit-logs.js';
import { type ConsoleStatus, consoleStatus, registerConsole } from './console.js';
import { registerLogRoutes } from './log-routes.js';
import { createMetrics, type Metrics } from './metrics.js';
import { openTransferServices, type TransferServices } from './transfer-wiring.js';

/** Reads and validates a configuration file; `DOMICILE_ERR_CONFIG` when missing or invalid. */
export async function loadConfigFile(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `${file}: cannot read configuration file`, { cause });
  }
  return parseConfig(text, file);
}

/** Paths of a deployment's files. */
export function deploymentPaths(dataDir: string) {
  return {
    masterKey: join(dataDir, 'master.key'),
    issuerKey: join(dataDir, 'issuer', 'issuer.key'),
    issuerPub: join(dataDir, 'issuer', 'issuer.pub'),
    directory: join(dataDir, 'directory', 'directory.db'),
    control: join(dataDir, 'control', 'control.db'),
    store: (region: RegionId) => join(dataDir, region, 'store.db'),
    keyring: (region: RegionId) => join(dataDir, region, 'keyring', 'keyring.db'),
    logKeys: (region: RegionId, jurisdiction: JurisdictionId) => join(dataDir, region, 'logs', jurisdiction),
  };
}

/** What `initDeployment` did. */
export interface InitReport {
  readonly masterKey: MasterKey['source'] & { generated: boolean };
  readonly issuerCreated: boolean;
  readonly kekInstalled: { region: RegionId; jurisdiction: JurisdictionId }[];
  /**
   * Regions whose keyring lacks the KEK of a jurisdiction that other regions hold (a lost keyring
   * file, a new region): left without it, failing closed, until `domicile backup restore-keys`.
   */
  readonly kekMissing: { region: RegionId; jurisdiction: JurisdictionId }[];
  /** Each jurisdiction's log: origin and the verifier key an auditor needs. */
  readonly logs: { jurisdiction: JurisdictionId; origin: string; verifierKey: string; created: boolean }[];
}

/** The configuration with the region retirements recorded in the data folder's control file. */
export function withRetirements(config: Config, dataDir: string): Config {
  return withRetiredHoldings(config, readRetirements(deploymentPaths(dataDir).control));
}

/** Options shared by init and open. */
export interface DeploymentOptions {
  readonly config: Config;
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

async function openKeyrings(options: DeploymentOptions, masterKey: Buffer): Promise<Map<RegionId, Keyring>> {
  const paths = deploymentPaths(options.dataDir);
  const keyrings = new Map<RegionId, Keyring>();
  for (const region of options.config.regions.values()) {
    if (region.status === 'retired') continue;
    await mkdir(join(options.dataDir, region.id, 'keyring'), { recursive: true });
    keyrings.set(
      region.id,
      await openLocalKeyring({
        regionId: region.id,
        file: paths.keyring(region.id),
        masterKey,
        allowedJurisdictions: jurisdictionsHeldBy(options.config, region.id),
      }),
    );
  }
  return keyrings;
}

/**
 * Creates what a deployment needs and does not have yet: the master key, the issuer key, and one
 * KEK per jurisdiction installed in every region of that jurisdiction. Idempotent.
 */
export async function initDeployment(options: DeploymentOptions): Promise<InitReport> {
  const { dataDir } = options;
  const config = withRetirements(options.config, dataDir);
  const paths = deploymentPaths(dataDir);
  await mkdir(dataDir, { recursive: true });
  const master = await loadMasterKey({ env: options.env, file: paths.masterKey });
  let issuerCreated = false;
  if (!existsSync(paths.issuerPub)) {
    await mkdir(join(dataDir, 'issuer'), { recursive: true });
    const { privateKey, publicKey } = generateIssuerKey();
    await writeFile(paths.issuerKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await writeFile(paths.issuerPub, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
    issuerCreated = true;
  }
  const keyrings = await openKeyrings({ ...options, config }, master.key);
  const kekInstalled: InitReport['kekInstalled'] = [];
  const kekMissing: InitReport['kekMissing'] = [];
  try {
    for (const jurisdiction of config.jurisdictions.values()) {
      const holders = [...keyrings.entries()].filter(([region]) =>
        jurisdictionsHeldBy(config, region).includes(jurisdiction.id),
      );
      const missing: [RegionId, Keyring][] = [];
      for (const [region, keyring] of holders)
        if (!(await keyring.hasKek(jurisdiction.id))) missing.push([region, keyring]);
      if (missing.length === 0) continue;
      if (missing.length !== holders.length) {
        // never a new KEK next to the existing one: the region gets the jurisdiction's own keys
        // back from a key backup (`domicile backup restore-keys`); until then it fails closed
        for (const [region] of missing) kekMissing.push({ region, jurisdiction: jurisdiction.id });
        continue;
      }
      const kek = randomBytes(32);
      for (const [region, keyring] of missing) {
        await keyring.installKek(jurisdiction.id, kek);
        kekInstalled.push({ region, jurisdiction: jurisdiction.id });
      }
      kek.fill(0);
    }
  } finally {
    for (const keyring of keyrings.values()) await keyring.close();
  }
  const logs: InitReport['logs'] = [];
  for (const jurisdiction of config.jurisdictions.values()) {
    const { verifierKey, created } = await ensureLogKeys(dataDir, jurisdiction);
    logs.push({ jurisdiction: jurisdiction.id, origin: jurisdiction.logOrigin, verifierKey, created });
  }
  return {
    masterKey: { ...master.source, generated: master.generated },
    issuerCreated,
    kekInstalled,
    kekMissing,
    logs,
  };
}

/** Loads the issuer's private key (for `domicile token`). */
export function loadIssuerPrivateKey(dataDir: string): Promise<KeyObject> {
  return loadIssuerKey(deploymentPaths(dataDir).issuerKey, createPrivateKey);
}

/** Loads the issuer's public key (for verifying tokens). */
export function loadIssuerPublicKey(dataDir: string): Promise<KeyObject> {
  return loadIssuerKey(deploymentPaths(dataDir).issuerPub, createPublicKey);
}

async function loadIssuerKey(file: string, parse: (pem: string) => KeyObject): Promise<KeyObject> {
  try {
    return parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `${file}: no issuer key: run \`domicile init\``, {
      cause,
    });
  }
}

/**
 * The policy folder of a configuration: `access.policies` (relative to the configuration file),
 * else the shipped `policies/`.
 */
export function policyDirectoryOf(config: Config): string {
  const configured = config.access.policies;
  return configured === undefined ? SHIPPED_POLICY_DIRECTORY : resolve(dirname(config.file), configured);
}

/** Reads a policy folder; `DOMICILE_ERR_CONFIG` when it cannot be read. */
export async function readPolicyFolder(directory: string): Promise<PolicyFiles> {
  try {
    return await readPolicyDirectory(directory);
  } catch (cause) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `${directory}: cannot read the policy folder (schema.cedarschema and *.cedar)`,
      { cause },
    );
  }
}

/** The token verifier of a deployment: its own issuer (key from `domicile init`) and the configured ones. */
export async function openTokenVerifier(config: Config, dataDir: string): Promise<TokenVerifier> {
  return new TokenVerifier({
    issuers: [
      ownIssuer(await loadIssuerPublicKey(dataDir), config.auth.issuer, config.auth.audience),
      ...config.auth.issuers.map(trustedIssuer),
    ],
    cacheSize: config.auth.tokenCacheSize,
  });
}

/** `/readyz`: each region node `up` or `down`, asked in parallel. */
export async function regionHealth(
  nodes: ReadonlyMap<RegionId, { checkHealth(): Promise<void> }>,
): Promise<Record<string, 'up' | 'down'>> {
  const status: Record<string, 'up' | 'down'> = {};
  await Promise.all(
    [...nodes].map(async ([id, node]) => {
      try {
        await node.checkHealth();
        status[id] = 'up';
      } catch {
        status[id] = 'down';
      }
    }),
  );
  return status;
}

/** Options of `openEmbedded`. */
export interface EmbeddedOptions extends DeploymentOptions {
  /** How audit logs are opened; default: one transparency log per jurisdiction. */
  readonly audit?: AuditFactory;
  /** Replaces the default Cedar authorizer (tests, benchmarks). */
  readonly authorizer?: Authorizer;
  /** The policy folder used when the control store holds no active set; default: `policyDirectoryOf`. */
  readonly policyDirectory?: string;
  /** Clock of the lockbox and of policy decisions (epoch ms); tests move it. */
  readonly now?: () => number;
  readonly logger?: boolean | { level: string };
}

/** Everything `domicile up` runs in one process. */
export interface Embedded {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly nodes: ReadonlyMap<RegionId, RegionNode>;
  readonly stores: ReadonlyMap<RegionId, RegionStore>;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  readonly directory: SubjectDirectory;
  readonly metrics: Metrics;
  readonly audit: AuditLogs;
  readonly control: ControlStore;
  readonly lockbox: Lockbox;
  readonly governance: PolicyGovernance;
  /** The policy set in force (swapped on activation). */
  readonly policies: ActivePolicy;
  /** The transfer gate, backups, exports and relocation. */
  readonly transfers: TransferServices;
  /** The web console at `/console/`: whether its build was found, and where. */
  readonly console: ConsoleStatus;
  close(): Promise<void>;
}

/** Opens the gateway and every region node in one process, on the embedded SQLite stores. */
export async function openEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const { dataDir } = options;
  // regions wiped for a jurisdiction (`domicile wipe`) no longer hold or serve its data
  const config = withRetirements(options.config, dataDir);
  const paths = deploymentPaths(dataDir);
  await initDeployment(options);
  const master = await loadMasterKey({ env: options.env, file: paths.masterKey });
  const keyrings = await openKeyrings({ ...options, config }, master.key);
  const stores = new Map<RegionId, SqliteRegionStore>();
  for (const regionId of keyrings.keys()) {
    await mkdir(join(dataDir, regionId), { recursive: true });
    stores.set(regionId, openSqliteRegionStore({ regionId, file: paths.store(regionId) }));
  }
  await mkdir(join(dataDir, 'directory'), { recursive: true });
  // this process alone changes the directory of its data folder (erasures and relocations come
  // through its API), so lookups may be served from memory
  const directory = new CachedSubjectDirectory(openSqliteDirectory({ file: paths.directory }));
  const metrics = createMetrics();
  let app: FastifyInstance | undefined;
  const audit = await (options.audit ?? openTransparencyAuditLogs)({
    config,
    dataDir,
    stores,
    onError: (error) => app?.log.warn({ err: error }, 'audit log background work failed'),
  });
  await mkdir(join(dataDir, 'control'), { recursive: true });
  const control = openSqliteControlStore({ file: paths.control });
  const now = options.now ?? Date.now;
  const { active: policies, source: policySource } = await PolicyGovernance.openActive({
    config,
    store: control,
    folder: () => readPolicyFolder(options.policyDirectory ?? policyDirectoryOf(config)),
    now,
  });
  const lockbox = new Lockbox({ config, store: control, policies, audit: (j) => audit.sink(j), now });
  const governance = new PolicyGovernance({
    config,
    store: control,
    active: policies,
    audit: (j) => audit.sink(j),
    now,
  });
  const authorizer = options.authorizer ?? new CedarAuthorizer({ config, policies, grants: lockbox, now });
  const gate = new TransferGate({
    config,
    audit: (j) => audit.sink(j),
    onError: (error) => app?.log.warn({ err: error }, 'transfer summary failed'),
  });
  const nodes = new Map<RegionId, RegionNode>();
  for (const [regionId, store] of stores) {
    const keyring = keyrings.get(regionId);
    if (!keyring) continue;
    nodes.set(
      regionId,
      new RegionNode({
        config,
        regionId,
        store,
        keyring,
        authorizer,
        audit: (j) => audit.sink(j),
        peers: (id) => nodes.get(id),
        onReplicationFailure: (target) => metrics.replicationFailures.inc({ target }),
        gate,
      }),
    );
  }
  const router = new Router(config, nodes, (jurisdiction, region, home) => {
    metrics.routing.record(jurisdiction, region, home);
  });
  const transfers = await openTransferServices({
    config,
    dataDir,
    gate,
    stores,
    keyrings,
    nodes,
    directory,
    audit,
    onError: (error) => app?.log.warn({ err: error }, 'scheduled backup failed'),
  });
  const vault = new VaultService({
    config,
    directory,
    router,
    authorizer,
    audit: audit.sink,
    onErased: transfers.onErased,
  });
  // the configuration in force is itself on the record, in every jurisdiction's log
  for (const jurisdiction of config.jurisdictions.values()) {
    await audit.sink(jurisdiction.id).append({
      type: 'config.load',
      requestId: `start-${process.pid}`,
      principal: null,
      jurisdiction: jurisdiction.id,
      decision: 'info',
      reason: 'configuration loaded',
      policyHash: policies.current().policyHash,
      details: { configSha256: config.sha256, regions: [...config.regions.keys()], policySource },
    });
  }
  const verifier = await openTokenVerifier(config, dataDir);
  const consoleBuild = consoleStatus();
  app = await buildApp({
    config,
    vault,
    verifier,
    metrics,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    plugins: [
      (instance) => registerLogRoutes(instance, { config, logs: audit.logs, vault, verifier }),
      (instance) => registerAccessRoutes(instance, { lockbox, governance, verifier }),
      (instance) => transfers.register(instance, verifier),
      (instance) => registerConsole(instance, { directory: consoleBuild.directory }),
    ],
    ready: () => regionHealth(nodes),
  });
  lockbox.start((error) => app?.log.warn({ err: error }, 'lockbox sweep failed'));
  transfers.start();
  return {
    config,
    app,
    nodes,
    stores,
    keyrings,
    directory,
    metrics,
    audit,
    control,
    lockbox,
    governance,
    policies,
    transfers,
    console: consoleBuild,
    async close() {
      lockbox.stop();
      await app?.close();
      await transfers.close();
      await audit.close();
      await control.close();
      for (const store of stores.values()) await store.close();
      for (const keyring of keyrings.values()) await keyring.close();
      await directory.close();
    },
  };
}
