/**
 * De-identification for exports: direct identifiers dropped, quasi-identifiers generalised, and
 * k-anonymity checked — every combination of quasi-identifier values shared by at least k rows —
 * before anything may leave. Pure: rows in, rows out.
 */
import type { ExportFieldRule } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import { canonicalJson } from '../audit/entry.js';

/** Outcome of de-identifying a table. */
export interface DeidentifiedTable {
  readonly rows: readonly Readonly<Record<string, unknown>>[];
  /** Requested fields that were dropped (direct identifiers, and fields without a rule). */
  readonly dropped: readonly string[];
  /** Fields that form the quasi-identifier tuple. */
  readonly quasiIdentifiers: readonly string[];
  /** Number of equivalence classes and the size of the smallest. */
  readonly groups: number;
  readonly smallestGroup: number;
}

function generalise(rule: ExportFieldRule, value: unknown): unknown {
  if (typeof rule === 'string') return value ?? null;
  if (rule.generalise === 'range') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return null;
    const low = Math.floor(value / rule.width) * rule.width;
    return rule.width === 1 ? String(low) : `${low}-${low + rule.width - 1}`;
  }
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  const text = String(value);
  return text.length <= rule.keep ? `${text}*` : `${text.slice(0, rule.keep)}*`;
}

/**
 * De-identifies rows (one per subject, field → value) and checks k-anonymity.
 *
 * @throws DomicileError `DOMICILE_ERR_NOT_ANONYMOUS` when a group is smaller than `k`.
 * @example
 * const table = deidentify(rows, ['zip', 'birthYear', 'plan'], config.transfers.exports.fields, 10);
 */
export function deidentify(
  rows: readonly Readonly<Record<string, unknown>>[],
  fields: readonly string[],
  rules: Readonly<Record<string, ExportFieldRule>>,
  k: number,
): DeidentifiedTable {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const field of fields) {
    const rule = Object.hasOwn(rules, field) ? rules[field] : undefined;
    // INVARIANT T1: a field without a rule could be an identifier: it never leaves (fail closed)
    if (rule === undefined || rule === 'direct') dropped.push(field);
    else kept.push(field);
  }
  const quasiIdentifiers = kept.filter((f) => rules[f] !== 'attribute');
  const out = rows.map((row) => {
    const next: Record<string, unknown> = {};
    for (const field of kept) {
      const rule = rules[field];
      if (rule !== undefined) next[field] = generalise(rule, row[field]);
    }
    return next;
  });
  const groups = new Map<string, number>();
  for (const row of out) {
    const key = canonicalJson(quasiIdentifiers.map((f) => row[f] ?? null));
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  const smallestGroup = groups.size === 0 ? 0 : Math.min(...groups.values());
  if (groups.size > 0 && smallestGroup < k) {
    throw new DomicileError(
      'DOMICILE_ERR_NOT_ANONYMOUS',
      `export refused: a group of ${smallestGroup} rows shares its quasi-identifiers, fewer than k = ${k}`,
      { details: { k, smallestGroup, groups: groups.size } },
    );
  }
  return { rows: out, dropped, quasiIdentifiers, groups: groups.size, smallestGroup };
}
