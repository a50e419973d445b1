import { describe, expect, it } from 'vitest';
import { demoConfig } from '../../test/support/deployment.js';
import { isDomicileError } from './errors.js';
import { parseSourceMapping, quoteIdentifier } from './source-mapping.js';

const config = demoConfig();

const VALID = `version: 1
name: crm
database:
  sqlite: crm.db
table: sales.customers
record:
  subject: customer_ref
  jurisdiction: { column: country }
  key: { fixed: profile }
  class: protected
  version: row_version
  value: { columns: [name, email] }
`;

/** The `file:line: path: reason` lines of the error a mapping text raises. */
function problems(text: string): string[] {
  try {
    parseSourceMapping(text, 'crm.yaml', config);
  } catch (err) {
    if (!isDomicileError(err, 'DOMICILE_ERR_CONFIG')) throw err;
    return err.message.split('\n').slice(1);
  }
  throw new Error('the mapping parsed');
}

describe('parseSourceMapping', () => {
  it('reads a table mapping', () => {
    const m = parseSourceMapping(VALID, 'crm.yaml', config);
    expect(m).toMatchObject({
      sourceId: 'foreign:crm',
      database: { kind: 'sqlite', file: 'crm.db' },
      readOnly: false,
      rows: { kind: 'table', schema: 'sales', table: 'customers' },
      subjectColumn: 'customer_ref',
      jurisdiction: { column: 'country' },
      key: { fixed: 'profile' },
      classId: 'protected',
      versionColumn: 'row_version',
      value: { columns: ['name', 'email'] },
    });
    expect(m.lines.get('record.value.columns[1]')).toBe(12);
  });

  it('reads a query mapping without its final semicolon', () => {
    const m = parseSourceMapping(
      VALID.replace('table: sales.customers', 'query: "SELECT * FROM customers ;  "'),
      'crm.yaml',
      config,
    );
    expect(m.rows).toEqual({ kind: 'query', sql: 'SELECT * FROM customers' });
  });

  describe('when a name could smuggle SQL', () => {
    it.each([
      ['subject: customer_ref', 'subject: "id; DROP TABLE customers"', 'crm.yaml:7: record.subject'],
      ['table: sales.customers', "table: 'customers\" --'", 'crm.yaml:5: table'],
      ['[name, email]', '[name, "email\\" FROM x --"]', 'crm.yaml:12: record.value.columns[1]'],
      ['{ column: country }', '{ column: "country)" }', 'crm.yaml:8: record.jurisdiction'],
    ])('rejects `%s` → `%s` with its line', (from, to, where) => {
      const lines = problems(VALID.replace(from, to));
      expect(lines.some((l) => l.startsWith(where))).toBe(true);
    });

    it('quotes only validated identifiers', () => {
      expect(quoteIdentifier('customer_ref')).toBe('"customer_ref"');
      expect(() => quoteIdentifier('a"b')).toThrow();
    });
  });

  it('requires exactly one of table or query', () => {
    expect(problems(VALID.replace('table: sales.customers\n', ''))).toEqual([
      'crm.yaml: table: expected exactly one of `table` or `query`',
    ]);
    expect(problems(VALID.replace('table: sales.customers', 'table: a\nquery: SELECT 1'))).toEqual([
      'crm.yaml:5: table: expected exactly one of `table` or `query`',
    ]);
  });

  it('checks the class and a fixed jurisdiction against the configuration', () => {
    const lines = problems(
      VALID.replace('class: protected', 'class: secret').replace('{ column: country }', '{ fixed: XX }'),
    );
    expect(lines).toEqual([
      'crm.yaml:10: record.class: unknown data class `secret`: expected one of protected, interoperable, deidentified',
      'crm.yaml:8: record.jurisdiction.fixed: unknown jurisdiction `XX`',
    ]);
  });

  it('names the database forms it accepts', () => {
    const lines = problems(VALID.replace('sqlite: crm.db', 'mysql: crm'));
    expect(lines[0]).toContain('crm.yaml:4: database: expected exactly one of `sqlite: <file>`');
  });

  it('reports YAML errors with their line', () => {
    expect(problems(`${VALID}name: again\n`)[0]).toMatch(/^crm\.yaml:13: \(yaml\): Map keys must be unique/);
    expect(problems(VALID.replace('[name, email]', '[name, email'))[0]).toMatch(/^crm\.yaml:12: \(yaml\): /);
  });
});
