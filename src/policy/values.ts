/**
 * Runtime values of the compiled evaluator, and their conversion from Cedar's JSON forms.
 *
 * Cedar types map to JavaScript as: Bool → boolean, Long → number (safe integers only), String →
 * string, Set → readonly array (order and duplicates carry no meaning), Record → null-prototype
 * object, entity uid → {@link EntityRef}, extension value → {@link ExtensionValue} (opaque: any
 * operation on it hands the request to cedar-wasm).
 */
import type { CedarValueJson, EntityJson, EntityUidJson } from './cedar.js';

/**
 * A Cedar entity uid; `key` is its canonical text `Type::"id"`, used for lookups. The key is built
 * on first use: most requests compare and look up entities by identity or by type and id only.
 */
export class EntityRef {
  // '' until built (a key is never empty), so the field always holds a string
  private cachedKey = '';

  constructor(
    readonly type: string,
    readonly id: string,
  ) {}

  get key(): string {
    if (this.cachedKey === '') this.cachedKey = `${this.type}::${JSON.stringify(this.id)}`;
    return this.cachedKey;
  }

  /** The key prefixed for the policy index (so an entity never collides with a string). */
  get indexKey(): string {
    return `e:${this.key}`;
  }
}

/** Entity uid equality (the same as equal keys: a type never contains a quote). */
export function sameEntity(a: EntityRef, b: EntityRef): boolean {
  return a === b || (a.id === b.id && a.type === b.type);
}

/** An extension value (decimal, ipaddr, datetime, duration) the compiler does not interpret. */
export class ExtensionValue {
  constructor(readonly json: CedarValueJson) {}
}

export type RecordValue = { readonly [attr: string]: Value };
export type SetValue = readonly Value[];
/** A Cedar Long: a number while a safe integer, a bigint beyond (only ever computed, never input). */
export type Long = number | bigint;
export type Value = boolean | Long | string | EntityRef | ExtensionValue | SetValue | RecordValue;

/** The attributes and transitive ancestors' parents of one entity. */
export interface EntityData {
  readonly attrs: RecordValue;
  readonly parents: readonly EntityRef[];
}

/** Entity lookup for one request. `ancestors` is the transitive closure over `parents`. */
export interface EntityStore {
  get(key: string): EntityData | undefined;
  /** `get(ref.key)`, faster where the store can find the entity by identity. */
  entity(ref: EntityRef): EntityData | undefined;
  ancestors(key: string): ReadonlySet<string>;
}

/** Thrown when evaluation fails the way Cedar's evaluation would fail (a Cedar evaluation error). */
export class EvaluationError extends Error {
  override readonly name = 'EvaluationError';
}

/**
 * Thrown when a value or a result leaves what the compiled evaluator models exactly (an extension
 * value, a Long outside the safe-integer range); the engine then asks cedar-wasm for the whole
 * request, so the answer is never different, only slower.
 */
export class NeedsCedarSignal extends Error {
  override readonly name = 'NeedsCedarSignal';
}

export const EMPTY_ANCESTORS: ReadonlySet<string> = new Set();

export function isRecord(v: Value): v is RecordValue {
  return (
    typeof v === 'object' && !Array.isArray(v) && !(v instanceof EntityRef) && !(v instanceof ExtensionValue)
  );
}

export function isSet(v: Value): v is SetValue {
  return Array.isArray(v);
}

/** Cedar `==`: structural, never an error across types; set equality ignores order and duplicates. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof ExtensionValue || b instanceof ExtensionValue) {
    throw new NeedsCedarSignal('extension value equality');
  }
  if (a instanceof EntityRef) return b instanceof EntityRef && sameEntity(a, b);
  if (b instanceof EntityRef) return false;
  if (isSet(a)) return isSet(b) && setIncludesAll(a, b) && setIncludesAll(b, a);
  if (isSet(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    const va = a[k];
    const vb = b[k];
    if (va === undefined || vb === undefined || !valueEquals(va, vb)) return false;
  }
  return true;
}

export function setIncludes(set: SetValue, v: Value): boolean {
  // a primitive equals only an identical primitive, so `includes` is exact for it
  if (typeof v !== 'object') return set.includes(v);
  for (const x of set) if (valueEquals(x, v)) return true;
  return false;
}

export function setIncludesAll(set: SetValue, items: SetValue): boolean {
  for (const v of items) if (!setIncludes(set, v)) return false;
  return true;
}

/** Converts an entity uid in either JSON form. */
export function entityRefFromJson(uid: EntityUidJson): EntityRef {
  const tid = '__entity' in uid ? uid.__entity : uid;
  return new EntityRef(tid.type, tid.id);
}

