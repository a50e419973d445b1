/**
 * The mapping file of an application database (`domicile migrate --from crm.mapping.yaml`): which
 * database, which table or query, and which columns hold a record's subject id, jurisdiction,
 * key, version and value. Pure: parsing takes the file's text and name; opening the database is
 * the adapters' business. Problems are reported like `domicile.yaml`'s, as `file:line: path: reason`.
 *
 * Every name in the file is attacker-controlled as far as SQL goes: identifiers must match
 * `IDENTIFIER_PATTERN` and are quoted again where they are used; a `query` is SQL the operator
 * wrote and runs read-only.
 */
import { z } from 'zod';
import type { Config } from './config.js';
import { DomicileError } from './errors.js';
import { type ClassId, ID_PATTERN, type JurisdictionId, type RecordKey } from './ids.js';
import { formatIssuePath, parseYamlFile, type YamlIssue, yamlIssuesError } from './yaml-issues.js';

/** A table or column name: letters, digits and `_`, not starting with a digit, at most 63 characters. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A mapping's name, which names its migrations: `foreign:<name>`. */
export const MAPPING_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

const IDENTIFIER = z
  .string()
  .regex(IDENTIFIER_PATTERN, 'expected a column name of letters, digits and `_` (at most 63)');

const TABLE = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/,
    'expected a table name of letters, digits and `_`, optionally `schema.table`',
  );

const DatabaseSchema = z.union(
  [
    z.strictObject({ sqlite: z.string().min(1).max(4096), readOnly: z.boolean().default(false) }),
    z.strictObject({
      postgres: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
      readOnly: z.boolean().default(false),
    }),
    z.strictObject({
      postgresEnv: z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'expected an environment variable name'),
      readOnly: z.boolean().default(false),
    }),
  ],
  { error: 'expected exactly one of `sqlite: <file>`, `postgres: <url>` or `postgresEnv: <variable>`' },
);

const RecordSchema = z.strictObject({
  subject: IDENTIFIER,
  jurisdiction: z.union(
    [z.strictObject({ column: IDENTIFIER }), z.strictObject({ fixed: z.string().min(1).max(16) })],
    { error: 'expected `{ column: <name> }` or `{ fixed: <jurisdiction id> }`' },
  ),
  key: z.union(
    [
      z.strictObject({ column: IDENTIFIER }),
      z.strictObject({
        fixed: z.string().regex(ID_PATTERN, 'expected a record key of [A-Za-z0-9._:-]{1,128}'),
      }),
    ],
    { error: 'expected `{ column: <name> }` or `{ fixed: <record key> }`' },
  ),
  class: z.string().min(1).max(32),
  version: IDENTIFIER.optional(),
  value: z.union(
    [
      z.strictObject({
        columns: z
          .array(IDENTIFIER)
          .min(1)
          .max(256)
          .refine((c) => new Set(c.map((n) => n.toLowerCase())).size === c.length, 'columns repeat'),
      }),
      z.strictObject({ json: IDENTIFIER }),
    ],
    { error: 'expected `{ columns: [<name>, …] }` or `{ json: <name> }`' },
  ),
});

const MappingSchema = z
  .strictObject({
    version: z.literal(1, { error: 'expected `version: 1`' }),
    name: z.string().regex(MAPPING_NAME_PATTERN, 'expected a lowercase name such as `crm`'),
    database: DatabaseSchema,
    table: TABLE.optional(),
    query: z.string().min(1).max(100_000).optional(),
    record: RecordSchema,
  })
  .superRefine((m, ctx) => {
    if ((m.table === undefined) === (m.query === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['table'],
        message: 'expected exactly one of `table` or `query`',
      });
    }
  });

/** Where the application database is. */
export type MappedDatabase =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly url: string }
  | { readonly kind: 'postgres-env'; readonly variable: string };

/** What the rows come from: a table (wipeable) or a read-only query (not wipeable row by row). */
export type MappedRows =
  | { readonly kind: 'table'; readonly schema: string | undefined; readonly table: string }
  | { readonly kind: 'query'; readonly sql: string };

/** A validated mapping file. Column names are validated identifiers, not yet quoted. */
export interface SourceMapping {
  /** The file, as named on the command line. */
  readonly file: string;
  readonly name: string;
  /** `foreign:<name>`: the source id of its migrations. */
  readonly sourceId: string;
  readonly database: MappedDatabase;
  /** Domicile never writes to the database: a wipe deletes nothing and says so. */
  readonly readOnly: boolean;
  readonly rows: MappedRows;
  readonly subjectColumn: string;
  readonly jurisdiction: { readonly column: string } | { readonly fixed: JurisdictionId };
  readonly key: { readonly column: string } | { readonly fixed: RecordKey };
  readonly classId: ClassId;
  readonly versionColumn: string | undefined;
  readonly value: { readonly columns: readonly string[] } | { readonly json: string };
  /** Line of each setting (`record.subject`, `table`, …), for messages about it. */
  readonly lines: ReadonlyMap<string, number>;
}

/** One problem in a mapping file. */
export type MappingIssue = YamlIssue;

function invalid(file: string, issues: readonly MappingIssue[]): DomicileError {
  return yamlIssuesError('mapping file', file, issues);
}

/**
 * A `DOMICILE_ERR_CONFIG` about one setting of a mapping (`record.subject`, `table`…), found
 * after parsing: a column the database does not have, an environment variable that is not set.
 */
