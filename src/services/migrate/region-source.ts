/**
 * A Domicile region as a migration source (the demo's `us-va-legacy`): its records of the
 * jurisdiction, decrypted under the region's own keyring. A row whose key is destroyed or whose
 * ciphertext fails authentication is reported with its ids and the migration goes on.
 */
import { openRecords, type SealedRecord } from '../../crypto/envelope-pool.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import type { MigrationCursor } from '../../store/migration-store.js';
import type { RegionStore, StoredRecord } from '../../store/region-store.js';
import type { MigrationSource, SourceRow, SourceVolume } from './migration.js';
import { recordKeys } from './record-keys.js';

/** Options of `regionSource`. */
export interface RegionSourceOptions {
  readonly regionId: RegionId;
  readonly jurisdiction: JurisdictionId;
  readonly store: RegionStore;
  readonly keyring: Keyring;
  /** Counts records and bytes (the SQLite adapter's `measureSqliteJurisdiction`). */
  readonly measure: () => Promise<SourceVolume>;
}

const unreadable = (r: StoredRecord, reason: string): SourceRow => ({
  ok: false,
  subjectId: r.subjectId,
  key: r.key,
  reason,
});

/**
 * The migration source of a region.
 *
 * @example
 * const source = regionSource({ regionId, jurisdiction, store, keyring, measure });
 * await runMigration(ctx, source, target);
 */
export function regionSource(options: RegionSourceOptions): MigrationSource {
  const { jurisdiction, store, keyring } = options;
  return {
    id: options.regionId,
    jurisdiction,
    measure: options.measure,
    async readPage(after: MigrationCursor | null, limit: number): Promise<SourceRow[]> {
      const page = await store.scanRecords({
        jurisdiction,
        ...(after === null
          ? {}
          : { after: { subjectId: after.subjectId as SubjectId, key: after.key as RecordKey } }),
        limit,
      });
      const keys = await recordKeys(keyring, jurisdiction, page, { tolerate: true });
      const readable: { index: number; sealed: SealedRecord }[] = [];
      const rows: SourceRow[] = [];
      for (const [i, r] of page.entries()) {
        const key = keys[i];
        if (!key) {
          rows.push(unreadable(r, 'data key missing or destroyed'));
          continue;
        }
        readable.push({
          index: rows.length,
          sealed: {
            key,
            aad: { jurisdiction, subjectId: r.subjectId, key: r.key, classId: r.classId, version: r.version },
            ciphertext: r.ciphertext,
          },
        });
        // until it opens below
        rows.push(unreadable(r, 'ciphertext failed authentication'));
      }
      // every row is authenticated on the way (AES-GCM), on the envelope pool's worker threads
      const plaintexts = await openRecords(readable.map((r) => r.sealed));
      readable.forEach(({ index }, i) => {
        const r = page[index] as StoredRecord;
        const plaintext = plaintexts[i];
        if (plaintext === undefined) return;
        rows[index] = {
          ok: true,
          record: {
            subjectId: r.subjectId,
            key: r.key,
            classId: r.classId,
            version: r.version,
            updatedAt: r.updatedAt,
            plaintext,
          },
        };
      });
      return rows;
    },
  };
}