/**
 * Converts a Cedar JSON value (the form of entity attributes and context).
 * Throws {@link NeedsCedarSignal} for numbers the evaluator cannot represent exactly.
 */
export function valueFromJson(json: CedarValueJson): Value {
  switch (typeof json) {
    case 'boolean':
    case 'string':
      return json;
    case 'number':
      // a Long outside ±2^53 lost precision already in JSON; only cedar-wasm can judge it
      if (!Number.isSafeInteger(json)) throw new NeedsCedarSignal(`long \`${json}\` is not a safe integer`);
      return json;
    case 'object': {
      if (json === null) throw new EvaluationError('null is not a cedar value');
      if (Array.isArray(json)) return json.map(valueFromJson);
      if ('__entity' in json && isTypeAndId(json.__entity))
        return entityRefFromJson({ __entity: json.__entity });
      if ('__extn' in json) return new ExtensionValue(json);
      const out: { [attr: string]: Value } = Object.create(null);
      for (const [k, v] of Object.entries(json)) {
        if (v !== undefined) out[k] = valueFromJson(v);
      }
      return out;
    }
    default:
      throw new EvaluationError('unsupported json value');
  }
}

function isTypeAndId(v: unknown): v is { type: string; id: string } {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { type?: unknown }).type === 'string' &&
    typeof (v as { id?: unknown }).id === 'string'
  );
}

/** Converts a runtime value back to Cedar JSON (for handing a request to cedar-wasm). */
export function valueToJson(v: Value): CedarValueJson {
  if (typeof v === 'bigint') throw new EvaluationError('long outside the json-safe range');
  if (typeof v !== 'object') return v;
  if (v instanceof EntityRef) return { __entity: { type: v.type, id: v.id } };
  if (v instanceof ExtensionValue) return v.json;
  if (isSet(v)) return v.map(valueToJson);
  const out: { [k: string]: CedarValueJson } = {};
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x !== undefined)
      Object.defineProperty(out, k, { value: valueToJson(x), enumerable: true, writable: true });
  }
  return out;
}

/**
 * An entity store over a list of entities plus fixed entities (the schema's actions), computing
 * ancestor sets lazily, once per entity per request.
 */
export class MapEntityStore implements EntityStore {
  private readonly closure = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly entities: ReadonlyMap<string, EntityData>,
    private readonly fixed?: ReadonlyMap<string, EntityData>,
    private readonly fixedAncestors?: ReadonlyMap<string, ReadonlySet<string>>,
  ) {}

  get(key: string): EntityData | undefined {
    return this.fixed?.get(key) ?? this.entities.get(key);
  }

  entity(ref: EntityRef): EntityData | undefined {
    return this.get(ref.key);
  }

  ancestors(key: string): ReadonlySet<string> {
    const fixed = this.fixedAncestors?.get(key);
    if (fixed !== undefined) return fixed;
    let found = this.closure.get(key);
    if (found === undefined) {
      found = computeAncestors(key, (k) => this.get(k));
      this.closure.set(key, found);
    }
    return found;
  }
}

/** Transitive parents of `key`, following only entities present in the store (as Cedar does). */
export function computeAncestors(
  key: string,
  get: (key: string) => EntityData | undefined,
): ReadonlySet<string> {
  const start = get(key);
  if (start === undefined || start.parents.length === 0) return EMPTY_ANCESTORS;
  const seen = new Set<string>();
  const stack = [...start.parents];
  for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
    if (seen.has(p.key)) continue;
    seen.add(p.key);
    const data = get(p.key);
    if (data !== undefined) stack.push(...data.parents);
  }
  return seen;
}

/** Builds a store from Cedar's entity JSON. Throws {@link NeedsCedarSignal} on values it cannot model. */
export function entitiesFromJson(entities: readonly EntityJson[]): Map<string, EntityData> {
  const map = new Map<string, EntityData>();
  for (const e of entities) {
    const ref = entityRefFromJson(e.uid);
    if (map.has(ref.key)) throw new EvaluationError(`duplicate entity entry \`${ref.key}\``);
    const attrs = valueFromJson(e.attrs);
    if (!isRecord(attrs)) throw new EvaluationError(`entity \`${ref.key}\`: attributes are not a record`);
    if (e.tags !== undefined && Object.keys(e.tags).length > 0) throw new NeedsCedarSignal('entity tags');
    map.set(ref.key, { attrs, parents: e.parents.map(entityRefFromJson) });
  }
  return map;
}
