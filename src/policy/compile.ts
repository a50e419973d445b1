/**
 * Compiles a Cedar policy in its JSON form (EST) to a JavaScript closure.
 *
 * The closure follows Cedar's evaluation order and error rules exactly (See: Cedar language
 * reference, "Operators and functions"): the scope first, then each `when`/`unless` body in order,
 * `&&`, `||` and `if` short-circuit, `==` never errors, every other operator errors on a wrong
 * operand type, attribute access errors on a missing attribute or entity. An error is thrown as
 * {@link EvaluationError}; the engine turns it into a deny of the whole request.
 *
 * Constructs the compiler does not model throw {@link UnsupportedConstruct} at compile time, and
 * the engine evaluates that policy with cedar-wasm instead.
 */
import type { Expr, PolicyJson } from './cedar.js';
import {
  EntityRef,
  type EntityStore,
  EvaluationError,
  ExtensionValue,
  isRecord,
  isSet,
  type Long,
  NeedsCedarSignal,
  type RecordValue,
  type SetValue,
  sameEntity,
  setIncludes,
  setIncludesAll,
  type Value,
  valueEquals,
  valueFromJson,
} from './values.js';

/** What a compiled policy reads. */
export interface Env {
  readonly principal: EntityRef;
  readonly action: EntityRef;
  readonly resource: EntityRef;
  readonly context: RecordValue;
  readonly entities: EntityStore;
}

export type CompiledExpr = (env: Env) => Value;
/** True when the policy is satisfied; throws {@link EvaluationError} when Cedar would report an error. */
export type CompiledCondition = (env: Env) => boolean;

/** Raised at compile time for a construct the compiler leaves to cedar-wasm. */
export class UnsupportedConstruct extends Error {
  override readonly name = 'UnsupportedConstruct';
}

/** Operators the compiler does not model; a policy using one is evaluated by cedar-wasm. */
export const UNSUPPORTED_OPERATORS: readonly string[] = [
  'extension functions and methods (decimal, ip, datetime, duration and their methods)',
  'extension-typed literals',
  'getTag / hasTag (entity tags)',
  'template slots (?principal, ?resource)',
  'Long literals outside ±(2^53 − 1) (JSON cannot carry them exactly)',
];

export type Node = { readonly [op: string]: unknown };

export function asNode(e: unknown): Node {
  if (typeof e !== 'object' || e === null || Array.isArray(e))
    throw new UnsupportedConstruct('malformed expression');
  return e as Node;
}

function binary(body: unknown): { left: Expr; right: Expr } {
  const n = asNode(body);
  return { left: n.left as Expr, right: n.right as Expr };
}

export function typeError(op: string, expected: string, got: Value): EvaluationError {
  return new EvaluationError(`\`${op}\`: expected ${expected}, got ${describe(got)}`);
}

function describe(v: Value): string {
  if (typeof v === 'number' || typeof v === 'bigint') return 'long';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof EntityRef) return 'entity';
  if (v instanceof ExtensionValue) return 'extension value';
  return isSet(v) ? 'set' : 'record';
}

export function asBool(op: string, v: Value): boolean {
  if (typeof v === 'boolean') return v;
  if (v instanceof ExtensionValue) throw new NeedsCedarSignal(op);
  throw typeError(op, 'bool', v);
}

export function asLong(op: string, v: Value): Long {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  // datetime and duration compare with `<`: that belongs to cedar-wasm
  if (v instanceof ExtensionValue) throw new NeedsCedarSignal(op);
  throw typeError(op, 'long', v);
}

export function asSet(op: string, v: Value): SetValue {
  if (isSet(v)) return v;
  if (v instanceof ExtensionValue) throw new NeedsCedarSignal(op);
  throw typeError(op, 'set', v);
}

export function asEntity(op: string, v: Value): EntityRef {
  if (v instanceof EntityRef) return v;
  if (v instanceof ExtensionValue) throw new NeedsCedarSignal(op);
  throw typeError(op, 'entity', v);
}

const I64_MIN = -(2n ** 63n);
export const I64_MAX = 2n ** 63n - 1n;

/**
 * Cedar Longs are 64-bit and overflow is an error. A Long is a number while it is a safe integer
 * and a bigint beyond, so `===`, `<` and `Array.includes` stay exact across both.
 */
