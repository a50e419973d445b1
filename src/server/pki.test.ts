import { X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describePeerIdentity } from '../crypto/peer-identity.js';
import { x509 } from '../crypto/x509.js';
import { isDomicileError } from '../domain/errors.js';
import type { RegionId } from '../domain/ids.js';
import {
  type CertifiedKey,
  createDeploymentCa,
  type DeploymentCa,
  ensurePki,
  gatewayNameOfCertificate,
  issueGatewayCertificate,
  issueRegionCertificate,
  loadGatewayTls,
  loadPki,
  loadRegionTls,
  peerIdentityOf,
  pkiPaths,
  regionIdOfCertificate,
  writePki,
} from './pki.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ashburnId = 'oci-us-ashburn' as RegionId;

let ca: DeploymentCa;
let ashburn: CertifiedKey;
let gateway: CertifiedKey;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'domicile-pki-'));
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  ca = await createDeploymentCa({ name: 'domicile test', validityDays: 30 });
  ashburn = await issueRegionCertificate(ca, ashburnId, { validityDays: 10 });
  gateway = await issueGatewayCertificate(ca, 'gateway-1', { validityDays: 10 });
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDomicileError(error) ? error.code : error).toBe(code);
}

describe('createDeploymentCa', () => {
  it('creates a self-signed P-256 CA that may sign only end certificates', () => {
    const cert = new NodeX509Certificate(ca.cert);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=domicile test');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const parsed = new x509.X509Certificate(ca.cert);
    const constraints = parsed.getExtension(x509.BasicConstraintsExtension);
    expect(constraints?.pathLength).toBe(0);
    expect(constraints?.critical).toBe(true);
  });
});

describe('issueRegionCertificate', () => {
  it('names the region in the SAN as a URI and a DNS name', () => {
    const cert = new NodeX509Certificate(ashburn.cert);
    expect(cert.subjectAltName?.split(', ').sort()).toEqual([
      'DNS:oci-us-ashburn.region.domicile.internal',
      'URI:domicile:region:oci-us-ashburn',
    ]);
    expect(regionIdOfCertificate(cert)).toBe('oci-us-ashburn');
    expect(gatewayNameOfCertificate(cert)).toBeUndefined();
  });

  it('is signed by the CA, is no CA itself, and serves and calls (serverAuth and clientAuth)', () => {
    const cert = new NodeX509Certificate(ashburn.cert);
    const caCert = new NodeX509Certificate(ca.cert);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage?.sort()).toEqual([SERVER_AUTH, CLIENT_AUTH]);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('starts at `notBefore` and lasts `validityDays`', async () => {
    const notBefore = new Date('2024-01-01T00:00:00Z');
    const pair = await issueRegionCertificate(ca, ashburnId, { notBefore, validityDays: 2 });
    const cert = new x509.X509Certificate(pair.cert);
    expect(cert.notBefore.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(cert.notAfter.toISOString()).toBe('2024-01-03T00:00:00.000Z');
  });

  it('leaves out the DNS name when the region id is not a DNS label', async () => {
    const pair = await issueRegionCertificate(ca, 'eu.frankfurt:2', { validityDays: 5 });
    expect(new NodeX509Certificate(pair.cert).subjectAltName).toBe('URI:domicile:region:eu.frankfurt:2');
    expect(regionIdOfCertificate(pair.cert)).toBe('eu.frankfurt:2');
  });

  describe('when the id could escape the pki folder', () => {
    it('refuses it', async () => {
      await expectCode(issueRegionCertificate(ca, '../ca'), 'DOMICILE_ERR_INVALID_ID');
      await expectCode(issueRegionCertificate(ca, '..'), 'DOMICILE_ERR_INVALID_ID');
    });
  });

  describe('when the certificate would outlive its CA', () => {
    it('refuses it', async () => {
      await expectCode(issueRegionCertificate(ca, ashburnId, { validityDays: 365 }), 'DOMICILE_ERR_USAGE');
    });
  });
});

describe('issueGatewayCertificate', () => {
  it('names the gateway and may only call (clientAuth)', () => {
    const cert = new NodeX509Certificate(gateway.cert);
    expect(cert.subjectAltName).toBe('URI:domicile:gateway:gateway-1');
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(cert.checkIssued(new NodeX509Certificate(ca.cert))).toBe(true);
    expect(gatewayNameOfCertificate(cert)).toBe('gateway-1');
    expect(regionIdOfCertificate(cert)).toBeUndefined();
  });
});

describe('peerIdentityOf', () => {
  it('reads a TLS peer certificate, PEM, DER and parsed certificates alike', () => {
    const node = new NodeX509Certificate(ashburn.cert);
    for (const input of [{ raw: node.raw }, ashburn.cert, new Uint8Array(node.raw), node]) {
      expect(peerIdentityOf(input)).toEqual({ kind: 'region', regionId: 'oci-us-ashburn' });
    }
    expect(describePeerIdentity(peerIdentityOf(gateway.cert))).toBe('gateway:gateway-1');
  });

  it('finds no identity in a connection without a certificate', () => {
    // what `socket.getPeerCertificate()` returns when the peer sent none
    expect(peerIdentityOf({})).toBeUndefined();
  });

  describe('when a certificate names two identities, or a malformed one', () => {
    it('finds none (fails closed)', async () => {
      const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'sign',
        'verify',
      ])) as webcrypto.CryptoKeyPair;
      const make = (uris: string[]) =>
        x509.X509CertificateGenerator.createSelfSigned({
          name: 'CN=x',
          keys,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
          extensions: [
            new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value }))),
          ],
        });
      const both = await make(['domicile:region:oci-us-ashburn', 'domicile:gateway:gw']);
      const twoRegions = await make(['domicile:region:oci-us-ashburn', 'domicile:region:sg-singapore']);
      const malformed = await make(['domicile:region:a/b']);
      const shouting = await make(['DOMICILE:region:oci-us-ashburn']);
      const foreign = await make(['spiffe://example.org/region/oci-us-ashburn']);
      for (const cert of [both, twoRegions, malformed, shouting, foreign]) {
        expect(peerIdentityOf(cert.toString('pem'))).toBeUndefined();
      }
    });
  });
});

