/**
 * The transparency log's storage in a region's PostgreSQL schema: sequenced entries, their
 * lookup index, tiles and the latest checkpoint of one log (a home region may hold the logs of
 * several jurisdictions, one `log_id` each).
 *
 * Subset of the `pg` API used here (plus what `postgres-database.ts` declares): `pool.query`
 * and, inside `PostgresDatabase.transaction`, `client.query` → `rows`, `rowCount`; multi-row
 * `VALUES` with `$n` parameters; BYTEA bound from `Uint8Array` (sent as binary, not hex text)
 * and read back as `Buffer`; BIGINT read back as strings.
 *
 * Concurrency: `appendEntries` and `commitIntegration` lock the log's state row
 * (`SELECT … FOR UPDATE`) first, so two nodes writing the same log serialize on it: appends get
 * disjoint consecutive indices, and an integration computed from a size another node has since
 * moved is refused, changing nothing. Within one process, appends are group-committed: while one
 * transaction is in flight, the appends that arrive join the next one (they would only queue on
 * the row lock, each with its own commit, otherwise).
 */
import { TlogError } from '../../tlog/errors.js';
import type { IntegrationCommit, LogState } from '../../tlog/log.js';
import type { IndexedLogStorage } from '../region-store.js';
import { type Migration, placeholders } from './postgres-database.js';
import type { PostgresRegionStore } from './postgres-store.js';

/** Schema component name of the log tables in `schema_migrations`. */
export const TLOG_COMPONENT = 'tlog';

/** Migrations of the log tables. Append only: never edit a released step. */
export const TLOG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create-log-tables',
    sql: `
      CREATE TABLE tlog_state (
        log_id          TEXT   NOT NULL COLLATE "C" PRIMARY KEY,
        sequenced_size  BIGINT NOT NULL CHECK (sequenced_size >= 0),
        integrated_size BIGINT NOT NULL CHECK (integrated_size >= 0 AND integrated_size <= sequenced_size),
        checkpoint      TEXT
      );
      CREATE TABLE tlog_entries (
        log_id TEXT   NOT NULL COLLATE "C",
        idx    BIGINT NOT NULL,
        data   BYTEA  NOT NULL,
        PRIMARY KEY (log_id, idx)
      );
      CREATE TABLE tlog_lookup (
        log_id TEXT   NOT NULL COLLATE "C",
        key    TEXT   NOT NULL COLLATE "C",
        idx    BIGINT NOT NULL,
        PRIMARY KEY (log_id, key, idx)
      );
      CREATE TABLE tlog_tiles (
        log_id TEXT    NOT NULL COLLATE "C",
        level  INTEGER NOT NULL,
        idx    BIGINT  NOT NULL,
        hashes BYTEA   NOT NULL,
        PRIMARY KEY (log_id, level, idx)
      );
    `,
  },
];

interface StateRow {
  readonly sequenced_size: string;
  readonly integrated_size: string;
  readonly checkpoint: string | null;
}

// Rows per multi-row INSERT: well under PostgreSQL's 65,535 parameters per statement.
const ROWS_PER_INSERT = 1_000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Lookup keys of appended entries, one per entry (or none at all). */
type LookupKeys = readonly (string | undefined)[] | undefined;

/**
 * Group commit of appends: one transaction at a time; the appends that arrive meanwhile are written
 * together by the next one, in the order they arrived. Each caller gets the index of its own first
 * entry, and the error of the transaction that carried its entries.
 */
