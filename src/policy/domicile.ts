/**
 * The Domicile request model: typed requests callers build, and their translation to the Cedar
 * entities and context of `policies/schema.cedarschema` (namespace `Domicile`).
 *
 * Entity and context design:
 * - the principal is a `Domicile::Principal` entity (or `Domicile::Anonymous`);
 * - the resource is a `Domicile::Record`, `Domicile::AccessRequest` or `Domicile::PolicyBundle`
 *   whose `jurisdiction` attribute refers to a `Domicile::Jurisdiction` entity carrying the
 *   jurisdiction's facts (countries, steward, restricted countries). Callers pass the facts object
 *   they hold from configuration; nothing per jurisdiction is written into policies;
 * - the context is `{ now, grant? }`. Cedar cannot quantify over a set, so a principal's grants are
 *   not one context attribute: the engine evaluates the request without a grant, then once per
 *   active grant presented as `context.grant`, and allows when one evaluation allows.
 */
import type { CedarContext, CedarValueJson, EntityJson } from './cedar.js';
import type { Env } from './compile.js';
import type { CedarRequest } from './engine.js';
import {
  EMPTY_ANCESTORS,
  type EntityData,
  EntityRef,
  type EntityStore,
  type RecordValue,
  sameEntity,
  type Value,
} from './values.js';

export const DOMICILE_NAMESPACE = 'Domicile';

/** The Cedar entity types of the Domicile schema. */
export const DOMICILE_TYPES = {
  principal: 'Domicile::Principal',
  anonymous: 'Domicile::Anonymous',
  jurisdiction: 'Domicile::Jurisdiction',
  record: 'Domicile::Record',
  accessRequest: 'Domicile::AccessRequest',
  policyBundle: 'Domicile::PolicyBundle',
  action: 'Domicile::Action',
} as const;

export type DataClass = 'protected' | 'interoperable' | 'deidentified';
export type RecordAction = 'read' | 'write' | 'list' | 'delete';
export type DomicileAction = RecordAction | 'approveGrant' | 'approvePolicy';

export const RECORD_ACTIONS: readonly RecordAction[] = ['read', 'write', 'list', 'delete'];

/** A jurisdiction's facts, as configured. Treat as immutable once built. */
export interface JurisdictionFacts {
  readonly id: string;
  readonly countries: readonly string[];
  /** The steward department. */
  readonly steward: string;
  /** Countries of concern: no access to protected data from there. */
  readonly restrictedCountries: readonly string[];
}

/** An authenticated caller. */
export interface AuthenticatedPrincipal {
  readonly type: 'employee' | 'service';
  readonly id: string;
  readonly department: string;
  readonly roles: readonly string[];
  /** Where the caller is located now (ISO 3166-1 alpha-2). */
  readonly country: string;
  readonly mfa: boolean;
  /** A service's home jurisdiction id. */
  readonly jurisdiction?: string;
}

/** A caller that did not authenticate. */
export interface AnonymousPrincipal {
  readonly type: 'anonymous';
}

export type PrincipalFacts = AuthenticatedPrincipal | AnonymousPrincipal;

export interface RecordResource {
  readonly type: 'record';
  readonly id: string;
  readonly jurisdiction: JurisdictionFacts;
  readonly class: DataClass;
  readonly subject: string;
}

export interface AccessRequestResource {
  readonly type: 'accessRequest';
  readonly id: string;
  readonly jurisdiction: JurisdictionFacts;
  /** Principal id of the requester. */
  readonly requester: string;
}

export interface PolicyBundleResource {
  readonly type: 'policyBundle';
  /** The policy-set hash under approval. */
  readonly id: string;
  readonly jurisdiction: JurisdictionFacts;
}

/** An approved grant (lockbox): allows exactly what it names, to its grantee, until `expiresAt`. */
export interface Grant {
  readonly id: string;
  /** Principal id of the grantee. */
  readonly grantee: string;
  /** Jurisdiction id. */
  readonly jurisdiction: string;
  readonly class: DataClass;
  readonly actions: readonly RecordAction[];
  /** Subject ids, or `'all'` for every subject of the jurisdiction and class. */
  readonly subjects: readonly string[] | 'all';
  /** Epoch seconds, exclusive. */
  readonly expiresAt: number;
}

