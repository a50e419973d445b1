/**
 * The data keys of a page of stored records, looked up once per subject and in one keyring call
 * per page: a page holds thousands of records of a few hundred subjects, and a lookup per record
 * (a keyring transaction, a DEK unwrap) would cost more than decrypting the record.
 */
import type { DataKey, Keyring } from '../../crypto/keyring.js';
import type { JurisdictionId, SubjectId } from '../../domain/ids.js';

/** What a record's key is found by. */
export interface KeyedRecord {
  readonly subjectId: SubjectId;
  readonly keyId: string;
}

/**
 * The key each record was sealed under, in order, as `Keyring.keyById` gives it: `undefined` when
 * the key is missing or destroyed (or, with `tolerate`, when looking it up fails).
 */
export async function recordKeys(
  keyring: Keyring,
  jurisdiction: JurisdictionId,
  records: readonly KeyedRecord[],
  options: { readonly tolerate: boolean },
): Promise<(DataKey | undefined)[]> {
  const subjects = new Set<SubjectId>();
  for (const r of records) subjects.add(r.subjectId);
  let found: Map<SubjectId, DataKey> | undefined;
  try {
    found = await keyring.subjectKeys(jurisdiction, [...subjects], false);
  } catch (err) {
    // one subject's key failing to unwrap must not take the page's other subjects with it:
    // look them up one by one below
    if (!options.tolerate) throw err;
  }
  const byId = new Map<string, DataKey | undefined>();
  const keyById = async (r: KeyedRecord): Promise<DataKey | undefined> => {
    const cacheKey = `${r.subjectId}\0${r.keyId}`;
    if (byId.has(cacheKey)) return byId.get(cacheKey);
    let key: DataKey | undefined;
    try {
      key = await keyring.keyById(jurisdiction, r.subjectId, r.keyId);
    } catch (err) {
      if (!options.tolerate) throw err;
    }
    byId.set(cacheKey, key);
    return key;
  };
  const keys: (DataKey | undefined)[] = [];
  for (const r of records) {
    const subjectKey = found?.get(r.subjectId);
    // a record of an older key of the subject, or under the region key: as `keyById` decides
    keys.push(subjectKey?.id === r.keyId ? subjectKey : await keyById(r));
  }
  return keys;
}
