/**
 * The three-region deployment that the process tests (`topology.ts`) and the vault benchmark
 * (`bench/deployments.ts`) run as separate processes: US home and failover, and SG, each region
 * node's internal endpoint on a loopback port; and how each gets a fresh PostgreSQL database.
 * No Vitest import: the benchmark uses it too.
 */
import pg from 'pg';

/** Creates database `<name>` on the server of `url` (a superuser's); returns its URL. */
export async function createDatabase(url: string, name: string): Promise<string> {
  const database = name.replace(/-/g, '_');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${database}`);
  } finally {
    await client.end();
  }
  const databaseUrl = new URL(url);
  databaseUrl.pathname = `/${database}`;
  return databaseUrl.toString();
}

/** The regions: US home and failover, and SG. */
export const TOPOLOGY_REGIONS = [
  { id: 'oci-us-ashburn', country: 'US' },
  { id: 'oci-us-phoenix', country: 'US' },
  { id: 'sg-singapore', country: 'SG' },
] as const;
export type TopologyRegion = (typeof TOPOLOGY_REGIONS)[number]['id'];

/**
 * The configuration, each node's endpoint on its port, with `extra` YAML appended. `domicile up`
 * reads the same file and ignores the endpoints, so both kinds of deployment hold the same regions.
 */
export function topologyConfig(ports: Readonly<Record<TopologyRegion, number>>, extra = ''): string {
  const regions = TOPOLOGY_REGIONS.map(
    (r) =>
      `  - { id: ${r.id}, country: ${r.country}, provider: loopback, status: active, endpoint: "https://127.0.0.1:${ports[r.id]}" }`,
  ).join('\n');
  return `version: 1
regions:
${regions}
jurisdictions:
  - { id: US, countries: [US], home: oci-us-ashburn, failover: [oci-us-phoenix], steward: us-data-security }
  - { id: SG, countries: [SG], home: sg-singapore, steward: sg-data-protection }
classes:
  - { id: protected, residency: jurisdiction }
  - { id: interoperable, residency: global }
  - { id: deidentified, residency: export-after-check }
${extra}`;
}
