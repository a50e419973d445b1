/**
 * Seeds a legacy region the way a pre-existing deployment left it: records written straight into
 * its store, encrypted under its own keyring, for subjects registered in the directory.
 */
import { encryptRecord } from '../../src/crypto/envelope.js';
import type { Keyring } from '../../src/crypto/keyring.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../src/domain/ids.js';
import type { Embedded } from '../../src/server/deployment.js';
import type { StoredRecord } from '../../src/store/region-store.js';
import type { SqliteRegionStore } from '../../src/store/sqlite/sqlite-store.js';

export const LEGACY = 'us-va-legacy' as RegionId;
export const HOME = 'oci-us-ashburn' as RegionId;
export const US = 'US' as JurisdictionId;

/** Subject and key of the n-th seeded record (`perSubject` records a subject). */
export function seededIds(n: number, perSubject: number): { subjectId: SubjectId; key: RecordKey } {
  return {
    subjectId: `user-${String(Math.floor(n / perSubject)).padStart(7, '0')}` as SubjectId,
    key: `k${n % perSubject}` as RecordKey,
  };
}

/** The value of the n-th seeded record. */
export function seededValue(n: number, size: number): string {
  const base = `value-${n}-`;
  return base + 'x'.repeat(Math.max(0, size - base.length - 2));
}

/** Writes `count` records of US subjects into the legacy region (version 1 each, or `version`). */
export async function seedLegacy(
  d: Pick<Embedded, 'stores' | 'keyrings' | 'directory'>,
  count: number,
  options: { perSubject?: number; valueBytes?: number; register?: boolean; version?: number } = {},
): Promise<void> {
  const perSubject = options.perSubject ?? 10;
  const store = d.stores.get(LEGACY) as SqliteRegionStore;
  const keyring = d.keyrings.get(LEGACY) as Keyring;
  const chunk = 5_000;
  for (let start = 0; start < count; start += chunk) {
    const end = Math.min(count, start + chunk);
    const ids = Array.from({ length: end - start }, (_, i) => seededIds(start + i, perSubject));
    const subjects = [...new Set(ids.map((i) => i.subjectId))];
    const keys = await keyring.subjectKeys(US, subjects, true);
    if (options.register !== false) {
      await Promise.all(subjects.map((s) => d.directory.register(s, US)));
    }
    const records: StoredRecord[] = ids.map(({ subjectId, key }, i) => {
      const dek = keys.get(subjectId);
      if (!dek) throw new Error('no key');
      const version = options.version ?? 1;
      const classId = 'protected' as ClassId;
      return {
        subjectId,
        key,
        jurisdiction: US,
        classId,
        version,
        ciphertext: encryptRecord(
          dek,
          { jurisdiction: US, subjectId, key, classId, version },
          Buffer.from(JSON.stringify(seededValue(start + i, options.valueBytes ?? 64))),
        ),
        keyId: dek.id,
        updatedAt: Date.now(),
      };
    });
    await Promise.all(records.map((r) => store.putRecordIfNewer(r)));
  }
}
