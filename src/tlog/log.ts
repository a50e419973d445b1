/**
 * A transparency log engine over a pluggable storage: sequencing with group commit, incremental
 * integration into C2SP tiles, signed checkpoints, and serving tiles, bundles and proofs from the
 * stored tiles. See: C2SP tlog-tiles, RFC 6962
 *
 * Crash safety: sequencing (`appendEntries`) and integration (`commitIntegration`) are separate
 * atomic storage transactions. The integrated size, the tiles for it and the checkpoint that
 * commits to them are written together, so after a crash the log either has the old tree or the
 * new one, and `TransparencyLog.open` integrates whatever was sequenced but not integrated.
 *
 * The event loop is kept for sequencing: leaf hashes and full-tile roots are computed on a worker
 * thread (`hash-worker.ts`) while the storage commits, and the background integrator integrates
 * what was sequenced when it ran, once per period, rather than after every append batch.
 */
import { type Checkpoint, parseCheckpoint, signCheckpoint } from './checkpoint.js';
import { at } from './encoding.js';
import { TlogError } from './errors.js';
import { fullTileRoots, hashLeaves } from './hash-worker.js';
import {
  type Hash,
  type HashReader,
  hashChildren,
  type NodeId,
  proveConsistency,
  proveInclusion,
  treeRoot,
} from './merkle.js';
import type { NoteSigner } from './note.js';
import { checkEntrySize, encodeEntryBundle, parseTilePath, TILE_HEIGHT, TILE_WIDTH } from './tiles.js';

const HASH = 32;
/** Most leaf hashes kept between integrations (32 MiB); later batches are read back instead. */
const MAX_CACHED_LEAVES = 1 << 20;
/** Bytes of each slab that appended entries are copied into. */
const COPY_SLAB_SIZE = 1 << 18;

/** A stored tile: its hashes concatenated (`width * 32` bytes). */
export interface StoredTile {
  readonly level: number;
  readonly index: number;
  readonly hashes: Uint8Array;
}

/** The integration state a storage keeps. */
export interface LogState {
  /** Entries covered by the stored tiles and checkpoint. */
  readonly integratedSize: number;
  /** Latest signed checkpoint (with any cosignatures), `undefined` before the first integration. */
  readonly checkpoint: string | undefined;
}

/** One integration step, written atomically. */
export interface IntegrationCommit {
  /** The integrated size the step started from; storage must refuse if it changed. */
  readonly fromSize: number;
  /** The new integrated size. */
  readonly toSize: number;
  /** New or grown tiles (each replaces the stored tile at its level and index). */
  readonly tiles: readonly StoredTile[];
  /** The log-signed checkpoint for `toSize`. */
  readonly checkpoint: string;
}

/**
 * What a log needs from a database. Implement it over SQLite or PostgreSQL with one transaction
 * per method; every method is async and every write must be durable when its promise resolves.
 *
 * INVARIANT (L1): stored tiles, `integratedSize` and `checkpoint` always describe the same tree;
 * only `commitIntegration` changes them, atomically.
 */
export interface LogStorage {
  /**
   * Appends entries atomically and durably; returns the index assigned to the first one.
   * `lookupKeys[i]`, when given, is the key under which an indexing storage finds entry `i`.
   */
  appendEntries(
    entries: readonly Uint8Array[],
    lookupKeys?: readonly (string | undefined)[],
  ): Promise<number>;
  /** Number of entries sequenced so far. */
  sequencedSize(): Promise<number>;
  /** Entries `[start, end)`; all must have been sequenced. */
  readEntries(start: number, end: number): Promise<Uint8Array[]>;
  /** The stored tile at (level, index) at its latest width, or `undefined`. */
  readTile(level: number, index: number): Promise<Uint8Array | undefined>;
  /** Current integration state. */
  readState(): Promise<LogState>;
  /** Writes tiles, size and checkpoint in one transaction; rejects if `fromSize` is stale. */
  commitIntegration(commit: IntegrationCommit): Promise<void>;
  /** Replaces the checkpoint of the current integrated `size` (to add cosignatures); no-op if the size moved on. */
  writeCheckpoint(size: number, checkpoint: string): Promise<void>;
}

/** Options of `MemoryLogStorage`. */
export interface MemoryLogStorageOptions {
  /** Simulated latency of each write, in ms (a stand-in for fsync); default 0. */
  readonly writeLatencyMs?: number;
}

