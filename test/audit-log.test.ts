/**
 * The audit hook as the transparency log (L1): every vault operation, allowed or denied, is a
 * durable, pseudonymised entry before its response; the log verifies as an outside auditor
 * would check it; a subject can see who touched its data, with proofs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId } from '../src/domain/ids.js';
import { loadLogKeys } from '../src/server/audit-logs.js';
import { canonicalJson, decodeLogEntry, type LogEntry } from '../src/services/audit/entry.js';
import { openSqliteLogStorage } from '../src/store/sqlite/sqlite-log-storage.js';
import type { SqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import { parseCheckpoint } from '../src/tlog/checkpoint.js';
import { hashLeaf, verifyInclusion } from '../src/tlog/merkle.js';
import { verifyLog } from '../src/tlog/verify-log.js';
import { openTestDeployment, SG_STEWARD, type TestDeployment, US_STEWARD } from './support/deployment.js';

let d: TestDeployment;
let usKey: string;
beforeAll(async () => {
  d = await openTestDeployment();
  const us = d.config.jurisdictions.get('US' as JurisdictionId);
  if (!us) throw new Error('no US');
  usKey = (await loadLogKeys(d.dataDir, us)).verifierKey;
});
afterAll(async () => {
  await d.cleanup();
});

const SECRET = 'secret-value-4b1d@example.com';
const usStorage = () =>
  openSqliteLogStorage(d.stores.get('oci-us-ashburn' as never) as SqliteRegionStore, 'US');

async function entries(): Promise<LogEntry[]> {
  const storage = usStorage();
  const size = await storage.sequencedSize();
  return (await storage.readEntries(0, size)).map((e) => decodeLogEntry(e));
}

const fetcher = (jurisdiction: string) => async (path: string) => {
  const res = await d.app.inject({ method: 'GET', url: `/v1/logs/${jurisdiction}/${path}` });
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${res.body}`);
  return new Uint8Array(res.rawPayload);
};

describe('every vault operation', () => {
  it('is a durable log entry before its response, allowed or denied, with pseudonyms only', async () => {
    const headers = await d.auth(US_STEWARD);
    const abroad = await d.auth({ ...US_STEWARD, loc: 'SG' });
    const steps: [string, () => Promise<{ statusCode: number }>][] = [
      [
        'subject.register',
        () =>
          d.app.inject({
            method: 'PUT',
            url: '/v1/subjects/audited-1',
            headers,
            payload: { jurisdiction: 'US' },
          }),
      ],
      [
        'record.write',
        () =>
          d.app.inject({
            method: 'PUT',
            url: '/v1/subjects/audited-1/records/email',
            headers,
            payload: { class: 'protected', value: SECRET },
          }),
      ],
      [
        'record.read',
        () => d.app.inject({ method: 'GET', url: '/v1/subjects/audited-1/records/email', headers }),
      ],
      [
        'record.read',
        () => d.app.inject({ method: 'GET', url: '/v1/subjects/audited-1/records/email', headers: abroad }),
      ],
      ['record.list', () => d.app.inject({ method: 'GET', url: '/v1/subjects/audited-1/records', headers })],
      [
        'record.delete',
        () => d.app.inject({ method: 'DELETE', url: '/v1/subjects/audited-1/records/email', headers }),
      ],
      ['subject.erase', () => d.app.inject({ method: 'DELETE', url: '/v1/subjects/audited-1', headers })],
    ];
    const storage = usStorage();
    for (const [type, step] of steps) {
      const before = await storage.sequencedSize();
      const res = await step();
      // INVARIANT L1: by the time the response is out, its entry is sequenced durably (a listing
      // also reads the draining legacy region during the cut-over: one entry per region touched)
      const after = await storage.sequencedSize();
      expect(after, type).toBeGreaterThanOrEqual(before + 1);
      const added = (await storage.readEntries(before, after)).map((e) => decodeLogEntry(e));
      expect(added.map((e) => e.type)).toEqual(added.map(() => type));
      if (type.startsWith('record.')) expect(added[0]?.region).toBe('oci-us-ashburn');
      expect(added[0]?.decision).toBe(res.statusCode === 403 ? 'deny' : 'allow');
    }
    const all = await entries();
    const raw = JSON.stringify(all);
    expect(raw).not.toContain(SECRET);
    expect(raw).not.toContain('audited-1');
    expect(raw).not.toContain('"email"');
    const denial = all.find((e) => e.decision === 'deny');
    expect(denial).toMatchObject({
      type: 'record.read',
      principal: { country: 'SG', department: 'us-data-security' },
      region: 'oci-us-ashburn',
    });
    expect(denial?.policyHash).toBeTruthy();
    expect(all.filter((e) => e.type === 'config.load')).toHaveLength(1);
  });
});

describe('the log over HTTP', () => {
  it('verifies with the auditor algorithm: signatures, tiles, every entry', async () => {
    await d.audit.logs.get('US' as JurisdictionId)?.log.integrate();
    const result = await verifyLog({
      fetch: fetcher('US'),
      logKey: usKey,
      parseEntry: (e) => void decodeLogEntry(e),
    });
    expect(Number(result.checkpoint.size)).toBe((await entries()).length);
    expect(result.checkpoint.origin).toBe('domicile.local/log/US');
  });

  it('serves JSON inclusion and consistency proofs and refuses malformed queries with coded errors', async () => {
    await d.audit.logs.get('US' as JurisdictionId)?.log.integrate();
    const inclusion = await d.app.inject({ method: 'GET', url: '/v1/logs/US/proof/inclusion?index=0' });
    expect(inclusion.statusCode).toBe(200);
    expect(inclusion.json().proof.length).toBeGreaterThan(0);
    const consistency = await d.app.inject({ method: 'GET', url: '/v1/logs/US/proof/consistency?from=1' });
    expect(consistency.statusCode).toBe(200);
    for (const url of [
      '/v1/logs/US/proof/inclusion?index=-1',
      '/v1/logs/US/proof/inclusion?index=99999999',
      '/v1/logs/US/tile/0/x001.p/',
      '/v1/logs/XX/checkpoint',
      '/v1/logs/US/tile/0/999',
    ]) {
      const res = await d.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, url).toBeLessThan(500);
      expect(res.json().error.code, url).toMatch(/^DOMICILE_ERR_/);
    }
  });
});

describe('a subject’s access log', () => {
  it('shows the subject who touched its data, when and why, each entry proven against the checkpoint', async () => {
    const steward = await d.auth(US_STEWARD);
    await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/watched',
      headers: steward,
      payload: { jurisdiction: 'US' },
    });
    await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/watched/records/a',
      headers: steward,
      payload: { class: 'protected', value: 1 },
    });
    await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/watched/records/a',
      headers: await d.auth({ ...US_STEWARD, sub: 'nosy', loc: 'CN' }),
    });
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/watched/access-log',
      headers: await d.auth({ sub: 'watched', type: 'employee' }),
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as {
      checkpoint: string;
      treeSize: number;
      entries: { index: number; entry: LogEntry; inclusionProof: string[] }[];
    };
    expect(body.entries.map((e) => e.entry.type)).toEqual([
      'subject.register',
      'record.write',
      'record.read',
      'subject.access-log',
    ]);
    expect(body.entries[2]?.entry).toMatchObject({
      decision: 'deny',
      principal: { id: 'nosy', country: 'CN' },
    });
    const checkpoint = parseCheckpoint(body.checkpoint.slice(0, body.checkpoint.indexOf('\n\n') + 1));
    for (const item of body.entries) {
      const leaf = hashLeaf(Buffer.from(canonicalJson(item.entry)));
      const proof = item.inclusionProof.map((p) => new Uint8Array(Buffer.from(p, 'base64')));
      expect(() =>
        verifyInclusion(BigInt(item.index), checkpoint.size, leaf, proof, checkpoint.root),
      ).not.toThrow();
    }
  });

  it('is open to a steward of the jurisdiction and closed to anyone else, and both are logged', async () => {
    const ok = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/watched/access-log',
      headers: await d.auth(US_STEWARD),
    });
    expect(ok.statusCode).toBe(200);
    const no = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/watched/access-log',
      headers: await d.auth(SG_STEWARD),
    });
    expect(no.statusCode).toBe(403);
    const last = (await entries()).filter((e) => e.type === 'subject.access-log').map((e) => e.decision);
    expect(last.slice(-2)).toEqual(['allow', 'deny']);
  });
});
