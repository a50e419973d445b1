/**
 * The default authorizer: the vault's questions answered by the active Cedar policy set
 * (`src/policy`), with the jurisdiction's facts from configuration and the principal's active
 * lockbox grants.
 *
 * Error rule, stricter than Cedar: Cedar skips a policy whose condition errors and decides with
 * the others; here any evaluation error is a deny (a `forbid` that errors must never turn into an
 * allow by being skipped). The errors go to the audit entry, not to the client.
 */
import type { Config, Jurisdiction } from '../../domain/config.js';
import type { ClassId } from '../../domain/ids.js';
import type {
  DataClass,
  DecisionRequest,
  Grant,
  JurisdictionFacts,
  PolicyEngine,
  PrincipalFacts,
  RecordAction,
} from '../../policy/index.js';
import type { AccessDecision, AccessRequest, Authorizer, VaultAction } from './authorizer.js';
import type { Principal } from './principal.js';

/** Where the engine in force comes from; policy activation swaps it. */
export interface ActivePolicySource {
  current(): PolicyEngine;
}

/** A principal's grants that have not ended (the lockbox). */
export interface GrantSource {
  activeGrants(principalId: string, nowMs: number): Promise<readonly Grant[]>;
}

/**
 * How the vault's actions map to the schema's record actions:
 * - `register` → `write`: registering a subject creates its home in the jurisdiction's directory,
 *   a change to the jurisdiction's personal data (only who may write protected data may do it);
 * - `erase` → `delete`: erasure deletes every record of the subject, protected ones included;
 * - `read-access-log` → `read`: a subject's access log is about its personal data.
 * Each of these is asked about class `protected` (the strictest), whatever classes the subject has.
 */
export const VAULT_ACTION_MAP: Readonly<Record<VaultAction, RecordAction>> = {
  register: 'write',
  read: 'read',
  write: 'write',
  list: 'list',
  delete: 'delete',
  erase: 'delete',
  'read-access-log': 'read',
};

const CEDAR_CLASSES: ReadonlySet<string> = new Set(['protected', 'interoperable', 'deidentified']);

/**
 * The Cedar class of a configured class: the three named classes are themselves; another class
 * takes the class of its residency rule (`global` → interoperable, `export-after-check` →
 * deidentified, `jurisdiction` → protected). No class (a listing, an erasure, a record that does
 * not exist) is `protected`: a question that could reveal personal data is asked as one.
 */
export function cedarClassOf(config: Config, classId: ClassId | string | undefined): DataClass {
  if (classId === undefined) return 'protected';
  if (CEDAR_CLASSES.has(classId)) return classId as DataClass;
  const residency = config.classes.get(classId as ClassId)?.residency;
  if (residency === 'global') return 'interoperable';
  if (residency === 'export-after-check') return 'deidentified';
  return 'protected';
}

/** A configured jurisdiction's facts, as the engine reads them. */
export function jurisdictionFacts(j: Jurisdiction): JurisdictionFacts {
  // the config object is immutable and carries exactly these fields: the engine converts it once
  return j;
}

/** A principal's attributes, as the engine reads them (an unknown location matches no country). */
export function principalFacts(p: Principal): PrincipalFacts {
  return {
    type: p.type,
    id: p.id,
    department: p.department ?? '',
    roles: p.roles,
    country: p.country ?? '',
    mfa: p.mfa,
    ...(p.type === 'service' && p.jurisdiction !== undefined ? { jurisdiction: p.jurisdiction } : {}),
  };
}

/** Options of the Cedar authorizer. */
export interface CedarAuthorizerOptions {
  readonly config: Config;
  readonly policies: ActivePolicySource;
  /** The lockbox; without it, no grants are presented. */
  readonly grants?: GrantSource;
  /** Epoch milliseconds. */
  readonly now?: () => number;
}

/** Decides with the active Cedar policy set; see the file comment for the error rule. */
export class CedarAuthorizer implements Authorizer {
  private readonly options: CedarAuthorizerOptions;
  private readonly now: () => number;

  constructor(options: CedarAuthorizerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async decide(request: AccessRequest): Promise<AccessDecision> {
    const engine = this.options.policies.current();
    const nowMs = this.now();
    const base: DecisionRequest = {
      principal: principalFacts(request.principal),
      action: VAULT_ACTION_MAP[request.action],
      resource: {
        type: 'record',
        id: `${request.jurisdiction.id}/${request.subjectId}`,
        jurisdiction: jurisdictionFacts(request.jurisdiction),
        class: cedarClassOf(this.options.config, request.classId),
        subject: request.subjectId,
      },
      context: { now: Math.floor(nowMs / 1000), grants: [] },
    };
    const first = engine.decide(base);
    if (first.errors.length > 0) return evaluationError(first.policyHash, first.errors);
    if (first.allowed) {
      return {
        allowed: true,
        reason: `allowed by ${first.determining.join(', ')}`,
        policyHash: first.policyHash,
        determining: first.determining,
      };
    }
    const forbids = new Set(first.determining);
    const grants = (await this.options.grants?.activeGrants(request.principal.id, nowMs)) ?? [];
    // Each grant is presented on its own (as the engine would), so the entry names the grant used.
    for (const grant of grants) {
      const d = engine.decide({ ...base, context: { now: base.context.now, grants: [grant] } });
      if (d.errors.length > 0) return evaluationError(d.policyHash, d.errors);
      if (d.allowed) {
        return {
          allowed: true,
          reason: `allowed by grant \`${grant.id}\``,
          policyHash: d.policyHash,
          determining: d.determining,
          grantId: grant.id,
        };
      }
      for (const id of d.determining) forbids.add(id);
    }
    const determining = [...forbids];
    return {
      allowed: false,
      reason:
        determining.length > 0
          ? `forbidden by ${determining.join(', ')}`
          : 'no policy permits this principal this action',
      policyHash: first.policyHash,
      determining,
    };
  }
}

function evaluationError(policyHash: string, errors: readonly string[]): AccessDecision {
  return {
    allowed: false,
    reason: 'policy evaluation error: any error is a deny',
    policyHash,
    determining: [],
    errors,
  };
}
