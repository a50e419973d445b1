/**
 * The policy engine: loads and validates a Cedar policy set, compiles each policy to a closure,
 * indexes them, and decides requests. cedar-wasm stays the reference: it validates, it evaluates
 * what the compiler does not model, and it answers `authorizeWithCedar` for differential tests.
 *
 * Error semantics (stricter than Cedar): Cedar skips a policy whose evaluation errors and decides
 * with the rest; here any evaluation error in any candidate policy, or a request that does not
 * conform to the schema, denies the whole request, and `errors` says why.
 * INVARIANT: A1 — default deny, forbid overrides permit, an error is a deny.
 */
import { createHash } from 'node:crypto';
import {
  type AuthorizationAnswer,
  type CedarContext,
  cedar,
  type DetailedError,
  type EntityJson,
  type EntityUidJson,
  type PolicyJson,
  type SchemaJson,
} from './cedar.js';
import { generatePolicy } from './codegen.js';
import { type CompiledCondition, compilePolicy, type Env, UnsupportedConstruct } from './compile.js';
import {
  cedarRequestFor,
  contextFor,
  type DecisionRequest,
  envFor,
  InvalidRequestError,
  type PreparedRequest,
  prepareRequest,
} from './domicile.js';
import { POLICY_ERROR_CODES, PolicyError } from './errors.js';
import { ActionBucket, extractPolicyKeys, type PolicyKeys } from './policy-index.js';
import {
  computeAncestors,
  type EntityData,
  EntityRef,
  EvaluationError,
  entitiesFromJson,
  entityRefFromJson,
  MapEntityStore,
  NeedsCedarSignal,
  type RecordValue,
  valueFromJson,
} from './values.js';

/** One policy file: its name (for error messages) and its Cedar text. */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
}

/** Options of {@link loadPolicySet}. */
export interface LoadPolicySetOptions {
  /** The Cedar schema in the human-readable (`.cedarschema`) format. */
  readonly schemaText: string;
  /** Policy files; every policy carries a unique `@id("…")` annotation. */
  readonly policies: readonly PolicySource[];
}

/** The answer to one request. */
export interface Decision {
  readonly allowed: boolean;
  /** SHA-256 (hex) of the canonical policy set: the version every decision names. */
  readonly policyHash: string;
  /** Ids of the satisfied forbids (deny) or permits (allow); empty on default deny or on error. */
  readonly determining: string[];
  /** Why the request was denied by error: ``policy `id`: …`` or ``request: …``; non-empty implies deny. */
  readonly errors: string[];
}

/** A request in Cedar's own JSON vocabulary, for callers outside the Domicile model (and tests). */
export interface CedarRequest {
  readonly principal: EntityUidJson;
  readonly action: EntityUidJson;
  readonly resource: EntityUidJson;
  readonly context: CedarContext;
  readonly entities: readonly EntityJson[];
}

/** One loaded policy, as the engine sees it. */
export interface LoadedPolicy {
  readonly id: string;
  readonly file: string;
  readonly effect: 'permit' | 'forbid';
  readonly text: string;
  readonly json: PolicyJson;
  /** Why this policy is evaluated by cedar-wasm instead of compiled code; undefined when compiled. */
  readonly fallbackReason: string | undefined;
}

interface EnginePolicy extends LoadedPolicy {
  readonly index: number;
  readonly keys: PolicyKeys;
  readonly evaluate: CompiledCondition | undefined;
}

interface ActionInfo {
  readonly bucket: ActionBucket<EnginePolicy>;
  readonly principalTypes: ReadonlySet<string>;
  readonly resourceTypes: ReadonlySet<string>;
}

/** Input to one evaluation: a compiled-path environment, and the same request for cedar-wasm. */
export interface EvaluationInput {
  readonly env: Env;
  readonly toCedar: () => CedarRequest;
}

let engineCounter = 0;

/**
 * A loaded, validated and compiled policy set. Immutable; build a new one to change policies.
 */
export class PolicyEngine {
  /** SHA-256 (hex) over the canonical JSON of the schema and the policies sorted by id. */
  readonly policyHash: string;
  readonly policies: readonly LoadedPolicy[];
  /** The schema's action entities (with their groups), shared by every request. */
  readonly actionEntities: ReadonlyMap<string, EntityData>;
  readonly actionAncestors: ReadonlyMap<string, ReadonlySet<string>>;

  private readonly actions: ReadonlyMap<string, ActionInfo>;
  private readonly cedarIds: {
    schema: string;
    all: string;
    permits: string | undefined;
    forbids: string | undefined;
  };

