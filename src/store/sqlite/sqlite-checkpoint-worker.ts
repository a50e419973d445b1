/**
 * A worker thread of `sqlite-checkpointer.ts`: copies a file's write-ahead log back into the
 * database on a connection of its own each time it is asked, so the writing thread does not.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const port = parentPort;
if (port === null) throw new Error('sqlite-checkpoint-worker.js runs as a worker thread of a checkpointer');
const { file } = workerData as { readonly file: string };
const db = new Database(file, { fileMustExist: true });
// as the writing connection syncs: the log before the copy, the database after it
db.pragma('synchronous = NORMAL');

port.on('message', () => {
  try {
    // PASSIVE: copies what it can without waiting for, or blocking, readers and writers
    db.pragma('wal_checkpoint(PASSIVE)');
    port.postMessage({ ok: true });
  } catch (error) {
    port.postMessage({ ok: false, error: String(error) });
  }
});
