/**
 * Record envelopes in bulk, on worker threads: a migration or a verification seals, opens and
 * hashes millions of 1 KiB records, and AES-GCM on one thread would cost more than the SQLite
 * I/O that feeds it. Each call packs its records into one buffer (keys, encoded AADs, inputs),
 * which a worker (`envelope-worker.ts`) processes while the calling thread goes on with its I/O.
 *
 * The workers run the same `encryptRecordWithAad`/`decryptRecordWithAad` as the rest of the
 * product; a worker sees bytes only. Small batches, and every batch when workers cannot run (no
 * compiled worker file, e.g. under the test runner, or a worker that failed), run on the calling
 * thread with the same code: the results are the same bytes either way. One pool per process,
 * started on first use; idle workers never keep the process alive.
 *
 * Key material and plaintext cross threads only in memory, inside this process. The worker zeroes
 * its copy of the keys when a batch is done.
 */
import { hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DomicileError } from '../domain/errors.js';
import {
  decryptRecordWithAad,
  encryptRecordWithAad,
  KEY_BYTES,
  type RecordAad,
  recordAadMaxLength,
  SEAL_OVERHEAD,
  writeRecordAad,
} from './envelope.js';
import type { DataKey } from './keyring.js';

/** A sealed record and what it was sealed under. */
export interface SealedRecord {
  readonly key: DataKey;
  readonly aad: RecordAad;
  readonly ciphertext: Uint8Array;
}

/** A record to seal. */
export interface PlainRecord {
  readonly key: DataKey;
  readonly aad: RecordAad;
  readonly plaintext: Uint8Array;
}

/**
 * What a batch does to each record: `seal` (plaintext → blob), `open` (blob → plaintext),
 * `open-digest` (blob → SHA-256 of the plaintext, which stays in the worker), `digest`
 * (plaintext → SHA-256).
 */
export type EnvelopeOp = 'seal' | 'open' | 'open-digest' | 'digest';

/** A packed batch: what is posted to a worker. */
export interface EnvelopeBatch {
  readonly op: EnvelopeOp;
  /** 32-byte keys back to back; records refer to them by index. */
  readonly keys: Uint8Array;
  /** Encoded AADs and inputs back to back. */
  readonly data: Uint8Array;
  /**
   * Five numbers per record: key index (-1: the record cannot be opened, e.g. its AAD does not
   * encode), AAD start, AAD end, input start, input end (offsets in `data`).
   */
  readonly index: Int32Array;
}

/** The outputs of a batch, back to back in `data`. */
export interface EnvelopeBatchResult {
  readonly data: Uint8Array;
  /** Two numbers per record: start and end of its output; start -1 when it failed authentication. */
  readonly spans: Int32Array;
}

const DIGEST_BYTES = 32;
const FIELDS = 5;
/** Fewer records than this are processed inline: posting them would cost more than the crypto. */
const MIN_WORKER_RECORDS = 32;
/** Records per job when a batch is split over several workers. */
const MIN_RECORDS_PER_JOB = 256;

function outputLength(op: EnvelopeOp, inputLength: number): number {
  switch (op) {
    case 'seal':
      return inputLength + SEAL_OVERHEAD;
    case 'open':
      return Math.max(0, inputLength - SEAL_OVERHEAD);
    case 'open-digest':
    case 'digest':
      return DIGEST_BYTES;
  }
}

/**
 * Runs a packed batch on the current thread (a worker's job, or the inline fallback) and zeroes
 * the batch's copy of the keys.
 */
export function runEnvelopeBatch(batch: EnvelopeBatch): EnvelopeBatchResult {
  const { op, keys, data, index } = batch;
  const count = index.length / FIELDS;
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += outputLength(op, (index[i * FIELDS + 4] ?? 0) - (index[i * FIELDS + 3] ?? 0));
  }
  // an ArrayBuffer of its own, so that a worker can transfer it back without copying
  const out = new Uint8Array(new ArrayBuffer(total));
  const spans = new Int32Array(count * 2);
  let offset = 0;
  try {
    for (let i = 0; i < count; i++) {
      const at = i * FIELDS;
      const keyIndex = index[at] ?? -1;
      const input = data.subarray(index[at + 3], index[at + 4]);
      let output: Uint8Array;
      if (op === 'digest') {
        output = hash('sha256', input, 'buffer');
      } else if (keyIndex < 0) {
        spans[i * 2] = -1;
        continue;
      } else {
        const key = keys.subarray(keyIndex * KEY_BYTES, (keyIndex + 1) * KEY_BYTES);
        const aad = data.subarray(index[at + 1], index[at + 2]);
        if (op === 'seal') {
          // a seal never fails on valid input: an error here is a defect, not a bad record
          output = encryptRecordWithAad(key, aad, input);
        } else {
          try {
            output = decryptRecordWithAad(key, aad, input);
          } catch {
            spans[i * 2] = -1;
            continue;
          }
          if (op === 'open-digest') output = hash('sha256', output, 'buffer');
        }
      }
      out.set(output, offset);
      spans[i * 2] = offset;
      spans[i * 2 + 1] = offset + output.length;
      offset += output.length;
    }
  } finally {
    keys.fill(0);
  }
  return { data: out, spans };
}

