/**
 * Who is at the other end of a mutual TLS connection between Domicile processes, read from the
 * subject alternative name (SAN) of a certificate issued by the deployment CA (`src/server/pki.ts`).
 *
 * The SAN scheme:
 * - region node: URI `domicile:region:<region id>` (and, when the id is a DNS label, DNS
 *   `<region id>.region.domicile.internal`, for SNI and tooling only: identity is the URI)
 * - gateway: URI `domicile:gateway:<gateway name>`
 *
 * A certificate names exactly one Domicile identity; one with none, with several, or with a
 * malformed one has no identity here. The chain to the deployment CA, validity dates and key
 * usages are checked by the TLS layer before these functions are asked.
 *
 * Lives below `server` and `services` because both ends need it: the region node's app to admit
 * callers, the HTTPS region client to check the node it reached.
 */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { ID_PATTERN, type RegionId } from '../domain/ids.js';
import { x509 } from './x509.js';

/** The URI scheme of Domicile identities in certificates. */
export const IDENTITY_URI_PREFIX = 'domicile:';
const REGION_PREFIX = 'domicile:region:';
const GATEWAY_PREFIX = 'domicile:gateway:';
/** The DNS zone of region nodes' DNS names (informational; identity is the URI). */
export const REGION_DNS_SUFFIX = '.region.domicile.internal';
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The Domicile identity a certificate carries. */
export type PeerIdentity =
  | { readonly kind: 'region'; readonly regionId: RegionId }
  | { readonly kind: 'gateway'; readonly name: string };

/**
 * What identity functions accept: a `tls.PeerCertificate` (its `raw` DER), a Node or @peculiar
 * certificate, PEM or DER.
 */
export type CertificateInput =
  | { readonly raw?: Uint8Array }
  | NodeX509Certificate
  | x509.X509Certificate
  | string
  | Uint8Array;

/** The SAN URI of a region node. */
export function regionUri(regionId: string): string {
  return `${REGION_PREFIX}${regionId}`;
}

/** The SAN URI of a gateway. */
export function gatewayUri(name: string): string {
  return `${GATEWAY_PREFIX}${name}`;
}

/**
 * The SAN DNS name of a region node, or undefined when the region id is not a DNS label
 * (ids may contain `.`, `_` and `:`; the URI carries them all).
 */
export function regionDnsName(regionId: string): string | undefined {
  const label = regionId.toLowerCase();
  return DNS_LABEL.test(label) ? `${label}${REGION_DNS_SUFFIX}` : undefined;
}

/**
 * The Domicile identity named in a certificate's SAN, or undefined when it names none, more than
 * one, or a malformed one.
 *
 * @example
 * const identity = peerIdentityOf(socket.getPeerCertificate());
 * if (identity?.kind === 'gateway') console.log(identity.name);
 */
export function peerIdentityOf(certificate: CertificateInput): PeerIdentity | undefined {
  let uris: string[];
  try {
    uris = sanUris(certificate);
  } catch {
    // a certificate we cannot parse carries no identity: fail closed
    return undefined;
  }
  // the SAN is as trustworthy as the CA that signed it, and still parsed strictly
  const ours = uris.filter((uri) => uri.toLowerCase().startsWith(IDENTITY_URI_PREFIX));
  if (ours.length !== 1) return undefined;
  const uri = ours[0] ?? '';
  if (uri.startsWith(REGION_PREFIX)) {
    const id = uri.slice(REGION_PREFIX.length);
    return ID_PATTERN.test(id) ? { kind: 'region', regionId: id as RegionId } : undefined;
  }
  if (uri.startsWith(GATEWAY_PREFIX)) {
    const name = uri.slice(GATEWAY_PREFIX.length);
    return ID_PATTERN.test(name) ? { kind: 'gateway', name } : undefined;
  }
  return undefined;
}

/** The region id a certificate names in its SAN, or undefined when it is not a region certificate. */
export function regionIdOfCertificate(certificate: CertificateInput): RegionId | undefined {
  const identity = peerIdentityOf(certificate);
  return identity?.kind === 'region' ? identity.regionId : undefined;
}

/** The gateway name a certificate names in its SAN, or undefined when it is not a gateway certificate. */
export function gatewayNameOfCertificate(certificate: CertificateInput): string | undefined {
  const identity = peerIdentityOf(certificate);
  return identity?.kind === 'gateway' ? identity.name : undefined;
}

/**
 * The country (`C`) in a region certificate's subject, or undefined when it names none or
 * more than one. `domicile init --pki` puts the configured country of the region there.
 */
export function countryOfCertificate(certificate: CertificateInput): string | undefined {
  try {
    const countries = toCertificate(certificate)?.subjectName.getField('C') ?? [];
    return countries.length === 1 ? countries[0] : undefined;
  } catch {
    return undefined;
  }
}

/** A short, log-safe description of an identity: `region:oci-us-ashburn`, `gateway:gw-1`, `none`. */
export function describePeerIdentity(identity: PeerIdentity | undefined): string {
  if (!identity) return 'none';
  return identity.kind === 'region' ? `region:${identity.regionId}` : `gateway:${identity.name}`;
}

function sanUris(certificate: CertificateInput): string[] {
  const parsed = toCertificate(certificate);
  if (!parsed) return [];
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return [];
  return san.names.items.filter((item) => item.type === 'url').map((item) => item.value);
}

function toCertificate(certificate: CertificateInput): x509.X509Certificate | undefined {
  if (certificate instanceof x509.X509Certificate) return certificate;
  if (certificate instanceof NodeX509Certificate) return new x509.X509Certificate(certificate.raw);
  if (typeof certificate === 'string' || certificate instanceof Uint8Array) {
    return new x509.X509Certificate(certificate);
  }
  // a `tls.PeerCertificate` of a connection without a client certificate is `{}`
  const raw: unknown = certificate.raw;
  return raw instanceof Uint8Array && raw.length > 0 ? new x509.X509Certificate(raw) : undefined;
}
