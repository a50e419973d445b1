/**
 * Branded identifiers. A value of one of these types has been validated once at the edge; code
 * below the edge never re-checks it and cannot mix a region id with a subject id by mistake.
 */
import { DomicileError } from './errors.js';

export type SubjectId = string & { readonly __brand: 'SubjectId' };
export type RecordKey = string & { readonly __brand: 'RecordKey' };
export type RegionId = string & { readonly __brand: 'RegionId' };
export type JurisdictionId = string & { readonly __brand: 'JurisdictionId' };
export type ClassId = string & { readonly __brand: 'ClassId' };

/** ISO 3166-1 alpha-2 country codes, e.g. `US`. */
export const COUNTRY_PATTERN = /^[A-Z]{2}$/;

/** Departments and roles: lowercase labels, e.g. `us-data-security`, `app`. */
export const LABEL_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Jurisdiction ids, e.g. `US`, `EU`. */
export const JURISDICTION_PATTERN = /^[A-Z][A-Z0-9]{1,7}$/;

/** Ids from outside: letters, digits and `._:-`, 1 to 128 characters. */
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

function parseId<T extends string>(kind: string, value: unknown): T {
  // value is untrusted: it comes from a URL, a body or a command line
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? value.slice(0, 64).replace(/[^\x20-\x7e]/g, '?') : typeof value;
    throw new DomicileError(
      'DOMICILE_ERR_INVALID_ID',
      `invalid ${kind} id \`${shown}\`: expected [A-Za-z0-9._:-]{1,128}`,
    );
  }
  return value as T;
}

/** Validates a subject id from outside. */
export function parseSubjectId(value: unknown): SubjectId {
  return parseId<SubjectId>('subject', value);
}

/** Validates a record key from outside. */
export function parseRecordKey(value: unknown): RecordKey {
  return parseId<RecordKey>('record key', value);
}

/** Validates a region id from outside. */
export function parseRegionId(value: unknown): RegionId {
  return parseId<RegionId>('region', value);
}

/** Validates a jurisdiction id from outside. */
export function parseJurisdictionId(value: unknown): JurisdictionId {
  return parseId<JurisdictionId>('jurisdiction', value);
}
