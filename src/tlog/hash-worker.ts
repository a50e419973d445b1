/**
 * Merkle hashing on a worker thread, so that a busy log's event loop spends its time sequencing
 * entries while another core hashes them: leaf hashes of appended batches and roots of full tiles.
 * One worker per process, shared by every log, started on first use; it does not keep the process
 * alive while it has nothing to do. Small jobs, and any job after the worker failed, are hashed
 * inline: the results are the same bytes either way. See: RFC 6962 §2.1
 */
import { Worker } from 'node:worker_threads';
import { hashChildren, hashLeaf } from './merkle.js';
import { TILE_WIDTH } from './tiles.js';

const HASH = 32;
const TILE_BYTES = TILE_WIDTH * HASH;
/** Fewer leaves than this are hashed inline: posting them would cost more than hashing them. */
const MIN_WORKER_LEAVES = 64;
/** Fewer full tiles than this are hashed inline. */
const MIN_WORKER_TILES = 4;

// The worker's code, self-contained (it runs as a script, not as this module). Leaf jobs carry the
// entries packed as `0x00 || entry` back to back with their end offsets; tile jobs carry full
// tiles back to back. Both answer with the hashes packed, 32 bytes each.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
const pair = Buffer.alloc(65);
function digestInto(out, offset, input) {
  out.write(hash('sha256', input, 'latin1'), offset, 32, 'latin1');
}
parentPort.on('message', (job) => {
  try {
    let out;
    if (job.kind === 'leaves') {
      const data = Buffer.from(job.data);
      const ends = job.ends;
      out = Buffer.alloc(ends.length * 32);
      let start = 0;
      for (let i = 0; i < ends.length; i++) {
        digestInto(out, i * 32, data.subarray(start, ends[i]));
        start = ends[i];
      }
    } else {
      const tiles = Buffer.from(job.data);
      const count = tiles.length / ${TILE_BYTES};
      out = Buffer.alloc(count * 32);
      const level = Buffer.alloc(${TILE_BYTES});
      pair[0] = 1;
      for (let t = 0; t < count; t++) {
        tiles.copy(level, 0, t * ${TILE_BYTES}, (t + 1) * ${TILE_BYTES});
        for (let width = ${TILE_WIDTH}; width > 1; width >>= 1) {
          for (let j = 0; j < width; j += 2) {
            level.copy(pair, 1, j * 32, j * 32 + 64);
            digestInto(level, (j >> 1) * 32, pair);
          }
        }
        level.copy(out, t * 32, 0, 32);
      }
    }
    const hashes =
      out.byteOffset === 0 && out.buffer.byteLength === out.length
        ? out.buffer
        : out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
    parentPort.postMessage({ id: job.id, hashes }, [hashes]);
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: String(error) });
  }
});
`;

interface Job {
  readonly resolve: (hashes: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

interface WorkerReply {
  readonly id: number;
  readonly hashes?: ArrayBuffer;
  readonly error?: string;
}

let worker: Worker | undefined;
let failed = false;
let nextJobId = 0;
const jobs = new Map<number, Job>();

function failAll(error: unknown): void {
  failed = true;
  worker = undefined;
  for (const job of jobs.values()) job.reject(error);
  jobs.clear();
}

function startWorker(): Worker {
  const started = new Worker(WORKER_SOURCE, { eval: true });
  started.on('message', (reply: WorkerReply) => {
    const job = jobs.get(reply.id);
    if (job === undefined) return;
    jobs.delete(reply.id);
    if (jobs.size === 0) started.unref();
    if (reply.hashes !== undefined) job.resolve(new Uint8Array(reply.hashes));
    else job.reject(new Error(`hash worker: ${reply.error ?? 'no result'}`));
  });
  started.on('error', failAll);
  started.on('exit', (code) => {
    if (worker === started) failAll(new Error(`hash worker exited with code ${code}`));
  });
  started.unref();
  return started;
}

/** Posts a job; rejects if the worker cannot be started or dies before answering. */
function post(kind: 'leaves' | 'tiles', data: ArrayBuffer, ends?: Uint32Array): Promise<Uint8Array> {
  if (worker === undefined) {
    try {
      worker = startWorker();
    } catch (error) {
      // e.g. a permission model without worker threads: hash inline from now on
      failed = true;
      throw error;
    }
  }
  const current = worker;
  const id = nextJobId++;
  return new Promise<Uint8Array>((resolve, reject) => {
    // referenced only while it owes an answer: an idle worker never holds the process open
    if (jobs.size === 0) current.ref();
    jobs.set(id, { resolve, reject });
    const transfer: ArrayBuffer[] = [data];
    if (ends !== undefined) transfer.push(ends.buffer as ArrayBuffer);
    current.postMessage({ id, kind, data, ends }, transfer);
  });
}

/** Leaf hashes of `entries`, packed (32 bytes each, in order), computed inline. */
export function hashLeavesInline(entries: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(entries.length * HASH);
  for (let i = 0; i < entries.length; i++) out.set(hashLeaf(entries[i] as Uint8Array), i * HASH);
  return out;
}

/**
 * Leaf hashes of `entries`, packed (32 bytes each, in order), computed on the worker thread when
 * there are enough of them. The entries are copied: the caller may reuse them at once.
 */
export async function hashLeaves(entries: readonly Uint8Array[]): Promise<Uint8Array> {
  if (failed || entries.length < MIN_WORKER_LEAVES) return hashLeavesInline(entries);
  let total = 0;
  for (const e of entries) total += e.length + 1;
  // not zero-filled (every byte is written below), and its own memory, so it can be transferred
  const data = Buffer.allocUnsafeSlow(total);
  const ends = new Uint32Array(entries.length);
  let offset = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Uint8Array;
    data[offset] = 0x00; // the leaf prefix
    data.set(e, offset + 1);
    offset += e.length + 1;
    ends[i] = offset;
  }
  try {
    return await post('leaves', data.buffer as ArrayBuffer, ends);
  } catch {
    return hashLeavesInline(entries);
  }
}

/** Root of one full tile (256 hashes, packed), computed inline. */
export function fullTileRootInline(tile: Uint8Array): Uint8Array {
  const level: Uint8Array[] = [];
  for (let i = 0; i < TILE_WIDTH; i++) level.push(tile.subarray(i * HASH, (i + 1) * HASH));
  for (let width = TILE_WIDTH; width > 1; width >>= 1) {
    for (let j = 0; j < width; j += 2)
      level[j >> 1] = hashChildren(level[j] as Uint8Array, level[j + 1] as Uint8Array);
  }
  return (level[0] as Uint8Array).slice();
}

/**
 * Roots of full tiles (each 256 hashes, packed), packed in the same order: the hashes of the next
 * tile level up. Many tiles are hashed on the worker thread.
 */
export async function fullTileRoots(tiles: readonly Uint8Array[]): Promise<Uint8Array> {
  const inline = (): Uint8Array => {
    const out = new Uint8Array(tiles.length * HASH);
    for (let i = 0; i < tiles.length; i++) out.set(fullTileRootInline(tiles[i] as Uint8Array), i * HASH);
    return out;
  };
  if (failed || tiles.length < MIN_WORKER_TILES) return inline();
  const data = new Uint8Array(tiles.length * TILE_BYTES);
  for (let i = 0; i < tiles.length; i++) data.set(tiles[i] as Uint8Array, i * TILE_BYTES);
  try {
    return await post('tiles', data.buffer);
  } catch {
    return inline();
  }
}
