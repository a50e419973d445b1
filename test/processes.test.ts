/**
 * Beyond one machine: two gateways and three region nodes (US home, US failover, SG), each its
 * own process on loopback, each region on its own PostgreSQL database, the directory and
 * control store on another. Faults are real: processes are killed with SIGKILL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, run } from './support/cli.js';
import { SG_STEWARD, US_STEWARD } from './support/deployment.js';
import { postgresUrl } from './support/postgres.js';
import { Topology } from './support/topology.js';
import { TOPOLOGY_REGIONS } from './support/topology-config.js';

let topology: Topology;
let gw1: string;
let gw2: string;
let usToken: string;
let sgToken: string;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  url: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const errorCode = (a: Answer) => (a.body.error as { code?: string } | undefined)?.code;

beforeAll(async () => {
  requireBuild();
  topology = await Topology.create();
  await Promise.all([
    topology.startRegion('oci-us-ashburn'),
    topology.startRegion('oci-us-phoenix'),
    topology.startRegion('sg-singapore'),
  ]);
  gw1 = await topology.startGateway('gateway-1');
  gw2 = await topology.startGateway('gateway-2');
  usToken = await topology.token(US_STEWARD);
  sgToken = await topology.token(SG_STEWARD);
}, 240_000);

afterAll(async () => {
  await topology?.close();
});

describe('two gateways, three region nodes, PostgreSQL behind them', () => {
  it('serves a subject written through one gateway from the other, in its home region', async () => {
    expect((await call(gw1, 'PUT', '/v1/subjects/alice', usToken, { jurisdiction: 'US' })).status).toBe(201);
    const put = await call(gw1, 'PUT', '/v1/subjects/alice/records/email', usToken, {
      class: 'protected',
      value: 'alice@example.com',
    });
    expect(put.status).toBe(200);
    expect(put.body.region).toBe('oci-us-ashburn');
    const got = await call(gw2, 'GET', '/v1/subjects/alice/records/email', usToken);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ value: 'alice@example.com', region: 'oci-us-ashburn', version: 1 });

    expect((await call(gw2, 'PUT', '/v1/subjects/sari', sgToken, { jurisdiction: 'SG' })).status).toBe(201);
    const sg = await call(gw2, 'PUT', '/v1/subjects/sari/records/phone', sgToken, {
      class: 'protected',
      value: '+65 1',
    });
    expect(sg.body.region).toBe('sg-singapore');
  });

  it('serves the transparency log and the access log through a gateway, from the home region', async () => {
    const checkpoint = await fetch(`${gw2}/v1/logs/US/checkpoint`);
    expect(checkpoint.status).toBe(200);
    expect(await checkpoint.text()).toMatch(/^domicile\.local\/log\/US\n\d+\n/);
    const accessLog = await call(gw1, 'GET', '/v1/subjects/alice/access-log', usToken);
    expect(accessLog.status).toBe(200);
    const types = (accessLog.body.entries as { entry: { type: string } }[]).map((e) => e.entry.type);
    expect(types).toEqual(expect.arrayContaining(['subject.register', 'record.write', 'record.read']));
  });

  it('keeps serving through the other gateway when one is killed', async () => {
    await topology.gateways.get('gateway-1')?.child.kill('SIGKILL');
    const got = await call(gw2, 'GET', '/v1/subjects/alice/records/email', usToken);
    expect(got.status).toBe(200);
    expect(got.body.value).toBe('alice@example.com');
  });

  it('fails US over to the US failover region when the home node is killed; SG is unaffected', async () => {
    await topology.regions.get('oci-us-ashburn')?.kill('SIGKILL');
    const got = await call(gw2, 'GET', '/v1/subjects/alice/records/email', usToken);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ value: 'alice@example.com', region: 'oci-us-phoenix' });
    const put = await call(gw2, 'PUT', '/v1/subjects/alice/records/plan', usToken, {
      class: 'protected',
      value: 'gold',
    });
    expect(put.status).toBe(200);
    expect(put.body.region).toBe('oci-us-phoenix');
    const sg = await call(gw2, 'GET', '/v1/subjects/sari/records/phone', sgToken);
    expect(sg.status).toBe(200);
    expect(sg.body.region).toBe('sg-singapore');
  });

  it('answers 503 for US when both US nodes are down, never serves US abroad, SG unaffected', async () => {
    await topology.regions.get('oci-us-phoenix')?.kill('SIGKILL');
    for (const [method, path, body] of [
      ['GET', '/v1/subjects/alice/records/email', undefined],
      ['PUT', '/v1/subjects/alice/records/email', { class: 'protected', value: 'x' }],
      ['GET', '/v1/subjects/alice/records', undefined],
    ] as const) {
      const answer = await call(gw2, method, path, usToken, body);
      expect(answer.status, `${method} ${path}`).toBe(503);
      expect(errorCode(answer)).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
    }
    const sg = await call(gw2, 'GET', '/v1/subjects/sari/records/phone', sgToken);
    expect(sg.status).toBe(200);
    // the three refusals are counted as served by no region, and no US request by a region abroad
    const routing = (await (await fetch(`${gw2}/v1/routing`)).json()) as {
      jurisdictions: { jurisdiction: string; byRegion: Record<string, number> }[];
    };
    const us = routing.jurisdictions.find((j) => j.jurisdiction === 'US')?.byRegion ?? {};
    expect(us.none).toBeGreaterThanOrEqual(3);
    for (const region of Object.keys(us)) {
      expect(['oci-us-ashburn', 'oci-us-phoenix', 'none']).toContain(region);
    }
    // /metrics reads the same figures
    const metrics = await (await fetch(`${gw2}/metrics`)).text();
    expect(metrics).toContain(
      `domicile_routed_total{jurisdiction="US",region="none",home="false"} ${us.none}\n`,
    );
  });

  it('brings the US back: the home node restarts, gets what the failover region recorded meanwhile', async () => {
    await topology.startRegion('oci-us-phoenix');
    await topology.startRegion('oci-us-ashburn');
    // the failover region hands the record written meanwhile to the home region (retried each second)
    const deadline = Date.now() + 15_000;
    let got = await call(gw2, 'GET', '/v1/subjects/alice/records/plan', usToken);
    while (got.status === 404 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      got = await call(gw2, 'GET', '/v1/subjects/alice/records/plan', usToken);
    }
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ value: 'gold', region: 'oci-us-ashburn' });
    // the failover region's audit events reached the home region's log once it was back
    let regions: unknown[] = [];
    while (Date.now() < deadline) {
      const accessLog = await call(gw2, 'GET', '/v1/subjects/alice/access-log', usToken);
      regions = (accessLog.body.entries as { entry: { type: string; region: string | null } }[])
        .filter((e) => e.entry.type.startsWith('record.'))
        .map((e) => e.entry.region);
      if (regions.includes('oci-us-phoenix')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(regions).toContain('oci-us-phoenix');
  });

  it('erases only through the home region: refused while it is down, everywhere once it is back', async () => {
    await topology.regions.get('oci-us-ashburn')?.kill('SIGKILL');
    const refused = await call(gw2, 'DELETE', '/v1/subjects/alice', usToken);
    expect(refused.status).toBe(503);
    expect(errorCode(refused)).toBe('DOMICILE_ERR_REGION_UNAVAILABLE');
    // nothing was erased anywhere: the failover region still serves the subject
    const still = await call(gw2, 'GET', '/v1/subjects/alice/records/email', usToken);
    expect(still.body).toMatchObject({ value: 'alice@example.com', region: 'oci-us-phoenix' });
    await topology.startRegion('oci-us-ashburn');
    const erased = await call(gw2, 'DELETE', '/v1/subjects/alice', usToken);
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ subjectId: 'alice' });
    expect(Number(erased.body.records)).toBeGreaterThanOrEqual(2);
    const gone = await call(gw2, 'GET', '/v1/subjects/alice/records/email', usToken);
    expect(errorCode(gone)).toBe('DOMICILE_ERR_SUBJECT_NOT_FOUND');
  });

  it('loses no acknowledged write when a region node is killed with SIGKILL during writes', async () => {
    expect((await call(gw2, 'PUT', '/v1/subjects/sam', sgToken, { jurisdiction: 'SG' })).status).toBe(201);
    const acknowledged = new Map<string, number>();
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const key = `k${w}-${i % 20}`;
        const answer = await call(gw2, 'PUT', `/v1/subjects/sam/records/${key}`, sgToken, {
          class: 'protected',
          value: { w, i },
        }).catch(() => undefined);
        if (answer?.status === 200)
          acknowledged.set(key, Math.max(acknowledged.get(key) ?? 0, Number(answer.body.version)));
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await new Promise((r) => setTimeout(r, 1500));
    await topology.regions.get('sg-singapore')?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(writers);
    expect(acknowledged.size).toBeGreaterThan(0);
    await topology.startRegion('sg-singapore');
    for (const [key, version] of acknowledged) {
      const got = await call(gw2, 'GET', `/v1/subjects/sam/records/${key}`, sgToken);
      expect(got.status, key).toBe(200);
      expect(Number(got.body.version), key).toBeGreaterThanOrEqual(version);
    }
  });
});

describe('a region node whose PostgreSQL connections are cut', () => {
  it('answers 503 while they are gone and recovers on its own, without a restart', async () => {
    const database = new URL(topology.stores['sg-singapore']).pathname.slice(1);
    const admin = new pg.Client({ connectionString: postgresUrl() });
    await admin.connect();
    try {
      const cut = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      );
      expect(cut.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++)
      answers.push(await call(gw2, 'GET', '/v1/subjects/sari/records/phone', sgToken));
    for (const answer of answers.filter((a) => a.status !== 200)) {
      expect(answer.status).toBe(503);
      expect(errorCode(answer)).toBe('DOMICILE_ERR_STORE_UNAVAILABLE');
    }
    expect(answers.at(-1)?.status).toBe(200);
    expect(answers.at(-1)?.body.value).toBe('+65 1');
  });
});

describe('starting processes', () => {
  it('`init --pki` is idempotent: a second run issues nothing', () => {
    const again = run(['--json', 'init', '--pki', '--gateways', 'gateway-1,gateway-2'], topology.env);
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout) as {
      pki: { caCreated: boolean; regionsIssued: string[]; gatewaysIssued: string[] };
    };
    expect(report.pki).toEqual({ caCreated: false, regionsIssued: [], gatewaysIssued: [] });
  });

  it('a region node refuses to start when its certificate names another country than its configuration', () => {
    // the same deployment, but the configuration moves Singapore's node to Malaysia
    const moved = join(topology.root, 'moved.yaml');
    writeFileSync(
      moved,
      readFileSync(topology.configFile, 'utf8')
        .replace('id: sg-singapore, country: SG', 'id: sg-singapore, country: MY')
        .replace('countries: [SG]', 'countries: [SG, MY]'),
    );
    const result = run(['region', '--region', 'sg-singapore', '--store', topology.stores['sg-singapore']], {
      ...topology.env,
      DOMICILE_CONFIG: moved,
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      'region `sg-singapore`: its certificate names country `SG`, the configuration says `MY`',
    );
  });

  it('a gateway refuses a configuration in which a home region has no endpoint', () => {
    const unreachable = join(topology.root, 'unreachable.yaml');
    writeFileSync(
      unreachable,
      readFileSync(topology.configFile, 'utf8').replace(/(id: sg-singapore[^}]*), endpoint: "[^"]+"/, '$1'),
    );
    const result = run(['gateway', '--name', 'gateway-1', '--listen', '127.0.0.1:0'], {
      ...topology.env,
      DOMICILE_CONFIG: unreachable,
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('home region `sg-singapore` of `SG` has no `endpoint`');
  });
});

describe('processes on the data folder’s control files (SQLite)', () => {
  it('record an erasure in the erasure ledger that backup restores re-apply', async () => {
    const local = await Topology.create(['gateway-1'], { control: 'sqlite' });
    try {
      await Promise.all(TOPOLOGY_REGIONS.map((r) => local.startRegion(r.id)));
      const gateway = await local.startGateway('gateway-1');
      const token = await local.token(US_STEWARD);
      expect((await call(gateway, 'PUT', '/v1/subjects/erin', token, { jurisdiction: 'US' })).status).toBe(
        201,
      );
      await call(gateway, 'PUT', '/v1/subjects/erin/records/email', token, {
        class: 'protected',
        value: 'e@x',
      });
      expect((await call(gateway, 'DELETE', '/v1/subjects/erin', token)).status).toBe(200);
      const db = new Database(join(local.dataDir, 'control', 'control.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT jurisdiction, subject FROM erasure_ledger').all() as {
          jurisdiction: string;
          subject: string;
        }[];
        expect(rows).toHaveLength(1);
        expect(rows[0]?.jurisdiction).toBe('US');
        // a pseudonym, never the subject id
        expect(rows[0]?.subject).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        db.close();
      }
    } finally {
      await local.close();
    }
  }, 120_000);
});