export interface DecisionContext {
  /** Epoch seconds (integer). */
  readonly now: number;
  /** The principal's active grants; each is presented to the policies in turn. */
  readonly grants?: readonly Grant[];
}

/** A typed access request; `action` and `resource` go together as the schema says. */
export type DecisionRequest =
  | {
      readonly principal: PrincipalFacts;
      readonly action: RecordAction;
      readonly resource: RecordResource;
      readonly context: DecisionContext;
    }
  | {
      readonly principal: PrincipalFacts;
      readonly action: 'approveGrant';
      readonly resource: AccessRequestResource;
      readonly context: DecisionContext;
    }
  | {
      readonly principal: PrincipalFacts;
      readonly action: 'approvePolicy';
      readonly resource: PolicyBundleResource;
      readonly context: DecisionContext;
    };

const ANONYMOUS_ID = 'anonymous';

const actionRefs = new Map<string, EntityRef>();
function actionRef(name: string): EntityRef {
  let ref = actionRefs.get(name);
  if (ref === undefined) {
    ref = new EntityRef(DOMICILE_TYPES.action, name);
    // action names come from the schema's small vocabulary; do not let arbitrary input grow the cache
    if (actionRefs.size < 64) actionRefs.set(name, ref);
  }
  return ref;
}

/** A request with its entities converted once; contexts vary per presented grant. */
export interface PreparedRequest {
  readonly principal: EntityRef;
  readonly action: EntityRef;
  readonly resource: EntityRef;
  readonly entities: EntityStore;
  readonly entityRefs: readonly EntityRef[];
  readonly entityData: readonly EntityData[];
}

/** Thrown for a typed request that cannot be a valid Cedar request (e.g. a non-integer time). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

function checkLong(what: string, n: number): void {
  if (!Number.isSafeInteger(n)) throw new InvalidRequestError(`\`${what}\` must be an integer, got \`${n}\``);
}

/** Entities of one request: a handful, searched linearly, plus the schema's actions. */
class RequestEntities implements EntityStore {
  constructor(
    private readonly refs: readonly EntityRef[],
    private readonly data: readonly EntityData[],
    private readonly actions: ReadonlyMap<string, EntityData>,
    private readonly actionAncestors: ReadonlyMap<string, ReadonlySet<string>>,
  ) {}

  get(key: string): EntityData | undefined {
    for (let i = 0; i < this.refs.length; i++) if (this.refs[i]?.key === key) return this.data[i];
    return this.actions.get(key);
  }

  entity(ref: EntityRef): EntityData | undefined {
    // the request's principal, resource and jurisdiction are found by identity, without a key
    for (let i = 0; i < this.refs.length; i++) if (this.refs[i] === ref) return this.data[i];
    for (let i = 0; i < this.refs.length; i++) {
      const r = this.refs[i];
      if (r !== undefined && sameEntity(r, ref)) return this.data[i];
    }
    return this.actions.get(ref.key);
  }

  ancestors(key: string): ReadonlySet<string> {
    // Domicile's entities have no parents; only actions belong to groups
    return this.actionAncestors.get(key) ?? EMPTY_ANCESTORS;
  }
}

// Jurisdiction facts come from configuration and are reused by every request: convert each once.
const jurisdictionEntities = new WeakMap<JurisdictionFacts, { ref: EntityRef; data: EntityData }>();

function jurisdictionEntity(j: JurisdictionFacts): { ref: EntityRef; data: EntityData } {
  let found = jurisdictionEntities.get(j);
  const a = found?.data.attrs;
  if (
    found === undefined ||
    found.ref.id !== j.id ||
    a?.steward !== j.steward ||
    a.countries !== j.countries ||
    a.restrictedCountries !== j.restrictedCountries
  ) {
    found = convertJurisdiction(j);
    jurisdictionEntities.set(j, found);
  }
  return found;
}

function convertJurisdiction(j: JurisdictionFacts): { ref: EntityRef; data: EntityData } {
  return {
    ref: new EntityRef(DOMICILE_TYPES.jurisdiction, j.id),
    data: {
      attrs: { countries: j.countries, steward: j.steward, restrictedCountries: j.restrictedCountries },
      parents: [],
    },
  };
}

