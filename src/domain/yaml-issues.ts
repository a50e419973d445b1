/**
 * Problems in the YAML files an operator writes (`domicile.yaml`, mapping files), reported the
 * same way for each: `file:line: path: reason`, one line per problem, all at once. Pure: takes
 * the file's text, reads nothing.
 */
import { type Document, isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { DomicileError } from './errors.js';

/** One problem in a YAML file: the path inside it, its line when known, and the reason. */
export interface YamlIssue {
  readonly path: string;
  readonly line: number | undefined;
  readonly reason: string;
}

/** A parsed YAML file, with what is needed to report problems in it. */
export interface YamlFile {
  readonly doc: Document.Parsed;
  /** Its YAML syntax errors, as issues at path `(yaml)`; empty when the text is valid YAML. */
  readonly syntaxIssues: readonly YamlIssue[];
  /** The line of the node at `path`, when the file has one. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
  /** An issue about the setting at `path`. */
  issueAt(path: readonly PropertyKey[], reason: string): YamlIssue;
}

/** `regions[0].home`; `(root)` for the empty path. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(root)' : out;
}

/**
 * Parses `text` (duplicate keys are errors) without throwing: syntax errors come back as issues,
 * each with its line.
 *
 * @example
 * const yaml = parseYamlFile(text);
 * if (yaml.syntaxIssues.length > 0) throw yamlIssuesError('mapping file', file, yaml.syntaxIssues);
 */
export function parseYamlFile(text: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    let node: unknown = doc.contents;
    for (const key of path) {
      if (isMap(node)) node = node.get(key, true);
      else if (isSeq(node) && typeof key === 'number') node = node.get(key, true);
      // a path that leaves the maps and sequences midway (an alias, a scalar): the nearest line
      else break;
    }
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  // with `prettyErrors: false` the parser sets no `linePos`: the line comes from the line counter
  const syntaxIssues = doc.errors.map((e) => ({
    path: '(yaml)',
    line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line,
    reason: e.message.split('\n')[0] ?? 'not valid YAML',
  }));
  return {
    doc,
    syntaxIssues,
    lineOf,
    issueAt: (path, reason) => ({ path: formatIssuePath(path), line: lineOf(path), reason }),
  };
}

/**
 * The `DOMICILE_ERR_CONFIG` listing every issue as `file:line: path: reason` under
 * `invalid <what>:`, with the issues as details.
 */
export function yamlIssuesError(what: string, file: string, issues: readonly YamlIssue[]): DomicileError {
  const lines = issues.map(
    (i) => `${file}${i.line === undefined ? '' : `:${i.line}`}: ${i.path}: ${i.reason}`,
  );
  return new DomicileError('DOMICILE_ERR_CONFIG', `invalid ${what}:\n${lines.join('\n')}`, {
    details: { issues },
  });
}