  /** @internal use {@link loadPolicySet} */
  constructor(args: {
    policyHash: string;
    policies: readonly EnginePolicy[];
    schemaJson: SchemaJson<string>;
    schemaText: string;
  }) {
    this.policyHash = args.policyHash;
    this.policies = args.policies;
    const schema = readSchemaActions(args.schemaJson);
    this.actionEntities = schema.entities;
    this.actionAncestors = new Map(
      [...schema.entities.keys()].map((k) => [k, computeAncestors(k, (x) => schema.entities.get(x))]),
    );
    const actions = new Map<string, ActionInfo>();
    for (const [key, applies] of schema.appliesTo) {
      const ref = schema.refs.get(key);
      if (ref === undefined) continue;
      const matching = args.policies.filter((p) => actionScopeMatches(p.json, ref, this.actionAncestors));
      actions.set(key, { bucket: new ActionBucket(matching), ...applies });
    }
    this.actions = actions;

    const tag = `domicile-${this.policyHash.slice(0, 16)}-${++engineCounter}`;
    const byEffect = (effect: 'permit' | 'forbid'): Record<string, string> | undefined => {
      const fallback = args.policies.filter((p) => p.evaluate === undefined && p.effect === effect);
      return fallback.length === 0 ? undefined : Object.fromEntries(fallback.map((p) => [p.id, p.text]));
    };
    const permits = byEffect('permit');
    const forbids = byEffect('forbid');
    this.cedarIds = {
      schema: `${tag}-schema`,
      all: `${tag}-all`,
      permits: permits === undefined ? undefined : `${tag}-fallback-permits`,
      forbids: forbids === undefined ? undefined : `${tag}-fallback-forbids`,
    };
    checkPrepared('schema', cedar.preparseSchema(this.cedarIds.schema, args.schemaText));
    const all = Object.fromEntries(args.policies.map((p) => [p.id, p.text]));
    checkPrepared('policy set', cedar.preparsePolicySet(this.cedarIds.all, { staticPolicies: all }));
    if (permits !== undefined && this.cedarIds.permits !== undefined) {
      checkPrepared(
        'fallback permits',
        cedar.preparsePolicySet(this.cedarIds.permits, { staticPolicies: permits }),
      );
    }
    if (forbids !== undefined && this.cedarIds.forbids !== undefined) {
      checkPrepared(
        'fallback forbids',
        cedar.preparsePolicySet(this.cedarIds.forbids, { staticPolicies: forbids }),
      );
    }
  }

  /**
   * Decides a Domicile request with the compiled policies.
   *
   * The request is evaluated without a grant, then with each of `context.grants` presented as
   * `context.grant`, stopping at the first allow: allowed when one presentation is allowed. An
   * error in any evaluated presentation denies the whole request.
   *
   * @example
   * engine.decide({
   *   principal: { type: 'employee', id: 'e-1', department: 'us-stewards', roles: [], country: 'US', mfa: true },
   *   action: 'read',
   *   resource: { type: 'record', id: 'r-1', jurisdiction: US, class: 'protected', subject: 's-1' },
   *   context: { now: Math.floor(Date.now() / 1000), grants: [] },
   * });
   */
  decide(request: DecisionRequest): Decision {
    return this.decideEach(request, false);
  }

  /** Decides a Domicile request with cedar-wasm (same presentations, same error semantics). */
  decideWithCedar(request: DecisionRequest): Decision {
    return this.decideEach(request, true);
  }

  private decideEach(request: DecisionRequest, withCedar: boolean): Decision {
    let prepared: PreparedRequest;
    try {
      prepared = prepareRequest(request, this.actionEntities, this.actionAncestors);
    } catch (e) {
      return this.requestError(e);
    }
    const grants = request.context.grants ?? [];
    let forbids: string[] | undefined;
    for (let i = -1; i < grants.length; i++) {
      let context: RecordValue;
      try {
        context = contextFor(request.context.now, prepared.principal, grants[i]);
      } catch (e) {
        return this.requestError(e);
      }
      // no closure or input object per presentation: the cedar-wasm request is built only if needed
      const decision = withCedar
        ? this.decisionFromCedar(this.askCedar(this.cedarIds.all, cedarRequestFor(prepared, context)))
        : this.evaluateEnv(envFor(prepared, context), prepared);
      if (decision.allowed || decision.errors.length > 0) return decision;
      for (const id of decision.determining) if (!forbids?.includes(id)) forbids = append(forbids, id);
    }
    return { allowed: false, policyHash: this.policyHash, determining: forbids ?? [], errors: [] };
  }

