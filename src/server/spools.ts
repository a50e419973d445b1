/**
 * Where a region node keeps what it could not deliver yet, and what an operator does with it.
 *
 * Under `<data>/<region>/`:
 * - `replica-spool/<target region>.jsonl`: replicas for a region that was down when they were
 *   written; `<target region>.rejected.jsonl`: the ones it refused for good;
 * - `audit-spool/<jurisdiction>.jsonl`: audit events for a jurisdiction's home region (which holds
 *   its log) while it was down; `<jurisdiction>.rejected.jsonl`: the ones it refused for good.
 *
 * A refusal "for good" is a 4xx, or a refusal of the form of the request (a node of another
 * version, `DOMICILE_ERR_REGION_REFUSED`); a set-aside item keeps the refusal's code and time
 * (`RejectedItem`; items set aside before that are plain items, counted under `unknown`). Once
 * the cause is fixed (the nodes upgraded alike), `requeueRejected` puts such items back behind
 * the pending ones, and the region node delivers them when it next starts. Items hold ciphertext
 * and pseudonymous ids: this module reports counts and codes only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomicileError } from '../domain/errors.js';
import type { RejectedItem } from '../services/routing/spooled-forwarder.js';
import { FileSpool } from '../store/file-spool.js';

/** What a spool holds. */
export type SpoolKind = 'replicas' | 'audit';

const FOLDERS: Readonly<Record<SpoolKind, string>> = { replicas: 'replica-spool', audit: 'audit-spool' };
const REJECTED = '.rejected.jsonl';
const PENDING = '.jsonl';

/** The two files of one spool: what waits, and what was refused for good. */
export interface SpoolFiles {
  readonly pending: string;
  readonly rejected: string;
}

/**
 * The files of a region's spool of `kind` bound for `to` (a region for replicas, a jurisdiction
 * for audit events).
 */
export function spoolFiles(dataDir: string, regionId: string, kind: SpoolKind, to: string): SpoolFiles {
  const folder = join(dataDir, regionId, FOLDERS[kind]);
  return { pending: join(folder, `${to}${PENDING}`), rejected: join(folder, `${to}${REJECTED}`) };
}

/** One spool, open (and locked) for this process: what waits and what was set aside. */
export interface OpenSpool<T> {
  readonly pending: FileSpool<T>;
  readonly rejected: FileSpool<RejectedItem<T>>;
  close(): void;
}

/** Opens both files of a spool (`spoolFiles`), each under its lock; closes the first if the second fails. */
export function openSpool<T>(dataDir: string, regionId: string, kind: SpoolKind, to: string): OpenSpool<T> {
  const files = spoolFiles(dataDir, regionId, kind, to);
  const pending = FileSpool.open<T>(files.pending);
  let rejected: FileSpool<RejectedItem<T>>;
  try {
    rejected = FileSpool.open<RejectedItem<T>>(files.rejected);
  } catch (error) {
    pending.close();
    throw error;
  }
  return {
    pending,
    rejected,
    close: () => {
      pending.close();
      rejected.close();
    },
  };
}

/** One spool of one region, counted. */
export interface SpoolSummary {
  readonly region: string;
  readonly kind: SpoolKind;
  /** The target region (replicas) or jurisdiction (audit events). */
  readonly to: string;
  /** Items waiting for delivery. */
  readonly pending: number;
  /** Items the target refused for good, set aside. */
  readonly rejected: number;
  /** The set-aside items by the code of their refusal (`unknown`: set aside by an older version). */
  readonly refusals: Readonly<Record<string, number>>;
}

/** The code a set-aside item was refused with. */
const UNKNOWN_REFUSAL = 'unknown';

/** A line of a rejected-items file: a `RejectedItem`, or a plain item set aside by an older version. */
function asRejected(line: unknown): RejectedItem<unknown> {
  if (typeof line === 'object' && line !== null && 'item' in line && 'refusal' in line) {
    const refusal = (line as { refusal: unknown }).refusal;
    if (
      typeof refusal === 'object' &&
      refusal !== null &&
      typeof (refusal as { code?: unknown }).code === 'string'
    )
      return line as RejectedItem<unknown>;
  }
  return { item: line, refusal: { code: UNKNOWN_REFUSAL, at: '' } };
}

