/**
 * Pages of a region's records, opened where they are read: the thread that scans a page keeps
 * its ciphertexts (and, once opened, its plaintexts) and hands back only ids and metadata, the
 * outcome of each row, and SHA-256 digests or sealed blobs. A migration of millions of 1 KiB
 * records then moves each record between threads once at most, instead of every step copying it.
 *
 * `RecordPageWork` runs the requests; it runs in a worker thread (`record-page-worker.ts`) or, when
 * workers cannot run, on the calling thread (`record-page-reader.ts`): the results are the same
 * bytes either way. It sees keys as bytes only, and zeroes its copy of them after each request.
 */
import { hash } from 'node:crypto';
import {
  decryptRecordWithAad,
  encryptRecordWithAad,
  KEY_BYTES,
  recordAadMaxLength,
  SEAL_OVERHEAD,
  writeRecordAad,
} from '../../crypto/envelope.js';
import type { ClassId, JurisdictionId, RecordKey, SubjectId } from '../../domain/ids.js';
import type { ScanOptions } from '../../store/region-store.js';
import type { RecordTuple } from '../../store/sqlite/sqlite-store.js';
import { pseudonymize } from '../audit/entry.js';
import { recordLeaf } from './merkle-accumulator.js';

/** What a page's rows are, column by column (no ciphertext, no plaintext). */
export interface PageHeader {
  readonly subjectIds: string[];
  readonly keys: string[];
  readonly classIds: string[];
  readonly versions: number[];
  readonly keyIds: string[];
  readonly updatedAts: number[];
}

/**
 * A request about page `page`:
 * - `read`: scans the page and keeps its ciphertexts (replies `header`);
 * - `open`: opens every row under its key, `keys` holding 32-byte keys back to back and
 *   `keyIndex` one index into them per row (-1: no key); replies `opened` (1 per row that
 *   authenticated) and, with `digest`, the SHA-256 of each plaintext (`digests`, 32 bytes per
 *   row) and forgets the page; without it the plaintexts are kept for `seal`; with
 *   `pseudonymKey`, also each opened row's verification leaf (`leaves`, 32 bytes per row);
 * - `seal`: seals each kept plaintext under its key (row order; -1: not sealed), with the AAD it
 *   was opened with, replies the blobs back to back (`sealed`, `spans`: start and end per row,
 *   start -1 when not sealed) and forgets the page;
 * - `drop`: forgets the page.
 */
export type PageRequest =
  | { readonly op: 'read'; readonly page: number; readonly scan: ScanOptions }
  | {
      readonly op: 'open';
      readonly page: number;
      readonly keys: Uint8Array;
      readonly keyIndex: Int32Array;
      readonly digest: boolean;
      /** With `digest`: also the verification leaf of each opened row (`recordLeaf`), under this key's pseudonyms. */
      readonly pseudonymKey?: Uint8Array;
    }
  | { readonly op: 'seal'; readonly page: number; readonly keys: Uint8Array; readonly keyIndex: Int32Array }
  | { readonly op: 'drop'; readonly page: number };

/** The answer to a `PageRequest` (only the fields of its op). */
export interface PageReply {
  readonly header?: PageHeader;
  readonly opened?: Uint8Array;
  readonly digests?: Uint8Array;
  readonly leaves?: Uint8Array;
  readonly sealed?: Uint8Array;
  readonly spans?: Int32Array;
}

/** The buffers of a reply, to transfer rather than copy between threads. */
export function transferablesOf(reply: PageReply): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const view of [reply.opened, reply.digests, reply.leaves, reply.sealed, reply.spans]) {
    if (view !== undefined) buffers.push(view.buffer as ArrayBuffer);
  }
  return buffers;
}

const DIGEST_BYTES = 32;

interface HeldPage {
  readonly header: PageHeader;
  readonly ciphertexts: Buffer[];
  /** Every row's encoded AAD back to back. */
  readonly aads: Buffer;
  /** Start and end of each row's AAD in `aads`; start -1 when the row's AAD does not encode. */
  readonly aadSpans: Int32Array;
  plaintexts?: (Buffer | undefined)[];
}

/** Runs `PageRequest`s over pages scanned by `scan`. */
export class RecordPageWork {
  readonly #scan: (options: ScanOptions) => RecordTuple[];
  readonly #pages = new Map<number, HeldPage>();

  constructor(scan: (options: ScanOptions) => RecordTuple[]) {
    this.#scan = scan;
  }

  run(request: PageRequest): PageReply {
    switch (request.op) {
      case 'read':
        return { header: this.#read(request.page, request.scan) };
      case 'open':
        try {
          return this.#open(request);
        } finally {
          request.keys.fill(0);
          request.pseudonymKey?.fill(0);
        }
      case 'seal':
        try {
          return this.#seal(request.page, request.keys, request.keyIndex);
        } finally {
          request.keys.fill(0);
        }
      case 'drop':
        this.#pages.delete(request.page);
        return {};
    }
  }

  #held(page: number): HeldPage {
    const held = this.#pages.get(page);
    if (held === undefined) throw new Error(`record page ${page} is not held`);
    return held;
  }