interface Input {
  readonly key?: DataKey;
  readonly aad?: RecordAad;
  readonly bytes: Uint8Array;
}

/**
 * Data keys for a worker: each distinct key once, 32 bytes back to back (a buffer of its own, to
 * transfer), and per item the index of its key there (-1: none). Throws, with the buffer zeroed,
 * on a key of the wrong length.
 */
export function packDataKeys(keys: readonly (DataKey | undefined)[]): {
  readonly keys: Uint8Array;
  readonly keyIndex: Int32Array;
} {
  const indexOf = new Map<DataKey, number>();
  const keyIndex = new Int32Array(keys.length);
  keys.forEach((key, i) => {
    if (key === undefined) {
      keyIndex[i] = -1;
      return;
    }
    let k = indexOf.get(key);
    if (k === undefined) {
      k = indexOf.size;
      indexOf.set(key, k);
    }
    keyIndex[i] = k;
  });
  const packed = new Uint8Array(new ArrayBuffer(indexOf.size * KEY_BYTES));
  for (const [key, k] of indexOf) {
    if (key.key.length !== KEY_BYTES) {
      packed.fill(0);
      throw new DomicileError(
        'DOMICILE_ERR_INTERNAL',
        `data key \`${key.id}\`: expected a ${KEY_BYTES}-byte key`,
      );
    }
    packed.set(key.key, k * KEY_BYTES);
  }
  return { keys: packed, keyIndex };
}

/** Packs records into one batch; a record whose AAD does not encode gets key index -1 (`open` only). */
function pack(op: EnvelopeOp, inputs: readonly Input[]): EnvelopeBatch {
  const { keys, keyIndex } = packDataKeys(inputs.map((input) => input.key));
  let size = 0;
  for (const input of inputs) {
    size += (input.aad === undefined ? 0 : recordAadMaxLength(input.aad)) + input.bytes.length;
  }
  // AADs are written in place, inputs copied after them: one buffer to transfer, no copy per record
  const data = Buffer.from(new ArrayBuffer(size));
  const index = new Int32Array(inputs.length * FIELDS);
  let offset = 0;
  inputs.forEach((input, i) => {
    const at = i * FIELDS;
    index[at] = keyIndex[i] ?? -1;
    index[at + 1] = offset;
    if (input.aad !== undefined) {
      try {
        offset = writeRecordAad(input.aad, data, offset);
      } catch (err) {
        if (op === 'seal') throw err;
        // an AAD that does not encode (a version out of range) cannot have sealed anything
        index[at] = -1;
      }
    }
    index[at + 2] = offset;
    data.set(input.bytes, offset);
    index[at + 3] = offset;
    offset += input.bytes.length;
    index[at + 4] = offset;
  });
  return { op, keys, data, index };
}

interface Job {
  readonly resolve: (result: EnvelopeBatchResult) => void;
  readonly reject: (error: unknown) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
}

interface WorkerReply {
  readonly id: number;
  readonly data?: Uint8Array;
  readonly spans?: Int32Array;
  readonly error?: string;
}

const WORKER_FILE = new URL('./envelope-worker.js', import.meta.url);
/** The main thread keeps one core for its own I/O. */
const THREADS = Math.max(1, availableParallelism() - 1);
const workers: PoolWorker[] = [];
// workers run only from the compiled build: from TypeScript sources there is no worker file
let inlineOnly = !existsSync(fileURLToPath(WORKER_FILE));
let nextJobId = 0;

function failAll(failed: PoolWorker, error: unknown): void {
  // from now on every batch runs inline: a pool that lost a worker once is not trusted again
  inlineOnly = true;
  const i = workers.indexOf(failed);
  if (i >= 0) workers.splice(i, 1);
  for (const job of failed.jobs.values()) job.reject(error);
  failed.jobs.clear();
}

