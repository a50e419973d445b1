/**
 * Candidate selection: which policies a request must evaluate, by (action, resource.jurisdiction,
 * resource.class).
 *
 * Skipping a policy is only sound when Cedar would find it unsatisfied *without an error*, because
 * an error denies the whole request. So a policy is keyed on jurisdiction or class only by the
 * `resource.jurisdiction == <literal>` / `["a", "b"].contains(resource.class)` conjuncts that come
 * first in its condition (after the scope, which never errors): with both attributes present on the
 * request's resource, those conjuncts evaluate without error, and a mismatch makes the policy false.
 * A request whose resource lacks either attribute (or holds something other than a string or an
 * entity there) evaluates every policy of its action.
 */

import type { Expr, PolicyJson } from './cedar.js';
import { policyConjuncts } from './compile.js';
import { EntityRef, type RecordValue, type Value, valueFromJson } from './values.js';

/** The resource attributes the index keys on, in key order. */
export const INDEX_ATTRIBUTES = ['jurisdiction', 'class'] as const;
type IndexAttribute = (typeof INDEX_ATTRIBUTES)[number];

/** Keys a value the way Cedar's `==` tells values apart; undefined when the value is not indexable. */
export function indexKeyOf(v: Value | undefined): string | undefined {
  if (typeof v === 'string') return `s:${v}`;
  if (v instanceof EntityRef) return v.indexKey;
  return undefined;
}

/** Per-policy keys: null means the policy does not constrain that dimension. */
export interface PolicyKeys {
  readonly jurisdiction: ReadonlySet<string> | null;
  readonly class: ReadonlySet<string> | null;
}

type Node = { readonly [op: string]: unknown };

function resourceAttr(e: unknown): IndexAttribute | undefined {
  const dot = (e as Node)['.'] as { left?: unknown; attr?: unknown } | undefined;
  if (dot === undefined) return undefined;
  const left = dot.left as Node | undefined;
  if (left?.Var !== 'resource') return undefined;
  return INDEX_ATTRIBUTES.find((a) => a === dot.attr);
}

function literalKey(e: unknown): string | undefined {
  const n = e as Node;
  if (!('Value' in n)) return undefined;
  try {
    return indexKeyOf(valueFromJson(n.Value as Parameters<typeof valueFromJson>[0]));
  } catch {
    return undefined;
  }
}

function literalKeys(e: unknown): string[] | undefined {
  const n = e as Node;
  const items =
    n.Set ?? (Array.isArray(n.Value) ? (n.Value as unknown[]).map((Value) => ({ Value })) : undefined);
  if (!Array.isArray(items)) return undefined;
  const keys = items.map(literalKey);
  return keys.every((k) => k !== undefined) ? (keys as string[]) : undefined;
}

/** Reads `resource.attr == lit`, `lit == resource.attr` or `[lits].contains(resource.attr)`. */
function keyConjunct(e: Expr): { attr: IndexAttribute; keys: string[] } | undefined {
  const n = e as Node;
  const eq = n['=='] as { left: unknown; right: unknown } | undefined;
  if (eq !== undefined) {
    const attrL = resourceAttr(eq.left);
    const keyR = literalKey(eq.right);
    if (attrL !== undefined && keyR !== undefined) return { attr: attrL, keys: [keyR] };
    const attrR = resourceAttr(eq.right);
    const keyL = literalKey(eq.left);
    if (attrR !== undefined && keyL !== undefined) return { attr: attrR, keys: [keyL] };
    return undefined;
  }
  const contains = n.contains as { left: unknown; right: unknown } | undefined;
  if (contains !== undefined) {
    const attr = resourceAttr(contains.right);
    const keys = literalKeys(contains.left);
    if (attr !== undefined && keys !== undefined) return { attr, keys };
  }
  return undefined;
}

