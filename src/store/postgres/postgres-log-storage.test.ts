import { describe, expect, it } from 'vitest';
import { newSchemaName, postgresUrl } from '../../../test/support/postgres.js';
import type { RegionId } from '../../domain/ids.js';
import { describeLogStorageConformance } from '../conformance.js';
import { groupCommit, openPostgresLogStorage, TLOG_COMPONENT } from './postgres-log-storage.js';
import {
  openPostgresRegionStore,
  type PostgresRegionStore,
  REGION_STORE_COMPONENT,
} from './postgres-store.js';
import { usePostgresTestAdmin } from './postgres-test-support.js';

const url = postgresUrl();
const { admin, dropSchema } = usePostgresTestAdmin(url, 2);

const regionId = 'oci-us-ashburn' as RegionId;
const encoder = new TextEncoder();

describeLogStorageConformance('postgres', async () => {
  const schema = newSchemaName('log');
  const stores: PostgresRegionStore[] = [];
  const openStorage = async () => {
    const store = await openPostgresRegionStore({ regionId, url, schema });
    stores.push(store);
    return openPostgresLogStorage(store, 'US');
  };
  return {
    storage: await openStorage(),
    reopen: openStorage,
    cleanup: async () => {
      for (const store of stores) await store.close();
      await dropSchema(schema);
    },
  };
});

describe('groupCommit', () => {
  it('writes the appends that arrive during a transaction together in the next one, in order', async () => {
    const writes: string[][] = [];
    let size = 0;
    const write = async (entries: readonly Uint8Array[]) => {
      writes.push(entries.map((e) => new TextDecoder().decode(e)));
      await new Promise((r) => setTimeout(r, 5));
      const first = size;
      size += entries.length;
      return first;
    };
    const append = groupCommit(write);
    const firsts = await Promise.all(
      ['a', 'b', 'c', 'd'].map((name, n) =>
        append(Array.from({ length: n + 1 }, (_, i) => encoder.encode(`${name}${i}`))),
      ),
    );
    expect(writes).toEqual([['a0'], ['b0', 'b1', 'c0', 'c1', 'c2', 'd0', 'd1', 'd2', 'd3']]);
    expect(firsts).toEqual([0, 1, 3, 6]);
  });

  it('rejects exactly the appends of a failed transaction, and goes on with the next', async () => {
    let calls = 0;
    const append = groupCommit(async (entries) => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (calls === 2) throw new Error('lost connection');
      return entries.length;
    });
    const results = await Promise.allSettled([append([encoder.encode('x')]), append([encoder.encode('y')])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    await expect(append([encoder.encode('z')])).resolves.toBe(1);
  });
});

describe('openPostgresLogStorage', () => {
  it('gives concurrent appends their own consecutive indices', async () => {
    const schema = newSchemaName('log');
    const store = await openPostgresRegionStore({ regionId, url, schema });
    const storage = await openPostgresLogStorage(store, 'US');
    const batches = Array.from({ length: 60 }, (_, b) =>
      Array.from({ length: 1 + (b % 3) }, (_, i) => encoder.encode(`batch ${b} entry ${i}`)),
    );
    const firsts = await Promise.all(batches.map((entries) => storage.appendEntries(entries)));
    const total = batches.reduce((n, entries) => n + entries.length, 0);
    expect(await storage.sequencedSize()).toBe(total);
    const stored = (await storage.readEntries(0, total)).map((e) => new TextDecoder().decode(e));
    for (const [b, entries] of batches.entries()) {
      for (let i = 0; i < entries.length; i++) {
        expect(stored[(firsts[b] ?? -1) + i]).toBe(`batch ${b} entry ${i}`);
      }
    }
    await store.close();
    await dropSchema(schema);
  });

  it("records the log tables' migration next to the store's", async () => {
    const schema = newSchemaName('log');
    const store = await openPostgresRegionStore({ regionId, url, schema });
    await openPostgresLogStorage(store, 'US');
    await openPostgresLogStorage(store, 'EU');
    const { rows } = await admin.query(
      `SELECT component, version FROM "${schema}".schema_migrations ORDER BY 1`,
    );
    expect(rows).toEqual([
      { component: REGION_STORE_COMPONENT, version: 1 },
      { component: TLOG_COMPONENT, version: 1 },
    ]);
    await store.close();
    await dropSchema(schema);
  });

  it('keeps the logs of two jurisdictions in one schema apart', async () => {
    const schema = newSchemaName('log');
    const store = await openPostgresRegionStore({ regionId, url, schema });
    const us = await openPostgresLogStorage(store, 'US');
    const eu = await openPostgresLogStorage(store, 'EU');
    expect(await us.appendEntries([encoder.encode('a:us0'), encoder.encode('a:us1')], ['a', 'a'])).toBe(0);
    expect(await eu.appendEntries([encoder.encode('a:eu0')], ['a'])).toBe(0);
    await us.commitIntegration({ fromSize: 0, toSize: 2, tiles: [], checkpoint: 'us 2\n' });
    expect(await us.sequencedSize()).toBe(2);
    expect(await eu.sequencedSize()).toBe(1);
    expect(await us.lookup('a')).toEqual([0, 1]);
    expect(await eu.lookup('a')).toEqual([0]);
    expect(await eu.readState()).toEqual({ integratedSize: 0, checkpoint: undefined });
    expect(new TextDecoder().decode((await eu.readEntries(0, 1))[0])).toBe('a:eu0');
    await store.close();
    await dropSchema(schema);
  });

  describe('when two nodes append to the same log at once', () => {
    it('gives them disjoint consecutive indices', async () => {
      const schema = newSchemaName('log');
      const stores = await Promise.all([0, 1].map(() => openPostgresRegionStore({ regionId, url, schema })));
      const storages = await Promise.all(stores.map((store) => openPostgresLogStorage(store, 'US')));
      const firsts = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          storages[i % 2]?.appendEntries([encoder.encode(`${i}.0`), encoder.encode(`${i}.1`)]),
        ),
      );
      expect(firsts.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
      expect(await storages[0]?.sequencedSize()).toBe(40);
      for (const store of stores) await store.close();
      await dropSchema(schema);
    });
  });
});
