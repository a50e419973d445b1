/**
 * The local keyring: keys in a SQLite file of their own, next to but apart from the data store,
 * so a data backup never carries key material (DESIGN.md "Data protection").
 *
 * Hierarchy: the master key wraps each jurisdiction's KEK and the region's own data key; a KEK
 * wraps the DEKs of that jurisdiction's subjects. Every wrap is bound by its AAD to what it wraps
 * (see `envelope.ts`), so rows swapped inside the file fail to unwrap instead of decrypting the
 * wrong subject's data. The file is opened with `secure_delete` so destroyed keys are overwritten
 * on disk, and each destruction checkpoints the WAL so no copy lingers there either (E1).
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { DomicileError, isDomicileError } from '../domain/errors.js';
import type { JurisdictionId, RegionId, SubjectId } from '../domain/ids.js';
import { LruCache } from '../domain/lru-cache.js';
import {
  KEY_BYTES,
  openKeyBackup,
  sealKeyBackup,
  unwrapKey,
  WRAPPED_KEY_BYTES,
  wrapKey,
} from './envelope.js';
import type {
  BackedUpSubjectKey,
  DataKey,
  DestroyedKeys,
  JurisdictionKeyMaterial,
  KeyRestoreOutcome,
  Keyring,
  WrappedKey,
} from './keyring.js';

/** Options of `openLocalKeyring`. */
export interface LocalKeyringOptions {
  readonly regionId: RegionId;
  /** The keyring's SQLite file; created (mode 0600) when missing. Never the data store's file. */
  readonly file: string;
  /** The 32-byte master key (see `loadMasterKey`). */
  readonly masterKey: Uint8Array;
  /** Jurisdictions whose keys this region may hold (residency rule R1). */
  readonly allowedJurisdictions: Iterable<JurisdictionId>;
  /** Unwrapped subject DEKs kept in memory; 10,000 when omitted. */
  readonly cacheSize?: number;
}

// The subset of better-sqlite3 this adapter uses: one connection, prepared statements,
// transactions and pragmas.
type Db = Database.Database;

interface KekRow {
  readonly id: string;
  readonly wrapped: Buffer;
}

interface SubjectKeyRow {
  readonly id: string;
  readonly kek_id: string;
  readonly wrapped: Buffer;
}

interface BackedUpKeyRow extends SubjectKeyRow {
  readonly subject_id: string;
  readonly created_at: number;
}

interface RegionKeyRow {
  readonly id: string;
  readonly wrapped: Buffer;
}

// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
// Append only: a released migration never changes.
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
  ) STRICT;

  -- one row per KEK of a jurisdiction, wrapped by the master key; the newest wraps new DEKs
  CREATE TABLE keks (
    jurisdiction TEXT NOT NULL,
    id           TEXT NOT NULL,
    wrapped      BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (jurisdiction, id)
  ) STRICT, WITHOUT ROWID;

  -- one DEK per subject, wrapped by the KEK kek_id of its jurisdiction
  CREATE TABLE subject_keys (
    jurisdiction TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    id           TEXT NOT NULL UNIQUE,
    kek_id       TEXT NOT NULL,
    wrapped      BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (jurisdiction, subject_id),
    FOREIGN KEY (jurisdiction, kek_id) REFERENCES keks (jurisdiction, id)
  ) STRICT, WITHOUT ROWID;

  -- the region's own data key for global-class records, wrapped by the master key
  CREATE TABLE region_keys (
    region_id  TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  -- ids (random, not linked to a subject) of destroyed DEKs, so a replica cannot bring one back
  CREATE TABLE destroyed_keys (
    id           TEXT PRIMARY KEY,
    destroyed_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
];

const MASTER_CHECK_LABEL = 'domicile/keyring/master-check/v1';
const KEK_ID_LABEL = 'domicile/kek-id/v1';
const DEK_ID = /^dek_[0-9a-f]{16}$/;
const KEK_ID = /^kek_[0-9a-f]{16}$/;
const REGION_KEY_PREFIX = 'rk_';
const KEY_BACKUP_SALT = 'domicile/key-backup/v1';

/**
 * The id of a KEK: a key check value (truncated HMAC of a fixed label), so every region holding
 * the same KEK names it the same and a wrapped DEK's `kekId` finds its KEK after replication.
 * It reveals nothing usable about the KEK.
 */
export function kekIdOf(kek: Uint8Array): string {
  return `kek_${createHmac('sha256', kek).update(KEK_ID_LABEL).digest().subarray(0, 8).toString('hex')}`;
}

function newKeyId(prefix: string): string {
  // random: a key id is stored next to ciphertext and must not reveal whose key it is
  return `${prefix}${randomBytes(8).toString('hex')}`;
}

function masterCheck(masterKey: Uint8Array): Buffer {
  return createHmac('sha256', masterKey).update(MASTER_CHECK_LABEL).digest();
}

function unavailable(message: string, cause?: unknown): DomicileError {
  return new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', message, cause === undefined ? {} : { cause });
}

function openDatabase(file: string): Db {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // create the file ourselves so it starts 0600; SQLite gives -wal and -shm the same mode
    closeSync(openSync(file, 'a', 0o600));
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('secure_delete = ON');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  } catch (cause) {
    throw unavailable(`keyring \`${file}\`: cannot open`, cause);
  }
}

