/**
 * Migration of a jurisdiction's records out of a legacy source into a region of the jurisdiction:
 * plan, run (resumable, idempotent, safe alongside live traffic), verify.
 *
 * Key handling: every record is decrypted under the source's keys and re-encrypted under the
 * target region's DEK of the subject (created there when missing). Ciphertext and wrapped DEKs are
 * not moved even when both regions hold the same KEK: the target may already hold its own DEK for
 * a subject written through the API during the cut-over (a region holds one DEK per subject), a
 * real legacy data center rarely shares the new provider's KEK, and decrypting authenticates
 * every row on the way, so a damaged one is found and reported instead of copied.
 *
 * Every step is an entry in the jurisdiction's log: `migrate.plan`, `migrate.batch` (written
 * before the batch commits, L1), `migrate.complete`, `migrate.verify`.
 */
import {
  digestPlaintexts,
  digestSealedRecords,
  type PlainRecord,
  type SealedRecord,
  sealRecords,
} from '../../crypto/envelope-pool.js';
import type { DataKey, Keyring } from '../../crypto/keyring.js';
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { isGlobalClass, mayHold } from '../../domain/residency.js';
import type {
  MigrationCursor,
  MigrationFailure,
  MigrationProgress,
  MigrationStore,
  MigrationVerification,
} from '../../store/migration-store.js';
import type { RegionStore, StoredRecord, SubjectDirectory } from '../../store/region-store.js';
import type { PrincipalSummary } from '../access/principal.js';
import type { AuditDetails, AuditSink } from '../audit/audit-event.js';
import { pseudonymize } from '../audit/entry.js';
import type { TransferRequest } from '../transfer/gate.js';
import { MerkleAccumulator, recordLeaf } from './merkle-accumulator.js';
import { type PageStart, PagesAhead } from './pages-ahead.js';
import { recordKeys } from './record-keys.js';
import { openRecordPageReader, scanAfter } from './record-page-reader.js';

/** A readable record of a source, in plaintext (it never leaves this process). */
export interface SourceRecord {
  readonly subjectId: SubjectId;
  readonly key: RecordKey;
  readonly classId: ClassId;
  readonly version: number;
  readonly updatedAt: number;
  readonly plaintext: Uint8Array;
}

/** One row of a source: a record, or a row that failed to parse or decrypt (ids only). */
export type SourceRow =
  | { readonly ok: true; readonly record: SourceRecord }
  | { readonly ok: false; readonly subjectId: string; readonly key: string; readonly reason: string };

/** What is known of a readable source record without its plaintext. */
export type SourceRecordInfo = Omit<SourceRecord, 'plaintext'>;

/** One row of an opened page: a record (its plaintext held where the page was read), or a failure. */
export type PageRow =
  | { readonly ok: true; readonly record: SourceRecordInfo }
  | { readonly ok: false; readonly subjectId: string; readonly key: string; readonly reason: string };

/** A page of a source opened where it was read: its plaintext stays there until sealed. */
export interface OpenedPage {
  readonly rows: readonly PageRow[];
  /**
   * Seals each readable row under `keys[i]` (`undefined`: not sealed), bound to (`jurisdiction`,
   * subject, key, class, version) as `encryptRecord` binds it; the page is done afterwards.
   */
  seal(
    jurisdiction: JurisdictionId,
    keys: readonly (DataKey | undefined)[],
  ): Promise<(Uint8Array | undefined)[]>;
  /** Forgets the page unsealed. */
  drop(): void;
}

/** A row of a source and, when it is readable, the SHA-256 (hex) of its plaintext. */
export interface DigestedRow {
  readonly row: PageRow;
  readonly contentHash: string | undefined;
  /** Its verification leaf (`recordLeaf`), when computed where the row was read. */
  readonly leaf?: Uint8Array | undefined;
}

/** A source read page by page, for `runMigration` and `verifyMigration`. */
export interface SourcePages {
  /** As `MigrationSource.readPage`, the plaintext kept where it was read. */
  open(after: MigrationCursor | null, limit: number): PageStart<OpenedPage>;
  /**
   * As `MigrationSource.readPage`, each readable row hashed where it was read (and, where the
   * source can, its verification leaf computed under `pseudonymKey`).
   */
  digest(after: MigrationCursor | null, limit: number, pseudonymKey: Uint8Array): PageStart<DigestedRow[]>;
  close(): Promise<void>;
}