export function longResult(op: '+' | '-' | '*', a: Long, b: Long): Long {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = op === '+' ? a + b : op === '-' ? a - b : a * b;
    if (Number.isSafeInteger(r)) return r === 0 ? 0 : r;
  }
  const x = BigInt(a);
  const y = BigInt(b);
  const r = op === '+' ? x + y : op === '-' ? x - y : x * y;
  if (r < I64_MIN || r > I64_MAX) throw new EvaluationError(`overflow in \`${op}\``);
  return normalizeLong(r);
}

export function normalizeLong(r: bigint): Long {
  return r >= BigInt(Number.MIN_SAFE_INTEGER) && r <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r) : r;
}

/** `a in b` where b is an entity or a set of entities (Cedar hierarchy membership, reflexive). */
export function entityIn(entities: EntityStore, a: EntityRef, b: Value): boolean {
  if (b instanceof EntityRef) return sameEntity(a, b) || entities.ancestors(a.key).has(b.key);
  if (isSet(b)) {
    let ancestors: ReadonlySet<string> | undefined;
    let found = false;
    // every element is type-checked, as Cedar does, before the answer is known
    for (const x of b) {
      const e = asEntity('in', x);
      if (found) continue;
      if (sameEntity(a, e)) {
        found = true;
        continue;
      }
      ancestors ??= entities.ancestors(a.key);
      if (ancestors.has(e.key)) found = true;
    }
    return found;
  }
  if (b instanceof ExtensionValue) throw new NeedsCedarSignal('in');
  throw typeError('in', 'entity or set of entities', b);
}

/** Reads `attr` of a record or an entity; a missing attribute or entity is an evaluation error. */
export function getAttr(entities: EntityStore, v: Value, attr: string): Value {
  if (v instanceof EntityRef) {
    const data = entities.entity(v);
    if (data === undefined) throw new EvaluationError(`entity \`${v.key}\` does not exist`);
    if (!Object.hasOwn(data.attrs, attr))
      throw new EvaluationError(`\`${v.key}\` does not have the attribute \`${attr}\``);
    return data.attrs[attr] as Value;
  }
  if (isRecord(v)) {
    if (!Object.hasOwn(v, attr)) throw new EvaluationError(`record does not have the attribute \`${attr}\``);
    return v[attr] as Value;
  }
  if (v instanceof ExtensionValue) throw new NeedsCedarSignal('.');
  throw typeError(`.${attr}`, 'entity or record', v);
}

/** `v has attr`: false for an entity that does not exist. */
export function hasAttr(entities: EntityStore, v: Value, attr: string): boolean {
  if (v instanceof EntityRef) {
    const data = entities.entity(v);
    return data !== undefined && Object.hasOwn(data.attrs, attr);
  }
  if (isRecord(v)) return Object.hasOwn(v, attr);
  if (v instanceof ExtensionValue) throw new NeedsCedarSignal('has');
  throw typeError('has', 'entity or record', v);
}

/** Cedar's unary `-`: errors on a non-long and on overflow. */
export function negateLong(v: Value): Long {
  const a = asLong('-', v);
  if (typeof a === 'number') return a === 0 ? 0 : -a;
  if (-a > I64_MAX) throw new EvaluationError('overflow in `-`');
  return normalizeLong(-a);
}

/** Whether `set` includes any of `items` (`containsAny`, operands already checked). */
export function setIncludesAny(set: SetValue, items: SetValue): boolean {
  for (const v of items) if (setIncludes(set, v)) return true;
  return false;
}

/** `e has a.b.c`, which is `e has a && e.a has b && e.a.b has c`. */
export function hasAttrPath(entities: EntityStore, start: Value, attrs: readonly string[]): boolean {
  let v = start;
  for (const attr of attrs) {
    if (!hasAttr(entities, v, attr)) return false;
    v = getAttr(entities, v, attr);
  }
  return true;
}

/** `v like pattern`, the pattern compiled by {@link compileLike}. */
export function matchLike(v: Value, re: RegExp): boolean {
  if (typeof v !== 'string') {
    if (v instanceof ExtensionValue) throw new NeedsCedarSignal('like');
    throw typeError('like', 'string', v);
  }
  return re.test(v);
}

