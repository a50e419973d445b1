/**
 * The transparency log's storage in a region's SQLite file: sequenced entries, tiles and the
 * latest checkpoint of one log (a home region may hold the logs of several jurisdictions).
 * Appends share the region file's group commit with record writes, so an operation and its audit
 * entry made in the same turn of the event loop cost one fsync.
 *
 * The lookup index (entries by subject pseudonym) is built after integration, not at append: an
 * entry carries its lookup key in its own row, written in sequence, and after each integration
 * the keys of the integrated entries not indexed yet are copied into `tlog_lookup` in key order.
 * Indexing at append put one random-key insert into every append's transaction, which cost more
 * than the rest of the append together (each one dirtied a leaf page of the index). Indexing in
 * the integration's transaction blocked the event loop for 50–100 ms once a second on a log of a
 * few hundred thousand entries (about a thousand leaf pages dirtied and committed at once), so the
 * keys go in by slices of `INDEX_SLICE`, each a write of its own, and `indexed_size` says how far
 * the index is complete. A lookup reads the index and scans the entries from `indexed_size` on
 * (about one integration period): it finds every durable entry whatever the index's progress, and
 * a crash in the middle of indexing loses nothing (the next run of `indexIntegrated` goes on from
 * `indexed_size`; the inserts are idempotent).
 *
 * Subset of better-sqlite3 used: prepared `run`/`get`/`all`, `raw()`; transactions come from
 * `WriteBatcher`.
 */
import { TlogError } from '../../tlog/errors.js';
import type { IntegrationCommit, LogState } from '../../tlog/log.js';
import type { IndexedLogStorage } from '../region-store.js';
import { applyMigrations, type Migration, runGuarded } from './sqlite-database.js';
import type { SqliteRegionStore } from './sqlite-store.js';

/** Schema component name of the log tables in `schema_migrations`. */
export const TLOG_COMPONENT = 'tlog';

