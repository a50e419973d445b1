/**
 * Mutual TLS between gateways and region nodes: a real region node (`RegionNode` on SQLite) behind
 * its internal HTTPS app on loopback, called through `HttpsRegionClient`. Every way of presenting
 * the wrong certificate is refused with a clear error; the right one gives exactly what calling
 * the node in process gives.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import {
  createServer as createHttpsServer,
  type Server as HttpsServer,
  request as httpsRequest,
} from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../src/crypto/x509.js';
import { isDomicileError } from '../src/domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../src/domain/ids.js';
import {
  type CertifiedKey,
  createDeploymentCa,
  type DeploymentCa,
  issueGatewayCertificate,
  issueRegionCertificate,
  type TlsMaterial,
} from '../src/server/pki.js';
import { buildRegionApp, type RegionApp } from '../src/server/region-app.js';
import type { Principal } from '../src/services/access/principal.js';
import { HttpsRegionClient } from '../src/services/routing/https-region-client.js';
import { encodeContext, REGION_API } from '../src/services/routing/region-wire.js';
import { Router } from '../src/services/routing/router.js';
import type { RecordRef, RegionClient, RequestContext } from '../src/services/vault/region-node.js';
import { logEntries, openTestDeployment, type TestDeployment } from './support/deployment.js';
import { sgOfficer, steward, usApp } from './support/principals.js';

const logEntriesOf = async (jurisdiction: JurisdictionId) => {
  await d.audit.logs.get(jurisdiction)?.log.flush();
  return logEntries(d, jurisdiction);
};

const ASHBURN = 'oci-us-ashburn' as RegionId;
const PHOENIX = 'oci-us-phoenix' as RegionId;
const SINGAPORE = 'sg-singapore' as RegionId;
const US = 'US' as JurisdictionId;
const PROTECTED = 'protected' as ClassId;
const INTEROPERABLE = 'interoperable' as ClassId;
const DAY = 86_400_000;

const ctx = (principal: Principal = steward): RequestContext => ({
  requestId: `req-${randomBytes(4).toString('hex')}`,
  principal,
});
const ref = (subject: string, key = 'name'): RecordRef => ({
  subjectId: subject as SubjectId,
  jurisdiction: US,
  key: key as RecordKey,
});

let d: TestDeployment;
let ca: DeploymentCa;
const pairs = {} as Record<
  | 'ashburn'
  | 'phoenix'
  | 'singapore'
  | 'gateway'
  | 'expiredGateway'
  | 'expiredAshburn'
  | 'foreignGateway'
  | 'foreignAshburn'
  | 'phoenixInSingapore'
  | 'anonymous',
  CertifiedKey
>;
const apps: RegionApp[] = [];
const clients: HttpsRegionClient[] = [];
const urls: Record<string, string> = {};
let silent: TlsServer;
const silentSockets = new Set<TLSSocket>();
let scripted: HttpsServer;
/** What the scripted node answers every request with. */
const script = {
  status: 400,
  code: 'DOMICILE_ERR_BAD_REQUEST',
  message: 'invalid request: `context` is not base64',
};

