/**
 * A worker thread of the envelope pool (`envelope-pool.ts`): runs each posted batch and transfers
 * the outputs back. Started by the pool only; it holds no state between batches.
 */
import { parentPort } from 'node:worker_threads';
import { type EnvelopeBatch, runEnvelopeBatch } from './envelope-pool.js';

const port = parentPort;
if (port === null) throw new Error('envelope-worker.js runs as a worker thread of the envelope pool');

port.on('message', (message: { readonly id: number; readonly batch: EnvelopeBatch }) => {
  try {
    const { data, spans } = runEnvelopeBatch(message.batch);
    port.postMessage({ id: message.id, data, spans }, [
      data.buffer as ArrayBuffer,
      spans.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    port.postMessage({ id: message.id, error: String(error) });
  }
});