export function mappingError(mapping: SourceMapping, path: string, reason: string): DomicileError {
  return invalid(mapping.file, [{ path, line: mapping.lines.get(path), reason }]);
}

/**
 * Parses and validates a mapping file against the configuration (its class and fixed
 * jurisdiction must be configured).
 *
 * @throws DomicileError `DOMICILE_ERR_CONFIG` listing every problem as `file:line: path: reason`.
 * @example
 * const mapping = parseSourceMapping(readFileSync('crm.mapping.yaml', 'utf8'), 'crm.mapping.yaml', config);
 * mapping.sourceId; // 'foreign:crm'
 */
export function parseSourceMapping(text: string, file: string, config: Config): SourceMapping {
  const yaml = parseYamlFile(text);
  if (yaml.syntaxIssues.length > 0) throw invalid(file, yaml.syntaxIssues);
  const parsed = MappingSchema.safeParse(yaml.doc.toJS());
  if (!parsed.success) {
    throw invalid(
      file,
      parsed.error.issues.map((i) => yaml.issueAt(i.path, i.message)),
    );
  }
  const raw = parsed.data;
  const issues: MappingIssue[] = [];
  const issue = (path: readonly PropertyKey[], reason: string): void => {
    issues.push(yaml.issueAt(path, reason));
  };
  if (!config.classes.has(raw.record.class as ClassId)) {
    issue(
      ['record', 'class'],
      `unknown data class \`${raw.record.class}\`: expected one of ${[...config.classes.keys()].join(', ')}`,
    );
  }
  if (
    'fixed' in raw.record.jurisdiction &&
    !config.jurisdictions.has(raw.record.jurisdiction.fixed as JurisdictionId)
  ) {
    issue(['record', 'jurisdiction', 'fixed'], `unknown jurisdiction \`${raw.record.jurisdiction.fixed}\``);
  }
  if (issues.length > 0) throw invalid(file, issues);

  const lines = new Map<string, number>();
  const note = (path: readonly PropertyKey[]): void => {
    const line = yaml.lineOf(path);
    if (line !== undefined) lines.set(formatIssuePath(path), line);
  };
  for (const path of [
    ['database'],
    ['database', 'sqlite'],
    ['database', 'postgres'],
    ['database', 'postgresEnv'],
    ['table'],
    ['query'],
    ['record', 'subject'],
    ['record', 'jurisdiction', 'column'],
    ['record', 'key', 'column'],
    ['record', 'version'],
    ['record', 'value', 'json'],
  ]) {
    note(path);
  }
  if ('columns' in raw.record.value) {
    raw.record.value.columns.forEach((_, i) => {
      note(['record', 'value', 'columns', i]);
    });
  }

  const db = raw.database;
  const database: MappedDatabase =
    'sqlite' in db
      ? { kind: 'sqlite', file: db.sqlite }
      : 'postgres' in db
        ? { kind: 'postgres', url: db.postgres }
        : { kind: 'postgres-env', variable: db.postgresEnv };
  let rows: MappedRows;
  if (raw.table !== undefined) {
    const [first, second] = raw.table.split('.');
    rows =
      second === undefined
        ? { kind: 'table', schema: undefined, table: first ?? raw.table }
        : { kind: 'table', schema: first, table: second };
  } else {
    // a trailing `;` would end the subquery the query is wrapped in
    rows = { kind: 'query', sql: (raw.query ?? '').replace(/[\s;]+$/, '').trim() };
  }
  const jurisdiction =
    'column' in raw.record.jurisdiction
      ? { column: raw.record.jurisdiction.column }
      : { fixed: raw.record.jurisdiction.fixed as JurisdictionId };
  const key =
    'column' in raw.record.key
      ? { column: raw.record.key.column }
      : { fixed: raw.record.key.fixed as RecordKey };
  const value =
    'columns' in raw.record.value ? { columns: raw.record.value.columns } : { json: raw.record.value.json };
  return {
    file,
    name: raw.name,
    sourceId: `foreign:${raw.name}`,
    database,
    readOnly: db.readOnly,
    rows,
    subjectColumn: raw.record.subject,
    jurisdiction,
    key,
    classId: raw.record.class as ClassId,
    versionColumn: raw.record.version,
    value,
    lines,
  };
}

/** The columns a mapping reads, each with the setting that names it (for messages). */
export function mappedColumns(mapping: SourceMapping): { readonly column: string; readonly path: string }[] {
  const out = [{ column: mapping.subjectColumn, path: 'record.subject' }];
  if ('column' in mapping.jurisdiction) {
    out.push({ column: mapping.jurisdiction.column, path: 'record.jurisdiction.column' });
  }
  if ('column' in mapping.key) out.push({ column: mapping.key.column, path: 'record.key.column' });
  if (mapping.versionColumn !== undefined)
    out.push({ column: mapping.versionColumn, path: 'record.version' });
  if ('json' in mapping.value) out.push({ column: mapping.value.json, path: 'record.value.json' });
  else {
    mapping.value.columns.forEach((column, i) => {
      out.push({ column, path: `record.value.columns[${i}]` });
    });
  }
  return out;
}

/** Quotes an identifier that matched `IDENTIFIER_PATTERN` (the doubling is defence in depth). */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER_PATTERN.test(name)) {
    throw new DomicileError('DOMICILE_ERR_CONFIG', `invalid identifier \`${name.slice(0, 64)}\``);
  }
  return `"${name.replaceAll('"', '""')}"`;
}
