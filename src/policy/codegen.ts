/**
 * Generates one JavaScript function per policy from its JSON form (EST).
 *
 * Why: closures built by {@link compileExpr} share their code (and V8's type feedback) across every
 * policy of the set, so with hundreds of policies every call site inside them goes megamorphic. A
 * function generated per policy has its own feedback, and the whole condition is one function body
 * instead of a tree of closure calls.
 *
 * Safety: the generated source contains only fixed text written here, temporaries and constant
 * names of the form `t<n>` / `k<n>`, and the policy's ordinal. Every value taken from the policy
 * (literals, attribute names, entity types, patterns) is passed in as a bound constant, never
 * written into the source.
 *
 * Semantics: the generated code mirrors {@link compileExpr} operator by operator and calls the same
 * helpers, so evaluation order, short-circuiting and errors are the same; JavaScript evaluates
 * operands and call arguments left to right, as Cedar does. The policy must already have been
 * accepted by {@link compilePolicy} (which throws {@link UnsupportedConstruct} for what is left to
 * cedar-wasm); anything unexpected here throws {@link UnsupportedConstruct} too.
 */
import type { Expr, PolicyJson } from './cedar.js';
import {
  asBool,
  asEntity,
  asLong,
  asNode,
  asSet,
  BOOLEAN_OPERATORS,
  type CompiledCondition,
  compileLike,
  compileLiteral,
  entityIn,
  exprParts,
  getAttr,
  hasAttr,
  hasAttrPath,
  longResult,
  matchLike,
  type Node,
  negateLong,
  policyConjuncts,
  scopeEntity,
  setIncludesAny,
  UnsupportedConstruct,
} from './compile.js';
import { EntityRef, sameEntity, setIncludes, setIncludesAll, type Value, valueEquals } from './values.js';

function record(keys: readonly string[], values: readonly Value[]): Value {
  const out: { [k: string]: Value } = Object.create(null);
  for (let i = 0; i < keys.length; i++) out[keys[i] as string] = values[i] as Value;
  return out;
}

/** The helpers generated code calls, bound once per generated function. */
const HELPERS = {
  asBool,
  asEntity,
  asLong,
  asSet,
  containsAny: setIncludesAny,
  EntityRef,
  entityIn,
  getAttr,
  hasAttr,
  hasOwn: Object.hasOwn,
  hasPath: hasAttrPath,
  like: matchLike,
  longResult,
  neg: negateLong,
  record,
  sameEntity,
  setIncludes,
  setIncludesAll,
  valueEquals,
};
const HELPER_NAMES = Object.keys(HELPERS).join(', ');

/** Operator names as JavaScript string literals: only the fixed vocabulary below ever gets here. */
const OP_TEXT: { readonly [op: string]: string } = Object.fromEntries(
  [
    '!',
    '-',
    '<',
    '<=',
    '>',
    '>=',
    '&&',
    '||',
    '+',
    '*',
    'in',
    'is',
    'if',
    'when',
    'contains',
    'containsAll',
    'containsAny',
    'isEmpty',
  ].map((op) => [op, JSON.stringify(op)]),
);

function opText(op: string): string {
  const text = OP_TEXT[op];
  if (text === undefined) throw new UnsupportedConstruct(`operator \`${op}\``);
  return text;
}

const COMPARISONS: { readonly [op: string]: string } = { '<': '<', '<=': '<=', '>': '>', '>=': '>=' };
const ARITHMETIC = new Set(['+', '-', '*']);
const VARS: { readonly [v: string]: string } = {
  principal: 'env.principal',
  action: 'env.action',
  resource: 'env.resource',
  context: 'env.context',
};

class Generator {
  readonly constants: unknown[] = [];
  /** The constants that shape the code's behaviour (attribute names, types), not data compared. */
  readonly structural: [number, unknown][] = [];
  temps = 0;

  constant(v: unknown, structural = false): string {
    const i = this.constants.length;
    this.constants.push(v);
    if (structural) this.structural.push([i, v]);
    return `k${i}`;
  }

  temp(): string {
    return `t${this.temps++}`;
  }

  binary(body: unknown): { left: string; right: string } {
    const n = asNode(body);
    return { left: this.expr(n.left as Expr), right: this.expr(n.right as Expr) };
  }