/** Converts the request's principal, action and resource to entities. */
export function prepareRequest(
  request: DecisionRequest,
  actions: ReadonlyMap<string, EntityData>,
  actionAncestors: ReadonlyMap<string, ReadonlySet<string>>,
): PreparedRequest {
  checkLong('context.now', request.context.now);
  const refs: EntityRef[] = [];
  const data: EntityData[] = [];
  const p = request.principal;
  let principal: EntityRef;
  if (p.type === 'anonymous') {
    principal = new EntityRef(DOMICILE_TYPES.anonymous, ANONYMOUS_ID);
    refs.push(principal);
    data.push({ attrs: {}, parents: [] });
  } else {
    principal = new EntityRef(DOMICILE_TYPES.principal, p.id);
    const attrs: { [k: string]: Value } = {
      id: p.id,
      type: p.type,
      department: p.department,
      roles: p.roles,
      country: p.country,
      mfa: p.mfa,
    };
    if (p.jurisdiction !== undefined)
      attrs.jurisdiction = new EntityRef(DOMICILE_TYPES.jurisdiction, p.jurisdiction);
    refs.push(principal);
    data.push({ attrs, parents: [] });
  }
  const r = request.resource;
  const j = jurisdictionEntity(r.jurisdiction);
  let resource: EntityRef;
  let resourceAttrs: RecordValue;
  switch (r.type) {
    case 'record':
      resource = new EntityRef(DOMICILE_TYPES.record, r.id);
      resourceAttrs = { jurisdiction: j.ref, class: r.class, subject: r.subject };
      break;
    case 'accessRequest':
      resource = new EntityRef(DOMICILE_TYPES.accessRequest, r.id);
      resourceAttrs = {
        jurisdiction: j.ref,
        requester: new EntityRef(DOMICILE_TYPES.principal, r.requester),
      };
      break;
    case 'policyBundle':
      resource = new EntityRef(DOMICILE_TYPES.policyBundle, r.id);
      resourceAttrs = { jurisdiction: j.ref };
      break;
  }
  refs.push(resource, j.ref);
  data.push({ attrs: resourceAttrs, parents: [] }, j.data);
  return {
    principal,
    action: actionRef(request.action),
    resource,
    entities: new RequestEntities(refs, data, actions, actionAncestors),
    entityRefs: refs,
    entityData: data,
  };
}

/** The Cedar context presenting `grant` (or none). */
export function contextFor(now: number, principal: EntityRef, grant: Grant | undefined): RecordValue {
  if (grant === undefined) return { now };
  checkLong('grant.expiresAt', grant.expiresAt);
  const all = grant.subjects === 'all';
  return {
    now,
    grant: {
      id: grant.id,
      grantee:
        grant.grantee === principal.id ? principal : new EntityRef(DOMICILE_TYPES.principal, grant.grantee),
      jurisdiction: new EntityRef(DOMICILE_TYPES.jurisdiction, grant.jurisdiction),
      class: grant.class,
      actions: grant.actions.map(actionRef),
      subjects: all ? [] : (grant.subjects as readonly string[]),
      allSubjects: all,
      expiresAt: grant.expiresAt,
    },
  };
}

/** The compiled-path environment for one presentation. */
export function envFor(prepared: PreparedRequest, context: RecordValue): Env {
  return {
    principal: prepared.principal,
    action: prepared.action,
    resource: prepared.resource,
    context,
    entities: prepared.entities,
  };
}

function toJson(v: Value): CedarValueJson {
  // typed requests carry safe integers only (checked in prepareRequest and contextFor)
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'object') return v;
  if (v instanceof EntityRef) return { __entity: { type: v.type, id: v.id } };
  if (Array.isArray(v)) return v.map(toJson);
  const out: { [k: string]: CedarValueJson } = {};
  for (const [k, x] of Object.entries(v as RecordValue)) out[k] = toJson(x);
  return out;
}

/** The same presentation as a cedar-wasm request. */
export function cedarRequestFor(prepared: PreparedRequest, context: RecordValue): CedarRequest {
  const entities: EntityJson[] = prepared.entityRefs.map((ref, i) => ({
    uid: { type: ref.type, id: ref.id },
    attrs: toJson(prepared.entityData[i]?.attrs ?? {}) as Record<string, CedarValueJson>,
    parents: [],
  }));
  return {
    principal: { type: prepared.principal.type, id: prepared.principal.id },
    action: { type: prepared.action.type, id: prepared.action.id },
    resource: { type: prepared.resource.type, id: prepared.resource.id },
    context: toJson(context) as CedarContext,
    entities,
  };
}