describe('writePki and loadPki', () => {
  it('round-trip, with private keys readable by the owner only', async () => {
    const dir = tempDir();
    await writePki(dir, {
      ca,
      regions: new Map([[ashburnId, ashburn]]),
      gateways: new Map([['gateway-1', gateway]]),
    });
    const paths = pkiPaths(dir);
    expect(statSync(paths.caKey).mode & 0o777).toBe(0o600);
    expect(statSync(paths.regionKey(ashburnId)).mode & 0o777).toBe(0o600);
    expect(statSync(paths.gatewayKey('gateway-1')).mode & 0o777).toBe(0o600);
    expect(statSync(paths.caCert).mode & 0o777).toBe(0o644);
    expect(paths.regionCert(ashburnId)).toBe(join(dir, 'pki', 'regions', 'oci-us-ashburn.pem'));
    const loaded = await loadPki(dir);
    expect(loaded.ca).toEqual({ name: 'domicile test', cert: ca.cert, key: ca.key });
    expect(loaded.regions.get(ashburnId)).toEqual(ashburn);
    expect(loaded.gateways.get('gateway-1')).toEqual(gateway);
    expect(await loadRegionTls(dir, ashburnId)).toEqual({ ca: ca.cert, ...ashburn });
    expect(await loadGatewayTls(dir, 'gateway-1')).toEqual({ ca: ca.cert, ...gateway });
  });

  it('tightens the mode of a key file that already existed', async () => {
    const dir = tempDir();
    await writePki(dir, { ca, regions: new Map(), gateways: new Map() });
    writeFileSync(pkiPaths(dir).caKey, 'old', { mode: 0o644 });
    await writePki(dir, { ca, regions: new Map(), gateways: new Map() });
    expect(statSync(pkiPaths(dir).caKey).mode & 0o777).toBe(0o600);
  });

  it('loads where the CA key is not kept (a region node host)', async () => {
    const dir = tempDir();
    await writePki(dir, { ca, regions: new Map([[ashburnId, ashburn]]), gateways: new Map() });
    unlinkSync(pkiPaths(dir).caKey);
    const loaded = await loadPki(dir);
    expect(loaded.ca.key).toBeUndefined();
    expect(loaded.regions.size).toBe(1);
  });

  describe('when a region certificate file names another region', () => {
    it('refuses to load it', async () => {
      const dir = tempDir();
      await writePki(dir, { ca, regions: new Map([[ashburnId, ashburn]]), gateways: new Map() });
      const paths = pkiPaths(dir);
      cpSync(paths.regionCert(ashburnId), paths.regionCert('oci-us-phoenix'));
      cpSync(paths.regionKey(ashburnId), paths.regionKey('oci-us-phoenix'));
      await expectCode(loadPki(dir), 'DOMICILE_ERR_CONFIG');
      await expectCode(loadRegionTls(dir, 'oci-us-phoenix'), 'DOMICILE_ERR_CONFIG');
    });
  });

  describe('when a certificate was issued by another CA', () => {
    it('refuses to load it', async () => {
      const dir = tempDir();
      const other = await createDeploymentCa({ name: 'other deployment' });
      const foreign = await issueRegionCertificate(other, ashburnId);
      await writePki(dir, { ca, regions: new Map([[ashburnId, foreign]]), gateways: new Map() });
      await expectCode(loadRegionTls(dir, ashburnId), 'DOMICILE_ERR_CONFIG');
    });
  });

  describe('when a key does not belong to its certificate', () => {
    it('refuses to load it', async () => {
      const dir = tempDir();
      await writePki(dir, {
        ca,
        regions: new Map([[ashburnId, { cert: ashburn.cert, key: gateway.key }]]),
        gateways: new Map(),
      });
      await expectCode(loadRegionTls(dir, ashburnId), 'DOMICILE_ERR_CONFIG');
    });
  });

  describe('when there is no PKI', () => {
    it('says to run `domicile init --pki`', async () => {
      const error = await loadPki(tempDir()).catch((e: unknown) => e);
      expect(isDomicileError(error, 'DOMICILE_ERR_CONFIG')).toBe(true);
      expect((error as Error).message).toContain('domicile init --pki');
    });
  });
});