export function groupCommit(
  write: (entries: readonly Uint8Array[], lookupKeys: LookupKeys) => Promise<number>,
): (entries: readonly Uint8Array[], lookupKeys?: LookupKeys) => Promise<number> {
  interface Waiter {
    readonly offset: number;
    readonly resolve: (first: number) => void;
    readonly reject: (error: unknown) => void;
  }
  let pending:
    | { entries: Uint8Array[]; keys: (string | undefined)[]; keyed: boolean; waiters: Waiter[] }
    | undefined;
  let writing = false;
  const next = (): void => {
    const batch = pending;
    pending = undefined;
    if (!batch) {
      writing = false;
      return;
    }
    writing = true;
    write(batch.entries, batch.keyed ? batch.keys : undefined).then(
      (first) => {
        for (const w of batch.waiters) w.resolve(first + w.offset);
        next();
      },
      (error: unknown) => {
        for (const w of batch.waiters) w.reject(error);
        next();
      },
    );
  };
  return (entries, lookupKeys) =>
    new Promise<number>((resolve, reject) => {
      pending ??= { entries: [], keys: [], keyed: false, waiters: [] };
      pending.waiters.push({ offset: pending.entries.length, resolve, reject });
      pending.entries.push(...entries);
      for (let i = 0; i < entries.length; i++) pending.keys.push(lookupKeys?.[i]);
      pending.keyed ||= lookupKeys !== undefined;
      if (!writing) next();
    });
}

/**
 * `INSERT INTO table (log_id, …columns) VALUES ($1, …), ($1, …) …` for `rows`, with `log_id`
 * as `$1` in every row; returns the text and the parameters.
 */
function multiRowInsert(
  table: string,
  columns: readonly string[],
  logId: string,
  rows: readonly (readonly unknown[])[],
  suffix: string,
): { text: string; values: unknown[] } {
  const values: unknown[] = [logId];
  const tuples = rows.map((row) => {
    const tuple = `($1, ${placeholders(values.length + 1, row.length)})`;
    values.push(...row);
    return tuple;
  });
  return {
    text: `INSERT INTO ${table} (log_id, ${columns.join(', ')}) VALUES ${tuples.join(', ')} ${suffix}`,
    values,
  };
}

/**
 * Opens the storage of log `logId` in a region store's schema, creating its tables and state
 * row when missing. It shares the store's pool and ends with it.
 *
 * Throws `DOMICILE_ERR_STORE_UNAVAILABLE` when the server cannot be reached or the log tables'
 * schema is newer than this build's.
 *
 * @example
 * const storage = await openPostgresLogStorage(store, 'US');
 * const log = await TransparencyLog.open({ storage, origin, signer });
 */