  /**
   * Decides a request given in Cedar's JSON vocabulary with the compiled policies.
   * The request must conform to the schema (entity attributes and context types); the compiled
   * path checks the action and the principal and resource types, not attribute types.
   */
  authorize(request: CedarRequest): Decision {
    let env: Env;
    try {
      env = this.envFromCedar(request);
    } catch (e) {
      if (e instanceof NeedsCedarSignal) return this.authorizeWithCedar(request);
      return this.requestError(e);
    }
    return this.evaluate({ env, toCedar: () => request });
  }

  /** Decides a request given in Cedar's JSON vocabulary with cedar-wasm (stateful, pre-parsed). */
  authorizeWithCedar(request: CedarRequest): Decision {
    return this.decisionFromCedar(this.askCedar(this.cedarIds.all, request));
  }

  /**
   * Evaluates one request with the compiled policies: the candidate policies of its action and
   * resource keys, every one of them (so that `determining` and `errors` are complete).
   */
  evaluate(input: EvaluationInput): Decision {
    return this.evaluateEnv(input.env, input.toCedar);
  }

  /** {@link evaluate}, with the cedar-wasm request given as a builder or as the prepared request. */
  private evaluateEnv(env: Env, source: (() => CedarRequest) | PreparedRequest): Decision {
    const info = this.actions.get(env.action.key);
    if (info === undefined)
      return this.denyRequest(`action \`${env.action.key}\` does not exist in the schema`);
    if (!info.principalTypes.has(env.principal.type) || !info.resourceTypes.has(env.resource.type)) {
      return this.denyRequest(
        `\`${env.action.key}\` does not apply to principal type \`${env.principal.type}\` and resource type \`${env.resource.type}\``,
      );
    }
    const candidates = info.bucket.candidates(env.entities.entity(env.resource)?.attrs);
    let permits: string[] | undefined;
    let forbids: string[] | undefined;
    let errors: string[] | undefined;
    let fallbackPermits = false;
    let fallbackForbids = false;
    for (const p of candidates) {
      const evaluate = p.evaluate;
      if (evaluate === undefined) {
        if (p.effect === 'permit') fallbackPermits = true;
        else fallbackForbids = true;
        continue;
      }
      try {
        if (evaluate(env)) {
          if (p.effect === 'permit') permits = append(permits, p.id);
          else forbids = append(forbids, p.id);
        }
      } catch (e) {
        if (e instanceof EvaluationError) errors = append(errors, `policy \`${p.id}\`: ${e.message}`);
        else if (e instanceof NeedsCedarSignal)
          return this.decisionFromCedar(this.askCedar(this.cedarIds.all, cedarRequestOf(env, source)));
        else throw e;
      }
    }
    if (fallbackPermits || fallbackForbids) {
      const request = cedarRequestOf(env, source);
      for (const [wanted, id] of [
        [fallbackPermits, this.cedarIds.permits],
        [fallbackForbids, this.cedarIds.forbids],
      ] as const) {
        if (!wanted || id === undefined) continue;
        const answer = this.askCedar(id, request);
        if (answer.type === 'failure') return this.decisionFromCedar(answer);
        for (const err of answer.response.diagnostics.errors) {
          errors = append(errors, `policy \`${err.policyId}\`: ${err.error.message}`);
        }
        for (const pid of answer.response.diagnostics.reason) {
          if (id === this.cedarIds.permits) permits = append(permits, pid);
          else forbids = append(forbids, pid);
        }
      }
    }
    if (errors !== undefined) return { allowed: false, policyHash: this.policyHash, determining: [], errors };
    if (forbids !== undefined)
      return { allowed: false, policyHash: this.policyHash, determining: forbids, errors: [] };
    if (permits !== undefined)
      return { allowed: true, policyHash: this.policyHash, determining: permits, errors: [] };
    return { allowed: false, policyHash: this.policyHash, determining: [], errors: [] };
  }

  /** Asks cedar-wasm with the engine's pre-parsed schema and one of its pre-parsed policy sets. */
  private askCedar(policySetId: string, request: CedarRequest): AuthorizationAnswer {
    return cedar.statefulIsAuthorized({
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context: request.context,
      entities: [...request.entities],
      preparsedSchemaName: this.cedarIds.schema,
      preparsedPolicySetId: policySetId,
    });
  }

  /** Applies the engine's error semantics to a cedar-wasm answer. */
  decisionFromCedar(answer: AuthorizationAnswer): Decision {
    if (answer.type === 'failure') {
      return this.denyRequest(answer.errors.map((e) => e.message).join('; '));
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      return {
        allowed: false,
        policyHash: this.policyHash,
        determining: [],
        errors: diagnostics.errors.map((e) => `policy \`${e.policyId}\`: ${e.error.message}`),
      };
    }
    return {
      allowed: decision === 'allow',
      policyHash: this.policyHash,
      determining: [...diagnostics.reason],
      errors: [],
    };
  }

