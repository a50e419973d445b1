/**
 * Where backups are kept: a folder per region by default (`data/<region>/backups/<id>/`), an
 * object store later. A backup is a set of named, immutable files (the signed manifest and the
 * content files); the interface is the small subset of an object store a backup needs.
 *
 * Implementations hold whatever they are given: the backup service puts only ciphertext and a
 * manifest there (no key material), and verifies everything it reads back.
 */
import type { RegionId } from '../domain/ids.js';

/** Backup files of one region. */
export interface BackupStorage {
  readonly regionId: RegionId;
  /** Writes a file of a backup (atomically: a reader sees all of it or nothing). */
  putFile(backupId: string, name: string, bytes: Uint8Array): Promise<void>;
  /** Reads a file; undefined when it does not exist. */
  getFile(backupId: string, name: string): Promise<Uint8Array | undefined>;
  /** The ids of the backups held, sorted. */
  listBackups(): Promise<string[]>;
  /** Deletes a backup and all its files (retention); true when it existed. */
  deleteBackup(backupId: string): Promise<boolean>;
}