function migrate(db: Db, file: string): void {
  const applied = db.pragma('user_version', { simple: true });
  if (typeof applied !== 'number' || applied > MIGRATIONS.length) {
    throw unavailable(
      `keyring \`${file}\`: schema version ${String(applied)} is newer than this release knows`,
    );
  }
  MIGRATIONS.slice(applied).forEach((sql, i) => {
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${applied + i + 1}`);
    })();
  });
}

/** Binds the file to its region and master key on first open; refuses another on later opens. */
function checkOwner(db: Db, file: string, regionId: RegionId, masterKey: Uint8Array): void {
  const read = db.prepare<[string], { value: Buffer }>('SELECT value FROM meta WHERE name = ?');
  const write = db.prepare<[string, Buffer]>('INSERT INTO meta (name, value) VALUES (?, ?)');
  const expected = masterCheck(masterKey);
  db.transaction(() => {
    const region = read.get('region_id');
    const check = read.get('master_check');
    if (!region || !check) {
      write.run('region_id', Buffer.from(regionId, 'utf8'));
      write.run('master_check', expected);
      return;
    }
    const owner = region.value.toString('utf8');
    if (owner !== regionId) {
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `keyring \`${file}\`: belongs to region \`${owner}\`, not \`${regionId}\``,
      );
    }
    if (check.value.length !== expected.length || !timingSafeEqual(check.value, expected)) {
      throw unavailable(`keyring \`${file}\`: the master key is not the one this keyring was created with`);
    }
  })();
}

/**
 * Opens (creating when missing) the local keyring of a region.
 *
 * Refuses (`DOMICILE_ERR_KEYRING_UNAVAILABLE`) a file created with another master key, and
 * (`DOMICILE_ERR_CONFIG`) a file of another region or a master key that is not 32 bytes.
 *
 * @example
 * const master = await loadMasterKey({ env: process.env, file: 'data/master.key' });
 * const keyring = await openLocalKeyring({
 *   regionId, file: 'data/keyring.db', masterKey: master.key, allowedJurisdictions: ['EU'],
 * });
 */
export async function openLocalKeyring(options: LocalKeyringOptions): Promise<Keyring> {
  if (options.masterKey.length !== KEY_BYTES) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `keyring \`${options.file}\`: the master key must be ${KEY_BYTES} bytes`,
    );
  }
  const cacheSize = options.cacheSize ?? 10_000;
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 1) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `keyring \`${options.file}\`: cache size must be a positive integer`,
    );
  }
  const db = openDatabase(options.file);
  try {
    migrate(db, options.file);
    checkOwner(db, options.file, options.regionId, options.masterKey);
  } catch (err) {
    db.close();
    if (isDomicileError(err)) throw err;
    throw unavailable(`keyring \`${options.file}\`: cannot open`, err);
  }
  return new LocalKeyring(db, options, cacheSize);
}