  private envFromCedar(request: CedarRequest): Env {
    const entities = entitiesFromJson(request.entities);
    const context = valueFromJson(request.context);
    if (typeof context !== 'object' || context instanceof EntityRef || Array.isArray(context)) {
      throw new EvaluationError('context is not a record');
    }
    return {
      principal: entityRefFromJson(request.principal),
      action: entityRefFromJson(request.action),
      resource: entityRefFromJson(request.resource),
      context: context as RecordValue,
      entities: new MapEntityStore(entities, this.actionEntities, this.actionAncestors),
    };
  }

  private requestError(e: unknown): Decision {
    if (e instanceof EvaluationError || e instanceof InvalidRequestError) return this.denyRequest(e.message);
    throw e;
  }

  private denyRequest(message: string): Decision {
    return { allowed: false, policyHash: this.policyHash, determining: [], errors: [`request: ${message}`] };
  }
}

/** The cedar-wasm form of an evaluation, built only when cedar-wasm must answer. */
function cedarRequestOf(env: Env, source: (() => CedarRequest) | PreparedRequest): CedarRequest {
  return typeof source === 'function' ? source() : cedarRequestFor(source, env.context);
}

/** Appends to a list allocated only when first needed: most decisions have no errors. */
function append(list: string[] | undefined, item: string): string[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
}

function checkPrepared(
  what: string,
  answer: { type: 'success' } | { type: 'failure'; errors: DetailedError[] },
): void {
  if (answer.type === 'failure') {
    throw new PolicyError(
      POLICY_ERROR_CODES.cedar,
      `cedar-wasm: preparing ${what}: ${formatCedarErrors(answer.errors)}`,
    );
  }
}

function formatCedarErrors(errors: readonly DetailedError[]): string {
  return errors.map((e) => (e.help ? `${e.message} (${e.help})` : e.message)).join('; ');
}

/** Whether a policy's action scope admits `action`, using the schema's action groups. */
function actionScopeMatches(
  policy: PolicyJson,
  action: EntityRef,
  ancestors: ReadonlyMap<string, ReadonlySet<string>>,
): boolean {
  const scope = policy.action;
  const within = (uid: EntityUidJson): boolean => {
    const key = entityRefFromJson(uid).key;
    return key === action.key || (ancestors.get(action.key)?.has(key) ?? false);
  };
  switch (scope.op) {
    case 'All':
      return true;
    case '==':
      return 'entity' in scope && entityRefFromJson(scope.entity).key === action.key;
    case 'in':
      return 'entities' in scope ? scope.entities.some(within) : within(scope.entity);
  }
}

interface SchemaActions {
  readonly refs: ReadonlyMap<string, EntityRef>;
  readonly entities: ReadonlyMap<string, EntityData>;
  readonly appliesTo: ReadonlyMap<
    string,
    { principalTypes: ReadonlySet<string>; resourceTypes: ReadonlySet<string> }
  >;
}

/** Reads the action entities, their groups and their `appliesTo` from the schema's JSON form. */
function readSchemaActions(schema: SchemaJson<string>): SchemaActions {
  const refs = new Map<string, EntityRef>();
  const entities = new Map<string, EntityData>();
  const appliesTo = new Map<
    string,
    { principalTypes: ReadonlySet<string>; resourceTypes: ReadonlySet<string> }
  >();
  const qualify = (ns: string, name: string): string => {
    if (name.includes('::') || ns === '') return name;
    return Object.hasOwn(schema[ns]?.entityTypes ?? {}, name) ? `${ns}::${name}` : name;
  };
  for (const [ns, def] of Object.entries(schema)) {
    const actionType = ns === '' ? 'Action' : `${ns}::Action`;
    for (const [id, action] of Object.entries(def.actions)) {
      const ref = new EntityRef(actionType, id);
      refs.set(ref.key, ref);
      const parents = (action.memberOf ?? []).map((m) => new EntityRef(m.type ?? actionType, m.id));
      entities.set(ref.key, { attrs: Object.create(null) as RecordValue, parents });
      appliesTo.set(ref.key, {
        principalTypes: new Set((action.appliesTo?.principalTypes ?? []).map((t) => qualify(ns, t))),
        resourceTypes: new Set((action.appliesTo?.resourceTypes ?? []).map((t) => qualify(ns, t))),
      });
    }
  }
  return { refs, entities, appliesTo };
}

