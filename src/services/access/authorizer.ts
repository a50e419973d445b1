/**
 * Authorization behind one interface, so the vault does not care how decisions are made.
 * `CedarAuthorizer` (in `cedar-authorizer.ts`) is the default; `ResidentAuthorizer` is the
 * built-in rule set kept for tests and benchmarks that want decisions without a policy set.
 */
import type { Jurisdiction } from '../../domain/config.js';
import type { ClassId, SubjectId } from '../../domain/ids.js';
import type { Principal } from './principal.js';

/** Actions on a subject's data. */
export type VaultAction = 'register' | 'read' | 'write' | 'list' | 'delete' | 'erase' | 'read-access-log';

/** One question to the authorizer. */
export interface AccessRequest {
  readonly principal: Principal;
  readonly action: VaultAction;
  readonly jurisdiction: Jurisdiction;
  readonly subjectId: SubjectId;
  /** The class of the record, when the action is about one record. */
  readonly classId: ClassId | undefined;
  /** True when the class's residency rule is `global` (non-personal data). */
  readonly globalClass: boolean;
}

/** The answer; every decision, allow or deny, goes into the audit log with the policy hash. */
export interface AccessDecision {
  readonly allowed: boolean;
  readonly reason: string;
  readonly policyHash: string;
  readonly determining: readonly string[];
  /** Evaluation errors (each made the decision a deny); for the audit log, never for the client. */
  readonly errors?: readonly string[];
  /** The lockbox grant that allowed the access, when one did. */
  readonly grantId?: string;
}

/** Decides access. Implementations fail closed: any internal error is a deny. */
export interface Authorizer {
  decide(request: AccessRequest): Promise<AccessDecision>;
}

/** The decision every caller substitutes when an authorizer throws: fail closed. */
export const EVALUATION_FAILED: AccessDecision = {
  allowed: false,
  reason: 'policy evaluation failed',
  policyHash: 'unknown',
  determining: [],
};

/** What of a decision goes into its audit entry's details besides hash and policies: errors, grant. */
export function auditDetailsOf(decision: AccessDecision): {
  details?: Record<string, readonly string[] | string>;
} {
  const details: Record<string, readonly string[] | string> = {};
  if (decision.errors !== undefined && decision.errors.length > 0) details.errors = decision.errors;
  if (decision.grantId !== undefined) details.grantId = decision.grantId;
  return Object.keys(details).length === 0 ? {} : { details };
}

const RESIDENT_POLICY_HASH = 'builtin:resident-v1';

/**
 * Built-in rule: personal data only for principals located in the subject's jurisdiction;
 * global-class (non-personal) records for any authenticated principal; everything else denied.
 */
export class ResidentAuthorizer implements Authorizer {
  async decide(request: AccessRequest): Promise<AccessDecision> {
    const { principal, jurisdiction } = request;
    if (
      request.globalClass &&
      (request.action === 'read' || request.action === 'write' || request.action === 'delete')
    ) {
      return {
        allowed: true,
        reason: 'global class: any authenticated principal',
        policyHash: RESIDENT_POLICY_HASH,
        determining: ['resident.global'],
      };
    }
    if (principal.country !== undefined && jurisdiction.countries.includes(principal.country)) {
      return {
        allowed: true,
        reason: 'principal located in the jurisdiction',
        policyHash: RESIDENT_POLICY_HASH,
        determining: ['resident.located'],
      };
    }
    return {
      allowed: false,
      reason: 'principal not located in the jurisdiction',
      policyHash: RESIDENT_POLICY_HASH,
      determining: [],
    };
  }
}