/** The single operator of an expression node and its operand(s). */
export function exprParts(expr: Expr): { readonly op: string; readonly body: unknown } {
  const node = asNode(expr);
  const ops = Object.keys(node);
  const op = ops[0];
  if (ops.length !== 1 || op === undefined) throw new UnsupportedConstruct('malformed expression');
  return { op, body: node[op] };
}

export function compileLiteral(json: unknown): Value {
  let v: Value;
  try {
    v = valueFromJson(json as Parameters<typeof valueFromJson>[0]);
  } catch (e) {
    throw new UnsupportedConstruct(`literal: ${(e as Error).message}`);
  }
  if (containsExtension(v)) throw new UnsupportedConstruct('extension literal');
  return v;
}

function containsExtension(v: Value): boolean {
  if (typeof v !== 'object' || v instanceof EntityRef) return false;
  if (v instanceof ExtensionValue) return true;
  if (isSet(v)) return v.some(containsExtension);
  return Object.values(v).some(containsExtension);
}

export function compileLike(pattern: unknown): RegExp {
  if (!Array.isArray(pattern)) throw new UnsupportedConstruct('like: malformed pattern');
  let src = '^';
  for (const el of pattern) {
    if (el === 'Wildcard') src += '[\\s\\S]*';
    else if (
      typeof el === 'object' &&
      el !== null &&
      typeof (el as { Literal?: unknown }).Literal === 'string'
    ) {
      src += (el as { Literal: string }).Literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else throw new UnsupportedConstruct('like: malformed pattern element');
  }
  // `u`: Cedar matches Unicode scalar values, so a wildcard must not split a surrogate pair
  return new RegExp(`${src}$`, 'u');
}

/** Compiles one expression. Throws {@link UnsupportedConstruct} for constructs left to cedar-wasm. */
export function compileExpr(expr: Expr): CompiledExpr {
  const { op, body } = exprParts(expr);
  switch (op) {
    case 'Value': {
      const v = compileLiteral(body);
      return () => v;
    }
    case 'Var':
      switch (body) {
        case 'principal':
          return (env) => env.principal;
        case 'action':
          return (env) => env.action;
        case 'resource':
          return (env) => env.resource;
        case 'context':
          return (env) => env.context;
        default:
          throw new UnsupportedConstruct(`variable \`${String(body)}\``);
      }
    case 'Slot':
      throw new UnsupportedConstruct('template slot');
    case '!': {
      const arg = compileExpr(asNode(body).arg as Expr);
      return (env) => !asBool('!', arg(env));
    }
    case 'neg': {
      const arg = compileExpr(asNode(body).arg as Expr);
      return (env) => negateLong(arg(env));
    }
    case '==': {
      const { left, right } = compileBinary(body);
      return (env) => valueEquals(left(env), right(env));
    }
    case '!=': {
      const { left, right } = compileBinary(body);
      return (env) => !valueEquals(left(env), right(env));
    }
    case 'in': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const a = asEntity('in', left(env));
        return entityIn(env.entities, a, right(env));
      };
    }
    case '<': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const a = asLong('<', left(env));
        return a < asLong('<', right(env));
      };
    }
    case '<=': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const a = asLong('<=', left(env));
        return a <= asLong('<=', right(env));
      };
    }
    case '>': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const a = asLong('>', left(env));
        return a > asLong('>', right(env));
      };
    }
    case '>=': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const a = asLong('>=', left(env));
        return a >= asLong('>=', right(env));
      };
    }
    case '&&': {
      const { left, right } = compileBinary(body);
      return (env) => asBool('&&', left(env)) && asBool('&&', right(env));
    }
    case '||': {
      const { left, right } = compileBinary(body);
      return (env) => asBool('||', left(env)) || asBool('||', right(env));
    }
    case '+':
    case '-':
    case '*': {
      const arithmetic: '+' | '-' | '*' = op;
      const { left, right } = compileBinary(body);
      return (env) => {
        const a = asLong(arithmetic, left(env));
        return longResult(arithmetic, a, asLong(arithmetic, right(env)));
      };
    }
    case 'contains': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const set = asSet('contains', left(env));
        return setIncludes(set, right(env));
      };
    }
    case 'containsAll': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const set = asSet('containsAll', left(env));
        return setIncludesAll(set, asSet('containsAll', right(env)));
      };
    }
    case 'containsAny': {
      const { left, right } = compileBinary(body);
      return (env) => {
        const set = asSet('containsAny', left(env));
        return setIncludesAny(set, asSet('containsAny', right(env)));
      };
    }
    case 'isEmpty': {
      const arg = compileExpr(asNode(body).arg as Expr);
      return (env) => asSet('isEmpty', arg(env)).length === 0;
    }
    case '.': {
      const n = asNode(body);
      const attr = n.attr;
      if (typeof attr !== 'string') throw new UnsupportedConstruct('malformed attribute access');
      // `principal.x`, `resource.x`, `context.x` are most accesses: one closure instead of two
      switch (asNode(n.left).Var) {
        case 'principal':
          return (env) => getAttr(env.entities, env.principal, attr);
        case 'resource':
          return (env) => getAttr(env.entities, env.resource, attr);
        case 'context':
          return (env) => getAttr(env.entities, env.context, attr);
      }
      const left = compileExpr(n.left as Expr);
      return (env) => getAttr(env.entities, left(env), attr);
    }
    case 'has': {
      const n = asNode(body);
      const left = compileExpr(n.left as Expr);
      const path = typeof n.attr === 'string' ? [n.attr] : n.attr;
      if (!Array.isArray(path) || path.length === 0 || !path.every((a) => typeof a === 'string')) {
        throw new UnsupportedConstruct('malformed has');
      }
      const attrs = path as string[];
      if (attrs.length === 1) {
        const attr = attrs[0] as string;
        return (env) => hasAttr(env.entities, left(env), attr);
      }
      return (env) => hasAttrPath(env.entities, left(env), attrs);
    }
    case 'like': {
      const n = asNode(body);
      const left = compileExpr(n.left as Expr);
      const re = compileLike(n.pattern);
      return (env) => matchLike(left(env), re);
    }
    case 'is': {
      const n = asNode(body);
      const left = compileExpr(n.left as Expr);
      const type = n.entity_type;
      if (typeof type !== 'string') throw new UnsupportedConstruct('malformed is');
      if (n.in === undefined) return (env) => asEntity('is', left(env)).type === type;
      const inExpr = compileExpr(n.in as Expr);
      return (env) => {
        const e = asEntity('is', left(env));
        if (e.type !== type) return false;
        return entityIn(env.entities, e, inExpr(env));
      };
    }
    case 'if-then-else': {
      const n = asNode(body);
      const cond = compileExpr(n.if as Expr);
      const then = compileExpr(n.then as Expr);
      const otherwise = compileExpr(n.else as Expr);
      return (env) => (asBool('if', cond(env)) ? then(env) : otherwise(env));
    }
    case 'Set': {
      if (!Array.isArray(body)) throw new UnsupportedConstruct('malformed set');
      const items = body.map((e) => compileExpr(e as Expr));
      return (env) => items.map((f) => f(env));
    }
    case 'Record': {
      const n = asNode(body);
      const entries = Object.keys(n).map((k) => [k, compileExpr(n[k] as Expr)] as const);
      return (env) => {
        const out: { [k: string]: Value } = Object.create(null);
        for (const [k, f] of entries) out[k] = f(env);
        return out;
      };
    }
    case 'getTag':
    case 'hasTag':
      throw new UnsupportedConstruct(`\`${op}\``);
    default:
      throw new UnsupportedConstruct(`extension function \`${op}\``);
  }
}