/** The keys a policy's leading conjuncts pin down. */
export function extractPolicyKeys(policy: PolicyJson): PolicyKeys {
  const found: { jurisdiction: Set<string> | null; class: Set<string> | null } = {
    jurisdiction: null,
    class: null,
  };
  for (const conjunct of policyConjuncts(policy)) {
    const k = keyConjunct(conjunct);
    // INVARIANT: only a prefix of key conjuncts counts; anything after another conjunct might
    // never run, or run after something that errors, so it cannot justify skipping the policy
    if (k === undefined) break;
    const prev = found[k.attr];
    found[k.attr] = prev === null ? new Set(k.keys) : new Set(k.keys.filter((x) => prev.has(x)));
  }
  return found;
}

/** Candidate lists by one attribute value; strings and entities apart, so they never collide. */
class ByValue<T> {
  private readonly strings = new Map<string, T>();
  private readonly entities = new Map<string, T>();
  /** The slot of every value no policy names, so the cache stays bounded by the policy set. */
  private other: T | undefined;

  /** The slot of `v`, created with `make` on first use; undefined when `v` is not indexable. */
  slot(v: Value | undefined, known: ReadonlySet<string>, make: () => T): T | undefined {
    const key = indexKeyOf(v);
    if (key === undefined) return undefined;
    const map = typeof v === 'string' ? this.strings : this.entities;
    const name = typeof v === 'string' ? v : v instanceof EntityRef ? v.key : key;
    let found = map.get(name);
    if (found !== undefined) return found;
    if (known.has(key)) {
      found = make();
      map.set(name, found);
    } else {
      this.other ??= make();
      found = this.other;
      // remembered for the fast path up to a bound, so arbitrary input cannot grow the cache
      if (map.size < MAX_REMEMBERED) map.set(name, found);
    }
    return found;
  }

  /** The slot of `v` once remembered (the fast path: no key string built, nothing allocated). */
  existing(v: Value | undefined): T | undefined {
    if (typeof v === 'string') return this.strings.get(v);
    if (v instanceof EntityRef) return this.entities.get(v.key);
    return undefined;
  }
}

const MAX_REMEMBERED = 1024;
const OTHER = '\u0000other';

/** Candidate lists for one action, built lazily per (jurisdiction, class) key pair and cached. */
export class ActionBucket<P extends { readonly keys: PolicyKeys }> {
  private readonly knownJurisdictions = new Set<string>();
  private readonly knownClasses = new Set<string>();
  private readonly cache = new ByValue<ByValue<readonly P[]>>();

  constructor(readonly all: readonly P[]) {
    for (const p of all) {
      for (const k of p.keys.jurisdiction ?? []) this.knownJurisdictions.add(k);
      for (const k of p.keys.class ?? []) this.knownClasses.add(k);
    }
  }

  /** The policies to evaluate for a resource with these attributes. */
  candidates(attrs: RecordValue | undefined): readonly P[] {
    if (attrs === undefined) return this.all;
    const j = Object.hasOwn(attrs, 'jurisdiction') ? attrs.jurisdiction : undefined;
    const c = Object.hasOwn(attrs, 'class') ? attrs.class : undefined;
    const list = this.cache.existing(j)?.existing(c);
    if (list !== undefined) return list;
    const byClass = this.cache.slot(j, this.knownJurisdictions, () => new ByValue<readonly P[]>());
    if (byClass === undefined || indexKeyOf(c) === undefined) return this.all;
    const jk = indexKeyOf(j) as string;
    const ck = indexKeyOf(c) as string;
    const jKnown = this.knownJurisdictions.has(jk) ? jk : OTHER;
    const cKnown = this.knownClasses.has(ck) ? ck : OTHER;
    return (
      byClass.slot(c, this.knownClasses, () =>
        this.all.filter(
          (p) =>
            (p.keys.jurisdiction === null || p.keys.jurisdiction.has(jKnown)) &&
            (p.keys.class === null || p.keys.class.has(cKnown)),
        ),
      ) ?? this.all
    );
  }
}
