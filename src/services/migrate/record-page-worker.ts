/**
 * A worker thread of `record-page-reader.ts`: scans one region file on a read-only connection of
 * its own and runs each posted `PageRequest` there. Started by the reader only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteRecordReader } from '../../store/sqlite/sqlite-record-reader.js';
import { type PageRequest, RecordPageWork, transferablesOf } from './record-pages.js';

const port = parentPort;
if (port === null) throw new Error('record-page-worker.js runs as a worker thread of a record page reader');
const { file, context } = workerData as { readonly file: string; readonly context: string };
const reader = openSqliteRecordReader(file, context);
const work = new RecordPageWork((options) => reader.scan(options));

port.on('message', (message: { readonly id: number; readonly request: PageRequest }) => {
  try {
    const reply = work.run(message.request);
    port.postMessage({ id: message.id, reply }, transferablesOf(reply));
  } catch (error) {
    port.postMessage({ id: message.id, error: String(error) });
  }
});