/** How much a source holds of the jurisdiction being migrated. */
export interface SourceVolume {
  readonly records: number;
  readonly bytes: number;
  /** Rows of other jurisdictions, left alone. */
  readonly otherJurisdictions: number;
}

/**
 * Where records come from: a Domicile region (`region-source.ts`) or an application database
 * (`foreign-source.ts`). Rows come in (subject id, key) order; a cursor is the last row's ids.
 */
export interface MigrationSource {
  /** A region id, or `foreign:<name>`. */
  readonly id: string;
  readonly jurisdiction: JurisdictionId;
  measure(): Promise<SourceVolume>;
  /** At most `limit` rows after `after` (exclusive), in (subject id, key) order. */
  readPage(after: MigrationCursor | null, limit: number): Promise<SourceRow[]>;
  /**
   * The same rows, read and opened off the calling thread where the source can (a SQLite
   * region); `plaintextPages` over `readPage` when absent. The caller closes it.
   */
  pages?(): SourcePages;
}

/**
 * `SourcePages` over `readPage`: plaintexts come to the calling thread and are sealed and hashed
 * on the envelope pool.
 */
export function plaintextPages(source: MigrationSource): SourcePages {
  const lastOf = async (rows: Promise<SourceRow[]>) => {
    const last = (await rows).at(-1);
    return last === undefined ? undefined : idsOf(last);
  };
  const openRows = (rows: SourceRow[]): OpenedPage => ({
    rows,
    async seal(jurisdiction, keys) {
      const plain: PlainRecord[] = [];
      const at: number[] = [];
      rows.forEach((row, i) => {
        const key = keys[i];
        if (!row.ok || key === undefined) return;
        const r = row.record;
        at.push(i);
        plain.push({
          key,
          aad: { jurisdiction, subjectId: r.subjectId, key: r.key, classId: r.classId, version: r.version },
          plaintext: r.plaintext,
        });
      });
      const blobs = await sealRecords(plain);
      const sealed: (Uint8Array | undefined)[] = rows.map(() => undefined);
      at.forEach((row, i) => {
        sealed[row] = blobs[i];
      });
      return sealed;
    },
    drop() {},
  });
  const digestRows = async (rows: SourceRow[]): Promise<DigestedRow[]> => {
    const plaintexts: Uint8Array[] = [];
    for (const row of rows) if (row.ok) plaintexts.push(row.record.plaintext);
    const hashes = await digestPlaintexts(plaintexts);
    let next = 0;
    return rows.map((row) => ({
      row,
      contentHash: row.ok ? hashes[next++]?.toString('hex') : undefined,
    }));
  };
  return {
    open(after, limit) {
      const rows = source.readPage(after, limit);
      return { last: lastOf(rows), page: rows.then(openRows) };
    },
    digest(after, limit) {
      const rows = source.readPage(after, limit);
      return { last: lastOf(rows), page: rows.then(digestRows) };
    },
    async close() {},
  };
}

/** The region records go to. */
export interface MigrationTarget {
  readonly regionId: RegionId;
  readonly store: RegionStore;
  readonly keyring: Keyring;
  readonly state: MigrationStore;
  /**
   * The subject directory, when the source's subjects may not be registered yet (an application
   * database): each migrated subject is registered in the jurisdiction before its records are
   * committed, and a row of a subject registered in another jurisdiction is a failure.
   */
  readonly directory?: SubjectDirectory;
}

/** What every migration step needs. */
export interface MigrationContext {
  readonly config: Config;
  /** The jurisdiction's log. */
  readonly audit: AuditSink;
  /** The jurisdiction's pseudonym key (verification leaves carry pseudonyms, not subject ids). */
  readonly pseudonymKey: Uint8Array;
  /** The operator running the command, for the log. */
  readonly principal: PrincipalSummary | null;
  readonly requestId: string;
  readonly now?: () => number;
  /**
   * The transfer gate (T1): every batch is a `migration` transfer, checked and logged with its
   * volume before it is committed. Refused → the batch is not written.
   */
  readonly transfer?: (request: TransferRequest) => Promise<unknown>;
}

