import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RegionId } from '../../domain/ids.js';
import { describeLogStorageConformance } from '../conformance.js';
import { applyMigrations } from './sqlite-database.js';
import { openSqliteLogStorage, TLOG_COMPONENT, TLOG_MIGRATIONS } from './sqlite-log-storage.js';
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
