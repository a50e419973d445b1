/**
 * The deployment PKI: one private CA per deployment that issues the certificates with which
 * gateways and region nodes authenticate each other over mutual TLS (DESIGN.md "Processes").
 *
 * - CA: self-signed, `CA:true, pathlen:0`, key usage `keyCertSign, cRLSign`.
 * - Region node: SAN URI `domicile:region:<id>` plus DNS `<id>.region.domicile.internal`, and
 *   the region's country as the subject's `C`; extended key usage serverAuth (it serves
 *   gateways) and clientAuth (it calls other regions for replication and erasure).
 * - Gateway: SAN URI `domicile:gateway:<name>`; clientAuth only, so it can never serve as a region.
 *
 * Every key is ECDSA P-256, every certificate is signed with ECDSA SHA-256. Certificates are PEM,
 * private keys PKCS#8 PEM. On disk, under the data folder:
 * ```
 * pki/ca.pem                  the deployment CA certificate (every process needs it)
 * pki/ca.key                  the CA key (0600): only where certificates are issued, never on nodes
 * pki/regions/<id>.pem|.key   a region node's certificate and key (0600)
 * pki/gateways/<name>.pem|.key a gateway's client certificate and key (0600)
 * ```
 */
import {
  createPrivateKey,
  X509Certificate as NodeX509Certificate,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gatewayUri, regionDnsName, regionUri } from '../crypto/peer-identity.js';
import { x509 } from '../crypto/x509.js';
import { DomicileError } from '../domain/errors.js';
import { COUNTRY_PATTERN, ID_PATTERN, type RegionId } from '../domain/ids.js';

export {
  type CertificateInput,
  gatewayNameOfCertificate,
  type PeerIdentity,
  peerIdentityOf,
  regionIdOfCertificate,
} from '../crypto/peer-identity.js';

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Issued certificates start this much before "now", so small clock skew between hosts is harmless. */
const BACKDATE_MS = 5 * 60_000;

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface CertifiedKey {
  readonly cert: string;
  readonly key: string;
}

/** The deployment CA: its certificate and key, and the name in its subject. */
export interface DeploymentCa extends CertifiedKey {
  readonly name: string;
}

/** What a process needs for mutual TLS: the CA to trust, its own certificate and key (PEM). */
export interface TlsMaterial {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Validity of a certificate to issue. */
export interface ValidityOptions {
  /**
   * Region certificates: the region's ISO country code, put in the subject's `C`. A gateway
   * refuses a region node whose certificate names another country than its configuration.
   */
  readonly country?: string;
  /** Days from `notBefore`; default 397 for leaves, 3650 for the CA. */
  readonly validityDays?: number;
  /** Start of validity; default five minutes ago. */
  readonly notBefore?: Date;
}

/** Options of `createDeploymentCa`. */
export interface CreateCaOptions extends ValidityOptions {
  /** The CA's common name, e.g. `domicile acme-prod`. */
  readonly name: string;
}

/** A deployment's PKI as held in memory. The CA key is absent where it is not needed. */
export interface Pki {
  readonly ca: { readonly name: string; readonly cert: string; readonly key?: string };
  readonly regions: ReadonlyMap<RegionId, CertifiedKey>;
  readonly gateways: ReadonlyMap<string, CertifiedKey>;
}

/**
 * Creates a deployment CA.
 *
 * @example
 * const ca = await createDeploymentCa({ name: 'domicile prod', validityDays: 3650 });
 */
export async function createDeploymentCa(options: CreateCaOptions): Promise<DeploymentCa> {
  if (options.name.trim() === '' || options.name.length > 64) {
    throw new DomicileError('DOMICILE_ERR_USAGE', 'the CA name must be 1 to 64 characters');
  }
  const { notBefore, notAfter } = validity(options, 3650);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [options.name] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name: options.name, cert: cert.toString('pem'), key: await exportKey(keys.privateKey) };
}