/** What `planMigration` found. */
export interface MigrationPlan {
  readonly id: string;
  readonly jurisdiction: JurisdictionId;
  readonly source: string;
  readonly target: RegionId;
  readonly records: number;
  readonly bytes: number;
  readonly otherJurisdictions: number;
  readonly batchSize: number;
  readonly batches: number;
  /** Seconds at `ESTIMATED_RECORDS_PER_SECOND` (or the given rate limit, when lower). */
  readonly estimateSeconds: number;
  /** Progress of an earlier run, when one exists. */
  readonly progress: MigrationProgress | null;
}

/** Planning rate: a conservative figure from `npm run bench -- migrate` on a small machine. */
export const ESTIMATED_RECORDS_PER_SECOND = 20_000;

/** Default records per batch. */
export const DEFAULT_BATCH_SIZE = 2_000;

/** The id of the migration of `jurisdiction` from `source` into `target`. */
export function migrationId(jurisdiction: JurisdictionId, source: string, target: RegionId): string {
  return `${jurisdiction}:${source}:${target}`;
}

/**
 * Refuses a target that may not hold the jurisdiction's personal data (R1), or that is not an
 * active region, or the source itself.
 */
export function assertTarget(
  config: Config,
  jurisdiction: JurisdictionId,
  source: string,
  target: RegionId,
): void {
  const region = config.regions.get(target);
  // INVARIANT R1: records are decrypted on the way; only a region allowed to hold them may receive them
  if (!region || !mayHold(config, target, jurisdiction, 'protected' as ClassId)) {
    throw new DomicileError(
      'DOMICILE_ERR_RESIDENCY',
      `region \`${target}\`: refusing migration of jurisdiction \`${jurisdiction}\`: not an allowed region`,
    );
  }
  if (region.status !== 'active' || target === source) {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `region \`${target}\`: a migration target must be an active region other than the source`,
    );
  }
}

async function log(
  ctx: MigrationContext,
  jurisdiction: JurisdictionId,
  type: string,
  reason: string,
  details: AuditDetails,
  region?: RegionId,
): Promise<void> {
  await ctx.audit.append({
    type,
    requestId: ctx.requestId,
    principal: ctx.principal,
    jurisdiction,
    ...(region === undefined ? {} : { region }),
    decision: 'info',
    reason,
    details,
  });
}

/** Counts what a migration would move and estimates its duration; logged as `migrate.plan`. */
export async function planMigration(
  ctx: MigrationContext,
  source: MigrationSource,
  target: MigrationTarget,
  options: { readonly batchSize?: number; readonly rate?: number } = {},
): Promise<MigrationPlan> {
  const { jurisdiction } = source;
  assertTarget(ctx.config, jurisdiction, source.id, target.regionId);
  const volume = await source.measure();
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const rate = Math.min(options.rate ?? Number.POSITIVE_INFINITY, ESTIMATED_RECORDS_PER_SECOND);
  const id = migrationId(jurisdiction, source.id, target.regionId);
  const plan: MigrationPlan = {
    id,
    jurisdiction,
    source: source.id,
    target: target.regionId,
    records: volume.records,
    bytes: volume.bytes,
    otherJurisdictions: volume.otherJurisdictions,
    batchSize,
    batches: Math.ceil(volume.records / batchSize),
    estimateSeconds: Math.ceil(volume.records / rate),
    progress: (await target.state.load(id)) ?? null,
  };
  await log(
    ctx,
    jurisdiction,
    'migrate.plan',
    'migration planned',
    {
      migration: id,
      source: source.id,
      target: target.regionId,
      records: plan.records,
      bytes: plan.bytes,
      otherJurisdictions: plan.otherJurisdictions,
      estimateSeconds: plan.estimateSeconds,
    },
    target.regionId,
  );
  return plan;
}

/** Options of `runMigration`. */
export interface RunOptions {
  readonly batchSize?: number;
  /** Records per second at most. */
  readonly rate?: number;
  /** Told after every committed batch. */
  readonly onProgress?: (progress: MigrationProgress, total: number) => void;
  /** Stops after the current batch (the run resumes from there next time). */
  readonly signal?: AbortSignal;
}

