/**
 * An application database as a migration source: the rows a mapping file describes, read through
 * a `ForeignDatabase` adapter (SQLite or PostgreSQL) and turned into records — subject id and key
 * validated like any id from outside, version from the mapped column (else 1), value the JSON
 * object of the value columns (or the JSON a single column holds). A row that does not parse is
 * reported with its ids and a reason that names columns only, never a value; the rest go on.
 *
 * Rows of other jurisdictions are left alone and counted. A row belongs to the jurisdiction being
 * migrated when the mapping fixes that jurisdiction, or when its jurisdiction column holds the
 * jurisdiction's id or one of its countries (`US`, or `DE` for `EU`).
 *
 * The same mapping gives the wipe of the migrated rows (`foreignWipeStorage`).
 */
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import { ID_PATTERN, type JurisdictionId, type RecordKey, type SubjectId } from '../../domain/ids.js';
import { requireJurisdiction } from '../../domain/residency.js';
import type { SourceMapping } from '../../domain/source-mapping.js';
import type { ForeignDatabase, ForeignRow, RowFilter } from '../../store/foreign-database.js';
import type { MigrationCursor } from '../../store/migration-store.js';
import { idsOf, type MigrationSource, type SourceRow, type SourceVolume } from './migration.js';
import type { WipedRow, WipeStorage } from './wipe.js';

/** Options of `foreignSource` and `foreignWipeStorage`. */
export interface ForeignSourceOptions {
  readonly config: Config;
  readonly mapping: SourceMapping;
  readonly jurisdiction: JurisdictionId;
  readonly database: ForeignDatabase;
  readonly now?: () => number;
}

/** The rows of `mapping` that belong to `jurisdiction`. */
export function rowFilter(config: Config, mapping: SourceMapping, jurisdiction: JurisdictionId): RowFilter {
  if ('fixed' in mapping.jurisdiction) {
    return mapping.jurisdiction.fixed === jurisdiction ? { kind: 'all' } : { kind: 'none' };
  }
  const j = requireJurisdiction(config, jurisdiction);
  return { kind: 'values', values: [...new Set([j.id, ...j.countries])] };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A version column's value as a positive safe integer, or undefined. */
function parseVersion(raw: unknown): number | undefined {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'bigint') n = raw > 0n && raw <= MAX_SAFE ? Number(raw) : Number.NaN;
  else if (typeof raw === 'string' && /^[0-9]{1,16}$/.test(raw)) n = Number(raw);
  else return undefined;
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** One value column as JSON. Column values are untrusted: types are checked, nothing is evaluated. */
function columnValue(column: string, raw: unknown): Parsed<unknown> {
  if (raw === null || raw === undefined) return { ok: true, value: null };
  if (typeof raw === 'string' || typeof raw === 'boolean') return { ok: true, value: raw };
  if (typeof raw === 'number') {
    return Number.isFinite(raw)
      ? { ok: true, value: raw }
      : { ok: false, reason: `column \`${column}\` holds a number JSON cannot represent` };
  }
  if (typeof raw === 'bigint') {
    return raw >= -MAX_SAFE && raw <= MAX_SAFE
      ? { ok: true, value: Number(raw) }
      : { ok: false, reason: `column \`${column}\` holds an integer beyond 2^53` };
  }
  if (raw instanceof Uint8Array) return { ok: false, reason: `column \`${column}\` holds binary data` };
  if (raw instanceof Date) {
    return Number.isNaN(raw.getTime())
      ? { ok: false, reason: `column \`${column}\` holds an invalid date` }
      : { ok: true, value: raw.toISOString() };
  }
  // PostgreSQL json, jsonb and arrays arrive parsed
  try {
    const text = JSON.stringify(raw);
    if (text === undefined) throw new Error('not JSON');
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: `column \`${column}\` holds a value JSON cannot represent` };
  }
}

/** The record value of a row: the JSON object of its columns, or its JSON column. */
function rowValue(mapping: SourceMapping, values: readonly unknown[]): Parsed<unknown> {
  if ('json' in mapping.value) {
    const column = mapping.value.json;
    const raw = values[0];
    if (raw === null || raw === undefined) return { ok: false, reason: `column \`${column}\` is NULL` };
    if (typeof raw === 'string') {
      try {
        return { ok: true, value: JSON.parse(raw) as unknown };
      } catch {
        return { ok: false, reason: `column \`${column}\` is not valid JSON` };
      }
    }
    return columnValue(column, raw);
  }
  const value: Record<string, unknown> = {};
  const { columns } = mapping.value;
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i] ?? '';
    const parsed = columnValue(column, values[i]);
    if (!parsed.ok) return parsed;
    value[column] = parsed.value;
  }
  return { ok: true, value };
}

/**
 * Turns the rows of one (subject id, key) into a source row. Reasons name columns, never values.
 */
export function parseForeignRows(
  mapping: SourceMapping,
  group: readonly ForeignRow[],
  updatedAt: number,
): SourceRow {
  const first = group[0];
  const subjectId = first?.subject ?? '';
  const key = first?.key ?? '';
  const fail = (reason: string): SourceRow => ({ ok: false, subjectId, key, reason });
  if (first === undefined) return fail('no row');
  if (group.length > 1) return fail(`${group.length} rows share this subject id and key`);
  // subject id, key and version are untrusted until they match the id rules
  if (first.subject === null) return fail(`subject id column \`${mapping.subjectColumn}\` is NULL`);
  if (!ID_PATTERN.test(first.subject)) return fail('invalid subject id: expected [A-Za-z0-9._:-]{1,128}');
  if (first.key === null) return fail('record key is NULL');
  if (!ID_PATTERN.test(first.key)) return fail('invalid record key: expected [A-Za-z0-9._:-]{1,128}');
  let version = 1;
  if (mapping.versionColumn !== undefined) {
    const parsed = parseVersion(first.version);
    if (parsed === undefined)
      return fail(`version column \`${mapping.versionColumn}\` is not a positive integer`);
    version = parsed;
  }
  const value = rowValue(mapping, first.values);
  if (!value.ok) return fail(value.reason);
  return {
    ok: true,
    record: {
      subjectId: first.subject as SubjectId,
      key: first.key as RecordKey,
      classId: mapping.classId,
      version,
      updatedAt,
      plaintext: Buffer.from(JSON.stringify(value.value), 'utf8'),
    },
  };
}

