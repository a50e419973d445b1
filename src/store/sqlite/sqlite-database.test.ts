import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomicileError } from '../../domain/errors.js';
import { applyMigrations, type Migration } from './sqlite-database.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'domicile-sqlite-db-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const first: Migration = { version: 1, name: 'create-a', sql: 'CREATE TABLE a (x INTEGER) STRICT' };
const second: Migration = { version: 2, name: 'create-b', sql: 'CREATE TABLE b (y INTEGER) STRICT' };

function tables(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => row.name);
}

function applied(db: Database.Database): unknown[] {
  return db
    .prepare('SELECT component, version, name FROM schema_migrations ORDER BY component, version')
    .all();
}

describe('applyMigrations', () => {
  let db: Database.Database;

  beforeEach(() => {
    db = new Database(path.join(fs.mkdtempSync(path.join(root, 'case-')), 'test.sqlite'));
  });

  afterEach(() => {
    db.close();
  });

  it('applies the steps in order and records each', () => {
    applyMigrations(db, 'demo', [first, second], 'test');
    expect(tables(db)).toEqual(['a', 'b', 'schema_migrations']);
    expect(applied(db)).toEqual([
      { component: 'demo', version: 1, name: 'create-a' },
      { component: 'demo', version: 2, name: 'create-b' },
    ]);
  });

  describe('when some steps were applied before', () => {
    it('applies only the new steps', () => {
      applyMigrations(db, 'demo', [first], 'test');
      db.prepare('INSERT INTO a (x) VALUES (42)').run();
      applyMigrations(db, 'demo', [first, second], 'test');
      expect(tables(db)).toEqual(['a', 'b', 'schema_migrations']);
      expect(db.prepare('SELECT x FROM a').all()).toEqual([{ x: 42 }]);
      expect(applied(db)).toHaveLength(2);
    });
  });

  describe('when a step fails', () => {
    it('applies none of the steps of that run', () => {
      const broken: Migration = {
        version: 2,
        name: 'broken',
        sql: 'CREATE TABLE c (z INTEGER); SELECT * FROM nowhere',
      };
      expect(() => applyMigrations(db, 'demo', [first, broken], 'test')).toThrow();
      expect(tables(db)).toEqual([]);
    });
  });

  describe('when the file records a newer version', () => {
    it('refuses with DOMICILE_ERR_STORE_UNAVAILABLE and applies nothing', () => {
      applyMigrations(db, 'demo', [first, second], 'test');
      const third: Migration = { version: 3, name: 'create-c', sql: 'CREATE TABLE c (z INTEGER)' };
      expect(() => applyMigrations(db, 'demo', [first], 'ctx')).toThrow(
        expect.objectContaining({
          code: 'DOMICILE_ERR_STORE_UNAVAILABLE',
          message: 'ctx: schema `demo` is at version 2, newer than this build supports (1): upgrade domicile',
        }),
      );
      expect(applied(db)).toHaveLength(2);
      expect(() => applyMigrations(db, 'demo', [first, second, third], 'ctx')).not.toThrow();
    });
  });

  describe('when components share a file', () => {
    it('versions each schema separately', () => {
      applyMigrations(db, 'one', [first, second], 'test');
      applyMigrations(
        db,
        'two',
        [{ version: 1, name: 'create-t', sql: 'CREATE TABLE t (v INTEGER)' }],
        'test',
      );
      expect(applied(db)).toEqual([
        { component: 'one', version: 1, name: 'create-a' },
        { component: 'one', version: 2, name: 'create-b' },
        { component: 'two', version: 1, name: 'create-t' },
      ]);
    });
  });

  describe('when the steps are not numbered 1, 2, 3…', () => {
    it('refuses with DOMICILE_ERR_INTERNAL before touching the file', () => {
      expect(() => applyMigrations(db, 'demo', [second], 'test')).toThrow(DomicileError);
      expect(() => applyMigrations(db, 'demo', [first, first], 'test')).toThrow(
        expect.objectContaining({ code: 'DOMICILE_ERR_INTERNAL' }),
      );
      expect(tables(db)).toEqual([]);
    });
  });
});