/**
 * Issues a region node's certificate: SAN URI `domicile:region:<id>` (and DNS
 * `<id>.region.domicile.internal` when the id is a DNS label), serverAuth and clientAuth.
 *
 * @example
 * const ashburn = await issueRegionCertificate(ca, 'oci-us-ashburn', { validityDays: 397 });
 */
export async function issueRegionCertificate(
  ca: CertifiedKey,
  regionId: string,
  options: ValidityOptions = {},
): Promise<CertifiedKey> {
  requireId('region', regionId);
  if (options.country !== undefined && !COUNTRY_PATTERN.test(options.country)) {
    throw new DomicileError('DOMICILE_ERR_USAGE', `invalid country \`${options.country.slice(0, 8)}\``);
  }
  const dns = regionDnsName(regionId);
  return issueLeaf(ca, {
    commonName: `domicile region ${regionId}`,
    names: [
      { type: 'url', value: regionUri(regionId) },
      ...(dns ? [{ type: 'dns' as const, value: dns }] : []),
    ],
    usages: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    ...options,
  });
}

/**
 * Issues a gateway's client certificate: SAN URI `domicile:gateway:<name>`, clientAuth only.
 *
 * @example
 * const gateway = await issueGatewayCertificate(ca, 'gateway-1');
 */
export async function issueGatewayCertificate(
  ca: CertifiedKey,
  name: string,
  options: ValidityOptions = {},
): Promise<CertifiedKey> {
  requireId('gateway', name);
  return issueLeaf(ca, {
    commonName: `domicile gateway ${name}`,
    names: [{ type: 'url', value: gatewayUri(name) }],
    usages: [x509.ExtendedKeyUsage.clientAuth],
    ...options,
  });
}

/** Paths of the PKI files under a data folder. */
export function pkiPaths(dataDir: string) {
  const root = join(dataDir, 'pki');
  return {
    root,
    caCert: join(root, 'ca.pem'),
    caKey: join(root, 'ca.key'),
    regions: join(root, 'regions'),
    gateways: join(root, 'gateways'),
    regionCert: (regionId: string) => join(root, 'regions', `${regionId}.pem`),
    regionKey: (regionId: string) => join(root, 'regions', `${regionId}.key`),
    gatewayCert: (name: string) => join(root, 'gateways', `${name}.pem`),
    gatewayKey: (name: string) => join(root, 'gateways', `${name}.key`),
  };
}

/**
 * Writes a PKI under `<dataDir>/pki/`: certificates 0644, private keys 0600 (also when the file
 * existed with a wider mode). The CA key is written only when the PKI holds it.
 */
export async function writePki(dataDir: string, pki: Pki): Promise<void> {
  const paths = pkiPaths(dataDir);
  await mkdir(paths.regions, { recursive: true, mode: 0o755 });
  await mkdir(paths.gateways, { recursive: true, mode: 0o755 });
  await writeFileMode(paths.caCert, pki.ca.cert, 0o644);
  if (pki.ca.key !== undefined) await writeFileMode(paths.caKey, pki.ca.key, 0o600);
  for (const [regionId, pair] of pki.regions) {
    requireId('region', regionId);
    await writeFileMode(paths.regionCert(regionId), pair.cert, 0o644);
    await writeFileMode(paths.regionKey(regionId), pair.key, 0o600);
  }
  for (const [name, pair] of pki.gateways) {
    requireId('gateway', name);
    await writeFileMode(paths.gatewayCert(name), pair.cert, 0o644);
    await writeFileMode(paths.gatewayKey(name), pair.key, 0o600);
  }
}

/**
 * Reads the PKI under `<dataDir>/pki/`: the CA certificate (required), the CA key if present, and
 * every region and gateway certificate with its key. Each certificate must be signed by the CA
 * and name, in its SAN, the identity its file name says; otherwise `DOMICILE_ERR_CONFIG`.
 */
