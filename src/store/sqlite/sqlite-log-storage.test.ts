import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { RegionId } from '../../domain/ids.js';
import { describeLogStorageConformance } from '../conformance.js';
import { openSqliteLogStorage } from './sqlite-log-storage.js';
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
