/**
 * The storage interface of a region node. One implementation per database (SQLite embedded,
 * PostgreSQL for servers); a single conformance suite (`conformance.ts`) runs against each.
 * A store holds only ciphertext: it never sees keys or plaintext values.
 */
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../domain/ids.js';
import type { LogStorage } from '../tlog/log.js';

/** One stored record: AES-256-GCM ciphertext plus what is needed to find its key and check its AAD. */
export interface StoredRecord {
  readonly subjectId: SubjectId;
  readonly key: RecordKey;
  readonly jurisdiction: JurisdictionId;
  readonly classId: ClassId;
  /** Starts at 1 and grows by one on every write of the same (subject, key). */
  readonly version: number;
  /** nonce (12 bytes) || ciphertext || tag (16 bytes). */
  readonly ciphertext: Uint8Array;
  /** Id of the data key that encrypted it (a subject DEK or the region's key for global classes). */
  readonly keyId: string;
  /** Epoch milliseconds of the write. */
  readonly updatedAt: number;
}

/** What listing a subject's records shows: no ciphertext. */
export interface RecordSummary {
  readonly key: RecordKey;
  readonly classId: ClassId;
  readonly version: number;
  readonly updatedAt: number;
}

/** A page of a scan: where to start (exclusive) and how many. */
export interface ScanOptions {
  readonly jurisdiction?: JurisdictionId;
  readonly after?: { readonly subjectId: SubjectId; readonly key: RecordKey };
  readonly limit: number;
}

/** Outcome of a conditional write. */
export type PutOutcome = 'written' | 'conflict';

/**
 * A region's record store.
 *
 * Every method either completes or changes nothing (each is one transaction). Failures of the
 * underlying database surface as `DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE')` without
 * driver details in the message (they go to `cause`).
 */
export interface RegionStore {
  readonly regionId: RegionId;
  readonly kind: 'sqlite' | 'postgres';

  /**
   * Writes `record` if the stored version of (subject, key) equals `expectedVersion`
   * (0 = no such record). Returns `'conflict'` otherwise, changing nothing.
   */
  putRecord(record: StoredRecord, expectedVersion: number): Promise<PutOutcome>;

  /**
   * Writes `record` only if no record of (subject, key) with an equal or newer version exists.
   * Used by replication and migration: an older copy never overwrites a newer one.
   */
  putRecordIfNewer(record: StoredRecord): Promise<PutOutcome>;

  getRecord(subjectId: SubjectId, key: RecordKey): Promise<StoredRecord | undefined>;

  /**
   * The subject's records of `jurisdiction`, ordered by key. A region may hold rows of the same
   * subject id under another jurisdiction (a replica, or another deployment's subject): never these.
   */
  listRecords(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RecordSummary[]>;

  /** Deletes one record of `jurisdiction`; true when it existed (another jurisdiction's row stays). */
  deleteRecord(subjectId: SubjectId, key: RecordKey, jurisdiction: JurisdictionId): Promise<boolean>;

  /**
   * Deletes every record of the subject in `jurisdiction`; returns how many there were. Rows of
   * the same subject id under another jurisdiction stay (INVARIANT E1 erases one subject, R1 keeps
   * jurisdictions apart).
   */
  deleteSubject(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<number>;

  /**
   * Records in (subject id, key) order, for backups, migrations and scans: at most `limit`
   * records after the cursor `after` (exclusive), of one jurisdiction when given. Keyset
   * pagination, so a scan of millions of records costs the same per page from start to end.
   */
  scanRecords(options: ScanOptions): Promise<StoredRecord[]>;

  /** How many records of the jurisdiction (all jurisdictions when omitted) the store holds. */
  countRecords(jurisdiction?: JurisdictionId): Promise<number>;

  /** Throws `DOMICILE_ERR_STORE_UNAVAILABLE` unless the database answers. */
  checkHealth(): Promise<void>;

  close(): Promise<void>;
}

/** Outcome of registering a subject in the directory. */
export type RegisterOutcome = 'created' | 'exists' | 'conflict';

/**
 * The subject directory: subject id → home jurisdiction. Holds no personal data (subject ids
 * are opaque). The gateway reads it to route; it never holds records.
 */
export interface SubjectDirectory {
  lookup(subjectId: SubjectId): Promise<JurisdictionId | undefined>;
  /** Registers a subject; `'conflict'` when it is registered in another jurisdiction. */
  register(subjectId: SubjectId, jurisdiction: JurisdictionId): Promise<RegisterOutcome>;
  /** Removes a subject (after erasure); true when it existed. */
  remove(subjectId: SubjectId): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The storage of one transparency log (see `src/tlog/log.ts`), plus a lookup index written in
 * the same transaction as each append, so a subject's entries are found without a scan.
 */
export interface IndexedLogStorage extends LogStorage {
  /** Indices of the entries whose lookup key is `key`, ascending. */
  lookup(key: string): Promise<number[]>;
}