/**
 * The policy as one generated function (see `codegen.ts`), or its closures where the runtime
 * forbids code generation from strings (`--disallow-code-generation-from-strings`).
 */
function generatedOr(policy: PolicyJson, closures: CompiledCondition): CompiledCondition {
  try {
    return generatePolicy(policy);
  } catch (e) {
    if (e instanceof EvalError) return closures;
    throw e;
  }
}

/** JSON with object keys sorted at every level, so that equal values hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Parses, validates (strict mode, against the schema) and compiles a policy set.
 *
 * Throws {@link PolicyError} `DOMICILE_ERR_POLICY_INVALID` when the schema or a policy does not
 * parse or validate (the message names the file and policy id and carries Cedar's message), and
 * `DOMICILE_ERR_POLICY_DUPLICATE_ID` when two policies share an id.
 *
 * @example
 * const engine = loadPolicySet({ schemaText, policies: [{ file: 'protected.cedar', text }] });
 * const { allowed, policyHash } = engine.decide(request);
 */
export function loadPolicySet(options: LoadPolicySetOptions): PolicyEngine {
  const schemaAnswer = cedar.schemaToJson(options.schemaText);
  if (schemaAnswer.type === 'failure') {
    throw new PolicyError(POLICY_ERROR_CODES.invalid, `schema: ${formatCedarErrors(schemaAnswer.errors)}`);
  }
  const schemaJson = schemaAnswer.json;

  const parsed: { id: string; file: string; text: string; json: PolicyJson }[] = [];
  const files = new Map<string, string>();
  for (const source of options.policies) {
    const parts = cedar.policySetTextToParts(source.text);
    if (parts.type === 'failure') {
      throw new PolicyError(
        POLICY_ERROR_CODES.invalid,
        `file \`${source.file}\`: ${formatCedarErrors(parts.errors)}`,
      );
    }
    if (parts.policy_templates.length > 0) {
      throw new PolicyError(
        POLICY_ERROR_CODES.invalid,
        `file \`${source.file}\`: templates are not supported`,
      );
    }
    for (const text of parts.policies) {
      const answer = cedar.policyToJson(text);
      if (answer.type === 'failure') {
        throw new PolicyError(
          POLICY_ERROR_CODES.invalid,
          `file \`${source.file}\`: ${formatCedarErrors(answer.errors)}`,
        );
      }
      const id = answer.json.annotations?.id;
      if (id === undefined || id === '') {
        throw new PolicyError(
          POLICY_ERROR_CODES.invalid,
          `file \`${source.file}\`: policy without an \`@id\` annotation: decisions name policies by id`,
        );
      }
      const previous = files.get(id);
      if (previous !== undefined) {
        throw new PolicyError(
          POLICY_ERROR_CODES.duplicateId,
          `file \`${source.file}\`: policy \`${id}\`: id already used in \`${previous}\``,
        );
      }
      files.set(id, source.file);
      parsed.push({ id, file: source.file, text, json: answer.json });
    }
  }

  const validation = cedar.validate({
    schema: options.schemaText,
    policies: { staticPolicies: Object.fromEntries(parsed.map((p) => [p.id, p.text])) },
    validationSettings: { mode: 'strict' },
  });
  if (validation.type === 'failure') {
    throw new PolicyError(POLICY_ERROR_CODES.invalid, `validation: ${formatCedarErrors(validation.errors)}`);
  }
  if (validation.validationErrors.length > 0) {
    const messages = validation.validationErrors.map(
      (e) =>
        `file \`${files.get(e.policyId) ?? '?'}\`: policy \`${e.policyId}\`: ${formatCedarErrors([e.error])}`,
    );
    throw new PolicyError(POLICY_ERROR_CODES.invalid, messages.join('; '));
  }

  const policyHash = createHash('sha256')
    .update(
      canonicalJson({
        schema: schemaJson,
        policies: [...parsed]
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .map((p) => [p.id, p.json]),
      }),
    )
    .digest('hex');

  const policies: EnginePolicy[] = parsed.map((p, index) => {
    let evaluate: CompiledCondition | undefined;
    let fallbackReason: string | undefined;
    try {
      evaluate = compilePolicy(p.json);
      evaluate = generatedOr(p.json, evaluate);
    } catch (e) {
      if (!(e instanceof UnsupportedConstruct)) throw e;
      fallbackReason = e.message;
    }
    return {
      ...p,
      index,
      effect: p.json.effect,
      keys: extractPolicyKeys(p.json),
      evaluate,
      fallbackReason,
    };
  });

  return new PolicyEngine({ policyHash, policies, schemaJson, schemaText: options.schemaText });
}
