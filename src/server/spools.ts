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
 * version, `DOMICILE_ERR_REGION_REFUSED`). Once the cause is fixed (the nodes upgraded alike),
 * `requeueRejected` puts such items back behind the pending ones, and the region node delivers
 * them when it next starts. Items hold ciphertext and pseudonymous ids: this module reports counts
 * only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomicileError } from '../domain/errors.js';
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
        summaries.push({
          region,
          kind,
          to,
          pending: countItems(files.pending),
          rejected: countItems(files.rejected),
        });
      }
    }
  }
  return summaries;
}

/** The whole lines of a spool file (a torn last one is not an item); 0 when it does not exist. */
function countItems(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `${file}: cannot read the spool`, {
      cause: error,
    });
  }
  let lines = 0;
  for (const line of text.split('\n').slice(0, -1)) if (line !== '') lines++;
  return lines;
}

/** What `requeueRejected` moved, per spool. */
export interface Requeued {
  readonly region: string;
  readonly kind: SpoolKind;
  readonly to: string;
  readonly requeued: number;
}

/**
 * Moves a region's rejected items back into their spools, behind the pending ones, for delivery
 * when the region node next starts. Takes each spool's lock, so it refuses
 * (`DOMICILE_ERR_STATE_CONFLICT`) while the region node runs. A crash in the middle leaves an item
 * in both files: it is delivered again, as spooled delivery is at least once anyway.
 */
export function requeueRejected(
  dataDir: string,
  regionId: string,
  filter: { readonly kind?: SpoolKind; readonly to?: string } = {},
): Requeued[] {
  const moved: Requeued[] = [];
  for (const spool of listSpools(dataDir, regionId)) {
    if (spool.rejected === 0) continue;
    if (filter.kind !== undefined && spool.kind !== filter.kind) continue;
    if (filter.to !== undefined && spool.to !== filter.to) continue;
    const files = spoolFiles(dataDir, regionId, spool.kind, spool.to);
    const pending = FileSpool.open<unknown>(files.pending);
    try {
      const rejected = FileSpool.open<unknown>(files.rejected);
      try {
        const items = rejected.peek(rejected.size);
        // appended (durably) before they leave the rejected file: never lost in between
        for (const item of items) pending.append(item);
        rejected.drop(items.length);
        moved.push({ region: regionId, kind: spool.kind, to: spool.to, requeued: items.length });
      } finally {
        rejected.close();
      }
    } finally {
      pending.close();
    }
  }
  return moved;
}