function startWorker(): PoolWorker {
  const entry: PoolWorker = { worker: new Worker(WORKER_FILE), jobs: new Map() };
  const { worker, jobs } = entry;
  worker.on('message', (reply: WorkerReply) => {
    const job = jobs.get(reply.id);
    if (job === undefined) return;
    jobs.delete(reply.id);
    if (jobs.size === 0) worker.unref();
    if (reply.data !== undefined && reply.spans !== undefined)
      job.resolve({ data: reply.data, spans: reply.spans });
    else job.reject(new Error(`envelope worker: ${reply.error ?? 'no result'}`));
  });
  worker.on('error', (error) => failAll(entry, error));
  worker.on('exit', (code) => failAll(entry, new Error(`envelope worker exited with code ${code}`)));
  worker.unref();
  return entry;
}

/** The worker with the fewest jobs in flight, started when the pool is not full yet. */
function pickWorker(): PoolWorker {
  let best: PoolWorker | undefined;
  for (const w of workers) if (best === undefined || w.jobs.size < best.jobs.size) best = w;
  if (best !== undefined && (best.jobs.size === 0 || workers.length >= THREADS)) return best;
  const started = startWorker();
  workers.push(started);
  return started;
}

function post(batch: EnvelopeBatch): Promise<EnvelopeBatchResult> {
  const target = pickWorker();
  const id = nextJobId++;
  return new Promise((resolve, reject) => {
    // referenced only while it owes an answer: an idle worker never holds the process open
    if (target.jobs.size === 0) target.worker.ref();
    target.jobs.set(id, { resolve, reject });
    target.worker.postMessage({ id, batch }, [
      batch.keys.buffer as ArrayBuffer,
      batch.data.buffer as ArrayBuffer,
      batch.index.buffer as ArrayBuffer,
    ]);
  });
}

/** Runs `inputs` through `op`, on the workers when there are enough of them; outputs in order. */
async function runInPool(op: EnvelopeOp, inputs: readonly Input[]): Promise<(Buffer | undefined)[]> {
  if (inputs.length === 0) return [];
  const jobs = Math.min(THREADS, Math.ceil(inputs.length / MIN_RECORDS_PER_JOB));
  const parts: Promise<EnvelopeBatchResult>[] = [];
  const per = Math.ceil(inputs.length / jobs);
  for (let start = 0; start < inputs.length; start += per) {
    const batch = pack(op, inputs.slice(start, start + per));
    if (inlineOnly || inputs.length < MIN_WORKER_RECORDS) {
      parts.push(Promise.resolve(runEnvelopeBatch(batch)));
      continue;
    }
    // the posted batch is transferred (gone from here): a failed worker means packing again
    parts.push(post(batch).catch(() => runEnvelopeBatch(pack(op, inputs.slice(start, start + per)))));
  }
  const outputs: (Buffer | undefined)[] = [];
  for (const part of await Promise.all(parts)) {
    const data = Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength);
    for (let i = 0; i < part.spans.length; i += 2) {
      const start = part.spans[i] ?? -1;
      outputs.push(start < 0 ? undefined : data.subarray(start, part.spans[i + 1]));
    }
  }
  return outputs;
}

function required(outputs: readonly (Buffer | undefined)[]): Buffer[] {
  return outputs.map((output) => {
    if (output === undefined)
      throw new DomicileError('DOMICILE_ERR_INTERNAL', 'envelope batch: missing output');
    return output;
  });
}

/**
 * Seals records (as `encryptRecord` does, each with a fresh nonce), in order.
 *
 * @example
 * const blobs = await sealRecords(records.map((r) => ({ key: dek, aad: aadOf(r), plaintext: r.value })));
 */
export async function sealRecords(records: readonly PlainRecord[]): Promise<Buffer[]> {
  return required(
    await runInPool(
      'seal',
      records.map((r) => ({ key: r.key, aad: r.aad, bytes: r.plaintext })),
    ),
  );
}

/** Opens records (as `decryptRecord` does), in order; `undefined` for one that fails authentication. */
export async function openRecords(records: readonly SealedRecord[]): Promise<(Buffer | undefined)[]> {
  return runInPool(
    'open',
    records.map((r) => ({ key: r.key, aad: r.aad, bytes: r.ciphertext })),
  );
}

/**
 * SHA-256 of the plaintext of each record, opened where it is hashed (the plaintext is not handed
 * back), in order; `undefined` for one that fails authentication.
 */
export async function digestSealedRecords(records: readonly SealedRecord[]): Promise<(Buffer | undefined)[]> {
  return runInPool(
    'open-digest',
    records.map((r) => ({ key: r.key, aad: r.aad, bytes: r.ciphertext })),
  );
}

/** SHA-256 of each plaintext, in order. */
export async function digestPlaintexts(plaintexts: readonly Uint8Array[]): Promise<Buffer[]> {
  return required(
    await runInPool(
      'digest',
      plaintexts.map((bytes) => ({ bytes })),
    ),
  );
}