describe('ensurePki', () => {
  it('creates what is missing and nothing else', async () => {
    const dir = tempDir();
    const options = {
      dataDir: dir,
      caName: 'domicile ensure',
      regions: [ashburnId, 'sg-singapore' as RegionId],
      gateways: ['gateway-1'],
    };
    const first = await ensurePki(options);
    expect(first).toEqual({
      caCreated: true,
      regionsIssued: ['oci-us-ashburn', 'sg-singapore'],
      gatewaysIssued: ['gateway-1'],
    });
    const before = await loadPki(dir);
    const second = await ensurePki({ ...options, gateways: ['gateway-1', 'gateway-2'] });
    expect(second).toEqual({ caCreated: false, regionsIssued: [], gatewaysIssued: ['gateway-2'] });
    const after = await loadPki(dir);
    expect(after.ca.cert).toBe(before.ca.cert);
    expect(after.regions.get(ashburnId)).toEqual(before.regions.get(ashburnId));
    expect(statSync(pkiPaths(dir).gatewayKey('gateway-2')).mode & 0o777).toBe(0o600);
  });

  describe('when a certificate must be issued but the CA key is not here', () => {
    it('refuses', async () => {
      const dir = tempDir();
      await ensurePki({ dataDir: dir, caName: 'x', regions: [], gateways: [] });
      unlinkSync(pkiPaths(dir).caKey);
      await expectCode(
        ensurePki({ dataDir: dir, caName: 'x', regions: [ashburnId], gateways: [] }),
        'DOMICILE_ERR_CONFIG',
      );
    });
  });
});