async function startRegion(name: string, regionId: RegionId, cert: CertifiedKey): Promise<void> {
  const app = await buildRegionApp({
    node: d.node(regionId),
    regionId,
    config: d.config,
    tls: { ca: ca.cert, ...cert },
    audit: (jurisdiction) => d.audit.sink(jurisdiction),
    logger: false,
  });
  apps.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  urls[name] = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

function client(
  regionId: RegionId,
  url: string,
  own: CertifiedKey,
  trust = ca.cert,
  timeoutMs?: number,
  country?: string,
) {
  const c = new HttpsRegionClient({
    regionId,
    url,
    tls: { ca: trust, ...own },
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(country === undefined ? {} : { country }),
  });
  clients.push(c);
  return c;
}

/** A certificate of the deployment CA that names no gateway or region (a stray client cert). */
async function issueAnonymous(authority: DeploymentCa): Promise<CertifiedKey> {
  const caCert = new x509.X509Certificate(authority.cert);
  const der = x509.PemConverter.decode(authority.key)[0];
  if (!der) throw new Error('no CA key');
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const caKey = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    subject: 'CN=someone',
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/someone' }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/** A raw HTTPS request, bypassing `HttpsRegionClient` (to send what it never would). */
function rawRequest(
  url: string,
  path: string,
  options: { tls?: Partial<TlsMaterial> | undefined; body?: unknown; method?: string },
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(
      new URL(path, url),
      {
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        agent: false,
        ca: ca.cert,
        ...options.tls,
        checkServerIdentity: () => undefined,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The code and message of a rejection (`DomicileError`s), or the error itself. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (isDomicileError(error)) return { code: error.code, message: error.message };
  throw new Error(`expected a DomicileError, got ${String(error)}`);
}

beforeAll(async () => {
  d = await openTestDeployment();
  ca = await createDeploymentCa({ name: 'domicile mtls test', validityDays: 30 });
  const other = await createDeploymentCa({ name: 'another deployment', validityDays: 30 });
  const longAgo = new Date(Date.now() - 10 * DAY);
  pairs.ashburn = await issueRegionCertificate(ca, ASHBURN, { validityDays: 10 });
  pairs.phoenix = await issueRegionCertificate(ca, PHOENIX, { validityDays: 10 });
  pairs.singapore = await issueRegionCertificate(ca, SINGAPORE, { validityDays: 10 });
  pairs.gateway = await issueGatewayCertificate(ca, 'gateway-1', { validityDays: 10 });
  pairs.expiredGateway = await issueGatewayCertificate(ca, 'gateway-old', {
    notBefore: longAgo,
    validityDays: 1,
  });
  pairs.expiredAshburn = await issueRegionCertificate(ca, ASHBURN, { notBefore: longAgo, validityDays: 1 });
  pairs.foreignGateway = await issueGatewayCertificate(other, 'gateway-1', { validityDays: 10 });
  pairs.foreignAshburn = await issueRegionCertificate(other, ASHBURN, { validityDays: 10 });
  pairs.anonymous = await issueAnonymous(ca);
  pairs.phoenixInSingapore = await issueRegionCertificate(ca, PHOENIX, { validityDays: 10, country: 'SG' });
  await startRegion('ashburn', ASHBURN, pairs.ashburn);
  await startRegion('phoenix', PHOENIX, pairs.phoenix);
  await startRegion('singapore', SINGAPORE, pairs.singapore);
  await startRegion('expiredAshburn', ASHBURN, pairs.expiredAshburn);
  await startRegion('foreignAshburn', ASHBURN, pairs.foreignAshburn);
  await startRegion('phoenixInSingapore', PHOENIX, pairs.phoenixInSingapore);
  // completes the handshake as Ashburn, then never answers
  silent = createTlsServer(
    { ca: ca.cert, ...pairs.ashburn, requestCert: true, minVersion: 'TLSv1.3' },
    (socket) => {
      silentSockets.add(socket);
      socket.resume(); // reads (and ignores) the request, so it sees the client go away
    },
  );
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  urls.silent = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  // completes the handshake as Ashburn, then answers every request with `script`
  scripted = createHttpsServer(
    { ca: ca.cert, ...pairs.ashburn, requestCert: true, minVersion: 'TLSv1.3' },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(script.status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ error: { code: script.code, message: script.message } }));
      });
    },
  );
  await new Promise<void>((resolve) => scripted.listen(0, '127.0.0.1', resolve));
  urls.scripted = `https://127.0.0.1:${(scripted.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const app of apps) await app.close();
  for (const socket of silentSockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
  scripted.closeAllConnections();
  await new Promise((resolve) => scripted.close(resolve));
  await d.cleanup();
});

describe('a region node behind mutual TLS', () => {
  describe('called by a gateway of the deployment', () => {
    it('round-trips put, get, list and delete with the results of the node in process', async () => {
      const gw = client(ASHBURN, urls.ashburn ?? '', pairs.gateway);
      const node = d.node(ASHBURN);
      const value = {
        name: 'Ada Lovelace',
        born: 1815,
        tags: ['math', 'ünïcode ✓'],
        nested: { ok: true, none: null },
      };
      const meta = await gw.putRecord(ctx(), ref('mtls-u1'), PROTECTED, value);
      expect(meta).toEqual({
        subjectId: 'mtls-u1',
        key: 'name',
        class: 'protected',
        version: 1,
        region: ASHBURN,
      });
      const viaTls = await gw.getRecord(ctx(), ref('mtls-u1'));
      expect(viaTls).toEqual(await node.getRecord(ctx(), ref('mtls-u1')));
      expect(viaTls.value).toEqual(value);
      expect(await node.putRecord(ctx(), ref('mtls-u1', 'email'), PROTECTED, 'ada@example.org')).toEqual(
        await gw.getRecord(ctx(), ref('mtls-u1', 'email')).then(({ value: _v, ...m }) => m),
      );
      const listed = await gw.listRecords(ctx(), ref('mtls-u1'));
      expect(listed.map((r) => r.key)).toEqual(['email', 'name']);
      expect(listed).toEqual(await node.listRecords(ctx(), ref('mtls-u1')));
      await gw.deleteRecord(ctx(), ref('mtls-u1', 'email'));
      const direct = await failure(node.getRecord(ctx(), ref('mtls-u1', 'email')));
      expect(direct.code).toBe('DOMICILE_ERR_RECORD_NOT_FOUND');
      expect(await failure(gw.getRecord(ctx(), ref('mtls-u1', 'email')))).toEqual(direct);
      expect(await failure(gw.deleteRecord(ctx(), ref('mtls-u1', 'email')))).toEqual(direct);
    });

    it('erases a subject everywhere (the node purges its peers)', async () => {
      const gw = client(ASHBURN, urls.ashburn ?? '', pairs.gateway);
      await gw.putRecord(ctx(), ref('mtls-u2', 'a'), PROTECTED, 1);
      await gw.putRecord(ctx(), ref('mtls-u2', 'b'), PROTECTED, 2);
      expect(await d.node(PHOENIX).listRecords(ctx(), ref('mtls-u2'))).toHaveLength(2);
      expect(await gw.eraseSubject(ctx(), ref('mtls-u2'))).toEqual({ records: 2 });
      expect(await d.node(ASHBURN).listRecords(ctx(), ref('mtls-u2'))).toEqual([]);
      expect(await d.node(PHOENIX).listRecords(ctx(), ref('mtls-u2'))).toEqual([]);
    });

    it('passes a policy denial through with its code, message and policy hash', async () => {
      const gw = client(ASHBURN, urls.ashburn ?? '', pairs.gateway);
      await gw.putRecord(ctx(), ref('mtls-u3'), PROTECTED, 'x');
      const direct = await d
        .node(ASHBURN)
        .getRecord(ctx(sgOfficer), ref('mtls-u3'))
        .catch((e: unknown) => e);
      const viaTls = await gw.getRecord(ctx(sgOfficer), ref('mtls-u3')).catch((e: unknown) => e);
      expect(isDomicileError(viaTls, 'DOMICILE_ERR_FORBIDDEN')).toBe(true);
      expect(isDomicileError(direct, 'DOMICILE_ERR_FORBIDDEN')).toBe(true);
      if (!isDomicileError(viaTls) || !isDomicileError(direct)) return;
      expect(viaTls.message).toBe(direct.message);
      expect(viaTls.statusCode).toBe(403);
      expect(viaTls.details).toEqual(direct.details);
      expect(viaTls.details?.policyHash).toEqual(expect.any(String));
    });

    it('passes a residency refusal of a foreign region through with its code', async () => {
      const gw = client(SINGAPORE, urls.singapore ?? '', pairs.gateway);
      const direct = await failure(d.node(SINGAPORE).putRecord(ctx(), ref('mtls-u4'), PROTECTED, 'x'));
      expect(direct.code).toBe('DOMICILE_ERR_RESIDENCY');
      expect(await failure(gw.putRecord(ctx(), ref('mtls-u4'), PROTECTED, 'x'))).toEqual(direct);
      expect(
        await d.stores.get(SINGAPORE)?.getRecord('mtls-u4' as SubjectId, 'name' as RecordKey),
      ).toBeUndefined();
    });

    it('answers health checks, and passes a stopped node on as unavailable', async () => {
      const gw = client(ASHBURN, urls.ashburn ?? '', pairs.gateway);
      await expect(gw.checkHealth()).resolves.toBeUndefined();
      d.node(ASHBURN).stop();
      try {
        expect((await failure(gw.checkHealth())).code).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
      } finally {
        d.node(ASHBURN).restart();
      }
    });

    it('may not send replicas or purges (region-only operations)', async () => {
      const gw = client(PHOENIX, urls.phoenix ?? '', pairs.gateway);
      const refused = await failure(gw.purgeSubject(ref('mtls-u1')));
      expect(refused.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
      expect(refused.message).toContain('`gateway:gateway-1` may not call this operation');
      const raw = await rawRequest(urls.phoenix ?? '', REGION_API.purgeSubject, {
        tls: pairs.gateway,
        body: { ref: { subjectId: 'mtls-u1', jurisdiction: 'US' } },
      });
      expect(raw.status).toBe(403);
      expect(raw.body).toMatchObject({ error: { code: 'DOMICILE_ERR_PEER_FORBIDDEN' } });
      expect(await d.node(ASHBURN).listRecords(ctx(), ref('mtls-u1'))).toHaveLength(1);
    });
  });

  describe('called by another region (replication and erasure)', () => {
    it('accepts a sealed replica and opens it with the same value', async () => {
      const node = d.node(ASHBURN);
      await node.putRecord(ctx(), ref('mtls-r1'), PROTECTED, { v: 42 });
      // Phoenix loses its copy (the replication of the write above), keeping the subject's key
      await d.stores
        .get(PHOENIX)
        ?.deleteRecord('mtls-r1' as SubjectId, 'name' as RecordKey, 'US' as JurisdictionId);
      expect((await failure(d.node(PHOENIX).getRecord(ctx(), ref('mtls-r1')))).code).toBe(
        'DOMICILE_ERR_RECORD_NOT_FOUND',
      );
      const record = await d.stores.get(ASHBURN)?.getRecord('mtls-r1' as SubjectId, 'name' as RecordKey);
      const wrappedKey = await d.keyrings.get(ASHBURN)?.exportSubjectKey(US, 'mtls-r1' as SubjectId);
      if (!record || !wrappedKey) throw new Error('no record at ashburn');
      const fromAshburn = client(PHOENIX, urls.phoenix ?? '', pairs.ashburn);
      await fromAshburn.receiveReplica({ kind: 'sealed', record, wrappedKey });
      const atPhoenix = await d.node(PHOENIX).getRecord(ctx(), ref('mtls-r1'));
      expect(atPhoenix.value).toEqual({ v: 42 });
      expect(atPhoenix.version).toBe(1);
      expect(await fromAshburn.recordVersion(ref('mtls-r1'))).toBe(1);
      expect(await fromAshburn.recordVersion(ref('mtls-r1', 'nothing'))).toBeUndefined();
      expect(await fromAshburn.purgeSubject(ref('mtls-r1'))).toBe(1);
      await fromAshburn.receiveReplica({ kind: 'delete', ref: ref('mtls-r1') });
    });

    it('accepts an open replica of a global class abroad, and refuses a sealed personal one', async () => {
      const fromAshburn = client(SINGAPORE, urls.singapore ?? '', pairs.ashburn);
      await fromAshburn.receiveReplica({
        kind: 'open',
        ref: ref('mtls-r2', 'title'),
        classId: INTEROPERABLE,
        version: 3,
        value: new Uint8Array(Buffer.from(JSON.stringify('public title'))),
        updatedAt: Date.now(),
      });
      const stored = await d.stores.get(SINGAPORE)?.getRecord('mtls-r2' as SubjectId, 'title' as RecordKey);
      expect(stored?.version).toBe(3);
      expect(stored?.classId).toBe('interoperable');

      await d.node(ASHBURN).putRecord(ctx(), ref('mtls-r3'), PROTECTED, 'personal');
      const record = await d.stores.get(ASHBURN)?.getRecord('mtls-r3' as SubjectId, 'name' as RecordKey);
      const wrappedKey = await d.keyrings.get(ASHBURN)?.exportSubjectKey(US, 'mtls-r3' as SubjectId);
      if (!record || !wrappedKey) throw new Error('no record at ashburn');
      const replica = { kind: 'sealed', record, wrappedKey } as const;
      const direct = await failure(d.node(SINGAPORE).receiveReplica(replica));
      expect(direct.code).toBe('DOMICILE_ERR_RESIDENCY');
      expect(await failure(fromAshburn.receiveReplica(replica))).toEqual(direct);
    });

    it('reads a US record put by a US app from the open replica in Singapore', async () => {
      // interoperable data written by an app in Ashburn is replicated in process to Singapore
      const gw = client(ASHBURN, urls.ashburn ?? '', pairs.gateway);
      await gw.putRecord(ctx(usApp), ref('mtls-r4', 'title'), INTEROPERABLE, 'a public title');
      const stored = await d.stores.get(SINGAPORE)?.getRecord('mtls-r4' as SubjectId, 'title' as RecordKey);
      expect(stored?.version).toBe(1);
    });

    describe('when the sending region may not hold the jurisdiction', () => {
      it('refuses its replicas and purges', async () => {
        await d.node(ASHBURN).putRecord(ctx(), ref('mtls-r5'), PROTECTED, 'keep me');
        const fromSingapore = client(PHOENIX, urls.phoenix ?? '', pairs.singapore);
        const purge = await failure(fromSingapore.purgeSubject(ref('mtls-r5')));
        expect(purge.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
        expect(purge.message).toContain('region `sg-singapore` may not send data of jurisdiction `US`');
        const deletion = await failure(fromSingapore.receiveReplica({ kind: 'delete', ref: ref('mtls-r5') }));
        expect(deletion.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
        expect((await d.node(PHOENIX).getRecord(ctx(), ref('mtls-r5'))).value).toBe('keep me');
      });
    });

    it('may not call the record operations of gateways', async () => {
      const fromPhoenix = client(ASHBURN, urls.ashburn ?? '', pairs.phoenix);
      const refused = await failure(fromPhoenix.getRecord(ctx(), ref('mtls-u1')));
      expect(refused.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
      expect(refused.message).toContain('`region:oci-us-phoenix` may not call this operation');
    });
  });

  describe('audit events sent to a node', () => {
    const event = (jurisdiction: string, requestId: string) => ({
      type: 'subject.register',
      requestId,
      principal: {
        id: 'steward-1',
        type: 'employee' as const,
        department: 'us-data-security',
        country: 'US',
      },
      jurisdiction: jurisdiction as JurisdictionId,
      subjectId: 'mtls-audit' as SubjectId,
      decision: 'allow' as const,
      reason: 'test',
    });

    it('are appended durably to the home region’s log, with the time they happened', async () => {
      const gw = client(ASHBURN, urls.ashburn ?? '', pairs.gateway);
      await gw.appendAudit({ ...event('US', 'audit-from-gateway'), at: '2026-01-02T03:04:05.678Z' });
      const storage = d.audit.logs.get(US);
      const size = await storage?.log.size();
      expect(size).toBeGreaterThan(0);
      const entries = (await logEntriesOf(US)).filter((e) => e.requestId === 'audit-from-gateway');
      expect(entries).toHaveLength(1);
      expect(entries[0]?.time).toBe('2026-01-02T03:04:05.678Z');
      // pseudonymised at the home region like any other entry
      expect(JSON.stringify(entries[0])).not.toContain('mtls-audit');
    });

    it('of a jurisdiction a node may not hold are refused (residency), and so are regions abroad', async () => {
      const gw = client(SINGAPORE, urls.singapore ?? '', pairs.gateway);
      expect((await failure(gw.appendAudit(event('US', 'audit-abroad')))).code).toBe(
        'DOMICILE_ERR_RESIDENCY',
      );
      const sgRegion = client(ASHBURN, urls.ashburn ?? '', pairs.singapore);
      const fromSingapore = await failure(sgRegion.appendAudit(event('US', 'audit-from-sg')));
      expect(fromSingapore.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
      expect(fromSingapore.message).toContain('region `sg-singapore` may not send data of jurisdiction `US`');
      const found = (await logEntriesOf(US)).filter((e) => String(e.requestId).startsWith('audit-from-sg'));
      expect(found).toEqual([]);
    });

    it('that are malformed are refused with 400 and not appended', async () => {
      const answer = await rawRequest(urls.ashburn ?? '', REGION_API.appendAudit, {
        tls: pairs.gateway,
        body: { event: { ...event('US', 'audit-bad'), decision: 'maybe' } },
      });
      expect(answer.status).toBe(400);
      const at = await rawRequest(urls.ashburn ?? '', REGION_API.appendAudit, {
        tls: pairs.gateway,
        body: { event: { ...event('US', 'audit-bad'), at: 'yesterday' } },
      });
      expect(at.status).toBe(400);
      expect((await logEntriesOf(US)).filter((e) => e.requestId === 'audit-bad')).toEqual([]);
    });
  });

  describe('the principal in the body', () => {
    const body = (principal: unknown) => ({
      context: { requestId: 'req-1', principal },
      ref: { subjectId: 'mtls-u1', jurisdiction: 'US', key: 'name' },
    });
    const hostile: [string, unknown][] = [
      ['an extra attribute', { ...steward, department: 'us-data-security', admin: true }],
      ['a role with markup', { ...steward, roles: ['<admin>'] }],
      ['a country that is not a code', { ...steward, country: 'United States' }],
      ['a string for mfa', { ...steward, mfa: 'true' }],
      ['an unknown principal type', { ...steward, type: 'root' }],
      ['an id with a newline', { ...steward, id: 'steward-1\n' }],
      ['no principal at all', undefined],
    ];
    for (const [what, principal] of hostile) {
      it(`refuses ${what} with 400`, async () => {
        const res = await rawRequest(urls.ashburn ?? '', REGION_API.getRecord, {
          tls: pairs.gateway,
          body: body(principal),
        });
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ error: { code: 'DOMICILE_ERR_BAD_REQUEST' } });
      });
    }

    it('accepts the principal a gateway sends', async () => {
      const res = await rawRequest(urls.ashburn ?? '', REGION_API.getRecord, {
        tls: pairs.gateway,
        body: body(encodeContext({ requestId: 'req-1', principal: steward }).principal),
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ key: 'name', region: ASHBURN });
    });
  });

  describe('refuses', () => {
    it('a client certificate from another deployment’s CA, at the handshake', async () => {
      const error = await rawRequest(urls.ashburn ?? '', REGION_API.putRecord, {
        tls: pairs.foreignGateway,
        body: {
          context: { requestId: 'req-x1', principal: { ...steward, department: 'us-data-security' } },
          ref: { subjectId: 'mtls-x1', jurisdiction: 'US', key: 'name' },
          classId: 'protected',
          value: 'x',
        },
      }).catch((e: unknown) => e);
      // Node ends the connection without an HTTP answer (and without a TLS alert)
      expect((error as { code?: string }).code).toBe('ECONNRESET');
      expect(
        await d.stores.get(ASHBURN)?.getRecord('mtls-x1' as SubjectId, 'name' as RecordKey),
      ).toBeUndefined();
      // and a client so configured says why before it connects
      const configured = (() => {
        try {
          return client(ASHBURN, urls.ashburn ?? '', pairs.foreignGateway);
        } catch (e) {
          return e;
        }
      })();
      expect(isDomicileError(configured, 'DOMICILE_ERR_CONFIG')).toBe(true);
      expect((configured as Error).message).toContain('not issued by the deployment CA');
    });

    it('a connection without a client certificate, at the handshake', async () => {
      const error = await rawRequest(urls.ashburn ?? '', REGION_API.health, {}).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toMatch(
        /ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET/,
      );
    });

    it('plain HTTP to the region port, with no HTTP answer at all', async () => {
      const port = new URL(urls.ashburn ?? '').port;
      const error = await new Promise<unknown>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: REGION_API.health }, (res) =>
          resolve(new Error(`answered ${res.statusCode}`)),
        );
        req.on('error', resolve);
        req.end();
      });
      expect((error as { code?: string }).code).toBe('ECONNRESET');
      const plain = (() => {
        try {
          return new HttpsRegionClient({
            regionId: ASHBURN,
            url: `http://127.0.0.1:${port}`,
            tls: { ca: ca.cert, ...pairs.gateway },
          });
        } catch (e) {
          return e;
        }
      })();
      expect(isDomicileError(plain, 'DOMICILE_ERR_CONFIG')).toBe(true);
    });

    it('an expired client certificate, at the handshake', async () => {
      const error = await rawRequest(urls.ashburn ?? '', REGION_API.health, {
        tls: pairs.expiredGateway,
      }).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('ECONNRESET');
      const expired = client(ASHBURN, urls.ashburn ?? '', pairs.expiredGateway);
      const refused = await failure(expired.checkHealth());
      expect(refused.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
      expect(refused.message).toMatch(/this client's certificate is valid only from .* to .*: renew it/);
    });

    it('a certificate of the deployment that names no gateway or region, with 403', async () => {
      const res = await rawRequest(urls.ashburn ?? '', REGION_API.health, { tls: pairs.anonymous });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: { code: 'DOMICILE_ERR_PEER_FORBIDDEN' } });
      const unknownRoute = await rawRequest(urls.ashburn ?? '', '/internal/v1/nothing', {
        tls: pairs.anonymous,
      });
      expect(unknownRoute.status).toBe(403);
    });

    it('a region certificate naming the wrong region (expects Ashburn, meets Phoenix)', async () => {
      const misdirected = client(ASHBURN, urls.phoenix ?? '', pairs.gateway);
      const refused = await failure(misdirected.putRecord(ctx(), ref('mtls-x2'), PROTECTED, 'x'));
      expect(refused).toEqual({
        code: 'DOMICILE_ERR_PEER_IDENTITY',
        message: expect.stringContaining(
          'server certificate refused: certificate names `region:oci-us-phoenix`, expected region `oci-us-ashburn`',
        ),
      });
      expect(
        await d.stores.get(PHOENIX)?.getRecord('mtls-x2' as SubjectId, 'name' as RecordKey),
      ).toBeUndefined();
    });

    it('a region node of another country than the gateway’s configuration says', async () => {
      // the configuration puts Phoenix in the US; the node's certificate says Singapore
      const gw = client(PHOENIX, urls.phoenixInSingapore ?? '', pairs.gateway, ca.cert, undefined, 'US');
      const refused = await failure(gw.putRecord(ctx(), ref('mtls-country'), PROTECTED, 'x'));
      expect(refused).toEqual({
        code: 'DOMICILE_ERR_PEER_IDENTITY',
        message: expect.stringContaining(
          'certificate of region `oci-us-phoenix` names country `SG`, the configuration puts it in `US`',
        ),
      });
      expect(
        await d.stores.get(PHOENIX)?.getRecord('mtls-country' as SubjectId, 'name' as RecordKey),
      ).toBeUndefined();
      // a certificate without a country is refused too when the configuration names one
      const unnamed = client(PHOENIX, urls.phoenix ?? '', pairs.gateway, ca.cert, undefined, 'US');
      expect((await failure(unnamed.checkHealth())).code).toBe('DOMICILE_ERR_PEER_IDENTITY');
    });

    it('an expired server certificate', async () => {
      const gw = client(ASHBURN, urls.expiredAshburn ?? '', pairs.gateway);
      const refused = await failure(gw.checkHealth());
      expect(refused.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
      expect(refused.message).toContain('server certificate refused: CERT_HAS_EXPIRED');
    });

    it('a server certificate of another deployment’s CA naming the right region', async () => {
      const gw = client(ASHBURN, urls.foreignAshburn ?? '', pairs.gateway);
      const refused = await failure(gw.checkHealth());
      expect(refused.code).toBe('DOMICILE_ERR_PEER_IDENTITY');
      expect(refused.message).toContain('server certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });

    it('to build a region app whose certificate names another region', async () => {
      const error = await buildRegionApp({
        node: d.node(ASHBURN),
        regionId: ASHBURN,
        config: d.config,
        tls: { ca: ca.cert, ...pairs.phoenix },
        logger: false,
      }).catch((e: unknown) => e);
      expect(isDomicileError(error, 'DOMICILE_ERR_CONFIG')).toBe(true);
    });
  });

  describe('when a region node refuses the form of a request (a node of another version)', () => {
    const answering = (status: number, code: string, message: string) => {
      Object.assign(script, { status, code, message });
      return client(ASHBURN, urls.scripted ?? '', pairs.gateway);
    };

    it.each([
      [400, 'DOMICILE_ERR_BAD_REQUEST', 'invalid request: `context` is not base64'],
      [404, 'DOMICILE_ERR_NOT_FOUND', 'no such route'],
      [415, 'DOMICILE_ERR_UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json'],
      [417, 'DOMICILE_ERR_EXPECTATION_FAILED', 'unsupported Expect header'],
      [431, 'DOMICILE_ERR_HEADERS_TOO_LARGE', 'request headers exceed the limit'],
    ])(
      'answers %i %s to the caller as the deployment’s fault, not the caller’s',
      async (status, code, message) => {
        const refused = await failure(answering(status, code, message).getRecord(ctx(), ref('mtls-r1')));
        expect(refused).toEqual({
          code: 'DOMICILE_ERR_REGION_REFUSED',
          message: `region \`${ASHBURN}\` refused the request as malformed (${code})`,
        });
      },
    );

    it('takes a node that timed out receiving the request as unavailable: the router fails over', async () => {
      const slow = answering(408, 'DOMICILE_ERR_REQUEST_TIMEOUT', 'request not received in time');
      expect((await failure(slow.getRecord(ctx(), ref('mtls-r2')))).code).toBe(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
      );
      await d.node(ASHBURN).putRecord(ctx(), ref('mtls-r2'), PROTECTED, 'replicated');
      const router = new Router(
        d.config,
        new Map<RegionId, RegionClient>([
          [ASHBURN, slow],
          [PHOENIX, client(PHOENIX, urls.phoenix ?? '', pairs.gateway)],
        ]),
      );
      const served = await router.serve(US, (c) => c.getRecord(ctx(), ref('mtls-r2')));
      expect(served.region).toBe(PHOENIX);
    });

    it('passes on what is about the caller’s request: its size, and the node’s decisions', async () => {
      const tooLarge = answering(
        413,
        'DOMICILE_ERR_PAYLOAD_TOO_LARGE',
        'request body exceeds the configured limit',
      );
      expect(await failure(tooLarge.getRecord(ctx(), ref('mtls-r3')))).toEqual({
        code: 'DOMICILE_ERR_PAYLOAD_TOO_LARGE',
        message: 'request body exceeds the configured limit',
      });
      const missing = answering(404, 'DOMICILE_ERR_RECORD_NOT_FOUND', 'no such record');
      expect((await failure(missing.getRecord(ctx(), ref('mtls-r3')))).code).toBe(
        'DOMICILE_ERR_RECORD_NOT_FOUND',
      );
    });
  });

  describe('when a region node cannot be reached', () => {
    it('is unavailable when nothing listens, and the router fails over in the jurisdiction', async () => {
      const closed = client(ASHBURN, 'https://127.0.0.1:1', pairs.gateway);
      expect((await failure(closed.checkHealth())).code).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
      const clientsByRegion = new Map<RegionId, RegionClient>([
        [ASHBURN, closed],
        [PHOENIX, client(PHOENIX, urls.phoenix ?? '', pairs.gateway)],
        [SINGAPORE, client(SINGAPORE, urls.singapore ?? '', pairs.gateway)],
      ]);
      await d.node(ASHBURN).putRecord(ctx(), ref('mtls-f1'), PROTECTED, 'replicated');
      const router = new Router(d.config, clientsByRegion);
      const served = await router.serve(US, (c) => c.getRecord(ctx(), ref('mtls-f1')));
      expect(served.region).toBe(PHOENIX);
      expect(served.result.value).toBe('replicated');
    });

    it('is unavailable when it does not answer in time', async () => {
      const slow = client(ASHBURN, urls.silent ?? '', pairs.gateway, ca.cert, 300);
      const started = Date.now();
      const refused = await failure(slow.checkHealth());
      expect(refused.code).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
      expect(refused.message).toContain('no answer within 300 ms');
      expect(Date.now() - started).toBeLessThan(3000);
    });
  });
});