/**
 * Every spool under `dataDir` (every region folder), optionally of one region, in a stable order.
 * Reads the files without taking them: safe while the region nodes run.
 */
export function listSpools(dataDir: string, regionId?: string): SpoolSummary[] {
  if (!existsSync(dataDir)) return [];
  const regions =
    regionId === undefined
      ? readdirSync(dataDir, { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => entry.name)
      : [regionId];
  const summaries: SpoolSummary[] = [];
  for (const region of regions.sort()) {
    for (const kind of Object.keys(FOLDERS) as SpoolKind[]) {
      const folder = join(dataDir, region, FOLDERS[kind]);
      if (!existsSync(folder)) continue;
      const targets = new Set(
        readdirSync(folder)
          .filter((name) => name.endsWith(PENDING))
          .map((name) => name.slice(0, -(name.endsWith(REJECTED) ? REJECTED : PENDING).length)),
      );
      for (const to of [...targets].sort()) {
        const files = spoolFiles(dataDir, region, kind, to);
        const refusals: Record<string, number> = {};
        const rejected = readLines(files.rejected);
        for (const line of rejected) {
          const { code } = asRejected(parseLine(files.rejected, line)).refusal;
          refusals[code] = (refusals[code] ?? 0) + 1;
        }
        summaries.push({
          region,
          kind,
          to,
          pending: readLines(files.pending).length,
          rejected: rejected.length,
          refusals,
        });
      }
    }
  }
  return summaries;
}

/**
 * The whole lines of a spool file, read without taking it (a torn last line is not an item, as
 * for `FileSpool`); none when it does not exist.
 */
function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .slice(0, -1)
      .filter((line) => line !== '');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${file}: cannot read the spool`, {
      cause: error,
    });
  }
}

function parseLine(file: string, line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${file}: a line is not JSON`, { cause });
  }
}

/** What `requeueRejected` moved, per spool. */
export interface Requeued {
  readonly region: string;
  readonly kind: SpoolKind;
  readonly to: string;
  readonly requeued: number;
}

/**
 * Moves a region's rejected items (or those refused with `filter.code`) back into their spools,
 * behind the pending ones, for delivery when the region node next starts; the others stay set
 * aside. Takes each spool's lock, so it refuses (`DOMICILE_ERR_STATE_CONFLICT`) while the region
 * node runs. Every item is written where it goes before it leaves where it was: a crash in the
 * middle leaves an item twice, never loses one (spooled delivery is at least once anyway).
 */
export function requeueRejected(
  dataDir: string,
  regionId: string,
  filter: { readonly kind?: SpoolKind; readonly to?: string; readonly code?: string } = {},
): Requeued[] {
  const moved: Requeued[] = [];
  for (const spool of listSpools(dataDir, regionId)) {
    if (spool.rejected === 0) continue;
    if (filter.kind !== undefined && spool.kind !== filter.kind) continue;
    if (filter.to !== undefined && spool.to !== filter.to) continue;
    if (filter.code !== undefined && !spool.refusals[filter.code]) continue;
    const open = openSpool<unknown>(dataDir, regionId, spool.kind, spool.to);
    try {
      const lines = open.rejected.peek(open.rejected.size);
      const requeued: unknown[] = [];
      const kept: RejectedItem<unknown>[] = [];
      for (const line of lines) {
        const rejected = asRejected(line);
        if (filter.code === undefined || rejected.refusal.code === filter.code) requeued.push(rejected.item);
        else kept.push(line);
      }
      for (const item of requeued) open.pending.append(item);
      for (const line of kept) open.rejected.append(line);
      open.rejected.drop(lines.length);
      moved.push({ region: regionId, kind: spool.kind, to: spool.to, requeued: requeued.length });
    } finally {
      open.close();
    }
  }
  return moved;
}