  /** A JavaScript expression computing `expr`'s value, or throwing as Cedar would error. */
  expr(expr: Expr): string {
    const { op, body } = exprParts(expr);
    switch (op) {
      case 'Value':
        return this.constant(compileLiteral(body));
      case 'Var': {
        const v = typeof body === 'string' ? VARS[body] : undefined;
        if (v === undefined) throw new UnsupportedConstruct(`variable \`${String(body)}\``);
        return v;
      }
      case '!':
        return `!asBool(${opText('!')}, ${this.expr(asNode(body).arg as Expr)})`;
      case 'neg':
        return `neg(${this.expr(asNode(body).arg as Expr)})`;
      case '==':
      case '!=': {
        const n = asNode(body);
        const eq = this.equals(n.left as Expr, n.right as Expr);
        return op === '==' ? eq : `!${eq}`;
      }
      case 'in': {
        const { left, right } = this.binary(body);
        return `entityIn(env.entities, asEntity(${opText('in')}, ${left}), ${right})`;
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const { left, right } = this.binary(body);
        const o = opText(op);
        return `(asLong(${o}, ${left}) ${COMPARISONS[op]} asLong(${o}, ${right}))`;
      }
      case '&&':
      case '||': {
        const { left, right } = this.binary(body);
        const o = opText(op);
        return `(asBool(${o}, ${left}) ${op === '&&' ? '&&' : '||'} asBool(${o}, ${right}))`;
      }
      case '+':
      case '-':
      case '*': {
        if (!ARITHMETIC.has(op)) throw new UnsupportedConstruct(op);
        const { left, right } = this.binary(body);
        const o = opText(op);
        return `longResult(${o}, asLong(${o}, ${left}), asLong(${o}, ${right}))`;
      }
      case 'contains': {
        const { left, right } = this.binary(body);
        return `setIncludes(asSet(${opText('contains')}, ${left}), ${right})`;
      }
      case 'containsAll':
      case 'containsAny': {
        const { left, right } = this.binary(body);
        const o = opText(op);
        const f = op === 'containsAll' ? 'setIncludesAll' : 'containsAny';
        return `${f}(asSet(${o}, ${left}), asSet(${o}, ${right}))`;
      }
      case 'isEmpty':
        return `(asSet(${opText('isEmpty')}, ${this.expr(asNode(body).arg as Expr)}).length === 0)`;
      case '.': {
        const n = asNode(body);
        if (typeof n.attr !== 'string') throw new UnsupportedConstruct('malformed attribute access');
        return this.attribute(n.left as Expr, this.constant(n.attr, true));
      }
      case 'has': {
        const n = asNode(body);
        const left = this.expr(n.left as Expr);
        const path = typeof n.attr === 'string' ? [n.attr] : n.attr;
        if (!Array.isArray(path) || path.length === 0 || !path.every((a) => typeof a === 'string')) {
          throw new UnsupportedConstruct('malformed has');
        }
        if (path.length === 1) return `hasAttr(env.entities, ${left}, ${this.constant(path[0], true)})`;
        return `hasPath(env.entities, ${left}, ${this.constant([...path], true)})`;
      }
      case 'like': {
        const n = asNode(body);
        const left = this.expr(n.left as Expr);
        return `like(${left}, ${this.constant(compileLike(n.pattern))})`;
      }
      case 'is': {
        const n = asNode(body);
        const left = this.expr(n.left as Expr);
        if (typeof n.entity_type !== 'string') throw new UnsupportedConstruct('malformed is');
        const type = this.constant(n.entity_type, true);
        if (n.in === undefined) return `(asEntity(${opText('is')}, ${left}).type === ${type})`;
        const t = this.temp();
        const inner = this.expr(n.in as Expr);
        return `((${t} = asEntity(${opText('is')}, ${left})).type === ${type} && entityIn(env.entities, ${t}, ${inner}))`;
      }
      case 'if-then-else': {
        const n = asNode(body);
        const cond = this.expr(n.if as Expr);
        const then = this.expr(n.then as Expr);
        const otherwise = this.expr(n.else as Expr);
        return `(asBool(${opText('if')}, ${cond}) ? ${then} : ${otherwise})`;
      }
      case 'Set': {
        if (!Array.isArray(body)) throw new UnsupportedConstruct('malformed set');
        return `[${body.map((e) => this.expr(e as Expr)).join(', ')}]`;
      }
      case 'Record': {
        const n = asNode(body);
        const keys = Object.keys(n);
        const values = keys.map((k) => this.expr(n[k] as Expr));
        return `record(${this.constant(keys, true)}, [${values.join(', ')}])`;
      }
      default:
        throw new UnsupportedConstruct(`\`${op}\``);
    }
  }

  /** Cedar `==`, never an error; against a primitive literal it is JavaScript's `===`. */
  equals(leftExpr: Expr, rightExpr: Expr): string {
    const left = this.expr(leftExpr);
    const right = this.expr(rightExpr);
    if (primitiveLiteral(rightExpr) || primitiveLiteral(leftExpr)) return `(${left} === ${right})`;
    return `valueEquals(${left}, ${right})`;
  }