/** Groups rows sharing a subject id and key (they come next to each other). */
function groupRows(rows: readonly ForeignRow[]): ForeignRow[][] {
  const groups: ForeignRow[][] = [];
  let current: ForeignRow[] = [];
  for (const row of rows) {
    const last = current[0];
    if (last && ((last.subject ?? '') !== (row.subject ?? '') || (last.key ?? '') !== (row.key ?? ''))) {
      groups.push(current);
      current = [];
    }
    current.push(row);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Byte order of UTF-8, the order of the adapters' SQL (BINARY, `COLLATE "C"`). */
function compareBytes(a: { subjectId: string; key: string }, b: { subjectId: string; key: string }): number {
  return (
    Buffer.compare(Buffer.from(a.subjectId), Buffer.from(b.subjectId)) ||
    Buffer.compare(Buffer.from(a.key), Buffer.from(b.key))
  );
}

/**
 * The migration source of an application database.
 *
 * @example
 * const database = openSqliteForeignDatabase({ mapping, file, mode: 'read' });
 * const source = foreignSource({ config, mapping, jurisdiction, database });
 * await runMigration(ctx, source, target);
 */
export function foreignSource(options: ForeignSourceOptions): MigrationSource {
  const { config, mapping, jurisdiction, database } = options;
  const now = options.now ?? Date.now;
  const filter = rowFilter(config, mapping, jurisdiction);
  return {
    id: mapping.sourceId,
    jurisdiction,
    async measure(): Promise<SourceVolume> {
      const v = await database.measure(filter);
      return { records: v.rows, bytes: v.bytes, otherJurisdictions: v.others };
    },
    async readPage(after: MigrationCursor | null, limit: number): Promise<SourceRow[]> {
      const rows = await database.readPage(
        filter,
        after === null ? null : { subject: after.subjectId, key: after.key },
        limit,
      );
      const updatedAt = now();
      const page = groupRows(rows).map((group) => parseForeignRows(mapping, group, updatedAt));
      // a cursor that does not move would read the same page forever (text in another encoding,
      // or a collation that is not byte order): stop instead
      let previous = after;
      for (const row of page) {
        const ids = idsOf(row);
        if (previous !== null && compareBytes(previous, ids) >= 0) {
          throw new DomicileError(
            'DOMICILE_ERR_SOURCE_UNAVAILABLE',
            `${database.description}: rows do not come in byte order of subject id and key (is the database's text UTF-8?)`,
          );
        }
        previous = ids;
      }
      return page;
    },
  };
}

/**
 * What the wipe of the migrated rows needs: deletes the mapped rows of the jurisdiction (never
 * those of other jurisdictions). A query mapping, or a mapping marked `readOnly`, deletes nothing
 * and says so; the scan afterwards then counts what remains.
 */
export function foreignWipeStorage(
  options: ForeignSourceOptions & { readonly secureErase: boolean },
): WipeStorage {
  const { config, mapping, jurisdiction, database } = options;
  const filter = rowFilter(config, mapping, jurisdiction);
  let gaps: readonly string[] | undefined;
  let deleted = false;
  return {
    get secureErase(): boolean {
      return options.secureErase && deleted && gaps?.length === 0;
    },
    notSecurelyErased: () => gaps ?? [],
    async deleteAll(onPage: (rows: readonly WipedRow[]) => void): Promise<number> {
      if (mapping.rows.kind === 'query') {
        gaps = [
          `mapping \`${mapping.name}\` reads a query: its rows cannot be deleted row by row; delete them in the application database`,
        ];
        return 0;
      }
      if (mapping.readOnly) {
        gaps = [`mapping \`${mapping.name}\` is read-only (\`database.readOnly\`): nothing was deleted`];
        return 0;
      }
      const outcome = await database.wipe(filter, (rows) => {
        const page = groupRows(rows).flatMap((group) => group.map((row) => wipedRow(mapping, row)));
        page.sort(compareBytes);
        onPage(page);
      });
      gaps = outcome.notSecurelyErased;
      deleted = true;
      return outcome.deleted;
    },
    countByFullScan: () => database.countByFullScan(filter),
  };
}

/** A deleted row for the receipt: its ids, version and the bytes of its value. */
function wipedRow(mapping: SourceMapping, row: ForeignRow): WipedRow {
  const parsed = parseForeignRows(mapping, [row], 0);
  if (parsed.ok) {
    return {
      subjectId: parsed.record.subjectId,
      key: parsed.record.key,
      version: parsed.record.version,
      ciphertext: parsed.record.plaintext,
    };
  }
  // a row that never parsed is still accounted for: its raw values, bytes as hex
  const raw = JSON.stringify(row.values, (_, v: unknown) =>
    typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
  );
  return {
    subjectId: row.subject ?? '',
    key: row.key ?? '',
    version: parseVersion(row.version) ?? 1,
    ciphertext: Buffer.from(raw ?? 'null', 'utf8'),
  };
}
