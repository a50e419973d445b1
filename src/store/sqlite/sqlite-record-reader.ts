/**
 * A read-only connection that scans a region's records, for bulk readers running on a thread of
 * their own (a migration reads and verifies millions of rows). SQLite's write-ahead log lets it
 * read while the region's own connection writes; each page is one read transaction, as
 * `SqliteRegionStore.scanRecords` reads it, with the same statement.
 *
 * Subset of better-sqlite3 used: `new Database(file, { fileMustExist, timeout })`, `pragma`,
 * `prepare(sql).raw(true)` → `all`, `close`.
 */
import Database from 'better-sqlite3';
import { DomicileError } from '../../domain/errors.js';
import type { ScanOptions } from '../region-store.js';
import { DEFAULT_BUSY_TIMEOUT_MS, runGuarded } from './sqlite-database.js';
import { RECORD_SCAN_SQL, type RecordScanParams, type RecordTuple, scanParams } from './sqlite-store.js';

/** Pages of a region file's records, read on the calling thread. */
export interface SqliteRecordReader {
  /** As `SqliteRegionStore.scanRecordTuples`. */
  scan(options: ScanOptions): RecordTuple[];
  close(): void;
}

/**
 * Opens a read-only connection to a region's existing store file.
 *
 * @example
 * const reader = openSqliteRecordReader(store.file, 'region `us-va-legacy`: record reader');
 * const page = reader.scan({ jurisdiction, limit: 5_000 });
 */
export function openSqliteRecordReader(
  file: string,
  context: string,
  busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS,
): SqliteRecordReader {
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, timeout: busyTimeoutMs });
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${context}: cannot open database`, { cause });
  }
  try {
    // the connection never writes: the region's own connection holds its write lock
    db.pragma('query_only = ON');
    const scan = db.prepare<RecordScanParams, RecordTuple>(RECORD_SCAN_SQL).raw(true);
    return {
      scan: (options) => runGuarded(db, context, 'scan records', () => scan.all(scanParams(options))),
      close: () => db.close(),
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
