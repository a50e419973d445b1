/**
 * Checkpoints of a SQLite file's write-ahead log on a worker thread, for bulk writers: a
 * migration commits a thousand pages per batch, and SQLite's automatic checkpoint would copy
 * them into the database (and sync it) inside the commit, on the event loop.
 *
 * While a checkpoint is due, the writing connection's automatic checkpoint is off; it is back
 * on as soon as the worker has caught up, when the worker fails, and when workers cannot run
 * (no compiled worker file, e.g. under the test runner: then nothing changes).
 *
 * Subset of better-sqlite3 used: `pragma`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

const WORKER_FILE = new URL('./sqlite-checkpoint-worker.js', import.meta.url);
/** SQLite's default `wal_autocheckpoint`, in pages. */
const AUTOCHECKPOINT_PAGES = 1000;

/** Background checkpoints of one file. */
export interface WalCheckpointer {
  /** Called inside a write transaction: the commit leaves its checkpoint to `checkpoint`. */
  deferCheckpoint(): void;
  /** Called after the commit: checkpoints on the worker (once for all commits until it runs). */
  checkpoint(): void;
}

/**
 * A checkpointer of `file`, written through `db`.
 *
 * @example
 * const checkpointer = startWalCheckpointer(store.db, store.file);
 * await store.writeBatched('bulk', () => { checkpointer.deferCheckpoint(); insertAll(); });
 * checkpointer.checkpoint();
 */
export function startWalCheckpointer(db: Database.Database, file: string): WalCheckpointer {
  if (!existsSync(fileURLToPath(WORKER_FILE))) return { deferCheckpoint() {}, checkpoint() {} };
  let worker: Worker | undefined;
  let running = false;
  let due = false;
  let failed = false;
  const setAutomatic = (on: boolean): void => {
    if (db.open) db.pragma(`wal_autocheckpoint = ${on ? AUTOCHECKPOINT_PAGES : 0}`);
  };
  const fail = (): void => {
    failed = true;
    running = false;
    setAutomatic(true);
  };
  const start = (): Worker => {
    const w = new Worker(WORKER_FILE, { workerData: { file } });
    w.on('message', (reply: { readonly ok: boolean }) => {
      running = false;
      if (!reply.ok) return fail();
      if (due) run();
      else {
        w.unref();
        setAutomatic(true);
      }
    });
    w.on('error', fail);
    w.on('exit', fail);
    w.unref();
    return w;
  };
  const run = (): void => {
    due = false;
    running = true;
    worker ??= start();
    // referenced while a checkpoint runs: the process waits for it to finish
    worker.ref();
    worker.postMessage('checkpoint');
  };
  return {
    deferCheckpoint() {
      if (!failed) setAutomatic(false);
    },
    checkpoint() {
      if (failed) return;
      if (running) due = true;
      else run();
    },
  };
}
