/**
 * Reads a SQLite region's records page by page on a worker thread of its own (its own read-only
 * connection, `record-page-worker.ts`), and opens, hashes and re-seals them there
 * (`record-pages.ts`): the calling thread looks up the keys and writes, the worker reads and does
 * the crypto, so a migration uses two cores. Without a compiled worker file (e.g. under the test
 * runner) the same work runs on the calling thread over the store's own connection.
 *
 * Key material crosses threads only in memory, inside this process; the worker zeroes its copy
 * when a request is done.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { packDataKeys } from '../../crypto/envelope-pool.js';
import type { DataKey, Keyring } from '../../crypto/keyring.js';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RecordKey, SubjectId } from '../../domain/ids.js';
import type { MigrationCursor } from '../../store/migration-store.js';
import type { RegionStore, ScanOptions } from '../../store/region-store.js';
import { SqliteRegionStore } from '../../store/sqlite/sqlite-store.js';
import type { PageStart } from './pages-ahead.js';
import { recordKeys } from './record-keys.js';
import { type PageHeader, type PageReply, type PageRequest, RecordPageWork } from './record-pages.js';

const WORKER_FILE = new URL('./record-page-worker.js', import.meta.url);

/** Worker threads of a reader by default: a migration's crypto runs on both cores of a small machine. */
const READER_THREADS = 2;

/** The scan of a jurisdiction's records after a migration cursor (from the start without one). */
export function scanAfter(
  jurisdiction: JurisdictionId,
  after: MigrationCursor | null,
  limit: number,
): ScanOptions {
  return {
    jurisdiction,
    ...(after === null
      ? {}
      : { after: { subjectId: after.subjectId as SubjectId, key: after.key as RecordKey } }),
    limit,
  };
}

interface WorkerReply {
  readonly id: number;
  readonly reply?: PageReply;
  readonly error?: string;
}

/** A page read and opened: its rows, and why each one that did not open could not be read. */
export interface OpenedRecordPage {
  readonly header: PageHeader;
  /** Per row, `undefined` when it opened, else why not. */
  readonly unreadable: readonly (string | undefined)[];
  /** With `digest`, per row: the SHA-256 (hex) of its plaintext; `undefined` where it did not open. */
  readonly contentHashes: readonly (string | undefined)[];
  /** With `digest` and `pseudonymKey`, per row: its verification leaf; `undefined` where it did not open. */
  readonly leaves: readonly (Uint8Array | undefined)[];
  /** Without `digest`: seals the opened rows (see `RecordPageReader.seal`). */
  readonly page: number;
}

/** Why a row did not open, by cause. */
export interface UnreadableReasons {
  readonly noKey: string;
  readonly failed: string;
}

/**
 * Pages of one SQLite region file's records. Open with `openRecordPageReader`; close when done
 * (it ends the worker).
 */
export class RecordPageReader {
  readonly #context: string;
  readonly #workers: Worker[] = [];
  readonly #inline: RecordPageWork | undefined;
  readonly #jobs = new Map<number, { resolve: (r: PageReply) => void; reject: (e: unknown) => void }>();
  #failure: unknown;
  #nextJob = 0;
  #nextPage = 0;

  /** `threads` workers read alternate pages, each opening and sealing the pages it read. */
  constructor(store: SqliteRegionStore, threads: number) {
    this.#context = `region \`${store.regionId}\`: record page reader`;
    if (!existsSync(fileURLToPath(WORKER_FILE))) {
      this.#inline = new RecordPageWork((options) => store.scanRecordTuples(options));
      return;
    }
    const fail = (error: unknown): void => {
      this.#failure ??= error;
      for (const job of this.#jobs.values()) job.reject(this.#error(String(error)));
      this.#jobs.clear();
    };
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_FILE, { workerData: { file: store.file, context: this.#context } });
      worker.on('message', (message: WorkerReply) => {
        const job = this.#jobs.get(message.id);
        if (job === undefined) return;
        this.#jobs.delete(message.id);
        if (message.reply !== undefined) job.resolve(message.reply);
        else job.reject(this.#error(message.error ?? 'no reply'));
      });
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`worker exited with code ${code}`)));
      this.#workers.push(worker);
    }
  }

