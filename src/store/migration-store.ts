/**
 * Where a migration keeps its progress: in the target region's store, so that the cursor moves in
 * the same transaction as the records it covers. A migration killed at any moment resumes from a
 * cursor that describes exactly what the target holds. Holds no personal data beyond opaque ids.
 */
import type { JurisdictionId, RecordKey, RegionId, SubjectId } from '../domain/ids.js';
import type { StoredRecord } from './region-store.js';

/** A position in a source, in (subject id, record key) order: everything up to it is done. */
export interface MigrationCursor {
  readonly subjectId: string;
  readonly key: string;
}

/** Outcome of the last verification of a migration. */
export interface MigrationVerification {
  readonly at: number;
  readonly passed: boolean;
  readonly sourceRoot: string;
  readonly targetRoot: string;
  readonly records: number;
  readonly differences: number;
}

/** The progress of one migration (one jurisdiction from one source into one target region). */
export interface MigrationProgress {
  /** `<jurisdiction>:<source>:<target>`. */
  readonly id: string;
  readonly jurisdiction: JurisdictionId;
  /** A region id, or `foreign:<name>` for an application database. */
  readonly source: string;
  readonly target: RegionId;
  readonly status: 'running' | 'done';
  readonly cursor: MigrationCursor | null;
  /** Source records seen so far (copied, already present, or failed). */
  readonly processed: number;
  /** Records written to the target. */
  readonly copied: number;
  /** Records the target already held at the same or a newer version. */
  readonly skipped: number;
  /** Source rows that could not be read (see `failures`). */
  readonly failed: number;
  readonly batches: number;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly verification: MigrationVerification | null;
}

/** A source row that failed to parse or decrypt: ids only, never a value. */
export interface MigrationFailure {
  readonly subjectId: SubjectId | string;
  readonly key: RecordKey | string;
  readonly reason: string;
}

/** Outcome of committing one batch. */
export interface BatchOutcome {
  readonly copied: number;
  readonly skipped: number;
}

/**
 * The migration state of a target region.
 *
 * `commitBatch` writes the records (each only if newer than what the target holds), the failures
 * and the new progress in one transaction: all or nothing.
 */
export interface MigrationStore {
  load(id: string): Promise<MigrationProgress | undefined>;
  list(): Promise<MigrationProgress[]>;
  /** Writes `records` with put-if-newer semantics, records `failures` and stores `next`. */
  commitBatch(
    records: readonly StoredRecord[],
    failures: readonly MigrationFailure[],
    next: (outcome: BatchOutcome) => MigrationProgress,
  ): Promise<MigrationProgress>;
  save(progress: MigrationProgress): Promise<void>;
  failures(id: string): Promise<MigrationFailure[]>;
}
