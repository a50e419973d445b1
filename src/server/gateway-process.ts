/**
 * A stateless gateway as its own process (`domicile gateway`): the public API (`/v1`) in front of
 * region nodes running as their own processes. It holds no data keys and stores nothing itself:
 * records go to region nodes over HTTPS with mutual TLS (`HttpsRegionClient`), audit events to
 * the jurisdiction's nodes (`RelayAuditSink`), and the subject directory and access-control
 * state are in the deployment's shared control store (`control-plane.ts`). Run as many as
 * needed behind a load balancer; any of them serves any request.
 *
 * What a gateway needs from the data folder: its client certificate (`pki/gateways/<name>.*`),
 * the CA certificate and the token issuer's public key. Never a master key or keyring.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId } from '../domain/ids.js';
import { servingRegions } from '../domain/residency.js';
import { PolicyGovernance } from '../services/access/policy-governance.js';
import type { AuditSink } from '../services/audit/audit-event.js';
import { RelayAuditSink } from '../services/audit/relay.js';
import type { HttpsRegionClient } from '../services/routing/https-region-client.js';
import { Router } from '../services/routing/router.js';
import { VaultService } from '../services/vault/vault.js';
import { registerAccessRoutes } from './access-routes.js';
import { buildApp } from './app.js';
import { registerConsole } from './console.js';
import {
  Closers,
  controlStoreSpec,
  listenOn,
  openAccessControl,
  openControlPlane,
  type ProcessOptions,
} from './control-plane.js';
import { openTokenVerifier, regionHealth, withRetirements } from './deployment.js';
import { registerLogProxy } from './log-proxy.js';
import { createMetrics, type Metrics } from './metrics.js';
import { loadGatewayTls } from './pki.js';
import { regionClients } from './region-process.js';

/** Options of `openGatewayProcess` (`listen` defaults to `server.host` and `server.port`). */
export interface GatewayProcessOptions extends ProcessOptions {
  /** The gateway's name: its certificate is `pki/gateways/<name>.pem`. */
  readonly name: string;
}

/** A running gateway. */
export interface GatewayProcess {
  readonly app: FastifyInstance;
  readonly metrics: Metrics;
  /** `http://host:port` it listens on. */
  readonly url: string;
  close(): Promise<void>;
}

/** Refuses a configuration in which a jurisdiction's home region has no endpoint to reach. */
function assertReachable(config: Config, clients: ReadonlyMap<RegionId, HttpsRegionClient>): void {
  for (const jurisdiction of config.jurisdictions.values()) {
    if (!clients.has(jurisdiction.home)) {
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `home region \`${jurisdiction.home}\` of \`${jurisdiction.id}\` has no \`endpoint\`: a gateway reaches region nodes there`,
      );
    }
  }
}

/**
 * Opens a gateway and starts listening.
 *
 * @example
 * const gateway = await openGatewayProcess({ config, dataDir: 'data', env: process.env,
 *   name: 'gateway-1', control: 'postgres://domicile@db-control/domicile' });
 */
export async function openGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const { dataDir } = options;
  const config = withRetirements(options.config, dataDir);
  const tls = await loadGatewayTls(dataDir, options.name);
  const clients = regionClients(config, tls);
  const closers = new Closers();
  closers.add(() => {
    for (const client of clients.values()) client.close();
  });
  let app: FastifyInstance | undefined;
  const warn = (message: string) => (error: unknown) => app?.log.warn({ err: error }, message);
  try {
    assertReachable(config, clients);
    const plane = await openControlPlane(controlStoreSpec(options.control, options.env), dataDir);
    closers.add(() => plane.close());
    const metrics = createMetrics();
    const router = new Router(config, clients, (jurisdiction, region, home) => {
      metrics.routing.record(jurisdiction, region, home);
    });
    // each jurisdiction's events go to its nodes in routing order (R2), never to a region abroad
    const sinks = new Map<JurisdictionId, AuditSink>();
    for (const jurisdiction of config.jurisdictions.keys()) {
      const targets = servingRegions(config, jurisdiction).flatMap((id) => clients.get(id) ?? []);
      sinks.set(jurisdiction, new RelayAuditSink(targets));
    }
    const audit = (jurisdiction: JurisdictionId): AuditSink => {
      const sink = sinks.get(jurisdiction);
      if (!sink) {
        throw new DomicileError('DOMICILE_ERR_AUDIT_UNAVAILABLE', `no audit log for \`${jurisdiction}\``);
      }
      return sink;
    };
    const { policies, lockbox, authorizer } = await openAccessControl({
      config,
      plane,
      audit,
      policyPollMs: options.policyPollMs,
      closers,
      onError: warn('policy refresh failed'),
    });
    const governance = new PolicyGovernance({ config, store: plane.control, active: policies, audit });
    const vault = new VaultService({ config, directory: plane.directory, router, authorizer, audit });
    const verifier = await openTokenVerifier(config, dataDir);
    app = await buildApp({
      config,
      vault,
      verifier,
      metrics,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      plugins: [
        (instance) => registerAccessRoutes(instance, { lockbox, governance, verifier }),
        (instance) => registerLogProxy(instance, { config, clients, vault, verifier, audit }),
        (instance) => registerConsole(instance),
      ],
      ready: () => regionHealth(clients),
    });
    const started = app;
    closers.add(() => started.close());
    lockbox.start(warn('lockbox sweep failed'));
    closers.add(() => lockbox.stop());
    const listen = options.listen ?? { host: config.server.host, port: config.server.port };
    const url = await listenOn(app, listen, 'http');
    return { app, metrics, url, close: () => closers.closeAll() };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
