/**
 * A Domicile region as a migration source (the demo's `us-va-legacy`): its records of the
 * jurisdiction, decrypted under the region's own keyring. A row whose key is destroyed or whose
 * ciphertext fails authentication is reported with its ids and the migration goes on.
 */
import { decryptRecord } from '../../crypto/envelope.js';
import type { DataKey, Keyring } from '../../crypto/keyring.js';
import type { JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import type { MigrationCursor } from '../../store/migration-store.js';
import type { RegionStore } from '../../store/region-store.js';
import type { MigrationSource, SourceRow, SourceVolume } from './migration.js';

/** Options of `regionSource`. */
export interface RegionSourceOptions {
  readonly regionId: RegionId;
  readonly jurisdiction: JurisdictionId;
  readonly store: RegionStore;
  readonly keyring: Keyring;
  /** Counts records and bytes (the SQLite adapter's `measureSqliteJurisdiction`). */
  readonly measure: () => Promise<SourceVolume>;
}

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
      const keys = new Map<string, DataKey | undefined>();
      const rows: SourceRow[] = [];
      for (const r of page) {
        const cacheKey = `${r.subjectId}\0${r.keyId}`;
        let key = keys.get(cacheKey);
        if (!keys.has(cacheKey)) {
          try {
            key = await keyring.keyById(jurisdiction, r.subjectId, r.keyId);
          } catch {
            key = undefined;
          }
          keys.set(cacheKey, key);
        }
        if (!key) {
          rows.push({
            ok: false,
            subjectId: r.subjectId,
            key: r.key,
            reason: 'data key missing or destroyed',
          });
          continue;
        }
        try {
          const plaintext = decryptRecord(
            key,
            { jurisdiction, subjectId: r.subjectId, key: r.key, classId: r.classId, version: r.version },
            r.ciphertext,
          );
          rows.push({
            ok: true,
            record: {
              subjectId: r.subjectId,
              key: r.key,
              classId: r.classId,
              version: r.version,
              updatedAt: r.updatedAt,
              plaintext,
            },
          });
        } catch {
          rows.push({
            ok: false,
            subjectId: r.subjectId,
            key: r.key,
            reason: 'ciphertext failed authentication',
          });
        }
      }
      return rows;
    },
  };
}