const compare = (a: { subjectId: string; key: string }, b: { subjectId: string; key: string }): number =>
  a.subjectId < b.subjectId ? -1 : a.subjectId > b.subjectId ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

/** A row's subject id and key, whether it is a record or a failure (a `SourceRow` too). */
export const idsOf = (row: PageRow): { subjectId: string; key: string } =>
  row.ok
    ? { subjectId: row.record.subjectId, key: row.record.key }
    : { subjectId: row.subjectId, key: row.key };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs (or resumes) a migration: reads the source in batches after the stored cursor, encrypts
 * each record under the target's keys and commits the batch with the new cursor in one
 * transaction. Re-running a finished migration changes nothing.
 */
export async function runMigration(
  ctx: MigrationContext,
  source: MigrationSource,
  target: MigrationTarget,
  options: RunOptions = {},
): Promise<MigrationProgress> {
  const { config } = ctx;
  const { jurisdiction } = source;
  assertTarget(config, jurisdiction, source.id, target.regionId);
  const now = ctx.now ?? Date.now;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
    throw new DomicileError('DOMICILE_ERR_USAGE', `batch size must be between 1 and 100000`);
  }
  const id = migrationId(jurisdiction, source.id, target.regionId);
  const total = (await source.measure()).records;
  let progress: MigrationProgress = (await target.state.load(id)) ?? {
    id,
    jurisdiction,
    source: source.id,
    target: target.regionId,
    status: 'running',
    cursor: null,
    processed: 0,
    copied: 0,
    skipped: 0,
    failed: 0,
    batches: 0,
    startedAt: now(),
    updatedAt: now(),
    verification: null,
  };
  const started = now();
  const processedAtStart = progress.processed;
  // Batches are read, decrypted and re-encrypted up to BATCHES_AHEAD ahead of the one that passes
  // the gate and commits, so the source's reader thread and the envelope pool do the crypto
  // while this one looks up keys and writes. Nothing of a batch ahead is written before its turn:
  // the cursor still commits with exactly the records it covers.
  const pages = source.pages?.() ?? plaintextPages(source);
  const ahead = new PagesAhead(
    (after): PageStart<PreparedBatch | undefined> => {
      const { last, page } = pages.open(after, batchSize);
      return {
        last,
        page: page.then(async (opened) => {
          const cursor = opened.rows.at(-1);
          if (cursor === undefined) return undefined;
          const sealed = await sealBatch(config, jurisdiction, target, opened);
          return { ...sealed, rows: opened.rows.length, cursor: idsOf(cursor) };
        }),
      };
    },
    progress.cursor,
    BATCHES_AHEAD,
  );
  try {
    for (;;) {
      if (options.signal?.aborted) break;
      const batch = await ahead.next();
      if (batch === undefined) break;
      const { failures, cursor } = batch;
      let { records } = batch;
      // INVARIANT T1: a batch crosses regions only through the transfer gate (one call per class)
      const volumes = new Map<string, { records: number; bytes: number }>();
      for (const record of records) {
        const v = volumes.get(record.classId) ?? { records: 0, bytes: 0 };
        volumes.set(record.classId, { records: v.records + 1, bytes: v.bytes + record.ciphertext.length });
      }
      for (const [classId, volume] of volumes) {
        await ctx.transfer?.({
          kind: 'migration',
          sourceJurisdiction: jurisdiction,
          sourceRegion: source.id as RegionId,
          destinationRegion: target.regionId,
          classId,
          form: 'plaintext',
          records: volume.records,
          bytes: volume.bytes,
          requestId: ctx.requestId,
          details: { migration: id },
        });
      }
      // INVARIANT L1: the batch is on the record before it is committed
      await log(
        ctx,
        jurisdiction,
        'migrate.batch',
        'migration batch',
        { migration: id, batch: progress.batches + 1, records: records.length, failed: failures.length },
        target.regionId,
      );
      if (target.directory && batch.unregistered.length > 0) {
        // registered only now that the batch is on the record; a subject registered elsewhere
        // in the meantime keeps its records out of the batch
        const conflicts = new Set<string>();
        for (const subjectId of batch.unregistered) {
          if ((await target.directory.register(subjectId, jurisdiction)) === 'conflict')
            conflicts.add(subjectId);
        }
        if (conflicts.size > 0) {
          for (const r of records) {
            if (conflicts.has(r.subjectId))
              failures.push({ subjectId: r.subjectId, key: r.key, reason: CONFLICT });
          }
          records = records.filter((r) => !conflicts.has(r.subjectId));
        }
      }
      const before = progress;
      progress = await target.state.commitBatch(records, failures, (outcome) => ({
        ...before,
        status: 'running',
        cursor,
        processed: before.processed + batch.rows,
        copied: before.copied + outcome.copied,
        skipped: before.skipped + outcome.skipped,
        failed: before.failed + failures.length,
        batches: before.batches + 1,
        updatedAt: now(),
        verification: null,
      }));
      options.onProgress?.(progress, total);
      if (options.rate !== undefined && options.rate > 0) {
        const due = ((progress.processed - processedAtStart) / options.rate) * 1000 - (now() - started);
        if (due > 0) await sleep(due);
      }
    }
  } finally {
    await pages.close();
  }
  if (options.signal?.aborted) return progress;
  if (progress.status !== 'done') {
    progress = { ...progress, status: 'done', updatedAt: now() };
    await log(
      ctx,
      jurisdiction,
      'migrate.complete',
      'migration complete',
      {
        migration: id,
        processed: progress.processed,
        copied: progress.copied,
        skipped: progress.skipped,
        failed: progress.failed,
        batches: progress.batches,
      },
      target.regionId,
    );
    await target.state.save(progress);
  }
  return progress;
}

