/**
 * The keyring interface of a region node. Keys are kept apart from the data store (a separate
 * file or KMS), so data backups never carry key material and destroying a key makes every copy
 * of the data it protected unreadable at once (crypto-shredding, invariant E1).
 *
 * Hierarchy: master key (environment or a 0600 file) → one KEK per jurisdiction (held only in
 * that jurisdiction's regions) → one DEK per subject (wrapped by the KEK). Global-class data
 * (non-personal) uses the region's own data key.
 */
import type { JurisdictionId, RegionId, SubjectId } from '../domain/ids.js';

/** An unwrapped 256-bit data key and its id. Lives in memory only. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

/** A DEK wrapped by a jurisdiction's KEK: safe to copy between regions of that jurisdiction. */
export interface WrappedKey {
  readonly id: string;
  readonly kekId: string;
  readonly wrapped: Uint8Array;
}

/** What `destroyJurisdictionKeys` destroyed. */
export interface DestroyedKeys {
  /** KEKs of the jurisdiction (more than one after a rotation). */
  readonly keks: number;
  /** Subject DEKs wrapped by them. */
  readonly subjectKeys: number;
}

/** A subject DEK as a key backup carries it: wrapped by its KEK, with its creation time (epoch ms). */
export interface BackedUpSubjectKey extends WrappedKey {
  readonly subjectId: SubjectId;
  readonly createdAt: number;
}

/**
 * A jurisdiction's key material in one region, as a key backup carries it (sealed). The KEKs are
 * unwrapped: the holder wipes them (`fill(0)`) once sealed or installed.
 */
export interface JurisdictionKeyMaterial {
  /** The jurisdiction's KEKs, oldest first (the last one wraps new DEKs). */
  readonly keks: readonly { readonly id: string; readonly key: Buffer }[];
  readonly subjectKeys: readonly BackedUpSubjectKey[];
  /** Ids of destroyed DEKs (random, naming no one), so a restored keyring refuses them too. */
  readonly destroyed: readonly string[];
}

/** What `restoreJurisdictionKeys` did. */
export interface KeyRestoreOutcome {
  /** KEKs installed now / already installed. */
  readonly keks: number;
  readonly keksPresent: number;
  /** Subject DEKs written now / already there with the same id. */
  readonly restored: number;
  readonly present: number;
  /** Skipped by the caller's rule (subjects in the erasure ledger): not restored, tombstoned. */
  readonly erased: number;
  /** Destroyed in this region already (tombstone): not restored. */
  readonly destroyed: number;
  /** The subject has another DEK here now: left alone. */
  readonly conflicts: number;
}

/**
 * A region's keyring.
 *
 * Failures surface as `DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE')`; a request for a
 * jurisdiction whose KEK this region may not hold is `DOMICILE_ERR_RESIDENCY`.
 */
export interface Keyring {
  readonly regionId: RegionId;

  /** Installs a jurisdiction's KEK (32 bytes). Refused for jurisdictions this region may not hold. */
  installKek(jurisdiction: JurisdictionId, kek: Uint8Array): Promise<void>;

  /** True when the KEK of the jurisdiction is installed. */
  hasKek(jurisdiction: JurisdictionId): Promise<boolean>;

  /** The subject's DEK; created (and wrapped, persisted) when `create` and none exists. */
  subjectKey(
    jurisdiction: JurisdictionId,
    subjectId: SubjectId,
    create: boolean,
  ): Promise<DataKey | undefined>;

  /**
   * The DEKs of many subjects at once, created (wrapped, persisted) for those that have none when
   * `create`, in one transaction: a bulk migration pays one durable write per batch, not per subject.
   * Subjects without a key (and `create` false) are absent from the map.
   */
  subjectKeys(
    jurisdiction: JurisdictionId,
    subjectIds: readonly SubjectId[],
    create: boolean,
  ): Promise<Map<SubjectId, DataKey>>;

  /** The subject's DEK in wrapped form, for replication to another region of the jurisdiction. */
  exportSubjectKey(jurisdiction: JurisdictionId, subjectId: SubjectId): Promise<WrappedKey | undefined>;

  /** Stores a wrapped DEK received from another region of the jurisdiction (idempotent). */
  importSubjectKey(jurisdiction: JurisdictionId, subjectId: SubjectId, key: WrappedKey): Promise<void>;

  /** Destroys the subject's DEK (crypto-shredding); true when it existed. */
  destroySubjectKey(jurisdiction: JurisdictionId, subjectId: SubjectId): Promise<boolean>;

  /**
   * Destroys the KEK of a jurisdiction and every subject DEK wrapped by it (crypto-shredding of
   * the whole jurisdiction in this region, e.g. when a legacy region is wiped). Allowed for any
   * jurisdiction, including ones this region may no longer hold. Afterwards the jurisdiction has
   * no KEK here until one is installed again.
   *
   * @example
   * const { keks, subjectKeys } = await keyring.destroyJurisdictionKeys(jurisdiction);
   */
  destroyJurisdictionKeys(jurisdiction: JurisdictionId): Promise<DestroyedKeys>;

  /**
   * Every key of a jurisdiction held here, for a key backup: KEKs (unwrapped), wrapped subject
   * DEKs and the ids of destroyed DEKs. Refused for jurisdictions this region may not hold.
   */
  exportJurisdictionKeys(jurisdiction: JurisdictionId): Promise<JurisdictionKeyMaterial>;

  /**
   * Seals a key backup's content under this region's key-backup key (derived from its master key,
   * which is kept apart from the keyring file, so the seal survives the loss of that file), bound
   * to the jurisdiction, this region and the backup id. Refused for jurisdictions this region may
   * not hold: key material never leaves the jurisdiction, not even sealed.
   */
  sealKeyBackup(jurisdiction: JurisdictionId, backupId: string, content: Uint8Array): Promise<Buffer>;

  /** Opens a key backup sealed by this region; `DOMICILE_ERR_INTEGRITY` when it does not open. */
  openKeyBackup(jurisdiction: JurisdictionId, backupId: string, sealed: Uint8Array): Promise<Buffer>;

  /**
   * Installs a jurisdiction's key material from a key backup (idempotent): missing KEKs in their
   * order, destroyed-key tombstones, and every subject DEK that unwraps under its KEK, is not
   * destroyed here and for which `skip` is false (skipped ones are tombstoned).
   */
  restoreJurisdictionKeys(
    jurisdiction: JurisdictionId,
    material: JurisdictionKeyMaterial,
    skip: (key: BackedUpSubjectKey) => boolean,
  ): Promise<KeyRestoreOutcome>;

  /** The region's own data key for global-class (non-personal) records. */
  regionKey(): Promise<DataKey>;

  /** A data key by id (subject DEK or region key) for decryption; undefined when destroyed. */
  keyById(jurisdiction: JurisdictionId, subjectId: SubjectId, keyId: string): Promise<DataKey | undefined>;

  close(): Promise<void>;
}