  #read(page: number, scan: ScanOptions): PageHeader {
    const tuples = this.#scan(scan);
    const header: PageHeader = {
      subjectIds: [],
      keys: [],
      classIds: [],
      versions: [],
      keyIds: [],
      updatedAts: [],
    };
    const ciphertexts: Buffer[] = [];
    const aadOf = (t: RecordTuple) => ({
      jurisdiction: t[2] as JurisdictionId,
      subjectId: t[0] as SubjectId,
      key: t[1] as RecordKey,
      classId: t[3] as ClassId,
      version: t[4],
    });
    let size = 0;
    for (const t of tuples) size += recordAadMaxLength(aadOf(t));
    const aads = Buffer.allocUnsafe(size);
    const aadSpans = new Int32Array(tuples.length * 2);
    let offset = 0;
    tuples.forEach((t, i) => {
      header.subjectIds.push(t[0]);
      header.keys.push(t[1]);
      header.classIds.push(t[3]);
      header.versions.push(t[4]);
      header.keyIds.push(t[6]);
      header.updatedAts.push(t[7]);
      ciphertexts.push(t[5]);
      try {
        const end = writeRecordAad(aadOf(t), aads, offset);
        aadSpans[i * 2] = offset;
        aadSpans[i * 2 + 1] = end;
        offset = end;
      } catch {
        // an AAD that does not encode (a version out of range) cannot have sealed anything
        aadSpans[i * 2] = -1;
      }
    });
    this.#pages.set(page, { header, ciphertexts, aads, aadSpans });
    return header;
  }

  #open(request: Extract<PageRequest, { op: 'open' }>): PageReply {
    const { page, keys, keyIndex, digest, pseudonymKey } = request;
    const held = this.#held(page);
    const count = held.ciphertexts.length;
    const opened = new Uint8Array(count);
    const digests = digest ? new Uint8Array(count * DIGEST_BYTES) : undefined;
    const leaves = digest && pseudonymKey !== undefined ? new Uint8Array(count * DIGEST_BYTES) : undefined;
    const plaintexts: (Buffer | undefined)[] = [];
    let pseudonym = { subjectId: '', value: '' };
    for (let i = 0; i < count; i++) {
      const plaintext = this.#openRow(held, i, keys, keyIndex[i] ?? -1);
      plaintexts.push(digests === undefined ? plaintext : undefined);
      if (plaintext === undefined) continue;
      opened[i] = 1;
      if (digests === undefined) continue;
      const contentHash = hash('sha256', plaintext, 'buffer');
      digests.set(contentHash, i * DIGEST_BYTES);
      if (leaves === undefined || pseudonymKey === undefined) continue;
      const { subjectIds, keys: recordKeys, versions } = held.header;
      const subjectId = subjectIds[i] ?? '';
      // rows come in subject order: one pseudonym per subject
      if (pseudonym.subjectId !== subjectId || i === 0)
        pseudonym = { subjectId, value: pseudonymize(pseudonymKey, 'subject', subjectId) };
      const leaf = recordLeaf(
        pseudonym.value,
        recordKeys[i] ?? '',
        versions[i] ?? 0,
        contentHash.toString('hex'),
      );
      leaves.set(leaf, i * DIGEST_BYTES);
    }
    if (digests === undefined) held.plaintexts = plaintexts;
    else this.#pages.delete(page);
    if (digests === undefined) return { opened };
    return leaves === undefined ? { opened, digests } : { opened, digests, leaves };
  }

  #openRow(held: HeldPage, i: number, keys: Uint8Array, keyIndex: number): Buffer | undefined {
    const aadStart = held.aadSpans[i * 2] ?? -1;
    const ciphertext = held.ciphertexts[i];
    if (keyIndex < 0 || aadStart < 0 || ciphertext === undefined) return undefined;
    try {
      return decryptRecordWithAad(
        keys.subarray(keyIndex * KEY_BYTES, (keyIndex + 1) * KEY_BYTES),
        held.aads.subarray(aadStart, held.aadSpans[i * 2 + 1]),
        ciphertext,
      );
    } catch {
      // the ciphertext failed authentication: the row is reported, not opened
      return undefined;
    }
  }

  #seal(page: number, keys: Uint8Array, keyIndex: Int32Array): PageReply {
    const held = this.#held(page);
    this.#pages.delete(page);
    const plaintexts = held.plaintexts;
    if (plaintexts === undefined) throw new Error(`record page ${page} is not opened`);
    let size = 0;
    plaintexts.forEach((plaintext, i) => {
      if (plaintext !== undefined && (keyIndex[i] ?? -1) >= 0) size += plaintext.length + SEAL_OVERHEAD;
    });
    // an ArrayBuffer of its own, so that a worker can transfer it without copying
    const sealed = new Uint8Array(new ArrayBuffer(size));
    const spans = new Int32Array(plaintexts.length * 2).fill(-1);
    let offset = 0;
    plaintexts.forEach((plaintext, i) => {
      const k = keyIndex[i] ?? -1;
      const aadStart = held.aadSpans[i * 2] ?? -1;
      if (plaintext === undefined || k < 0 || aadStart < 0) return;
      // a seal never fails on valid input: an error here is a defect, not a bad record
      const blob = encryptRecordWithAad(
        keys.subarray(k * KEY_BYTES, (k + 1) * KEY_BYTES),
        held.aads.subarray(aadStart, held.aadSpans[i * 2 + 1]),
        plaintext,
      );
      sealed.set(blob, offset);
      spans[i * 2] = offset;
      spans[i * 2 + 1] = offset + blob.length;
      offset += blob.length;
    });
    return { sealed, spans };
  }
}