/** Migrations of the log tables. */
export const TLOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create log tables',
    sql: `
      CREATE TABLE tlog_state (
        log_id          TEXT    NOT NULL PRIMARY KEY,
        sequenced_size  INTEGER NOT NULL,
        integrated_size INTEGER NOT NULL,
        checkpoint      TEXT
      ) STRICT;
      CREATE TABLE tlog_entries (
        log_id TEXT    NOT NULL,
        idx    INTEGER NOT NULL,
        data   BLOB    NOT NULL,
        PRIMARY KEY (log_id, idx)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE tlog_lookup (
        log_id TEXT    NOT NULL,
        key    TEXT    NOT NULL,
        idx    INTEGER NOT NULL,
        PRIMARY KEY (log_id, key, idx)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE tlog_tiles (
        log_id TEXT    NOT NULL,
        level  INTEGER NOT NULL,
        idx    INTEGER NOT NULL,
        hashes BLOB    NOT NULL,
        PRIMARY KEY (log_id, level, idx)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    // entries appended before this step are in tlog_lookup already and keep a NULL key
    name: 'lookup keys indexed at integration',
    sql: 'ALTER TABLE tlog_entries ADD COLUMN lookup_key TEXT;',
  },
  {
    version: 3,
    // until this step every integration indexed its entries in its own transaction
    name: 'lookup index built in slices after integration',
    sql: `
      ALTER TABLE tlog_state ADD COLUMN indexed_size INTEGER NOT NULL DEFAULT 0;
      UPDATE tlog_state SET indexed_size = integrated_size;
    `,
  },
];

/** Rows per multi-row INSERT of entries. */
const ROWS_PER_INSERT = 64;

/**
 * Index rows per write when indexing integrated entries. Measured under GET load on a fresh
 * deployment (longest event-loop block; GET p99): 1,024 rows 16–27 ms, p99 17–28 ms (many
 * medium blocks delay more requests than one long one); 256 rows 15–19 ms, p99 12–16 ms; 64 rows
 * 22–36 ms, p99 11–13 ms; the whole index in the integration's transaction 81–85 ms, p99 13–15 ms.
 */
export const INDEX_SLICE = 64;

interface StateRow {
  sequenced_size: number;
  integrated_size: number;
  indexed_size: number;
  checkpoint: string | null;
}

/**
 * Opens the storage of log `logId` in a region store's file.
 *
 * @example
 * const storage = openSqliteLogStorage(store, 'US');
 * const log = await TransparencyLog.open({ storage, origin, signer });
 */
export function openSqliteLogStorage(store: SqliteRegionStore, logId: string): IndexedLogStorage {
  const { db } = store;
  const context = `region \`${store.regionId}\`: log \`${logId}\``;
  runGuarded(db, context, 'migrate', () => applyMigrations(db, TLOG_COMPONENT, TLOG_MIGRATIONS, context));
  runGuarded(db, context, 'init', () =>
    db
      .prepare(
        'INSERT INTO tlog_state (log_id, sequenced_size, integrated_size, checkpoint) VALUES (?, 0, 0, NULL) ON CONFLICT DO NOTHING',
      )
      .run(logId),
  );
  const sql = {
    state: db.prepare<[string], StateRow>(
      'SELECT sequenced_size, integrated_size, indexed_size, checkpoint FROM tlog_state WHERE log_id = ?',
    ),
    insert: db.prepare<[string, number, Uint8Array, string | null]>(
      'INSERT INTO tlog_entries (log_id, idx, data, lookup_key) VALUES (?, ?, ?, ?)',
    ),
    // the keys of a range of entries, in entry order (the primary key's): sorted in JavaScript
    rangeKeys: db
      .prepare<[string, number, number], [string, number]>(
        `SELECT lookup_key, idx FROM tlog_entries
          WHERE log_id = ? AND idx >= ? AND idx < ? AND lookup_key IS NOT NULL`,
      )
      .raw(true),
    indexKey: db.prepare<[string, string, number]>(
      'INSERT OR IGNORE INTO tlog_lookup (log_id, key, idx) VALUES (?, ?, ?)',
    ),
    setIndexed: db.prepare<[number, string, number]>(
      'UPDATE tlog_state SET indexed_size = ? WHERE log_id = ? AND indexed_size = ?',
    ),
    // the index, plus the entries it does not cover yet (a scan of about one integration period)
    lookup: db.prepare<{ logId: string; key: string }, { idx: number }>(
      `SELECT idx FROM tlog_lookup WHERE log_id = @logId AND key = @key
       UNION
       SELECT idx FROM tlog_entries
         WHERE log_id = @logId AND lookup_key = @key
           AND idx >= (SELECT indexed_size FROM tlog_state WHERE log_id = @logId)
       ORDER BY idx`,
    ),
    setSequenced: db.prepare<[number, string]>('UPDATE tlog_state SET sequenced_size = ? WHERE log_id = ?'),
    entries: db.prepare<[string, number, number], { data: Buffer }>(
      'SELECT data FROM tlog_entries WHERE log_id = ? AND idx >= ? AND idx < ? ORDER BY idx',
    ),
    tile: db.prepare<[string, number, number], { hashes: Buffer }>(
      'SELECT hashes FROM tlog_tiles WHERE log_id = ? AND level = ? AND idx = ?',
    ),
    putTile: db.prepare<[string, number, number, Uint8Array]>(
      'INSERT INTO tlog_tiles (log_id, level, idx, hashes) VALUES (?, ?, ?, ?) ON CONFLICT (log_id, level, idx) DO UPDATE SET hashes = excluded.hashes',
    ),
    setIntegrated: db.prepare<[number, string, string, number]>(
      'UPDATE tlog_state SET integrated_size = ?, checkpoint = ? WHERE log_id = ? AND integrated_size = ?',
    ),
    setCheckpoint: db.prepare<[string, string, number]>(
      'UPDATE tlog_state SET checkpoint = ? WHERE log_id = ? AND integrated_size = ?',
    ),
  };
  // Entries go in by statements of ROWS_PER_INSERT rows (prepared once): one bind-and-step per
  // 64 rows costs far less than one per row. The parameters are (log_id, idx, data, lookup_key)
  // per row.
  const insertMany = db.prepare<unknown[]>(
    `INSERT INTO tlog_entries (log_id, idx, data, lookup_key) VALUES ${Array.from({ length: ROWS_PER_INSERT }, () => '(?, ?, ?, ?)').join(', ')}`,
  );
  const params: unknown[] = Array.from({ length: 4 * ROWS_PER_INSERT }, (_, k) =>
    k % 4 === 0 ? logId : null,
  );
  const insertEntries = (
    first: number,
    entries: readonly Uint8Array[],
    keys: readonly (string | undefined)[] | undefined,
  ): void => {
    let i = 0;
    for (; i + ROWS_PER_INSERT <= entries.length; i += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) {
        params[4 * j + 1] = first + i + j;
        params[4 * j + 2] = entries[i + j];
        params[4 * j + 3] = keys?.[i + j] ?? null;
      }
      insertMany.run(params);
    }
    for (; i < entries.length; i++) {
      sql.insert.run(logId, first + i, entries[i] as Uint8Array, keys?.[i] ?? null);
    }
    // no reference to the batch's entries outlives the write
    for (let j = 0; j < ROWS_PER_INSERT; j++) params[4 * j + 2] = null;
  };
  const state = (): StateRow => {
    const row = sql.state.get(logId);
    if (!row) throw new Error(`log \`${logId}\` has no state row`);
    return row;
  };
  /**
   * Indexes the integrated entries the index does not cover yet: their keys sorted once, then
   * written `INDEX_SLICE` rows at a time, each slice in a group commit of its own (other writes
   * go between them), `indexed_size` moved with the last. One run at a time.
   */
  const indexSlices = async (): Promise<void> => {
    const { indexed_size: from, integrated_size: to } = runGuarded(db, context, 'read state', state);
    if (from >= to) return;
    const keys = runGuarded(db, context, 'read lookup keys', () => sql.rangeKeys.all(logId, from, to));
    keys.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
    // at least one write: a range without keys still moves `indexed_size`
    const slices = Math.max(1, Math.ceil(keys.length / INDEX_SLICE));
    for (let n = 0; n < slices; n++) {
      const slice = keys.slice(n * INDEX_SLICE, (n + 1) * INDEX_SLICE);
      await store.writeBatched('index log entries', () => {
        for (const [key, idx] of slice) sql.indexKey.run(logId, key, idx);
        if (n === slices - 1) sql.setIndexed.run(to, logId, from);
      });
    }
  };
  let indexing: Promise<void> = Promise.resolve();
  // Best effort: a lookup is complete whatever the index's progress (it scans from
  // `indexed_size`), and a failed run (the store closing, a full disk) is taken up by the next.
  const indexIntegrated = (): Promise<void> => {
    indexing = indexing.then(indexSlices).catch(() => {});
    return indexing;
  };
  // what a crash in the middle of indexing left behind, before any new integration
  void indexIntegrated();
  return {
    appendEntries: (entries, lookupKeys) =>
      store.writeBatched('append log entries', () => {
        const first = state().sequenced_size;
        // INVARIANT (L1): an entry's lookup key is in its own row, so a lookup finds every
        // durable entry, integrated or not
        insertEntries(first, entries, lookupKeys);
        sql.setSequenced.run(first + entries.length, logId);
        return first;
      }),
    lookup: async (key) =>
      runGuarded(db, context, 'lookup', () => sql.lookup.all({ logId, key }).map((r) => r.idx)),
    sequencedSize: async () => runGuarded(db, context, 'read size', () => state().sequenced_size),
    readEntries: async (start, end) => {
      const rows = runGuarded(db, context, 'read entries', () => sql.entries.all(logId, start, end));
      if (rows.length !== end - start) {
        // a hole in what was sequenced: the stored log was edited behind the log's back
        throw new TlogError(
          'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
          `${context}: entries ${start}..${end} are not all stored`,
        );
      }
      return rows.map((r) => new Uint8Array(r.data));
    },
    readTile: async (level, index) =>
      runGuarded(db, context, 'read tile', () => {
        const row = sql.tile.get(logId, level, index);
        return row === undefined ? undefined : new Uint8Array(row.hashes);
      }),
    readState: async (): Promise<LogState> =>
      runGuarded(db, context, 'read state', () => {
        const row = state();
        return { integratedSize: row.integrated_size, checkpoint: row.checkpoint ?? undefined };
      }),
    commitIntegration: (commit: IntegrationCommit) =>
      store
        .writeBatched('integrate log', () => {
          for (const tile of commit.tiles) sql.putTile.run(logId, tile.level, tile.index, tile.hashes);
          const changed = sql.setIntegrated.run(
            commit.toSize,
            commit.checkpoint,
            logId,
            commit.fromSize,
          ).changes;
          // a stale integration must change nothing: throwing rolls this write's savepoint back
          if (changed !== 1) throw new Error(`integration from stale size ${commit.fromSize}`);
        })
        .then(indexIntegrated),
    writeCheckpoint: (size, checkpoint) =>
      store.writeBatched('write checkpoint', () => {
        sql.setCheckpoint.run(checkpoint, logId, size);
      }),
  };
}