export async function openPostgresLogStorage(
  store: PostgresRegionStore,
  logId: string,
): Promise<IndexedLogStorage> {
  const { database } = store;
  const op = (operation: string) => `log \`${logId}\`: ${operation}`;
  await database.migrate(TLOG_COMPONENT, TLOG_MIGRATIONS);
  const t = {
    state: database.table('tlog_state'),
    entries: database.table('tlog_entries'),
    lookup: database.table('tlog_lookup'),
    tiles: database.table('tlog_tiles'),
  };
  await database.query(
    op('init'),
    `INSERT INTO ${t.state} (log_id, sequenced_size, integrated_size, checkpoint) VALUES ($1, 0, 0, NULL)
      ON CONFLICT (log_id) DO NOTHING`,
    [logId],
  );
  const sql = {
    state: `SELECT sequenced_size, integrated_size, checkpoint FROM ${t.state} WHERE log_id = $1`,
    lockState: `SELECT sequenced_size, integrated_size, checkpoint FROM ${t.state} WHERE log_id = $1 FOR UPDATE`,
    setSequenced: `UPDATE ${t.state} SET sequenced_size = $2 WHERE log_id = $1`,
    entries: `SELECT data FROM ${t.entries} WHERE log_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`,
    lookup: `SELECT idx FROM ${t.lookup} WHERE log_id = $1 AND key = $2 ORDER BY idx`,
    tile: `SELECT hashes FROM ${t.tiles} WHERE log_id = $1 AND level = $2 AND idx = $3`,
    setIntegrated: `UPDATE ${t.state} SET integrated_size = $2, checkpoint = $3 WHERE log_id = $1`,
    setCheckpoint: `UPDATE ${t.state} SET checkpoint = $2 WHERE log_id = $1 AND integrated_size = $3`,
  };

  const readStateRow = async (): Promise<StateRow> => {
    const row = (await database.query<StateRow>(op('read state'), sql.state, [logId])).rows[0];
    if (row === undefined) {
      throw new TlogError('DOMICILE_ERR_TLOG_STORAGE_CORRUPT', `log \`${logId}\` has no state row`);
    }
    return row;
  };

  const appendTransaction = (entries: readonly Uint8Array[], lookupKeys: LookupKeys): Promise<number> =>
    database.transaction(op('append entries'), async (client) => {
      const locked = (await client.query<StateRow>(sql.lockState, [logId])).rows[0];
      if (locked === undefined) {
        throw new TlogError('DOMICILE_ERR_TLOG_STORAGE_CORRUPT', `log \`${logId}\` has no state row`);
      }
      const first = Number(locked.sequenced_size);
      const rows = entries.map((entry, i) => [first + i, entry] as const);
      for (const chunk of chunks(rows, ROWS_PER_INSERT)) {
        const insert = multiRowInsert(t.entries, ['idx', 'data'], logId, chunk, '');
        await client.query(insert.text, insert.values);
      }
      // INVARIANT (L1): the index is written with the entries it points at, in one transaction.
      const keyed = (lookupKeys ?? []).flatMap((key, i) =>
        key === undefined ? [] : [[key, first + i] as const],
      );
      for (const chunk of chunks(keyed, ROWS_PER_INSERT)) {
        const insert = multiRowInsert(t.lookup, ['key', 'idx'], logId, chunk, 'ON CONFLICT DO NOTHING');
        await client.query(insert.text, insert.values);
      }
      await client.query(sql.setSequenced, [logId, first + entries.length]);
      return first;
    });

  return {
    appendEntries: groupCommit(appendTransaction),

    lookup: async (key) => {
      const { rows } = await database.query<{ idx: string }>(op('lookup'), sql.lookup, [logId, key]);
      return rows.map((r) => Number(r.idx));
    },

    sequencedSize: async () => Number((await readStateRow()).sequenced_size),

    readEntries: async (start, end) => {
      const { rows } = await database.query<{ data: Buffer }>(op('read entries'), sql.entries, [
        logId,
        start,
        end,
      ]);
      if (start < 0 || start > end || rows.length !== end - start) {
        throw new TlogError('DOMICILE_ERR_TLOG_NOT_FOUND', `entries ${start}..${end} are not all sequenced`);
      }
      return rows.map((r) => new Uint8Array(r.data));
    },

    readTile: async (level, index) => {
      const { rows } = await database.query<{ hashes: Buffer }>(op('read tile'), sql.tile, [
        logId,
        level,
        index,
      ]);
      const row = rows[0];
      return row === undefined ? undefined : new Uint8Array(row.hashes);
    },

    readState: async (): Promise<LogState> => {
      const row = await readStateRow();
      return { integratedSize: Number(row.integrated_size), checkpoint: row.checkpoint ?? undefined };
    },

    commitIntegration: (commit: IntegrationCommit) =>
      database.transaction(op('integrate'), async (client) => {
        const locked = (await client.query<StateRow>(sql.lockState, [logId])).rows[0];
        if (locked === undefined || Number(locked.integrated_size) !== commit.fromSize) {
          // thrown before any write, and the transaction is rolled back: nothing changes
          throw new TlogError(
            'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
            `integration from stale size ${commit.fromSize}`,
          );
        }
        const rows = commit.tiles.map((tile) => [tile.level, tile.index, tile.hashes] as const);
        for (const chunk of chunks(rows, ROWS_PER_INSERT)) {
          const upsert = multiRowInsert(
            t.tiles,
            ['level', 'idx', 'hashes'],
            logId,
            chunk,
            'ON CONFLICT (log_id, level, idx) DO UPDATE SET hashes = excluded.hashes',
          );
          await client.query(upsert.text, upsert.values);
        }
        await client.query(sql.setIntegrated, [logId, commit.toSize, commit.checkpoint]);
      }),

    writeCheckpoint: async (size, checkpoint) => {
      await database.query(op('write checkpoint'), sql.setCheckpoint, [logId, checkpoint, size]);
    },
  };
}