  /**
   * `left.attr`: the entity case (nearly every access) is inline, so that its property loads get
   * this policy's own type feedback; every other case, and every error, goes to {@link getAttr}.
   */
  attribute(leftExpr: Expr, attr: string): string {
    const left = this.expr(leftExpr);
    if (left === VARS.context) {
      return `(hasOwn(env.context, ${attr}) ? env.context[${attr}] : getAttr(env.entities, env.context, ${attr}))`;
    }
    const d = this.temp();
    if (left === VARS.principal || left === VARS.resource || left === VARS.action) {
      return `((${d} = env.entities.entity(${left})) !== undefined && hasOwn(${d}.attrs, ${attr}) ? ${d}.attrs[${attr}] : getAttr(env.entities, ${left}, ${attr}))`;
    }
    const v = this.temp();
    return `((${v} = ${left}) instanceof EntityRef && (${d} = env.entities.entity(${v})) !== undefined && hasOwn(${d}.attrs, ${attr}) ? ${d}.attrs[${attr}] : getAttr(env.entities, ${v}, ${attr}))`;
  }

  scope(v: 'principal' | 'action' | 'resource', constraint: unknown): string | undefined {
    const c = asNode(constraint);
    const pick = VARS[v];
    switch (c.op) {
      case 'All':
        return undefined;
      case '==':
        if (c.slot !== undefined) throw new UnsupportedConstruct('template slot');
        return `sameEntity(${pick}, ${this.constant(scopeEntity(c.entity))})`;
      case 'in': {
        if (c.slot !== undefined) throw new UnsupportedConstruct('template slot');
        const target = Array.isArray(c.entities) ? c.entities.map(scopeEntity) : scopeEntity(c.entity);
        return `entityIn(env.entities, ${pick}, ${this.constant(target)})`;
      }
      case 'is': {
        if (typeof c.entity_type !== 'string') throw new UnsupportedConstruct('malformed is');
        const type = `${pick}.type === ${this.constant(c.entity_type, true)}`;
        if (c.in === undefined) return type;
        const inner = asNode(c.in);
        if (inner.slot !== undefined) throw new UnsupportedConstruct('template slot');
        return `${type} && entityIn(env.entities, ${pick}, ${this.constant(scopeEntity(inner.entity))})`;
      }
      default:
        throw new UnsupportedConstruct(`scope operator \`${String(c.op)}\``);
    }
  }
}

function primitiveLiteral(e: Expr): boolean {
  const n = e as Node;
  if (!('Value' in n)) return false;
  const v = n.Value;
  return (
    typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v))
  );
}

type Factory = (helpers: typeof HELPERS, constants: readonly unknown[]) => CompiledCondition;

/**
 * Factories by shape: the generated source plus its structural constants. Policies of one shape
 * (the same code, comparing different literals) share one factory, hence one function's type
 * feedback and optimized code: per-policy functions would each need their own warm-up, and most
 * policies of a large set run too rarely to ever be optimized. Bounded: cleared when full.
 */
const factories = new Map<string, Factory>();
const MAX_FACTORIES = 10_000;
let shapes = 0;

/**
 * Generates the policy's condition as a function. Throws {@link UnsupportedConstruct} for what it
 * does not model, and `EvalError` where the runtime forbids code generation from strings.
 */
export function generatePolicy(policy: PolicyJson): CompiledCondition {
  const g = new Generator();
  const lines: string[] = [];
  for (const v of ['principal', 'action', 'resource'] as const) {
    const scope = g.scope(v, policy[v]);
    if (scope !== undefined) lines.push(`if (!(${scope})) return false;`);
  }
  for (const conjunct of policyConjuncts(policy)) {
    const code = g.expr(conjunct);
    const op = Object.keys(conjunct)[0] ?? '';
    const test = BOOLEAN_OPERATORS.has(op) ? code : `asBool(${opText('when')}, ${code})`;
    lines.push(`if (!${test}) return false;`);
  }
  const temps = Array.from({ length: g.temps }, (_, i) => `t${i}`);
  const constants = g.constants.map((_, i) => `k${i} = K[${i}]`);
  const body = [
    `const { ${HELPER_NAMES} } = H;`,
    ...(constants.length > 0 ? [`const ${constants.join(', ')};`] : []),
    'return function policy(env) {',
    ...(temps.length > 0 ? [`let ${temps.join(', ')};`] : []),
    ...lines,
    'return true;',
    '};',
  ].join('\n');
  const key = `${body}\u0000${JSON.stringify(g.structural)}`;
  let factory = factories.get(key);
  if (factory === undefined) {
    if (factories.size >= MAX_FACTORIES) factories.clear();
    // the shape number makes sources of different shapes distinct: V8 shares type feedback between
    // functions compiled from the same source text, which is what shapes exist to separate
    factory = new Function('H', 'K', `"use strict"; // shape ${++shapes}\n${body}`) as Factory;
    factories.set(key, factory);
  }
  return factory(HELPERS, g.constants);
}
