/**
 * A Domicile region as a migration source (the demo's `us-va-legacy`): its records of the
 * jurisdiction, decrypted under the region's own keyring. A row whose key is destroyed or whose
 * ciphertext fails authentication is reported with its ids and the migration goes on.
 */
import { openRecords, type SealedRecord } from '../../crypto/envelope-pool.js';
import type { Keyring } from '../../crypto/keyring.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import type { MigrationCursor } from '../../store/migration-store.js';
import type { RegionStore, StoredRecord } from '../../store/region-store.js';
import {
  type DigestedRow,
  type MigrationSource,
  type OpenedPage,
  type PageRow,
  plaintextPages,
  type SourcePages,
  type SourceRow,
  type SourceVolume,
} from './migration.js';
import { recordKeys } from './record-keys.js';
import { type OpenedRecordPage, openRecordPageReader, scanAfter } from './record-page-reader.js';

/** Options of `regionSource`. */
export interface RegionSourceOptions {
  readonly regionId: RegionId;
  readonly jurisdiction: JurisdictionId;
  readonly store: RegionStore;
  readonly keyring: Keyring;
  /** Counts records and bytes (the SQLite adapter's `measureSqliteJurisdiction`). */
  readonly measure: () => Promise<SourceVolume>;
}

const UNREADABLE = { noKey: 'data key missing or destroyed', failed: 'ciphertext failed authentication' };

/** The rows of an opened page: records without their plaintext, or failures with their ids. */
function pageRows(page: OpenedRecordPage): PageRow[] {
  const { header, unreadable: reasons } = page;
  return header.subjectIds.map((subjectId, i): PageRow => {
    const key = header.keys[i] ?? '';
    const reason = reasons[i];
    if (reason !== undefined) return { ok: false, subjectId, key, reason };
    return {
      ok: true,
      record: {
        subjectId: subjectId as SubjectId,
        key: key as RecordKey,
        classId: header.classIds[i] as ClassId,
        version: header.versions[i] ?? 0,
        updatedAt: header.updatedAts[i] ?? 0,
      },
    };
  });
}

/** The rows of a page opened with `digest`, each with its content hash and verification leaf. */
function digestedRows(page: OpenedRecordPage): DigestedRow[] {
  return pageRows(page).map((row, i) => ({
    row,
    contentHash: page.contentHashes[i],
    leaf: page.leaves[i],
  }));
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
  const scanOf = (after: MigrationCursor | null, limit: number) => scanAfter(jurisdiction, after, limit);
  const source: MigrationSource = {
    id: options.regionId,
    jurisdiction,
    measure: options.measure,
    pages(): SourcePages {
      // a SQLite region is read, opened and re-sealed on threads of their own
      const reader = openRecordPageReader(store);
      if (reader === undefined) return plaintextPages(source);
      const open = (
        after: MigrationCursor | null,
        limit: number,
        digest: boolean,
        pseudonymKey?: Uint8Array,
      ) =>
        reader.open(keyring, jurisdiction, scanOf(after, limit), {
          tolerate: true,
          digest,
          reasons: UNREADABLE,
          ...(pseudonymKey === undefined ? {} : { pseudonymKey }),
        });
      return {
        open(after, limit) {
          const { last, page } = open(after, limit, false);
          return {
            last,
            page: page.then(
              (opened): OpenedPage => ({
                rows: pageRows(opened),
                // the AAD a row is sealed with is the one it was opened with: the same
                // jurisdiction (the scan's), subject, key, class and version
                seal: async (sealFor, keys) => {
                  if (sealFor !== jurisdiction)
                    throw new DomicileError(
                      'DOMICILE_ERR_INTERNAL',
                      'migration: sealing for another jurisdiction',
                    );
                  return reader.seal(opened.page, keys);
                },
                drop: () => {
                  void reader.drop(opened.page).catch(() => undefined);
                },
              }),
            ),
          };
        },
        digest(after, limit, pseudonymKey) {
          const { last, page } = open(after, limit, true, pseudonymKey);
          return { last, page: page.then(digestedRows) };
        },
        close: () => reader.close(),
      };
    },
    async readPage(after: MigrationCursor | null, limit: number): Promise<SourceRow[]> {
      const page = await store.scanRecords(scanOf(after, limit));
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
  return source;
}