function prepareStatements(db: Db) {
  return {
    kek: db.prepare<[string, string], KekRow>(
      'SELECT id, wrapped FROM keks WHERE jurisdiction = ? AND id = ?',
    ),
    activeKek: db.prepare<[string], KekRow>(
      'SELECT id, wrapped FROM keks WHERE jurisdiction = ? ORDER BY seq DESC LIMIT 1',
    ),
    insertKek: db.prepare<[string, string, Buffer, number]>(
      `INSERT INTO keks (jurisdiction, id, wrapped, seq, installed_at)
       VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM keks), ?)`,
    ),
    deleteKeks: db.prepare<[string]>('DELETE FROM keks WHERE jurisdiction = ?'),
    allKeks: db.prepare<[string], KekRow>('SELECT id, wrapped FROM keks WHERE jurisdiction = ? ORDER BY seq'),
    allSubjectKeys: db.prepare<[string], BackedUpKeyRow>(
      'SELECT subject_id, id, kek_id, wrapped, created_at FROM subject_keys WHERE jurisdiction = ? ORDER BY subject_id',
    ),
    allDestroyed: db.prepare<[], { id: string }>('SELECT id FROM destroyed_keys ORDER BY id'),
    subjectKey: db.prepare<[string, string], SubjectKeyRow>(
      'SELECT id, kek_id, wrapped FROM subject_keys WHERE jurisdiction = ? AND subject_id = ?',
    ),
    insertSubjectKey: db.prepare<[string, string, string, string, Buffer, number]>(
      `INSERT INTO subject_keys (jurisdiction, subject_id, id, kek_id, wrapped, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    deleteSubjectKey: db.prepare<[string, string]>(
      'DELETE FROM subject_keys WHERE jurisdiction = ? AND subject_id = ?',
    ),
    tombstoneJurisdiction: db.prepare<[number, string]>(
      'INSERT OR IGNORE INTO destroyed_keys (id, destroyed_at) SELECT id, ? FROM subject_keys WHERE jurisdiction = ?',
    ),
    deleteSubjectKeys: db.prepare<[string]>('DELETE FROM subject_keys WHERE jurisdiction = ?'),
    tombstone: db.prepare<[string, number]>(
      'INSERT OR IGNORE INTO destroyed_keys (id, destroyed_at) VALUES (?, ?)',
    ),
    isDestroyed: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM destroyed_keys WHERE id = ?'),
    regionKey: db.prepare<[string], RegionKeyRow>('SELECT id, wrapped FROM region_keys WHERE region_id = ?'),
    insertRegionKey: db.prepare<[string, string, Buffer, number]>(
      'INSERT INTO region_keys (region_id, id, wrapped, created_at) VALUES (?, ?, ?, ?)',
    ),
  };
}

class LocalKeyring implements Keyring {
  readonly regionId: RegionId;
  readonly #db: Db;
  readonly #masterKey: Buffer;
  readonly #allowed: ReadonlySet<JurisdictionId>;
  /**
   * Subject DEKs by `jurisdiction NUL subject`: unwrapped, and as stored (wrapped), which
   * `exportSubjectKey` hands out on every replicated write.
   */
  readonly #subjectKeys: LruCache<{ readonly dataKey: DataKey; readonly wrapped: WrappedKey }>;
  /** Unwrapped KEKs by `jurisdiction NUL kek id`: few, kept until destroyed or closed. */
  readonly #keks = new Map<string, Buffer>();
  #regionKey: DataKey | undefined;
  #closed = false;
  readonly #sql: ReturnType<typeof prepareStatements>;

  constructor(db: Db, options: LocalKeyringOptions, cacheSize: number) {
    this.regionId = options.regionId;
    this.#db = db;
    this.#masterKey = Buffer.from(options.masterKey);
    this.#allowed = new Set(options.allowedJurisdictions);
    this.#subjectKeys = new LruCache(cacheSize);
    this.#sql = prepareStatements(db);
  }

  async installKek(jurisdiction: JurisdictionId, kek: Uint8Array): Promise<void> {
    this.#requireAllowed(jurisdiction);
    if (kek.length !== KEY_BYTES) {
      throw new DomicileError(
        'DOMICILE_ERR_CONFIG',
        `region \`${this.regionId}\`: the KEK of jurisdiction \`${jurisdiction}\` must be ${KEY_BYTES} bytes`,
      );
    }
    const kekId = kekIdOf(kek);
    this.#run('installing a KEK', () => {
      // installing the same KEK again is a no-op; another KEK becomes the one new DEKs use
      if (this.#sql.kek.get(jurisdiction, kekId)) return;
      const wrapped = wrapKey(this.#masterKey, { kind: 'kek', jurisdiction, kekId }, kek);
      this.#sql.insertKek.run(jurisdiction, kekId, wrapped, Date.now());
    });
  }

  async hasKek(jurisdiction: JurisdictionId): Promise<boolean> {
    return this.#run('reading a KEK', () => this.#sql.activeKek.get(jurisdiction) !== undefined);
  }

  async subjectKey(
    jurisdiction: JurisdictionId,
    subjectId: SubjectId,
    create: boolean,
  ): Promise<DataKey | undefined> {
    this.#requireAllowed(jurisdiction);
    const cacheKey = `${jurisdiction}\0${subjectId}`;
    const cached = this.#subjectKeys.get(cacheKey);
    if (cached) return cached.dataKey;
    return this.#run('reading a subject key', () => {
      const row = this.#sql.subjectKey.get(jurisdiction, subjectId);
      if (row) return this.#unwrapSubjectKey(jurisdiction, subjectId, row, cacheKey);
      const active = this.#sql.activeKek.get(jurisdiction);
      if (!active) throw this.#noKek(jurisdiction);
      if (!create) return undefined;
      return this.#createSubjectKey(jurisdiction, subjectId, active, cacheKey);
    });
  }

  /** Creates, wraps under the active KEK, stores and caches a new DEK (inside a transaction). */
  #createSubjectKey(
    jurisdiction: JurisdictionId,
    subjectId: SubjectId,
    active: KekRow,
    cacheKey: string,
  ): DataKey {
    const id = newKeyId('dek_');
    const key = randomBytes(KEY_BYTES);
    const aad = { kind: 'subject-key', jurisdiction, subjectId, keyId: id, kekId: active.id } as const;
    const wrapped = wrapKey(this.#kek(jurisdiction, active), aad, key);
    this.#sql.insertSubjectKey.run(jurisdiction, subjectId, id, active.id, wrapped, Date.now());
    return this.#remember(cacheKey, { id, key }, { id, kekId: active.id, wrapped });
  }

  async subjectKeys(
    jurisdiction: JurisdictionId,
    subjectIds: readonly SubjectId[],
    create: boolean,
  ): Promise<Map<SubjectId, DataKey>> {
    this.#requireAllowed(jurisdiction);
    const found = new Map<SubjectId, DataKey>();
    const missing: SubjectId[] = [];
    for (const subjectId of new Set(subjectIds)) {
      const cached = this.#subjectKeys.get(`${jurisdiction}\0${subjectId}`);
      if (cached) found.set(subjectId, cached.dataKey);
      else missing.push(subjectId);
    }
    if (missing.length === 0) return found;
    return this.#run('reading subject keys', () => {
      const active = this.#sql.activeKek.get(jurisdiction);
      for (const subjectId of missing) {
        const cacheKey = `${jurisdiction}\0${subjectId}`;
        const row = this.#sql.subjectKey.get(jurisdiction, subjectId);
        if (row) {
          found.set(subjectId, this.#unwrapSubjectKey(jurisdiction, subjectId, row, cacheKey));
          continue;
        }
        if (!create) continue;
        if (!active) throw this.#noKek(jurisdiction);
        found.set(subjectId, this.#createSubjectKey(jurisdiction, subjectId, active, cacheKey));
      }
      return found;
    });
  }

  async exportSubjectKey(
    jurisdiction: JurisdictionId,
    subjectId: SubjectId,
  ): Promise<WrappedKey | undefined> {
    this.#requireAllowed(jurisdiction);
    const cached = this.#subjectKeys.get(`${jurisdiction}\0${subjectId}`)?.wrapped;
    if (cached) return { ...cached, wrapped: cached.wrapped.slice() };
    return this.#run('exporting a subject key', () => {
      const row = this.#sql.subjectKey.get(jurisdiction, subjectId);
      return row && { id: row.id, kekId: row.kek_id, wrapped: Uint8Array.from(row.wrapped) };
    });
  }

  async importSubjectKey(jurisdiction: JurisdictionId, subjectId: SubjectId, key: WrappedKey): Promise<void> {
    this.#requireAllowed(jurisdiction);
    // key comes from another region and is untrusted until it unwraps under our KEK
    if (!DEK_ID.test(key.id) || !KEK_ID.test(key.kekId) || key.wrapped.length !== WRAPPED_KEY_BYTES) {
      throw new DomicileError(
        'DOMICILE_ERR_INTEGRITY',
        `region \`${this.regionId}\`: imported key is malformed`,
      );
    }
    const cacheKey = `${jurisdiction}\0${subjectId}`;
    // the common case on every replicated write: this region already holds exactly this key
    if (this.#subjectKeys.get(cacheKey)?.dataKey.id === key.id) return;
    const wrapped = Buffer.from(key.wrapped);
    this.#run('importing a subject key', () => {
      // a refusal for good, not unavailability: retrying cannot bring an erased subject's key back
      if (this.#sql.isDestroyed.get(key.id)) {
        throw new DomicileError(
          'DOMICILE_ERR_STATE_CONFLICT',
          `region \`${this.regionId}\`: refusing to import key \`${key.id}\`: it was destroyed in this region`,
        );
      }
      const kekRow = this.#sql.kek.get(jurisdiction, key.kekId);
      if (!kekRow) {
        throw unavailable(
          `region \`${this.regionId}\`: cannot import key \`${key.id}\`: KEK \`${key.kekId}\` of jurisdiction \`${jurisdiction}\` is not installed`,
        );
      }
      const kek = this.#kek(jurisdiction, kekRow);
      // INVARIANT: a wrapped DEK only unwraps for the jurisdiction, subject and id it was made for
      const dek = unwrapKey(
        kek,
        { kind: 'subject-key', jurisdiction, subjectId, keyId: key.id, kekId: key.kekId },
        wrapped,
      );
      const existing = this.#sql.subjectKey.get(jurisdiction, subjectId);
      if (existing) {
        if (existing.id === key.id) {
          // held already (imported by an earlier process): remembered, so the next replica of this
          // subject takes the cached path above instead of a read and an unwrap
          this.#remember(
            cacheKey,
            { id: key.id, key: dek },
            { id: existing.id, kekId: existing.kek_id, wrapped: existing.wrapped },
          );
          return;
        }
        throw new DomicileError(
          'DOMICILE_ERR_STATE_CONFLICT',
          `region \`${this.regionId}\`: refusing to import key \`${key.id}\`: the subject already has key \`${existing.id}\``,
        );
      }
      this.#sql.insertSubjectKey.run(jurisdiction, subjectId, key.id, key.kekId, wrapped, Date.now());
      this.#remember(cacheKey, { id: key.id, key: dek }, { id: key.id, kekId: key.kekId, wrapped });
    });
  }

  async destroySubjectKey(jurisdiction: JurisdictionId, subjectId: SubjectId): Promise<boolean> {
    // no residency check: erasure must work in every region, also one that may no longer hold keys
    const existed = this.#run('destroying a subject key', () => {
      this.#subjectKeys.delete(`${jurisdiction}\0${subjectId}`);
      const row = this.#sql.subjectKey.get(jurisdiction, subjectId);
      if (!row) return false;
      this.#sql.tombstone.run(row.id, Date.now());
      this.#sql.deleteSubjectKey.run(jurisdiction, subjectId);
      return true;
    });
    if (existed) this.#checkpoint();
    return existed;
  }

  async destroyJurisdictionKeys(jurisdiction: JurisdictionId): Promise<DestroyedKeys> {
    const prefix = `${jurisdiction}\0`;
    const destroyed = this.#run('destroying the keys of a jurisdiction', () => {
      this.#subjectKeys.deleteWhere((k) => k.startsWith(prefix));
      for (const [k, kek] of [...this.#keks]) {
        if (!k.startsWith(prefix)) continue;
        // KEKs are only used synchronously inside `#run`, so none is in use here: wipe the copy
        kek.fill(0);
        this.#keks.delete(k);
      }
      this.#sql.tombstoneJurisdiction.run(Date.now(), jurisdiction);
      const subjectKeys = this.#sql.deleteSubjectKeys.run(jurisdiction).changes;
      const keks = this.#sql.deleteKeks.run(jurisdiction).changes;
      return { keks, subjectKeys };
    });
    if (destroyed.keks + destroyed.subjectKeys > 0) this.#checkpoint();
    return destroyed;
  }

  async exportJurisdictionKeys(jurisdiction: JurisdictionId): Promise<JurisdictionKeyMaterial> {
    this.#requireAllowed(jurisdiction);
    return this.#run('exporting the keys of a jurisdiction', () => ({
      // copies: the cached KEKs stay ours, the caller wipes what it got
      keks: this.#sql.allKeks
        .all(jurisdiction)
        .map((row) => ({ id: row.id, key: Buffer.from(this.#kek(jurisdiction, row)) })),
      subjectKeys: this.#sql.allSubjectKeys.all(jurisdiction).map((row) => ({
        subjectId: row.subject_id as SubjectId,
        id: row.id,
        kekId: row.kek_id,
        wrapped: Uint8Array.from(row.wrapped),
        createdAt: row.created_at,
      })),
      destroyed: this.#sql.allDestroyed.all().map((row) => row.id),
    }));
  }

  async sealKeyBackup(jurisdiction: JurisdictionId, backupId: string, content: Uint8Array): Promise<Buffer> {
    // INVARIANT: key material never leaves the jurisdiction: only its own regions seal (or open) it
    this.#requireAllowed(jurisdiction);
    const key = this.#keyBackupKey();
    try {
      return sealKeyBackup(key, { jurisdiction, regionId: this.regionId, backupId }, content);
    } finally {
      key.fill(0);
    }
  }

  async openKeyBackup(jurisdiction: JurisdictionId, backupId: string, sealed: Uint8Array): Promise<Buffer> {
    this.#requireAllowed(jurisdiction);
    const key = this.#keyBackupKey();
    try {
      return openKeyBackup(key, { jurisdiction, regionId: this.regionId, backupId }, sealed);
    } finally {
      key.fill(0);
    }
  }

  async restoreJurisdictionKeys(
    jurisdiction: JurisdictionId,
    material: JurisdictionKeyMaterial,
    skip: (key: BackedUpSubjectKey) => boolean,
  ): Promise<KeyRestoreOutcome> {
    this.#requireAllowed(jurisdiction);
    const counts = {
      keks: 0,
      keksPresent: 0,
      restored: 0,
      present: 0,
      erased: 0,
      destroyed: 0,
      conflicts: 0,
    };
    this.#run('restoring the keys of a jurisdiction', () => {
      const now = Date.now();
      // oldest first, so the newest KEK of the backup becomes the one that wraps new DEKs
      for (const kek of material.keks) {
        // untrusted until its id matches its bytes (the id is a key check value)
        if (kek.key.length !== KEY_BYTES || kekIdOf(kek.key) !== kek.id) {
          throw new DomicileError(
            'DOMICILE_ERR_INTEGRITY',
            `region \`${this.regionId}\`: a restored KEK does not match its id`,
          );
        }
        if (this.#sql.kek.get(jurisdiction, kek.id)) {
          counts.keksPresent++;
          continue;
        }
        const wrapped = wrapKey(this.#masterKey, { kind: 'kek', jurisdiction, kekId: kek.id }, kek.key);
        this.#sql.insertKek.run(jurisdiction, kek.id, wrapped, now);
        counts.keks++;
      }
      for (const id of material.destroyed) this.#sql.tombstone.run(id, now);
      for (const key of material.subjectKeys) {
        if (!DEK_ID.test(key.id) || !KEK_ID.test(key.kekId) || key.wrapped.length !== WRAPPED_KEY_BYTES) {
          throw new DomicileError(
            'DOMICILE_ERR_INTEGRITY',
            `region \`${this.regionId}\`: a restored key is malformed`,
          );
        }
        if (this.#sql.isDestroyed.get(key.id)) {
          counts.destroyed++;
          continue;
        }
        const existing = this.#sql.subjectKey.get(jurisdiction, key.subjectId);
        if (skip(key)) {
          // INVARIANT E1: an erased subject's key is not restored, and cannot come back by replication
          if (existing?.id !== key.id) this.#sql.tombstone.run(key.id, now);
          counts.erased++;
          continue;
        }
        if (existing) {
          if (existing.id === key.id) counts.present++;
          else counts.conflicts++;
          continue;
        }
        const kekRow = this.#sql.kek.get(jurisdiction, key.kekId);
        if (!kekRow) throw this.#noKek(jurisdiction);
        const wrapped = Buffer.from(key.wrapped);
        // INVARIANT: a restored DEK must unwrap for the jurisdiction, subject and id it was made for
        unwrapKey(
          this.#kek(jurisdiction, kekRow),
          { kind: 'subject-key', jurisdiction, subjectId: key.subjectId, keyId: key.id, kekId: key.kekId },
          wrapped,
        );
        this.#sql.insertSubjectKey.run(
          jurisdiction,
          key.subjectId,
          key.id,
          key.kekId,
          wrapped,
          key.createdAt,
        );
        counts.restored++;
      }
    });
    return counts;
  }

  async regionKey(): Promise<DataKey> {
    if (this.#regionKey) return this.#regionKey;
    return this.#run('reading the region key', () => {
      const existing = this.#loadRegionKey();
      if (existing) return existing;
      const id = newKeyId(REGION_KEY_PREFIX);
      const key = randomBytes(KEY_BYTES);
      const wrapped = wrapKey(
        this.#masterKey,
        { kind: 'region-key', regionId: this.regionId, keyId: id },
        key,
      );
      this.#sql.insertRegionKey.run(this.regionId, id, wrapped, Date.now());
      this.#regionKey = { id, key };
      return this.#regionKey;
    });
  }

  async keyById(
    jurisdiction: JurisdictionId,
    subjectId: SubjectId,
    keyId: string,
  ): Promise<DataKey | undefined> {
    if (keyId.startsWith(REGION_KEY_PREFIX)) {
      const regionKey = this.#regionKey ?? this.#run('reading the region key', () => this.#loadRegionKey());
      return regionKey?.id === keyId ? regionKey : undefined;
    }
    const key = await this.subjectKey(jurisdiction, subjectId, false);
    return key?.id === keyId ? key : undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // DEKs were handed to callers and may be in use; the master key and KEKs never left this object
    this.#subjectKeys.clear();
    for (const kek of this.#keks.values()) kek.fill(0);
    this.#keks.clear();
    this.#masterKey.fill(0);
    this.#regionKey = undefined;
    try {
      this.#db.close();
    } catch (cause) {
      throw unavailable(`region \`${this.regionId}\`: closing the keyring failed`, cause);
    }
  }

  #requireAllowed(jurisdiction: JurisdictionId): void {
    if (!this.#allowed.has(jurisdiction)) {
      throw new DomicileError(
        'DOMICILE_ERR_RESIDENCY',
        `region \`${this.regionId}\`: refusing keys of jurisdiction \`${jurisdiction}\`: not an allowed jurisdiction of this region`,
      );
    }
  }

  /**
   * This region's key-backup key: derived from the master key and the region id (HKDF-SHA256),
   * not stored, so a region whose keyring file is lost can still open its key backups.
   */
  #keyBackupKey(): Buffer {
    if (this.#closed) throw unavailable(`region \`${this.regionId}\`: the keyring is closed`);
    return Buffer.from(hkdfSync('sha256', this.#masterKey, KEY_BACKUP_SALT, this.regionId, KEY_BYTES));
  }

  #noKek(jurisdiction: JurisdictionId): DomicileError {
    return unavailable(
      `region \`${this.regionId}\`: no KEK of jurisdiction \`${jurisdiction}\` is installed: install it before storing or reading its subjects' data`,
    );
  }

  /** Runs `fn` in one transaction; driver errors become `DOMICILE_ERR_KEYRING_UNAVAILABLE`. */
  #run<T>(what: string, fn: () => T): T {
    if (this.#closed) throw unavailable(`region \`${this.regionId}\`: ${what}: the keyring is closed`);
    try {
      return this.#db.transaction(fn).immediate();
    } catch (err) {
      if (isDomicileError(err)) throw err;
      throw unavailable(`region \`${this.regionId}\`: ${what} failed`, err);
    }
  }

  #checkpoint(): void {
    // secure_delete zeroes the freed cells, but the old page images may still sit in the WAL
    // (and the zeroed ones not yet in the main file): move everything into the file and empty the WAL
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (cause) {
      throw unavailable(`region \`${this.regionId}\`: checkpointing the keyring failed`, cause);
    }
  }

  #kek(jurisdiction: JurisdictionId, row: KekRow): Buffer {
    const cacheKey = `${jurisdiction}\0${row.id}`;
    const cached = this.#keks.get(cacheKey);
    if (cached) return cached;
    const kek = unwrapKey(this.#masterKey, { kind: 'kek', jurisdiction, kekId: row.id }, row.wrapped);
    if (kekIdOf(kek) !== row.id) {
      throw new DomicileError(
        'DOMICILE_ERR_INTEGRITY',
        `region \`${this.regionId}\`: KEK \`${row.id}\` of jurisdiction \`${jurisdiction}\` does not match its id`,
      );
    }
    this.#keks.set(cacheKey, kek);
    return kek;
  }

  /** Caches a subject's DEK with its wrapped form (copied: the caller's buffer may be reused). */
  #remember(cacheKey: string, dataKey: DataKey, wrapped: WrappedKey): DataKey {
    this.#subjectKeys.set(cacheKey, {
      dataKey,
      wrapped: { ...wrapped, wrapped: Uint8Array.from(wrapped.wrapped) },
    });
    return dataKey;
  }

  #unwrapSubjectKey(
    jurisdiction: JurisdictionId,
    subjectId: SubjectId,
    row: SubjectKeyRow,
    cacheKey: string,
  ): DataKey {
    // a KEK already unwrapped needs no second read: bulk reads unwrap thousands of DEKs under one
    // KEK, and destroying a jurisdiction's keys drops its KEKs from the cache with them
    let kek = this.#keks.get(`${jurisdiction}\0${row.kek_id}`);
    if (kek === undefined) {
      const kekRow = this.#sql.kek.get(jurisdiction, row.kek_id);
      if (!kekRow) throw this.#noKek(jurisdiction);
      kek = this.#kek(jurisdiction, kekRow);
    }
    const key = unwrapKey(
      kek,
      { kind: 'subject-key', jurisdiction, subjectId, keyId: row.id, kekId: row.kek_id },
      row.wrapped,
    );
    return this.#remember(
      cacheKey,
      { id: row.id, key },
      { id: row.id, kekId: row.kek_id, wrapped: row.wrapped },
    );
  }

  #loadRegionKey(): DataKey | undefined {
    const row = this.#sql.regionKey.get(this.regionId);
    if (!row) return undefined;
    const key = unwrapKey(
      this.#masterKey,
      { kind: 'region-key', regionId: this.regionId, keyId: row.id },
      row.wrapped,
    );
    this.#regionKey = { id: row.id, key };
    return this.#regionKey;
  }
}