/**
 * An in-memory `LogStorage` for tests and benchmarks. Counts its write transactions and can be
 * cloned, so tests can simulate a crash or a rollback to an older copy.
 */
export class MemoryLogStorage implements LogStorage {
  /** Number of `appendEntries` transactions so far. */
  appendTransactions = 0;
  /** Number of `commitIntegration` transactions so far. */
  integrationTransactions = 0;
  #entries: Uint8Array[] = [];
  #tiles = new Map<string, Uint8Array>();
  #state: LogState = { integratedSize: 0, checkpoint: undefined };
  readonly #latency: number;

  constructor(options: MemoryLogStorageOptions = {}) {
    this.#latency = options.writeLatencyMs ?? 0;
  }

  /** A deep copy: an independent storage with the same contents. */
  clone(): MemoryLogStorage {
    const copy = new MemoryLogStorage({ writeLatencyMs: this.#latency });
    copy.#entries = [...this.#entries];
    copy.#tiles = new Map(this.#tiles);
    copy.#state = { ...this.#state };
    return copy;
  }

  async appendEntries(entries: readonly Uint8Array[]): Promise<number> {
    await this.#write();
    const first = this.#entries.length;
    for (const e of entries) this.#entries.push(e.slice());
    this.appendTransactions++;
    return first;
  }

  async sequencedSize(): Promise<number> {
    return this.#entries.length;
  }

  async readEntries(start: number, end: number): Promise<Uint8Array[]> {
    if (start < 0 || end > this.#entries.length || start > end) {
      throw new TlogError('DOMICILE_ERR_TLOG_NOT_FOUND', `entries ${start}..${end} are not all sequenced`);
    }
    return this.#entries.slice(start, end);
  }

  async readTile(level: number, index: number): Promise<Uint8Array | undefined> {
    return this.#tiles.get(`${level}/${index}`);
  }

  async readState(): Promise<LogState> {
    return this.#state;
  }

  async commitIntegration(commit: IntegrationCommit): Promise<void> {
    await this.#write();
    if (commit.fromSize !== this.#state.integratedSize) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
        `integration from stale size ${commit.fromSize}`,
      );
    }
    for (const t of commit.tiles) this.#tiles.set(`${t.level}/${t.index}`, t.hashes.slice());
    this.#state = { integratedSize: commit.toSize, checkpoint: commit.checkpoint };
    this.integrationTransactions++;
  }

  async writeCheckpoint(size: number, checkpoint: string): Promise<void> {
    await this.#write();
    if (size === this.#state.integratedSize) this.#state = { integratedSize: size, checkpoint };
  }

  async #write(): Promise<void> {
    if (this.#latency > 0) await new Promise((r) => setTimeout(r, this.#latency));
    else await Promise.resolve();
  }
}

/** Asks witnesses to cosign; returns signature lines (`— name base64…`, no newline) to append. */
export type CosignHook = (signedCheckpoint: string, checkpoint: Checkpoint) => Promise<readonly string[]>;

/** Options of `TransparencyLog.open`. */
export interface TransparencyLogOptions {
  readonly storage: LogStorage;
  /** The checkpoint origin, e.g. `audit.example.com/log`. */
  readonly origin: string;
  /** The log's note signer (Ed25519, type 0x01). */
  readonly signer: NoteSigner;
  /** Most entries per sequencing transaction; default 1024. */
  readonly batchMaxEntries?: number;
  /** Longest an append waits for others to share its batch, in ms; default 0 (the same turn of the event loop). */
  readonly batchMaxDelayMs?: number;
  /** Period of the background integrator in ms; default 1000. */
  readonly integrateIntervalMs?: number;
  /** Most entries integrated per storage transaction; default 65,536. */
  readonly integrateChunk?: number;
  /** Optional witness cosigning after each new checkpoint. */
  readonly cosign?: CosignHook;
  /** Receives errors of the background integrator and of the cosign hook. */
  readonly onError?: (error: unknown) => void;
}

/** Result of `TransparencyLog.integrate`. */
export interface IntegrationResult {
  readonly size: number;
  readonly root: Hash;
  /** The stored checkpoint, with cosignatures if the hook returned any. */
  readonly checkpoint: string;
}

/** Leaf hashes of a sequenced batch, kept so that integration need not read the batch back. */
interface LeafBatch {
  readonly first: number;
  readonly count: number;
  /** Packed, 32 bytes per entry; never rejects. */
  readonly hashes: Promise<Uint8Array>;
}

interface PendingAppend {
  readonly entry: Uint8Array;
  readonly lookupKey: string | undefined;
  readonly resolve: (value: { index: number }) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The log engine.
 *
 * @example
 * const log = await TransparencyLog.open({ storage, origin, signer: newEd25519Signer(skey) });
 * log.start();                                   // integrate every second
 * const { index } = await log.append(entry);     // durable once resolved
 * await log.integrate();                         // or wait for the integrator
 * const proof = await log.inclusionProof(index, size);
 */
export class TransparencyLog {
  readonly #storage: LogStorage;
  readonly #origin: string;
  readonly #signer: NoteSigner;
  readonly #batchMax: number;
  readonly #batchDelay: number;
  readonly #interval: number;
  readonly #chunk: number;
  readonly #cosign: CosignHook | undefined;
  readonly #onError: (error: unknown) => void;

  #pending: PendingAppend[] = [];
  #slab = new Uint8Array(0);
  #slabUsed = COPY_SLAB_SIZE;
  // leaf hashes of sequenced batches not yet integrated, in index order
  #leafBatches: LeafBatch[] = [];
  #cachedLeaves = 0;
  // entries below this are integrated: their leaf hashes are never needed again
  #leavesIntegratedTo = 0;
  #flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #inFlight = new Set<Promise<void>>();
  #published: { size: number; checkpoint: string } | undefined;
  #integrateChain: Promise<unknown> = Promise.resolve();
  #integratorTimer: NodeJS.Timeout | undefined;
  #running = false;
  #closed = false;
  // Serves proofs; caches the subtrees of recently used tiles (keyed by width, so never stale).
  readonly #servingReader: TileHashReader;

  private constructor(options: TransparencyLogOptions) {
    this.#storage = options.storage;
    this.#origin = options.origin;
    this.#signer = options.signer;
    this.#batchMax = options.batchMaxEntries ?? 1024;
    this.#batchDelay = options.batchMaxDelayMs ?? 0;
    this.#interval = options.integrateIntervalMs ?? 1000;
    this.#chunk = options.integrateChunk ?? 65_536;
    this.#cosign = options.cosign;
    this.#onError = options.onError ?? (() => {});
    this.#servingReader = new TileHashReader((level, index) => this.#storage.readTile(level, index), 1024);
  }

  /**
   * Opens a log over `storage`: integrates everything sequenced but not yet integrated (crash
   * recovery) and signs the empty checkpoint of a new log.
   */
  static async open(options: TransparencyLogOptions): Promise<TransparencyLog> {
    const log = new TransparencyLog(options);
    await log.integrate();
    return log;
  }

  /** The checkpoint origin. */
  get origin(): string {
    return this.#origin;
  }

  /**
   * Sequences an entry. Concurrent appends share one storage transaction (group commit); the
   * promise resolves with the entry's index once its transaction is durable. Entries over
   * 65,535 bytes are refused with `DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE`. `lookupKey` (e.g. a
   * subject pseudonym) is passed to the storage with the entry, for an indexing storage to find it by.
   */
  append(entry: Uint8Array, lookupKey?: string): Promise<{ index: number }> {
    if (this.#closed) return Promise.reject(new TlogError('DOMICILE_ERR_TLOG_CLOSED', 'the log is closed'));
    try {
      checkEntrySize(entry);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ entry: this.#copy(entry), lookupKey, resolve, reject });
      if (this.#pending.length >= this.#batchMax) this.#requestFlush();
      // appends of the same turn of the event loop share a batch; a delay adds more under load
      else
        this.#flushTimer ??=
          this.#batchDelay > 0
            ? setTimeout(() => this.#requestFlush(), this.#batchDelay)
            : setImmediate(() => this.#requestFlush());
    });
  }

  /**
   * A private copy of an entry (the caller may reuse its buffer), carved out of a shared slab:
   * one allocation per many entries instead of one each.
   */
  #copy(entry: Uint8Array): Uint8Array {
    const n = entry.length;
    if (n > COPY_SLAB_SIZE >>> 4) return entry.slice();
    if (this.#slabUsed + n > COPY_SLAB_SIZE) {
      this.#slab = new Uint8Array(COPY_SLAB_SIZE);
      this.#slabUsed = 0;
    }
    const start = this.#slabUsed;
    this.#slab.set(entry, start);
    this.#slabUsed = start + n;
    return this.#slab.subarray(start, start + n);
  }

  /**
   * Integrates every entry sequenced by the time it starts (entries sequenced meanwhile wait for
   * the next call): grows the stored tiles incrementally (only the right edge of each level is
   * read and rewritten), signs a checkpoint per storage transaction, then asks the cosign hook,
   * if any, to cosign the last one.
   */
  integrate(): Promise<IntegrationResult> {
    const run = this.#integrateChain.then(() => this.#integrateAll());
    this.#integrateChain = run.catch(() => {});
    return run;
  }

  /** Starts the background integrator (every `integrateIntervalMs`). */
  start(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    const tick = (): void => {
      this.#integratorTimer = setTimeout(() => {
        this.integrate()
          .catch((e: unknown) => this.#onError(e))
          .finally(() => {
            if (this.#running) tick();
          });
      }, this.#interval);
    };
    tick();
  }

  /** Stops the background integrator and waits for a running integration to finish. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#integratorTimer !== undefined) clearTimeout(this.#integratorTimer);
    this.#integratorTimer = undefined;
    await this.#integrateChain;
  }

  /** Stops accepting appends, writes the pending ones, stops the integrator. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#requestFlush();
    await Promise.all(this.#inFlight);
    await this.stop();
  }

  /** Waits until every append made so far is sequenced. */
  async flush(): Promise<void> {
    this.#requestFlush();
    await Promise.all(this.#inFlight);
  }

  /** The latest signed checkpoint (with cosignatures, if any). */
  async checkpoint(): Promise<string> {
    return (await this.#latest()).checkpoint;
  }

  /** The integrated tree size (the size of the latest checkpoint). */
  async size(): Promise<number> {
    return (await this.#latest()).size;
  }

  /**
   * What may be shown to the world: the last checkpoint whose integration the storage reported
   * durable. Storage may already hold a newer one that is not yet on disk; serving that and then
   * losing it in a power cut would make the log sign two different trees of one size (a fork).
   */
  #publish(size: number, checkpoint: string): void {
    if (this.#published === undefined || size >= this.#published.size) this.#published = { size, checkpoint };
  }

  async #latest(): Promise<{ size: number; checkpoint: string }> {
    if (this.#published !== undefined) return this.#published;
    const state = await this.#storage.readState();
    if (state.checkpoint === undefined)
      throw new TlogError('DOMICILE_ERR_TLOG_NOT_FOUND', 'the log has no checkpoint yet');
    return { size: state.integratedSize, checkpoint: state.checkpoint };
  }

  /**
   * Tile bytes at (level, index), `width` hashes (default 256: a full tile). A tile beyond the
   * latest checkpoint gives `DOMICILE_ERR_TLOG_NOT_FOUND`.
   */
  async readTile(level: number, index: number, width: number = TILE_WIDTH): Promise<Uint8Array> {
    checkTileArgs(level, index, width);
    const { integratedSize } = await this.#storage.readState();
    const available = Math.floor(integratedSize / TILE_WIDTH ** level);
    if (index * TILE_WIDTH + width > available) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_NOT_FOUND',
        `tile ${level}/${index} of width ${width} is beyond the checkpoint`,
      );
    }
    const stored = await this.#storage.readTile(level, index);
    if (stored === undefined || stored.length < width * HASH) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
        `stored tile ${level}/${index} is missing or short`,
      );
    }
    return stored.slice(0, width * HASH);
  }

  /** Entry bundle `index` with `width` entries (default 256). Beyond the checkpoint: not found. */
  async readEntryBundle(index: number, width: number = TILE_WIDTH): Promise<Uint8Array> {
    checkTileArgs(0, index, width);
    const { integratedSize } = await this.#storage.readState();
    const start = index * TILE_WIDTH;
    if (start + width > integratedSize) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_NOT_FOUND',
        `entry bundle ${index} of width ${width} is beyond the checkpoint`,
      );
    }
    return encodeEntryBundle(await this.#storage.readEntries(start, start + width));
  }

  /**
   * Serves a tlog-tiles path: `checkpoint`, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
   * Unknown or out-of-range paths give `DOMICILE_ERR_TLOG_NOT_FOUND` or
   * `DOMICILE_ERR_TLOG_TILE_PATH_MALFORMED`.
   */
  async read(path: string): Promise<Uint8Array> {
    if (path === 'checkpoint') return new TextEncoder().encode(await this.checkpoint());
    const target = parseTilePath(path);
    if (target.index > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TlogError('DOMICILE_ERR_TLOG_NOT_FOUND', 'tile index beyond any tree this log holds');
    }
    const index = Number(target.index);
    return target.kind === 'entries'
      ? this.readEntryBundle(index, target.width)
      : this.readTile(target.level, index, target.width);
  }

  /** Inclusion proof of entry `index` in the tree of `size` (default: the checkpoint's size). */
  async inclusionProof(index: number, size?: number): Promise<Hash[]> {
    const n = await this.#checkSize(size);
    return proveInclusion(this.#reader(), index, n);
  }

  /** Consistency proof from tree size `from` to `to` (default: the checkpoint's size). */
  async consistencyProof(from: number, to?: number): Promise<Hash[]> {
    const n = await this.#checkSize(to);
    return proveConsistency(this.#reader(), from, n);
  }

  /** Root of the tree of `size` (default: the checkpoint's size), from the stored tiles. */
  async root(size?: number): Promise<Hash> {
    const n = await this.#checkSize(size);
    return treeRoot(this.#reader(), n);
  }

  // ----------------------------------------------------------------------------------------------

  #requestFlush(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer as NodeJS.Timeout);
      clearImmediate(this.#flushTimer as NodeJS.Immediate);
    }
    this.#flushTimer = undefined;
    // Batches are written without waiting for the previous one to be durable: the storage
    // assigns indices in commit order, and a storage that group-commits (one fsync for every
    // commit of a moment) makes concurrent batches share the disk's time instead of queueing.
    while (this.#pending.length > 0) {
      const batch =
        this.#pending.length <= this.#batchMax ? this.#pending : this.#pending.splice(0, this.#batchMax);
      if (batch === this.#pending) this.#pending = [];
      const entries = batch.map((p) => p.entry);
      // Leaf hashes are computed on the hash worker while the storage commits and syncs: they
      // stay off the event loop, which the appends need, and off the appends' critical path.
      const leaves = hashLeaves(entries);
      const keys = batch.some((p) => p.lookupKey !== undefined) ? batch.map((p) => p.lookupKey) : undefined;
      const write = this.#storage.appendEntries(entries, keys).then(
        (first) => {
          this.#rememberLeaves(first, entries.length, leaves);
          for (let i = 0; i < batch.length; i++) (batch[i] as PendingAppend).resolve({ index: first + i });
        },
        (e: unknown) => {
          for (const p of batch) p.reject(e);
        },
      );
      this.#inFlight.add(write);
      void write.finally(() => this.#inFlight.delete(write));
    }
  }

  async #integrateAll(): Promise<IntegrationResult> {
    let result: { size: number; root: Hash; checkpoint: string } | undefined;
    // Integrates up to what is sequenced now, not what gets sequenced meanwhile: under a steady
    // stream of appends, chasing the end would sign a checkpoint and rewrite the right-edge tiles
    // for every append batch instead of once per integration period.
    const target = await this.#storage.sequencedSize();
    for (;;) {
      const state = await this.#storage.readState();
      const sequenced = Math.max(target, state.integratedSize);
      if (state.integratedSize === sequenced && state.checkpoint !== undefined) {
        if (result === undefined) {
          return {
            size: state.integratedSize,
            root: parseCheckpoint(checkpointText(state.checkpoint)).root,
            checkpoint: state.checkpoint,
          };
        }
        break;
      }
      result = await this.#integrateStep(
        state.integratedSize,
        Math.min(sequenced, state.integratedSize + this.#chunk),
      );
    }
    if (this.#cosign !== undefined) {
      try {
        const cp = parseCheckpoint(checkpointText(result.checkpoint));
        const lines = await this.#cosign(result.checkpoint, cp);
        if (lines.length > 0) {
          const cosigned = `${result.checkpoint}${lines.map((l) => `${l}\n`).join('')}`;
          await this.#storage.writeCheckpoint(result.size, cosigned);
          result = { ...result, checkpoint: cosigned };
          this.#publish(result.size, cosigned);
        }
      } catch (e) {
        this.#onError(e);
      }
    }
    return result;
  }

  /**
   * Keeps the leaf hashes of a batch just sequenced, so integration need not read it back. Past
   * `MAX_CACHED_LEAVES` (integration far behind), batches are not kept: integration reads them.
   */
  #rememberLeaves(first: number, count: number, hashes: Promise<Uint8Array>): void {
    if (first + count <= this.#leavesIntegratedTo || this.#cachedLeaves + count > MAX_CACHED_LEAVES) return;
    const batches = this.#leafBatches;
    let i = batches.length;
    while (i > 0 && (batches[i - 1] as LeafBatch).first > first) i--;
    batches.splice(i, 0, { first, count, hashes });
    this.#cachedLeaves += count;
  }

  /**
   * Leaf hashes of `[from, to)`, packed: from the kept batches where they cover it, the rest
   * (entries committed but not yet acknowledged, or anything after a restart) hashed from storage.
   */
  async #leafHashes(from: number, to: number): Promise<Uint8Array> {
    const out = new Uint8Array((to - from) * HASH);
    let p = from;
    while (p < to) {
      // batches may be added during the awaits below: look them up afresh each time
      let covering: LeafBatch | undefined;
      let nextFirst = to;
      for (const b of this.#leafBatches) {
        if (b.first <= p && p < b.first + b.count) covering = b;
        else if (b.first > p && b.first < nextFirst) nextFirst = b.first;
      }
      if (covering !== undefined) {
        const end = Math.min(to, covering.first + covering.count);
        const hashes = await covering.hashes;
        out.set(
          hashes.subarray((p - covering.first) * HASH, (end - covering.first) * HASH),
          (p - from) * HASH,
        );
        p = end;
      } else {
        out.set(await hashLeaves(await this.#storage.readEntries(p, nextFirst)), (p - from) * HASH);
        p = nextFirst;
      }
    }
    // what is integrated is never needed again
    this.#leavesIntegratedTo = Math.max(this.#leavesIntegratedTo, to);
    this.#leafBatches = this.#leafBatches.filter((b) => b.first + b.count > to);
    this.#cachedLeaves = 0;
    for (const b of this.#leafBatches) this.#cachedLeaves += b.count;
    return out;
  }

  async #integrateStep(from: number, to: number): Promise<{ size: number; root: Hash; checkpoint: string }> {
    const written = new Map<string, StoredTile>();
    // the new hashes of the current level, packed, starting at position `start` of that level
    let hashes = await this.#leafHashes(from, to);
    let start = from;
    for (let level = 0; hashes.length > 0; level++) {
      const count = hashes.length / HASH;
      const full: Uint8Array[] = [];
      const firstTile = Math.floor(start / TILE_WIDTH);
      const lastTile = Math.floor((start + count - 1) / TILE_WIDTH);
      for (let t = firstTile; t <= lastTile; t++) {
        const tileStart = t * TILE_WIDTH;
        const keep = t === firstTile ? start - tileStart : 0;
        const lo = Math.max(start, tileStart) - start;
        const hi = Math.min(start + count, tileStart + TILE_WIDTH) - start;
        const added = hashes.subarray(lo * HASH, hi * HASH);
        let content = added;
        if (keep > 0) {
          content = new Uint8Array((keep + hi - lo) * HASH);
          content.set(await this.#readExactTile(level, t, keep), 0);
          content.set(added, keep * HASH);
        }
        written.set(`${level}/${t}`, { level, index: t, hashes: content });
        if (content.length === TILE_WIDTH * HASH) full.push(content);
      }
      // every tile of the level but the last is full: their roots are the next level's hashes
      hashes = await fullTileRoots(full);
      start = firstTile;
    }
    const root = await treeRoot(this.#reader(written), to);
    const checkpoint = signCheckpoint({ origin: this.#origin, size: BigInt(to), root, extensions: [] }, [
      this.#signer,
    ]);
    await this.#storage.commitIntegration({
      fromSize: from,
      toSize: to,
      tiles: [...written.values()],
      checkpoint,
    });
    this.#publish(to, checkpoint);
    return { size: to, root, checkpoint };
  }

  async #readExactTile(level: number, index: number, width: number): Promise<Uint8Array> {
    const stored = await this.#storage.readTile(level, index);
    if (stored === undefined || stored.length !== width * HASH) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
        `stored tile ${level}/${index} has ${stored === undefined ? 'no' : stored.length / HASH} hashes, expected ${width}`,
      );
    }
    return stored;
  }

  async #checkSize(size: number | undefined): Promise<number> {
    const integratedSize = (await this.#latest()).size;
    const n = size ?? integratedSize;
    if (!Number.isSafeInteger(n) || n < 0 || n > integratedSize) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_NOT_FOUND',
        `tree size ${n} is beyond the checkpoint size ${integratedSize}`,
      );
    }
    return n;
  }

  #reader(overlay?: ReadonlyMap<string, StoredTile>): HashReader {
    if (overlay === undefined) return this.#servingReader;
    return new TileHashReader(
      async (level, index) =>
        overlay.get(`${level}/${index}`)?.hashes ?? this.#storage.readTile(level, index),
    );
  }
}

/**
 * A `HashReader` over tiles: node (h, i) is read from the tile at level ⌊h/8⌋ and, when h is not
 * a multiple of 8, recomputed from the 2^(h mod 8) hashes under it in that tile. With a cache,
 * the subtrees of each tile are computed once: tile contents at a given width never change.
 */
export class TileHashReader implements HashReader {
  readonly #readTile: (level: number, index: number) => Promise<Uint8Array | undefined>;
  readonly #cache: Map<string, Hash[][]> | undefined;
  readonly #cacheSize: number;