function compileBinary(body: unknown): { left: CompiledExpr; right: CompiledExpr } {
  const { left, right } = binary(body);
  return { left: compileExpr(left), right: compileExpr(right) };
}

type ScopeVar = 'principal' | 'action' | 'resource';

/** An entity of a scope constraint, written `{ __entity: … }` or bare. */
export function scopeEntity(x: unknown): EntityRef {
  const lit = compileLiteral(asNode(x).__entity !== undefined ? x : { __entity: x });
  if (!(lit instanceof EntityRef)) throw new UnsupportedConstruct('malformed scope entity');
  return lit;
}

function compileScope(v: ScopeVar, constraint: unknown): CompiledCondition | undefined {
  const c = asNode(constraint);
  const pick = (env: Env): EntityRef => env[v];
  switch (c.op) {
    case 'All':
      return undefined;
    case '==': {
      if (c.slot !== undefined) throw new UnsupportedConstruct('template slot');
      const key = scopeEntity(c.entity).key;
      return (env) => pick(env).key === key;
    }
    case 'in': {
      if (c.slot !== undefined) throw new UnsupportedConstruct('template slot');
      if (Array.isArray(c.entities)) {
        const targets = c.entities.map(scopeEntity);
        return (env) => entityIn(env.entities, pick(env), targets);
      }
      const target = scopeEntity(c.entity);
      return (env) => entityIn(env.entities, pick(env), target);
    }
    case 'is': {
      const type = c.entity_type;
      if (typeof type !== 'string') throw new UnsupportedConstruct('malformed is');
      if (c.in === undefined) return (env) => pick(env).type === type;
      const inner = asNode(c.in);
      if (inner.slot !== undefined) throw new UnsupportedConstruct('template slot');
      const target = scopeEntity(inner.entity);
      return (env) => {
        const e = pick(env);
        return e.type === type && entityIn(env.entities, e, target);
      };
    }
    default:
      throw new UnsupportedConstruct(`scope operator \`${String(c.op)}\``);
  }
}

