/**
 * The control store: the deployment's access-control state, apart from any region's data — the
 * lockbox's access requests and grants, and the policy sets with their approvals. It holds no
 * personal data: subject ids are opaque and a request's purpose is operator text.
 *
 * Every method either completes or changes nothing. Failures of the underlying database surface
 * as `DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE')` without driver details in the message.
 */
import type { JurisdictionId } from '../domain/ids.js';

/** Lifecycle of an access request. `approved` is a grant (until it expires or is revoked). */
export type AccessRequestStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'revoked';

/** One access request of the lockbox, and the grant it becomes when approved. Times in epoch ms. */
export interface StoredAccessRequest {
  readonly id: string;
  /** Bumped by every update; updates are compare-and-set on it. */
  readonly version: number;
  /** Principal id of the requester (the grantee). */
  readonly requester: string;
  readonly requesterDepartment: string | null;
  readonly requesterCountry: string | null;
  readonly jurisdiction: JurisdictionId;
  /** The Cedar data class the grant covers (`protected`, `interoperable` or `deidentified`). */
  readonly classId: string;
  /** Subject ids, or `'all'` for every subject of the jurisdiction. */
  readonly subjects: readonly string[] | 'all';
  /** Record actions (`read`, `write`, `list`, `delete`). */
  readonly actions: readonly string[];
  readonly purpose: string;
  readonly durationSeconds: number;
  readonly breakGlass: boolean;
  readonly status: AccessRequestStatus;
  readonly createdAt: number;
  /** A pending request not acted on by then expires. */
  readonly pendingExpiresAt: number;
  readonly decidedAt: number | null;
  readonly decidedBy: string | null;
  /** When approved: the grant's end (exclusive). */
  readonly grantExpiresAt: number | null;
  readonly revokedAt: number | null;
  readonly revokedBy: string | null;
  /** Break-glass only: the review is due by then. */
  readonly reviewDueAt: number | null;
  readonly reviewedAt: number | null;
  readonly reviewedBy: string | null;
  readonly reviewOutcome: 'accepted' | 'rejected' | null;
  /** True once the overdue review has raised its alert (raised once). */
  readonly reviewOverdueAlerted: boolean;
}

/** Lifecycle of a policy set. */
export type PolicySetStatus = 'proposed' | 'active' | 'superseded';

/** One policy set version: the Cedar files, as proposed. */
export interface StoredPolicySet {
  /** The engine's policy-set hash (SHA-256 of the canonical schema and policies). */
  readonly hash: string;
  readonly schemaText: string;
  readonly policies: readonly { readonly file: string; readonly text: string }[];
  readonly status: PolicySetStatus;
  /** Principal id of the proposer, or `bootstrap` for the set loaded from the policy folder. */
  readonly proposedBy: string;
  readonly proposedAt: number;
  readonly activatedAt: number | null;
  /** Jurisdictions whose steward must approve. */
  readonly affected: readonly JurisdictionId[];
}

/** One approval of a proposed policy set. */
export interface PolicyApproval {
  readonly hash: string;
  readonly principalId: string;
  /** `auditor`, or the jurisdictions whose steward the approver is. */
  readonly capacity: 'auditor' | { readonly stewardOf: readonly JurisdictionId[] };
  readonly approvedAt: number;
}

/** Outcome of a conditional write. */
export type ControlWriteOutcome = 'written' | 'conflict';

/** The control store. */
export interface ControlStore {
  /** Inserts a new request (its id must be new). */
  insertAccessRequest(request: StoredAccessRequest): Promise<void>;
  getAccessRequest(id: string): Promise<StoredAccessRequest | undefined>;
  /** Every request, newest first. */
  listAccessRequests(): Promise<StoredAccessRequest[]>;
  /** Requests that are `approved` for `grantee` and whose grant ends after `nowMs`. */
  activeGrants(grantee: string, nowMs: number): Promise<StoredAccessRequest[]>;
  /** Replaces a request if its stored version is `next.version - 1`; `'conflict'` otherwise. */
  updateAccessRequest(next: StoredAccessRequest): Promise<ControlWriteOutcome>;

  /** Inserts a policy set unless its hash is known; `'conflict'` when it is. */
  insertPolicySet(set: StoredPolicySet): Promise<ControlWriteOutcome>;
  getPolicySet(hash: string): Promise<StoredPolicySet | undefined>;
  /** Every policy set, newest first. */
  listPolicySets(): Promise<StoredPolicySet[]>;
  /** The active set, if any was ever activated. */
  activePolicySet(): Promise<StoredPolicySet | undefined>;
  /**
   * Makes `hash` the only active set (the previous one becomes `superseded`); one transaction.
   * Rejects with `DOMICILE_ERR_NOT_FOUND`, changing nothing, when no set has that hash.
   */
  activatePolicySet(hash: string, atMs: number): Promise<void>;
  /** Records an approval; `'conflict'` when the principal already approved this set. */
  insertPolicyApproval(approval: PolicyApproval): Promise<ControlWriteOutcome>;
  policyApprovals(hash: string): Promise<PolicyApproval[]>;

  close(): Promise<void>;
}