  #error(message: string): DomicileError {
    return new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${this.#context}: page request failed`, {
      cause: new Error(message),
    });
  }

  #request(request: PageRequest, transfer: ArrayBuffer[] = []): Promise<PageReply> {
    if (this.#inline !== undefined) {
      try {
        return Promise.resolve(this.#inline.run(request));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // a page lives on the worker that read it
    const worker = this.#workers[request.page % this.#workers.length];
    if (worker === undefined || this.#failure !== undefined) {
      return Promise.reject(this.#error(String(this.#failure ?? 'no worker')));
    }
    const id = this.#nextJob++;
    return new Promise((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject });
      worker.postMessage({ id, request }, transfer);
    });
  }

  /**
   * Reads a page (as `RegionStore.scanRecords`), looks up each row's key in `keyring` (one call
   * per page, see `recordKeys`) and opens the rows where they were read. With `digest` the page
   * is done (its plaintexts hashed and forgotten); without it, `seal` or `drop` it next.
   */
  open(
    keyring: Keyring,
    jurisdiction: JurisdictionId,
    scan: ScanOptions,
    options: {
      readonly tolerate: boolean;
      readonly digest: boolean;
      readonly reasons: UnreadableReasons;
      readonly pseudonymKey?: Uint8Array;
    },
  ): PageStart<OpenedRecordPage> {
    const page = this.#nextPage++;
    const header = this.#request({ op: 'read', page, scan }).then(({ header }) => {
      if (header === undefined) throw this.#error('no page');
      return header;
    });
    const last = header.then((h): MigrationCursor | undefined => {
      const i = h.subjectIds.length - 1;
      return i < 0 ? undefined : { subjectId: h.subjectIds[i] ?? '', key: h.keys[i] ?? '' };
    });
    return { last, page: header.then((h) => this.#open(page, h, keyring, jurisdiction, options)) };
  }

  async #open(
    page: number,
    header: PageHeader,
    keyring: Keyring,
    jurisdiction: JurisdictionId,
    options: {
      readonly tolerate: boolean;
      readonly digest: boolean;
      readonly reasons: UnreadableReasons;
      readonly pseudonymKey?: Uint8Array;
    },
  ): Promise<OpenedRecordPage> {
    let keys: (DataKey | undefined)[];
    try {
      keys = await recordKeys(
        keyring,
        jurisdiction,
        header.subjectIds.map((subjectId, i) => ({
          subjectId: subjectId as SubjectId,
          keyId: header.keyIds[i] ?? '',
        })),
        { tolerate: options.tolerate },
      );
    } catch (error) {
      void this.#request({ op: 'drop', page }).catch(() => undefined);
      throw error;
    }
    const packed = packDataKeys(keys);
    const transfer = [packed.keys.buffer as ArrayBuffer];
    // a copy of its own: the worker zeroes it when done
    const pseudonymKey =
      options.digest && options.pseudonymKey ? Uint8Array.from(options.pseudonymKey) : undefined;
    if (pseudonymKey !== undefined) transfer.push(pseudonymKey.buffer as ArrayBuffer);
    const { opened, digests, leaves } = await this.#request(
      {
        op: 'open',
        page,
        ...packed,
        digest: options.digest,
        ...(pseudonymKey === undefined ? {} : { pseudonymKey }),
      },
      transfer,
    );
    if (opened === undefined) throw this.#error('no outcome');
    const unreadable = keys.map((key, i) =>
      opened[i] === 1 ? undefined : key === undefined ? options.reasons.noKey : options.reasons.failed,
    );
    // one hex encoding per page, not one per row
    const hex =
      digests === undefined
        ? ''
        : Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength).toString('hex');
    const contentHashes = unreadable.map((reason, i) =>
      reason === undefined && digests !== undefined ? hex.slice(i * 64, (i + 1) * 64) : undefined,
    );
    const rowLeaves = unreadable.map((reason, i) =>
      reason === undefined ? leaves?.subarray(i * 32, (i + 1) * 32) : undefined,
    );
    return { header, unreadable, contentHashes, leaves: rowLeaves, page };
  }

  /**
   * Seals the rows of a page opened without `digest` under `keys` (one per row; `undefined`: not
   * sealed), each bound to the AAD it was opened with; the page is done afterwards.
   */
  async seal(page: number, keys: readonly (DataKey | undefined)[]): Promise<(Uint8Array | undefined)[]> {
    const packed = packDataKeys(keys);
    const { sealed, spans } = await this.#request({ op: 'seal', page, ...packed }, [
      packed.keys.buffer as ArrayBuffer,
    ]);
    if (sealed === undefined || spans === undefined) throw this.#error('no blobs');
    return keys.map((_, i) => {
      const start = spans[i * 2] ?? -1;
      return start < 0 ? undefined : sealed.subarray(start, spans[i * 2 + 1]);
    });
  }

  /** Forgets a page opened without `digest` and not sealed. */
  async drop(page: number): Promise<void> {
    await this.#request({ op: 'drop', page });
  }

  async close(): Promise<void> {
    this.#failure ??= 'closed';
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

/**
 * A page reader over `store` when it is a SQLite region (whose file a worker can read), else
 * `undefined`: other stores are read through `RegionStore.scanRecords`.
 *
 * @example
 * const reader = openRecordPageReader(store);
 * const page = await reader?.open(keyring, jurisdiction, { jurisdiction, limit }, options).page;
 */
export function openRecordPageReader(
  store: RegionStore,
  threads = READER_THREADS,
): RecordPageReader | undefined {
  return store instanceof SqliteRegionStore ? new RecordPageReader(store, threads) : undefined;
}