  /** `cacheTiles`: how many tiles' subtrees to keep (0: none). */
  constructor(readTile: (level: number, index: number) => Promise<Uint8Array | undefined>, cacheTiles = 0) {
    this.#readTile = readTile;
    this.#cacheSize = cacheTiles;
    this.#cache = cacheTiles > 0 ? new Map() : undefined;
  }

  async readHashes(nodes: readonly NodeId[]): Promise<readonly Hash[]> {
    const tiles = new Map<string, Promise<Uint8Array | undefined>>();
    const out: Hash[] = [];
    for (const node of nodes) {
      const tileLevel = Math.floor(node.level / TILE_HEIGHT);
      const height = node.level % TILE_HEIGHT;
      const span = 2 ** height;
      const first = node.index * span;
      const tileIndex = Math.floor(first / TILE_WIDTH);
      const offset = first - tileIndex * TILE_WIDTH;
      const key = `${tileLevel}/${tileIndex}`;
      let pending = tiles.get(key);
      if (pending === undefined) {
        pending = this.#readTile(tileLevel, tileIndex);
        tiles.set(key, pending);
      }
      const tile = await pending;
      if (tile === undefined || tile.length < (offset + span) * HASH) {
        throw new TlogError(
          'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
          `tile ${key} does not hold node ${node.level}/${node.index}`,
        );
      }
      out.push(at(at(this.#subtrees(key, tile), height), offset / span));
    }
    return out;
  }

  // levels[r][j] is the node of height r over tile hashes [j·2^r, (j+1)·2^r).
  #subtrees(key: string, tile: Uint8Array): Hash[][] {
    const cacheKey = `${key}/${tile.length}`;
    const cached = this.#cache?.get(cacheKey);
    if (cached !== undefined) return cached;
    const levels: Hash[][] = [[]];
    const width = tile.length / HASH;
    for (let i = 0; i < width; i++) at(levels, 0).push(tile.subarray(i * HASH, (i + 1) * HASH));
    for (let r = 1; r < TILE_HEIGHT; r++) {
      const below = at(levels, r - 1);
      const row: Hash[] = [];
      for (let j = 0; j + 1 < below.length; j += 2) row.push(hashChildren(at(below, j), at(below, j + 1)));
      levels.push(row);
    }
    if (this.#cache !== undefined) {
      if (this.#cache.size >= this.#cacheSize) {
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(cacheKey, levels);
    }
    return levels;
  }
}

function checkpointText(signed: string): string {
  return signed.slice(0, signed.lastIndexOf('\n\n') + 1);
}

function checkTileArgs(level: number, index: number, width: number): void {
  if (
    !Number.isInteger(level) ||
    level < 0 ||
    level > 63 ||
    !Number.isSafeInteger(index) ||
    index < 0 ||
    !Number.isInteger(width) ||
    width < 1 ||
    width > TILE_WIDTH
  ) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `no tile ${level}/${index} of width ${width}`);
  }
}