const CONFLICT = 'subject is registered in another jurisdiction';

/** Batches read and sealed ahead of the one being committed. */
const BATCHES_AHEAD = 2;

/** A batch read and sealed under the target's keys, not written yet. */
interface PreparedBatch {
  readonly records: StoredRecord[];
  readonly failures: MigrationFailure[];
  readonly unregistered: SubjectId[];
  /** Source rows the batch covers (records and failures). */
  readonly rows: number;
  /** The ids of its last row: the cursor to commit with it. */
  readonly cursor: MigrationCursor;
}

/**
 * Encrypts a page of source rows under the target's keys; unreadable rows, and rows of subjects
 * registered in another jurisdiction, become failures. With a directory, also lists the subjects
 * still to register. The page is done afterwards, sealed or dropped.
 */
async function sealBatch(
  config: Config,
  jurisdiction: JurisdictionId,
  target: MigrationTarget,
  page: OpenedPage,
): Promise<{ records: StoredRecord[]; failures: MigrationFailure[]; unregistered: SubjectId[] }> {
  try {
    return await sealPage(config, jurisdiction, target, page);
  } catch (error) {
    page.drop();
    throw error;
  }
}

async function sealPage(
  config: Config,
  jurisdiction: JurisdictionId,
  target: MigrationTarget,
  page: OpenedPage,
): Promise<{ records: StoredRecord[]; failures: MigrationFailure[]; unregistered: SubjectId[] }> {
  const failures: MigrationFailure[] = [];
  /** Readable rows and their index in the page. */
  let readable: { record: SourceRecordInfo; row: number }[] = [];
  page.rows.forEach((row, i) => {
    if (!row.ok) {
      failures.push({ subjectId: row.subjectId, key: row.key, reason: row.reason });
    } else if (!mayHold(config, target.regionId, jurisdiction, row.record.classId)) {
      failures.push({
        subjectId: row.record.subjectId,
        key: row.record.key,
        reason: 'class not allowed in target',
      });
    } else {
      readable.push({ record: row.record, row: i });
    }
  });
  const unregistered: SubjectId[] = [];
  if (target.directory) {
    const elsewhere = new Set<string>();
    for (const subjectId of new Set(readable.map((r) => r.record.subjectId))) {
      const registered = await target.directory.lookup(subjectId);
      // INVARIANT R1: a subject's data lives in its registered jurisdiction only
      if (registered === undefined) unregistered.push(subjectId);
      else if (registered !== jurisdiction) elsewhere.add(subjectId);
    }
    for (const { record: r } of readable) {
      if (elsewhere.has(r.subjectId)) failures.push({ subjectId: r.subjectId, key: r.key, reason: CONFLICT });
    }
    readable = readable.filter((r) => !elsewhere.has(r.record.subjectId));
  }
  const personal: SubjectId[] = [];
  for (const { record } of readable)
    if (!isGlobalClass(config, record.classId)) personal.push(record.subjectId);
  const keys = await target.keyring.subjectKeys(jurisdiction, personal, true);
  const regionKey = personal.length === readable.length ? undefined : await target.keyring.regionKey();
  const rowKeys: (DataKey | undefined)[] = page.rows.map(() => undefined);
  for (const { record: r, row } of readable) {
    const key = isGlobalClass(config, r.classId) ? regionKey : keys.get(r.subjectId);
    if (!key)
      throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', 'no data key for a migrated subject');
    rowKeys[row] = key;
  }
  const ciphertexts = await page.seal(jurisdiction, rowKeys);
  const records = readable.map(({ record: r, row }): StoredRecord => {
    const ciphertext = ciphertexts[row];
    const key = rowKeys[row];
    if (ciphertext === undefined || key === undefined)
      throw new DomicileError('DOMICILE_ERR_INTERNAL', 'migration: a readable record was not sealed');
    return {
      subjectId: r.subjectId,
      key: r.key,
      jurisdiction,
      classId: r.classId,
      version: r.version,
      ciphertext,
      keyId: key.id,
      updatedAt: r.updatedAt,
    };
  });
  return { records, failures, unregistered };
}

