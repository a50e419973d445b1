import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomicileError } from '../../domain/errors.js';
import { describeControlStoreConformance } from '../control-conformance.js';
import type { ControlStore } from '../control-store.js';
import { CONTROL_STORE_COMPONENT, openSqliteControlStore } from './sqlite-control-store.js';

describeControlStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'domicile-control-'));
  const file = join(dir, 'control.db');
  const opened: ControlStore[] = [];
  const openOne = async () => {
    const store = openSqliteControlStore({ file });
    opened.push(store);
    return store;
  };
  return {
    store: await openOne(),
    openAnother: openOne,
    cleanup: async () => {
      for (const store of opened) await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('openSqliteControlStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'domicile-control-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the database file readable and writable by its owner only', async () => {
    const file = join(dir, 'control.db');
    const store = openSqliteControlStore({ file });
    await store.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  describe('when the file was written by a newer version', () => {
    it('refuses to open it', async () => {
      const file = join(dir, 'control.db');
      await openSqliteControlStore({ file }).close();
      const db = new Database(file);
      db.prepare(
        'INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, 2, ?, 0)',
      ).run(CONTROL_STORE_COMPONENT, 'from-the-future');
      db.close();

      let error: unknown;
      try {
        openSqliteControlStore({ file });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(DomicileError);
      expect(error).toHaveProperty('code', 'DOMICILE_ERR_STORE_UNAVAILABLE');
    });
  });
});