export async function loadPki(dataDir: string): Promise<Pki> {
  const paths = pkiPaths(dataDir);
  const caCert = await readPem(paths.caCert);
  const ca = parseCertificate(paths.caCert, caCert);
  const caKey = existsSync(paths.caKey) ? await readPem(paths.caKey) : undefined;
  const name = ca.subjectName.getField('CN')[0] ?? ca.subject;
  const regions = new Map<RegionId, CertifiedKey>();
  for (const id of await pemNames(paths.regions)) {
    regions.set(id as RegionId, await loadLeaf(ca, paths.regionCert(id), paths.regionKey(id), regionUri(id)));
  }
  const gateways = new Map<string, CertifiedKey>();
  for (const id of await pemNames(paths.gateways)) {
    gateways.set(id, await loadLeaf(ca, paths.gatewayCert(id), paths.gatewayKey(id), gatewayUri(id)));
  }
  return { ca: { name, cert: caCert, ...(caKey === undefined ? {} : { key: caKey }) }, regions, gateways };
}

/** The TLS material of one region node: the CA certificate and the node's own pair. */
export function loadRegionTls(dataDir: string, regionId: string): Promise<TlsMaterial> {
  requireId('region', regionId);
  const paths = pkiPaths(dataDir);
  return loadTls(dataDir, paths.regionCert(regionId), paths.regionKey(regionId), regionUri(regionId));
}

/** The TLS material of one gateway: the CA certificate and the gateway's client pair. */
export function loadGatewayTls(dataDir: string, name: string): Promise<TlsMaterial> {
  requireId('gateway', name);
  const paths = pkiPaths(dataDir);
  return loadTls(dataDir, paths.gatewayCert(name), paths.gatewayKey(name), gatewayUri(name));
}

async function loadTls(
  dataDir: string,
  certFile: string,
  keyFile: string,
  uri: string,
): Promise<TlsMaterial> {
  const { caCert: caFile } = pkiPaths(dataDir);
  const caCert = await readPem(caFile);
  const pair = await loadLeaf(parseCertificate(caFile, caCert), certFile, keyFile, uri);
  return { ca: caCert, ...pair };
}

/** What `ensurePki` created. */
export interface EnsurePkiReport {
  readonly caCreated: boolean;
  readonly regionsIssued: readonly RegionId[];
  readonly gatewaysIssued: readonly string[];
}

/** Options of `ensurePki`. */
export interface EnsurePkiOptions {
  readonly dataDir: string;
  /** The CA's name when one is created. */
  readonly caName: string;
  readonly regions: readonly RegionId[];
  /** Each region's country, put in its certificate (`domicile init --pki` passes the configured ones). */
  readonly countries?: ReadonlyMap<RegionId, string>;
  readonly gateways: readonly string[];
  readonly caValidityDays?: number;
  readonly validityDays?: number;
}

/**
 * Creates what the PKI under `<dataDir>/pki/` lacks: the CA, and a certificate for every listed
 * region and gateway that has none. Idempotent; never reissues an existing certificate. Needs
 * the CA key when anything has to be issued (the base of `domicile init --pki`).
 */
export async function ensurePki(options: EnsurePkiOptions): Promise<EnsurePkiReport> {
  const paths = pkiPaths(options.dataDir);
  let caCreated = false;
  let ca: CertifiedKey | undefined;
  if (!existsSync(paths.caCert)) {
    const created = await createDeploymentCa({
      name: options.caName,
      ...(options.caValidityDays === undefined ? {} : { validityDays: options.caValidityDays }),
    });
    await writePki(options.dataDir, {
      ca: created,
      regions: new Map(),
      gateways: new Map(),
    });
    ca = created;
    caCreated = true;
  }
  const existing = await loadPki(options.dataDir);
  const caPair = (): CertifiedKey => {
    if (ca) return ca;
    if (existing.ca.key === undefined) {
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `${paths.caKey}: the CA key is needed to issue certificates: run this where the CA key is kept`,
      );
    }
    ca = { cert: existing.ca.cert, key: existing.ca.key };
    return ca;
  };
  const validityOptions = options.validityDays === undefined ? {} : { validityDays: options.validityDays };
  const regions = new Map<RegionId, CertifiedKey>();
  for (const regionId of options.regions) {
    if (existing.regions.has(regionId)) continue;
    const country = options.countries?.get(regionId);
    regions.set(
      regionId,
      await issueRegionCertificate(caPair(), regionId, {
        ...validityOptions,
        ...(country === undefined ? {} : { country }),
      }),
    );
  }
  const gateways = new Map<string, CertifiedKey>();
  for (const name of options.gateways) {
    if (existing.gateways.has(name)) continue;
    gateways.set(name, await issueGatewayCertificate(caPair(), name, validityOptions));
  }
  if (regions.size > 0 || gateways.size > 0) {
    await writePki(options.dataDir, {
      ca: { name: existing.ca.name, cert: existing.ca.cert },
      regions,
      gateways,
    });
  }
  return { caCreated, regionsIssued: [...regions.keys()], gatewaysIssued: [...gateways.keys()] };
}