/** One difference found by `verifyMigration`: ids only, never a value. */
export interface VerifyDifference {
  readonly subjectId: string;
  readonly key: string;
  /**
   * - `missing`: in the source, not in the target;
   * - `mismatch`: same version, different content;
   * - `older`: the target holds an older version than the source;
   * - `unreadable-source`: the source row fails to parse or decrypt;
   * - `unreadable-target`: the target's copy fails to decrypt.
   */
  readonly kind: 'missing' | 'mismatch' | 'older' | 'unreadable-source' | 'unreadable-target';
  readonly reason?: string;
}

/** What `verifyMigration` found. */
export interface VerifyReport {
  readonly migration: string;
  readonly passed: boolean;
  /** Hex roots over the migrated set, computed independently on each side. */
  readonly sourceRoot: string;
  readonly targetRoot: string;
  /** Records in the migrated set (leaves on each side when passed). */
  readonly records: number;
  /** Records the target holds newer versions of (written through the API meanwhile): not differences. */
  readonly superseded: number;
  /** Target records with no source row (new data): not part of the migration. */
  readonly newInTarget: number;
  /** Number of differences (`differences` lists at most `limit` of them). */
  readonly differenceCount: number;
  readonly differences: readonly VerifyDifference[];
}

/**
 * Reads a sorted stream row by row over pages read ahead (`PagesAhead`): the next pages are read,
 * decrypted and hashed while the current one is compared.
 */
class PagedReader<T> {
  readonly #pages: PagesAhead<T[]>;
  #page: T[] = [];
  #index = 0;
  #done = false;

  constructor(start: (after: MigrationCursor | null) => PageStart<T[]>) {
    this.#pages = new PagesAhead(start, null, VERIFY_PAGES_AHEAD);
  }

