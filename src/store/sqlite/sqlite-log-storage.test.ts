import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { RegionId } from '../../domain/ids.js';
import { describeLogStorageConformance } from '../conformance.js';
import { applyMigrations } from './sqlite-database.js';
import { INDEX_SLICE, openSqliteLogStorage, TLOG_COMPONENT, TLOG_MIGRATIONS } from './sqlite-log-storage.js';
import { openSqliteRegionStore, type SqliteRegionStore } from './sqlite-store.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-sqlite-log-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const regionId = 'oci-us-ashburn' as RegionId;

describeLogStorageConformance('sqlite', async () => {
  const file = path.join(fs.mkdtempSync(path.join(root, 'case-')), 'store.sqlite');
  const stores: SqliteRegionStore[] = [];
  const openStorage = () => {
    const store = openSqliteRegionStore({ regionId, file });
    stores.push(store);
    return openSqliteLogStorage(store, 'US');
  };
  return {
    storage: openStorage(),
    reopen: async () => openStorage(),
    cleanup: async () => {
      for (const store of stores) await store.close();
    },
  };
});

describe('a log written before lookup keys moved into the entries', () => {
  it('keeps finding its old entries through the index, and finds new ones too', async () => {
    const file = path.join(fs.mkdtempSync(path.join(root, 'case-')), 'store.sqlite');
    const store = openSqliteRegionStore({ regionId, file });
    // the first schema step and its index, as the previous release wrote them
    applyMigrations(store.db, TLOG_COMPONENT, TLOG_MIGRATIONS.slice(0, 1), 'test');
    store.db.exec(`
      INSERT INTO tlog_state VALUES ('US', 2, 1, 'checkpoint 1');
      INSERT INTO tlog_entries VALUES ('US', 0, x'61'), ('US', 1, x'62');
      INSERT INTO tlog_lookup VALUES ('US', 's1', 0), ('US', 's1', 1);
    `);
    const storage = openSqliteLogStorage(store, 'US');
    expect(await storage.lookup('s1')).toEqual([0, 1]);
    expect(await storage.appendEntries([new Uint8Array([0x63])], ['s1'])).toBe(2);
    expect(await storage.lookup('s1')).toEqual([0, 1, 2]);
    await storage.commitIntegration({ fromSize: 1, toSize: 3, tiles: [], checkpoint: 'checkpoint 3' });
    expect(await storage.lookup('s1')).toEqual([0, 1, 2]);
    await store.close();
  });
});

describe('the lookup index, built in slices after each integration', () => {
  const KEYS = ['k0', 'k1', 'k2'];
  const COUNT = 3 * INDEX_SLICE + 100;

  async function integrated() {
    const file = path.join(fs.mkdtempSync(path.join(root, 'case-')), 'store.sqlite');
    const store = openSqliteRegionStore({ regionId, file });
    const storage = openSqliteLogStorage(store, 'US');
    const entries = Array.from({ length: COUNT }, (_, i) => new Uint8Array([i % 256]));
    await storage.appendEntries(
      entries,
      entries.map((_, i) => KEYS[i % KEYS.length]),
    );
    const indexOf = (key: string) =>
      Array.from({ length: COUNT }, (_, i) => i).filter((i) => KEYS[i % KEYS.length] === key);
    const indexed = () =>
      store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM tlog_lookup').get()?.n ?? 0;
    const indexedSize = () =>
      store.db.prepare<[], { s: number }>('SELECT indexed_size AS s FROM tlog_state').get()?.s;
    return { store, storage, indexOf, indexed, indexedSize };
  }

  it('writes the index in slices of its own, letting other writes in between, complete when the integration resolves', async () => {
    const { store, storage, indexOf, indexed, indexedSize } = await integrated();
    const writes: string[] = [];
    const order: string[] = [];
    let append: Promise<unknown> | undefined;
    const writeBatched = store.writeBatched.bind(store);
    vi.spyOn(store, 'writeBatched').mockImplementation((operation, work) => {
      writes.push(operation);
      // an audit entry arriving while the index is being written
      if (operation === 'index log entries' && append === undefined)
        append = storage.appendEntries([new Uint8Array([1])], ['k0']).then(() => order.push('append'));
      return writeBatched(operation, work);
    });
    await storage.commitIntegration({ fromSize: 0, toSize: COUNT, tiles: [], checkpoint: 'checkpoint' });
    order.push('integration and index');
    await append;
    expect(writes).toEqual([
      'integrate log',
      'index log entries',
      'append log entries',
      ...Array(Math.ceil(COUNT / INDEX_SLICE) - 1).fill('index log entries'),
    ]);
    expect(order).toEqual(['append', 'integration and index']);
    expect(indexed()).toBe(COUNT);
    expect(indexedSize()).toBe(COUNT);
    expect(await storage.lookup('k1')).toEqual(indexOf('k1'));
    vi.restoreAllMocks();
    await store.close();
  });

  it('finds every entry while the index lags, and catches up when reopened after a crash mid-way', async () => {
    const { store, storage, indexOf, indexed, indexedSize } = await integrated();
    await storage.commitIntegration({ fromSize: 0, toSize: COUNT, tiles: [], checkpoint: 'checkpoint' });
    // as a crash after the first slice leaves it: part of the index, and its old high-water mark
    store.db.exec(`UPDATE tlog_state SET indexed_size = 0; DELETE FROM tlog_lookup WHERE key <> 'k0'`);
    expect(indexed()).toBeLessThan(COUNT);
    for (const key of KEYS) expect(await storage.lookup(key)).toEqual(indexOf(key));

    const reopened = openSqliteLogStorage(store, 'US');
    await vi.waitFor(() => expect(indexedSize()).toBe(COUNT));
    expect(indexed()).toBe(COUNT);
    for (const key of KEYS) expect(await reopened.lookup(key)).toEqual(indexOf(key));
    await store.close();
  });
});