interface LeafSpec extends ValidityOptions {
  readonly commonName: string;
  readonly names: x509.JsonGeneralNames;
  readonly usages: x509.ExtendedKeyUsage[];
}

async function issueLeaf(ca: CertifiedKey, spec: LeafSpec): Promise<CertifiedKey> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await importKey(ca.key);
  const { notBefore, notAfter } = validity(spec, 397);
  if (notAfter > caCert.notAfter) {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `certificate \`${spec.commonName}\` would outlive its CA (${caCert.notAfter.toISOString()})`,
    );
  }
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [...(spec.country === undefined ? [] : [{ C: [spec.country] }]), { CN: [spec.commonName] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(spec.usages, false),
      // critical: a verifier that cannot read the SAN must not accept the certificate at all
      new x509.SubjectAlternativeNameExtension(spec.names, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await exportKey(keys.privateKey) };
}

function validity(options: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = options.validityDays ?? defaultDays;
  if (!Number.isFinite(days) || days <= 0 || days > 36_500) {
    throw new DomicileError('DOMICILE_ERR_USAGE', `invalid validity \`${days}\` days: expected 1 to 36500`);
  }
  const notBefore = options.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

function requireId(kind: 'region' | 'gateway', id: string): void {
  // the id becomes a file name and a SAN URI: the id pattern rules out `/` and `..`-only tricks
  if (!ID_PATTERN.test(id) || id === '.' || id === '..') {
    throw new DomicileError('DOMICILE_ERR_INVALID_ID', `invalid ${kind} id \`${id.slice(0, 64)}\``);
  }
}

function serialNumber(): string {
  // 16 random bytes, top bit cleared so the DER integer stays positive (RFC 5280 §4.1.2.2)
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  let der: ArrayBuffer;
  try {
    const decoded = x509.PemConverter.decode(pem)[0];
    if (!decoded) throw new Error('no PEM block');
    der = decoded;
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', 'the CA key is not a PKCS#8 PEM key', { cause });
  }
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

async function writeFileMode(file: string, text: string, mode: number): Promise<void> {
  await writeFile(file, text, { mode });
  // `mode` applies only when the file is created: tighten an existing file too
  await chmod(file, mode);
}

async function readPem(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `${file}: cannot read: run \`domicile init --pki\``, {
      cause,
    });
  }
}

function parseCertificate(file: string, pem: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `${file}: not a PEM certificate`, { cause });
  }
}

async function pemNames(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .filter((file) => file.endsWith('.pem'))
    .map((file) => file.slice(0, -'.pem'.length))
    .sort();
}

async function loadLeaf(
  ca: x509.X509Certificate,
  certFile: string,
  keyFile: string,
  expectedUri: string,
): Promise<CertifiedKey> {
  const cert = await readPem(certFile);
  const key = await readPem(keyFile);
  const parsed = parseCertificate(certFile, cert);
  const signed = await parsed.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(() => false);
  if (!signed) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `${certFile}: not issued by the deployment CA in \`ca.pem\``,
    );
  }
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  if (!uris.includes(expectedUri)) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `${certFile}: certificate does not name \`${expectedUri}\` in its subject alternative name`,
    );
  }
  let matches = false;
  try {
    matches = new NodeX509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch {
    matches = false;
  }
  if (!matches) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `${keyFile}: not the private key of \`${certFile}\``);
  }
  return { cert, key };
}
