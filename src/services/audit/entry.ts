/**
 * The log entry format: versioned canonical JSON (keys sorted, no white space), at most 64 KiB
 * so it fits a C2SP entry bundle's uint16 length prefix. Subject ids and record keys appear only
 * as HMAC-SHA256 pseudonyms under the jurisdiction's pseudonym key: the log can be published to
 * an auditor without revealing who is in it, while a subject can still find its own entries.
 */
import { createHmac } from 'node:crypto';
import { DomicileError } from '../../domain/errors.js';
import { LruCache } from '../../domain/lru-cache.js';
import type { AuditEvent } from './audit-event.js';

/** Version of the entry format. */
export const ENTRY_VERSION = 1;

/** Largest encoded entry (C2SP tlog-tiles entry bundles use a uint16 length prefix). */
export const MAX_ENTRY_BYTES = 65_535;

/** A decoded log entry. */
export interface LogEntry {
  readonly v: number;
  readonly time: string;
  readonly type: string;
  readonly requestId: string;
  readonly principal: { id: string; type: string; department: string | null; country: string | null } | null;
  readonly jurisdiction: string;
  readonly subject: string | null;
  readonly recordKey: string | null;
  readonly class: string | null;
  readonly region: string | null;
  readonly decision: 'allow' | 'deny' | 'info';
  readonly reason: string;
  readonly policyHash: string | null;
  readonly determining: readonly string[];
  readonly details: Readonly<Record<string, unknown>>;
}

/** HMAC-SHA256 pseudonym (hex) of an id under a jurisdiction's pseudonym key. */
export function pseudonymize(pseudonymKey: Uint8Array, kind: 'subject' | 'key', id: string): string {
  return createHmac('sha256', pseudonymKey).update(`${kind}\n${id}`).digest('hex');
}

/**
 * The pseudonyms of one jurisdiction's log, with the most recently used ones kept: a subject
 * that is read a thousand times is pseudonymised once, not a thousand times.
 */
export class Pseudonyms {
  readonly #key: Uint8Array;
  readonly #cache: LruCache<string>;

  constructor(pseudonymKey: Uint8Array, cacheSize = 10_000) {
    this.#key = pseudonymKey;
    this.#cache = new LruCache(cacheSize);
  }

  /** The same value as `pseudonymize(pseudonymKey, kind, id)`. */
  of(kind: 'subject' | 'key', id: string): string {
    const cacheKey = `${kind}\n${id}`;
    let pseudonym = this.#cache.get(cacheKey);
    if (pseudonym === undefined) {
      pseudonym = pseudonymize(this.#key, kind, id);
      this.#cache.set(cacheKey, pseudonym);
    }
    return pseudonym;
  }
}

/** JSON with object keys sorted at every level and no white space. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Builds the entry of an event, with pseudonyms in place of ids. */
export function toLogEntry(event: AuditEvent, pseudonyms: Pseudonyms, time: Date): LogEntry {
  return {
    v: ENTRY_VERSION,
    time: event.at ?? time.toISOString(),
    type: event.type,
    requestId: event.requestId,
    principal: event.principal,
    jurisdiction: event.jurisdiction,
    subject: event.subjectId === undefined ? null : pseudonyms.of('subject', event.subjectId),
    recordKey: event.recordKey === undefined ? null : pseudonyms.of('key', event.recordKey),
    class: event.classId ?? null,
    region: event.region ?? null,
    decision: event.decision,
    reason: event.reason,
    policyHash: event.policyHash ?? null,
    determining: event.determining ?? [],
    details: event.details ?? {},
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isText = (v: unknown): v is string | null => v === null || typeof v === 'string';
/** `JSON.stringify` of a string or null. */
const text = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));

/**
 * Whether `e` has exactly the shape `toLogEntry` gives it, so `entryJson` may write it directly.
 * Runs on every append: plain checks, no arrays or closures.
 */
function hasEntryShape(e: LogEntry): boolean {
  const p = e.principal as Record<string, unknown> | null;
  return (
    typeof e.v === 'number' &&
    isString(e.time) &&
    isString(e.type) &&
    isString(e.requestId) &&
    isString(e.jurisdiction) &&
    isString(e.decision) &&
    isString(e.reason) &&
    isText(e.subject) &&
    isText(e.recordKey) &&
    isText(e.class) &&
    isText(e.region) &&
    isText(e.policyHash) &&
    (p === null ||
      (typeof p === 'object' &&
        Object.keys(p).length === 4 &&
        isText(p.country) &&
        isText(p.department) &&
        isText(p.id) &&
        isText(p.type))) &&
    Array.isArray(e.determining) &&
    typeof e.details === 'object' &&
    e.details !== null
  );
}

/**
 * `canonicalJson(entry)`, written field by field in sorted key order for an entry as `toLogEntry`
 * builds it, instead of sorting keys on every append. Any other shape goes through `canonicalJson`.
 */
function entryJson(e: LogEntry): string {
  if (!hasEntryShape(e)) return canonicalJson(e);
  const p = e.principal;
  const principal =
    p === null
      ? 'null'
      : `{"country":${text(p.country)},"department":${text(p.department)},"id":${text(p.id)},"type":${text(p.type)}}`;
  return (
    `{"class":${text(e.class)},"decision":${text(e.decision)},"details":${canonicalJson(e.details)}` +
    `,"determining":${canonicalJson(e.determining)},"jurisdiction":${text(e.jurisdiction)}` +
    `,"policyHash":${text(e.policyHash)},"principal":${principal},"reason":${text(e.reason)}` +
    `,"recordKey":${text(e.recordKey)},"region":${text(e.region)},"requestId":${text(e.requestId)}` +
    `,"subject":${text(e.subject)},"time":${text(e.time)},"type":${text(e.type)},"v":${JSON.stringify(e.v)}}`
  );
}

/** Encodes an entry; refuses one over `MAX_ENTRY_BYTES`. */
export function encodeLogEntry(entry: LogEntry): Buffer {
  const bytes = Buffer.from(entryJson(entry), 'utf8');
  if (bytes.length > MAX_ENTRY_BYTES) {
    throw new DomicileError(
      'DOMICILE_ERR_AUDIT_UNAVAILABLE',
      `audit entry of ${bytes.length} bytes exceeds ${MAX_ENTRY_BYTES}`,
    );
  }
  return bytes;
}

/** Decodes and checks an entry read back from a log (untrusted: it may come from a mirror). */
export function decodeLogEntry(bytes: Uint8Array): LogEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'log entry is not JSON', { cause });
  }
  const e = parsed as Partial<LogEntry> | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    e.v !== ENTRY_VERSION ||
    typeof e.time !== 'string' ||
    typeof e.type !== 'string' ||
    typeof e.jurisdiction !== 'string' ||
    (e.decision !== 'allow' && e.decision !== 'deny' && e.decision !== 'info')
  ) {
    throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'log entry does not match entry format v1');
  }
  if (canonicalJson(e) !== Buffer.from(bytes).toString('utf8')) {
    throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'log entry is not in canonical form');
  }
  return e as LogEntry;
}