  async peek(): Promise<T | undefined> {
    if (this.#index < this.#page.length) return this.#page[this.#index];
    if (this.#done) return undefined;
    this.#page = (await this.#pages.next()) ?? [];
    this.#index = 0;
    if (this.#page.length === 0) {
      this.#done = true;
      return undefined;
    }
    return this.#page[0];
  }

  take(): void {
    this.#index++;
  }
}

/** Pages of each side of a verification read ahead of the one being compared. */
const VERIFY_PAGES_AHEAD = 3;

/** A target record's ids and version, and the SHA-256 (hex) of its plaintext or why it cannot be read. */
interface HashedTargetRecord {
  readonly subjectId: string;
  readonly key: string;
  readonly version: number;
  readonly contentHash: string | undefined;
  readonly unreadable: string | undefined;
  /** Its verification leaf (`recordLeaf`), when computed where the record was read. */
  readonly leaf?: Uint8Array | undefined;
}

const TARGET_UNREADABLE = { noKey: 'data key destroyed', failed: 'ciphertext failed authentication' };

/**
 * Pages of the target's records of `jurisdiction`, each decrypted under the target's keys and
 * hashed: on a reader thread of its own for a SQLite region, else on the envelope pool.
 */
function targetPages(
  target: MigrationTarget,
  jurisdiction: JurisdictionId,
  pseudonymKey: Uint8Array,
): {
  read(after: MigrationCursor | null, limit: number): PageStart<HashedTargetRecord[]>;
  close(): Promise<void>;
} {
  const scanOf = (after: MigrationCursor | null, limit: number) => scanAfter(jurisdiction, after, limit);
  const reader = openRecordPageReader(target.store);
  if (reader !== undefined) {
    return {
      read(after, limit) {
        const { last, page } = reader.open(target.keyring, jurisdiction, scanOf(after, limit), {
          tolerate: false,
          digest: true,
          reasons: TARGET_UNREADABLE,
          pseudonymKey,
        });
        return {
          last,
          page: page.then(({ header, unreadable, contentHashes, leaves }) =>
            header.subjectIds.map(
              (subjectId, i): HashedTargetRecord => ({
                subjectId,
                key: header.keys[i] ?? '',
                version: header.versions[i] ?? 0,
                contentHash: contentHashes[i],
                unreadable: unreadable[i],
                leaf: leaves[i],
              }),
            ),
          ),
        };
      },
      close: () => reader.close(),
    };
  }
  const readPage = async (after: MigrationCursor | null, limit: number): Promise<HashedTargetRecord[]> => {
    const records = await target.store.scanRecords(scanOf(after, limit));
    const keys = await recordKeys(target.keyring, jurisdiction, records, { tolerate: false });
    const sealed: SealedRecord[] = [];
    records.forEach((r, i) => {
      const key = keys[i];
      if (!key) return;
      sealed.push({
        key,
        aad: { jurisdiction, subjectId: r.subjectId, key: r.key, classId: r.classId, version: r.version },
        ciphertext: r.ciphertext,
      });
    });
    const hashes = await digestSealedRecords(sealed);
    let next = 0;
    return records.map((r, i): HashedTargetRecord => {
      const ids = { subjectId: r.subjectId, key: r.key, version: r.version };
      if (!keys[i]) return { ...ids, contentHash: undefined, unreadable: TARGET_UNREADABLE.noKey };
      const hash = hashes[next++];
      return hash === undefined
        ? { ...ids, contentHash: undefined, unreadable: TARGET_UNREADABLE.failed }
        : { ...ids, contentHash: hash.toString('hex'), unreadable: undefined };
    });
  };
  return {
    read(after, limit) {
      const page = readPage(after, limit);
      const last = page.then((records) => {
        const r = records.at(-1);
        return r === undefined ? undefined : { subjectId: r.subjectId, key: r.key };
      });
      return { last, page };
    },
    close: async () => {},
  };
}

/**
 * Verifies a migration: computes, independently on each side, an RFC 9162 Merkle root over
 * (subject pseudonym, key, version, SHA-256 of the plaintext) of every migrated record, and lists
 * the differences. Records the target holds in a newer version (live writes during the cut-over)
 * are left out of both roots and counted as superseded. Logged as `migrate.verify`; the result is
 * kept with the migration's progress (a wipe requires a passed verification).
 */
export async function verifyMigration(
  ctx: MigrationContext,
  source: MigrationSource,
  target: MigrationTarget,
  options: { readonly pageSize?: number; readonly limit?: number } = {},
): Promise<VerifyReport> {
  const { jurisdiction } = source;
  const pageSize = options.pageSize ?? 5_000;
  const limit = options.limit ?? 1_000;
  const id = migrationId(jurisdiction, source.id, target.regionId);
  // Each side is decrypted and hashed on its own (the source under its keys, the target under
  // the target's), off this thread where the store allows; only the hashes come back to be
  // compared here.
  const sourcePages = source.pages?.() ?? plaintextPages(source);
  const pages = targetPages(target, jurisdiction, ctx.pseudonymKey);
  try {
    return await compareSides(ctx, source, target, id, limit, {
      source: new PagedReader((after) => sourcePages.digest(after, pageSize, ctx.pseudonymKey)),
      target: new PagedReader((after) => pages.read(after, pageSize)),
    });
  } finally {
    await Promise.all([sourcePages.close(), pages.close()]);
  }
}

/** The rest of `verifyMigration`: walks both sides in order, builds both roots, logs and keeps the result. */
async function compareSides(
  ctx: MigrationContext,
  source: MigrationSource,
  target: MigrationTarget,
  id: string,
  limit: number,
  readers: { readonly source: PagedReader<DigestedRow>; readonly target: PagedReader<HashedTargetRecord> },
): Promise<VerifyReport> {
  const { jurisdiction } = source;
  const pseudonyms = new Map<string, string>();
  const pseudonymOf = (subjectId: string): string => {
    let p = pseudonyms.get(subjectId);
    if (p === undefined) {
      if (pseudonyms.size > 10_000) pseudonyms.clear();
      p = pseudonymize(ctx.pseudonymKey, 'subject', subjectId);
      pseudonyms.set(subjectId, p);
    }
    return p;
  };
  const { source: sourceReader, target: targetReader } = readers;
  const sourceTree = new MerkleAccumulator();
  const targetTree = new MerkleAccumulator();
  const differences: VerifyDifference[] = [];
  let differenceCount = 0;
  let superseded = 0;
  let newInTarget = 0;
  const differ = (d: VerifyDifference): void => {
    differenceCount++;
    if (differences.length < limit) differences.push(d);
  };
  for (;;) {
    const s = await sourceReader.peek();
    const t = await targetReader.peek();
    if (s === undefined && t === undefined) break;
    const order = s === undefined ? 1 : t === undefined ? -1 : compare(idsOf(s.row), t);
    if (order > 0 && t !== undefined) {
      newInTarget++;
      targetReader.take();
      continue;
    }
    if (s === undefined) break;
    sourceReader.take();
    const { row, contentHash: sourceHash } = s;
    const ids = idsOf(row);
    const counterpart = order === 0 ? t : undefined;
    if (counterpart) targetReader.take();
    if (!row.ok) {
      differ({ ...ids, kind: 'unreadable-source', reason: row.reason });
      continue;
    }
    const record = row.record;
    if (counterpart && counterpart.version > record.version) {
      superseded++;
      continue;
    }
    if (sourceHash === undefined) throw new DomicileError('DOMICILE_ERR_INTERNAL', 'verify: no content hash');
    sourceTree.add(
      s.leaf ?? recordLeaf(pseudonymOf(record.subjectId), record.key, record.version, sourceHash),
    );
    if (!counterpart) {
      differ({ ...ids, kind: 'missing' });
      continue;
    }
    const { contentHash: targetHash, unreadable } = counterpart;
    if (targetHash === undefined) {
      differ({ ...ids, kind: 'unreadable-target', reason: unreadable ?? 'unreadable' });
      continue;
    }
    const { key, version } = counterpart;
    targetTree.add(counterpart.leaf ?? recordLeaf(pseudonymOf(record.subjectId), key, version, targetHash));
    if (version < record.version) differ({ ...ids, kind: 'older' });
    else if (targetHash !== sourceHash) differ({ ...ids, kind: 'mismatch' });
  }
  const sourceRoot = Buffer.from(sourceTree.root()).toString('hex');
  const targetRoot = Buffer.from(targetTree.root()).toString('hex');
  const passed = differenceCount === 0 && sourceRoot === targetRoot;
  const report: VerifyReport = {
    migration: id,
    passed,
    sourceRoot,
    targetRoot,
    records: sourceTree.count,
    superseded,
    newInTarget,
    differenceCount,
    differences,
  };
  const now = ctx.now ?? Date.now;
  await log(
    ctx,
    jurisdiction,
    'migrate.verify',
    passed ? 'migration verified: roots equal' : 'migration verification failed',
    {
      migration: id,
      passed,
      sourceRoot,
      targetRoot,
      records: report.records,
      superseded,
      newInTarget,
      differences: differenceCount,
    },
    target.regionId,
  );
  const verification: MigrationVerification = {
    at: now(),
    passed,
    sourceRoot,
    targetRoot,
    records: report.records,
    differences: differenceCount,
  };
  const progress = await target.state.load(id);
  if (progress) await target.state.save({ ...progress, verification, updatedAt: now() });
  return report;
}