/**
 * The policy as an ordered list of conjuncts, each compiled: the scope constraints (never an
 * error), then the `when` bodies split on top-level `&&`, then the negated `unless` bodies. The
 * policy is satisfied when every conjunct holds, evaluated left to right with short-circuit.
 */
export function policyConjuncts(policy: PolicyJson): Expr[] {
  const out: Expr[] = [];
  for (const clause of policy.conditions) {
    if (clause.kind === 'when') splitAnd(clause.body, out);
    else out.push({ '!': { arg: clause.body } });
  }
  return out;
}

function splitAnd(e: Expr, out: Expr[]): void {
  const n = e as Node;
  const and = n['&&'];
  if (and !== undefined && Object.keys(n).length === 1) {
    const { left, right } = binary(and);
    splitAnd(left, out);
    splitAnd(right, out);
  } else out.push(e);
}

export const BOOLEAN_OPERATORS = new Set([
  '!',
  '==',
  '!=',
  'in',
  '<',
  '<=',
  '>',
  '>=',
  '&&',
  '||',
  'contains',
  'containsAll',
  'containsAny',
  'isEmpty',
  'has',
  'like',
  'is',
]);

/** Compiles a whole policy to one closure, or throws {@link UnsupportedConstruct}. */
export function compilePolicy(policy: PolicyJson): CompiledCondition {
  const parts: CompiledCondition[] = [];
  for (const v of ['principal', 'action', 'resource'] as const) {
    const scope = compileScope(v, policy[v]);
    if (scope !== undefined) parts.push(scope);
  }
  for (const conjunct of policyConjuncts(policy)) {
    const f = compileExpr(conjunct);
    // these operators always yield a bool (or throw), so the check would be dead code
    const op = Object.keys(conjunct)[0] ?? '';
    parts.push(BOOLEAN_OPERATORS.has(op) ? (f as CompiledCondition) : (env) => asBool('when', f(env)));
  }
  return chain(parts);
}

function chain(parts: readonly CompiledCondition[]): CompiledCondition {
  switch (parts.length) {
    case 0:
      return () => true;
    case 1:
      return parts[0] as CompiledCondition;
    case 2: {
      const [a, b] = parts as [CompiledCondition, CompiledCondition];
      return (env) => a(env) && b(env);
    }
    case 3: {
      const [a, b, c] = parts as [CompiledCondition, CompiledCondition, CompiledCondition];
      return (env) => a(env) && b(env) && c(env);
    }
    default: {
      const [a, b, c, d] = parts as [
        CompiledCondition,
        CompiledCondition,
        CompiledCondition,
        CompiledCondition,
      ];
      const rest = chain(parts.slice(4));
      return (env) => a(env) && b(env) && c(env) && d(env) && rest(env);
    }
  }
}
