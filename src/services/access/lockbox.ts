/**
 * The lockbox: time-bound, scoped access for everyone policy does not already allow.
 *
 * A principal asks (`request`) for actions on a jurisdiction's data of one class, for some
 * subjects or all, for a purpose and a duration; the request waits (`pending`) until an eligible
 * approver — whoever the active policies allow `approveGrant` on it: by default a steward of the
 * jurisdiction located there, never the requester — approves or denies it, or it expires. An
 * approved request is a grant until it ends or is revoked. Break-glass requests take effect at
 * once, for a short time, raise an alert and must be reviewed afterwards.
 *
 * Every step, allowed or refused, is an entry in the jurisdiction's audit log, written before the
 * step takes effect (L1). The purpose is operator text: the log keeps its SHA-256 only, so that
 * nothing typed into it can become un-erasable in an append-only log.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Config, Jurisdiction } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import { type JurisdictionId, parseSubjectId, type SubjectId } from '../../domain/ids.js';
import { requireJurisdiction } from '../../domain/residency.js';
import type { DataClass, Grant, RecordAction } from '../../policy/index.js';
import type { AccessRequestStatus, ControlStore, StoredAccessRequest } from '../../store/control-store.js';
import type { AuditDetails, AuditSink } from '../audit/audit-event.js';
import { type ActivePolicySource, type GrantSource, principalFacts } from './cedar-authorizer.js';
import { type Principal, summarizePrincipal } from './principal.js';

/** Who is asking, for one step. */
export interface LockboxContext {
  readonly requestId: string;
  readonly principal: Principal;
}

/** What a principal asks for. Untrusted: it comes from a request body or a command line. */
export interface AccessRequestInput {
  readonly jurisdiction: string;
  readonly class: string;
  readonly subjects: readonly string[] | 'all';
  readonly actions: readonly string[];
  readonly purpose: string;
  readonly durationSeconds: number;
  readonly breakGlass?: boolean;
}

/** An access request as the API shows it: its effective status at the time of asking. */
export interface AccessRequestView {
  readonly id: string;
  readonly requester: string;
  readonly jurisdiction: string;
  readonly class: string;
  readonly subjects: readonly string[] | 'all';
  readonly actions: readonly string[];
  readonly purpose: string;
  readonly durationSeconds: number;
  readonly breakGlass: boolean;
  readonly status: AccessRequestStatus;
  readonly createdAt: string;
  readonly pendingExpiresAt: string;
  readonly decidedAt: string | null;
  readonly decidedBy: string | null;
  readonly grantExpiresAt: string | null;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
  readonly review: {
    readonly dueAt: string;
    readonly reviewedAt: string | null;
    readonly reviewedBy: string | null;
    readonly outcome: 'accepted' | 'rejected' | null;
    readonly overdue: boolean;
  } | null;
}

/** Filters of `list`. */
export interface AccessRequestFilter {
  readonly status?: AccessRequestStatus;
  readonly jurisdiction?: string;
  readonly reviewOverdue?: boolean;
}

/** Dependencies of the lockbox. */
export interface LockboxOptions {
  readonly config: Config;
  readonly store: ControlStore;
  readonly policies: ActivePolicySource;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  /** Epoch milliseconds. */
  readonly now?: () => number;
}

const CLASSES: ReadonlySet<string> = new Set<DataClass>(['protected', 'interoperable', 'deidentified']);
const ACTIONS: ReadonlySet<string> = new Set<RecordAction>(['read', 'write', 'list', 'delete']);
const MIN_DURATION_SECONDS = 60;
const MAX_SUBJECTS = 1000;
const MAX_PURPOSE = 500;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const invalid = (message: string): DomicileError =>
  new DomicileError('DOMICILE_ERR_ACCESS_REQUEST_INVALID', message);

/** The lockbox service; also the grant source of the Cedar authorizer. */
export class Lockbox implements GrantSource {
  private readonly options: LockboxOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: LockboxOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Sweeps expiries and overdue reviews into the log every `sweepIntervalMs`. */
  start(onError: (error: unknown) => void): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.sweep().catch(onError);
    }, this.options.config.access.lockbox.sweepIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Files a request; a break-glass request is a grant at once. */
  async request(ctx: LockboxContext, input: AccessRequestInput): Promise<AccessRequestView> {
    const jurisdiction = requireJurisdiction(this.options.config, input.jurisdiction);
    const limits = this.options.config.access.lockbox;
    const breakGlass = input.breakGlass === true;
    const refuse = async (error: DomicileError): Promise<never> => {
      await this.log(jurisdiction, ctx, breakGlass ? 'access-request.break-glass' : 'access-request.create', {
        decision: 'deny',
        reason: error.message,
      });
      throw error;
    };
    if (!CLASSES.has(input.class)) {
      return refuse(invalid(`class \`${input.class}\`: expected protected, interoperable or deidentified`));
    }
    const actions = [...new Set(input.actions)];
    if (actions.length === 0 || !actions.every((a) => ACTIONS.has(a))) {
      return refuse(invalid('actions: expected one or more of read, write, list, delete'));
    }
    let subjects: SubjectId[] | 'all';
    if (input.subjects === 'all') subjects = 'all';
    else {
      if (input.subjects.length === 0 || input.subjects.length > MAX_SUBJECTS) {
        return refuse(invalid(`subjects: expected \`all\` or 1 to ${MAX_SUBJECTS} subject ids`));
      }
      subjects = [...new Set(input.subjects.map((s) => parseSubjectId(s)))];
    }
    const purpose = input.purpose.trim();
    if (purpose.length === 0 || purpose.length > MAX_PURPOSE) {
      return refuse(invalid(`purpose: expected 1 to ${MAX_PURPOSE} characters`));
    }
    const max = breakGlass ? limits.breakGlassMaxDuration : limits.maxDuration;
    if (
      !Number.isSafeInteger(input.durationSeconds) ||
      input.durationSeconds < MIN_DURATION_SECONDS ||
      input.durationSeconds > max
    ) {
      return refuse(
        invalid(
          `duration: expected ${MIN_DURATION_SECONDS} to ${max} seconds${breakGlass ? ' for break-glass' : ''}`,
        ),
      );
    }
    if (breakGlass && !ctx.principal.mfa) {
      return refuse(invalid('break-glass needs a token issued after multi-factor authentication'));
    }
    const now = this.now();
    const p = ctx.principal;
    const stored: StoredAccessRequest = {
      id: `ar-${randomBytes(12).toString('hex')}`,
      version: 1,
      requester: p.id,
      requesterDepartment: p.department ?? null,
      requesterCountry: p.country ?? null,
      jurisdiction: jurisdiction.id,
      classId: input.class,
      subjects,
      actions,
      purpose,
      durationSeconds: input.durationSeconds,
      breakGlass,
      status: breakGlass ? 'approved' : 'pending',
      createdAt: now,
      pendingExpiresAt: now + limits.pendingExpiry * 1000,
      decidedAt: breakGlass ? now : null,
      decidedBy: breakGlass ? p.id : null,
      grantExpiresAt: breakGlass ? now + input.durationSeconds * 1000 : null,
      revokedAt: null,
      revokedBy: null,
      reviewDueAt: breakGlass ? now + limits.reviewWithin * 1000 : null,
      reviewedAt: null,
      reviewedBy: null,
      reviewOutcome: null,
      reviewOverdueAlerted: false,
    };
    const scope = scopeDetails(stored);
    if (breakGlass) {
      // INVARIANT L1: the alert and the grant are on the record before the grant exists
      await this.log(jurisdiction, ctx, 'alert.break-glass', {
        decision: 'info',
        reason: 'break-glass access taken: review due',
        request: stored,
        details: { ...scope, alert: true, reviewDueAt: iso(stored.reviewDueAt) },
      });
    }
    await this.log(jurisdiction, ctx, breakGlass ? 'access-request.break-glass' : 'access-request.create', {
      decision: breakGlass ? 'allow' : 'info',
      reason: breakGlass ? 'break-glass grant in effect at once' : 'access request pending approval',
      request: stored,
      details: scope,
    });
    await this.options.store.insertAccessRequest(stored);
    return this.view(stored, now);
  }

  /** Approves a pending request: it becomes a grant for its duration from now. */
  async approve(ctx: LockboxContext, id: string): Promise<AccessRequestView> {
    return this.decideRequest(ctx, id, 'approve');
  }

  /** Denies a pending request. */
  async deny(ctx: LockboxContext, id: string): Promise<AccessRequestView> {
    return this.decideRequest(ctx, id, 'deny');
  }

  /** Revokes a pending request or an active grant: by an eligible approver, or the grantee itself. */
  async revoke(ctx: LockboxContext, id: string): Promise<AccessRequestView> {
    return this.step(ctx, id, 'access-request.revoke', {
      eligibility: (stored) =>
        stored.requester === ctx.principal.id
          ? {
              allowed: true,
              reason: 'the grantee gives up its own access',
              policyHash: this.hash(),
              determining: [],
            }
          : undefined,
      refusal: (stored, now) => {
        const status = effectiveStatus(stored, now);
        return status !== 'pending' && status !== 'approved' ? `request is ${status}` : undefined;
      },
      change: (_stored, now) => ({ status: 'revoked', revokedAt: now, revokedBy: ctx.principal.id }),
    });
  }

  /** Reviews a break-glass grant after the fact; `rejected` also revokes it if it is still active. */
  async review(
    ctx: LockboxContext,
    id: string,
    outcome: 'accepted' | 'rejected',
  ): Promise<AccessRequestView> {
    return this.step(ctx, id, 'access-request.review', {
      refusal: (stored) =>
        !stored.breakGlass
          ? 'only break-glass grants are reviewed'
          : stored.reviewedAt !== null
            ? 'already reviewed'
            : undefined,
      change: (stored, now) => {
        const revoke = outcome === 'rejected' && effectiveStatus(stored, now) === 'approved';
        return {
          reviewedAt: now,
          reviewedBy: ctx.principal.id,
          reviewOutcome: outcome,
          ...(revoke ? { status: 'revoked' as const, revokedAt: now, revokedBy: ctx.principal.id } : {}),
        };
      },
      details: { outcome },
    });
  }

  /** One request, if the principal may see it. */
  async get(ctx: LockboxContext, id: string): Promise<AccessRequestView> {
    const { stored } = await this.find(id);
    if (!this.visible(ctx.principal, stored)) {
      throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no access request \`${id}\``);
    }
    return this.view(stored, this.now());
  }

  /**
   * The requests the principal may see: its own; a jurisdiction's when it is in the jurisdiction's
   * steward department; all when it has role `auditor`.
   */
  async list(ctx: LockboxContext, filter: AccessRequestFilter = {}): Promise<AccessRequestView[]> {
    const now = this.now();
    return (await this.options.store.listAccessRequests())
      .filter((r) => this.visible(ctx.principal, r))
      .map((r) => this.view(r, now))
      .filter(
        (v) =>
          (filter.status === undefined || v.status === filter.status) &&
          (filter.jurisdiction === undefined || v.jurisdiction === filter.jurisdiction) &&
          (filter.reviewOverdue === undefined || (v.review?.overdue ?? false) === filter.reviewOverdue),
      );
  }

  /** The principal's grants that have not ended, as the policy engine reads them. */
  async activeGrants(principalId: string, nowMs: number): Promise<Grant[]> {
    const rows = await this.options.store.activeGrants(principalId, nowMs);
    return rows.map((r) => ({
      id: r.id,
      grantee: r.requester,
      jurisdiction: r.jurisdiction,
      class: r.classId as DataClass,
      actions: r.actions as RecordAction[],
      subjects: r.subjects,
      // exclusive epoch seconds: a grant ending at 12:00:00.500 ends at 12:00:00
      expiresAt: Math.floor((r.grantExpiresAt ?? 0) / 1000),
    }));
  }

  /**
   * Writes what time alone changed into the logs: pending requests that expired, grants that
   * ended, and break-glass reviews that became overdue (an alert, raised once).
   */
  async sweep(): Promise<{ expired: number; ended: number; overdue: number }> {
    const now = this.now();
    const counts = { expired: 0, ended: 0, overdue: 0 };
    const system: LockboxContext = { requestId: `sweep-${now}`, principal: SYSTEM };
    for (const r of await this.options.store.listAccessRequests()) {
      const jurisdiction = this.options.config.jurisdictions.get(r.jurisdiction);
      if (!jurisdiction) continue;
      let next: StoredAccessRequest | undefined;
      // only a pending request or a grant is made `expired` by time alone
      if (effectiveStatus(r, now) !== r.status) {
        const pending = r.status === 'pending';
        await this.log(jurisdiction, system, pending ? 'access-request.expire' : 'grant.expire', {
          decision: 'info',
          reason: pending ? 'pending request expired without a decision' : 'grant ended',
          request: r,
          principal: null,
        });
        next = { ...r, version: r.version + 1, status: 'expired' };
        counts[pending ? 'expired' : 'ended']++;
      }
      const base = next ?? r;
      if (isReviewOverdue(base, now) && !base.reviewOverdueAlerted) {
        await this.log(jurisdiction, system, 'alert.review-overdue', {
          decision: 'info',
          reason: 'break-glass grant not reviewed in time',
          request: r,
          principal: null,
          details: { alert: true, reviewDueAt: iso(r.reviewDueAt) },
        });
        next = { ...base, version: r.version + 1, reviewOverdueAlerted: true };
        counts.overdue++;
      }
      if (next) await this.options.store.updateAccessRequest(next);
    }
    return counts;
  }

  private async decideRequest(
    ctx: LockboxContext,
    id: string,
    verb: 'approve' | 'deny',
  ): Promise<AccessRequestView> {
    return this.step(ctx, id, `access-request.${verb}`, {
      refusal: (stored, now) => {
        const status = effectiveStatus(stored, now);
        return status !== 'pending' ? `request is ${status}` : undefined;
      },
      change: (stored, now) =>
        verb === 'approve'
          ? {
              status: 'approved',
              decidedAt: now,
              decidedBy: ctx.principal.id,
              grantExpiresAt: now + stored.durationSeconds * 1000,
            }
          : { status: 'denied', decidedAt: now, decidedBy: ctx.principal.id },
    });
  }

  /**
   * One step on a stored request: load it, check the principal may take it (the active policies'
   * `approveGrant`, unless `plan.eligibility` decides) and that the request's state allows it,
   * then log the change and compare-and-set it. Every refusal is logged too.
   */
  private async step(
    ctx: LockboxContext,
    id: string,
    type: string,
    plan: {
      readonly eligibility?: (stored: StoredAccessRequest) => Eligibility | undefined;
      /** Why the request's state refuses the step, if it does. */
      readonly refusal: (stored: StoredAccessRequest, now: number) => string | undefined;
      readonly change: (stored: StoredAccessRequest, now: number) => Partial<StoredAccessRequest>;
      readonly details?: AuditDetails;
    },
  ): Promise<AccessRequestView> {
    const { stored, jurisdiction } = await this.find(id);
    const now = this.now();
    const eligibility = plan.eligibility?.(stored) ?? this.eligibility(ctx, stored, jurisdiction, now);
    if (!eligibility.allowed) return this.forbid(jurisdiction, ctx, type, stored, eligibility);
    const refusal = plan.refusal(stored, now);
    if (refusal !== undefined) return this.conflict(jurisdiction, ctx, type, stored, eligibility, refusal);
    const next: StoredAccessRequest = { ...stored, ...plan.change(stored, now), version: stored.version + 1 };
    // INVARIANT L1: the step is on the record before it takes effect
    await this.log(jurisdiction, ctx, type, {
      decision: 'allow',
      reason: eligibility.reason,
      request: next,
      eligibility,
      details: plan.details ?? {},
    });
    if ((await this.options.store.updateAccessRequest(next)) === 'conflict') {
      return this.conflict(jurisdiction, ctx, type, stored, eligibility, 'changed concurrently: retry');
    }
    return this.view(next, now);
  }

  /** Whether the active policies allow `approveGrant` on this request to the principal. */
  private eligibility(
    ctx: LockboxContext,
    stored: StoredAccessRequest,
    jurisdiction: Jurisdiction,
    now: number,
  ): Eligibility {
    try {
      const d = this.options.policies.current().decide({
        principal: principalFacts(ctx.principal),
        action: 'approveGrant',
        resource: { type: 'accessRequest', id: stored.id, jurisdiction, requester: stored.requester },
        context: { now: Math.floor(now / 1000) },
      });
      if (d.errors.length > 0) {
        return {
          allowed: false,
          reason: 'policy evaluation error: any error is a deny',
          policyHash: d.policyHash,
          determining: [],
        };
      }
      return {
        allowed: d.allowed,
        reason: d.allowed
          ? `allowed by ${d.determining.join(', ')}`
          : d.determining.length > 0
            ? `forbidden by ${d.determining.join(', ')}`
            : 'not an eligible approver of this jurisdiction',
        policyHash: d.policyHash,
        determining: d.determining,
      };
    } catch {
      // fail closed
      return { allowed: false, reason: 'policy evaluation failed', policyHash: 'unknown', determining: [] };
    }
  }

  private async forbid(
    jurisdiction: Jurisdiction,
    ctx: LockboxContext,
    type: string,
    stored: StoredAccessRequest,
    eligibility: Eligibility,
  ): Promise<never> {
    await this.log(jurisdiction, ctx, type, {
      decision: 'deny',
      reason: eligibility.reason,
      request: stored,
      eligibility,
    });
    throw new DomicileError('DOMICILE_ERR_FORBIDDEN', `denied: ${eligibility.reason}`, {
      details: { policyHash: eligibility.policyHash, determining: eligibility.determining },
    });
  }

  private async conflict(
    jurisdiction: Jurisdiction,
    ctx: LockboxContext,
    type: string,
    stored: StoredAccessRequest,
    eligibility: Eligibility,
    reason: string,
  ): Promise<never> {
    await this.log(jurisdiction, ctx, type, { decision: 'deny', reason, request: stored, eligibility });
    throw new DomicileError('DOMICILE_ERR_STATE_CONFLICT', `access request \`${stored.id}\`: ${reason}`);
  }

  private async find(id: string): Promise<{ stored: StoredAccessRequest; jurisdiction: Jurisdiction }> {
    const stored = await this.options.store.getAccessRequest(id);
    const jurisdiction = stored && this.options.config.jurisdictions.get(stored.jurisdiction);
    if (!stored || !jurisdiction)
      throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no access request \`${id}\``);
    return { stored, jurisdiction };
  }

  private visible(p: Principal, r: StoredAccessRequest): boolean {
    if (r.requester === p.id || p.roles.includes('auditor')) return true;
    return this.options.config.jurisdictions.get(r.jurisdiction)?.steward === p.department;
  }

  private hash(): string {
    try {
      return this.options.policies.current().policyHash;
    } catch {
      return 'unknown';
    }
  }

  private async log(
    jurisdiction: Jurisdiction,
    ctx: LockboxContext,
    type: string,
    entry: {
      decision: 'allow' | 'deny' | 'info';
      reason: string;
      request?: StoredAccessRequest;
      eligibility?: Eligibility;
      principal?: null;
      details?: AuditDetails;
    },
  ): Promise<void> {
    const r = entry.request;
    const single = r && r.subjects !== 'all' && r.subjects.length === 1 ? r.subjects[0] : undefined;
    await this.options.audit(jurisdiction.id).append({
      type,
      requestId: ctx.requestId,
      principal: entry.principal === null ? null : summarizePrincipal(ctx.principal),
      jurisdiction: jurisdiction.id,
      ...(single === undefined ? {} : { subjectId: single as SubjectId }),
      decision: entry.decision,
      reason: entry.reason,
      policyHash: entry.eligibility?.policyHash ?? this.hash(),
      determining: entry.eligibility?.determining ?? [],
      details: {
        ...(r === undefined
          ? {}
          : { accessRequestId: r.id, requester: r.requester, status: r.status, breakGlass: r.breakGlass }),
        ...entry.details,
      },
    });
  }

  private view(r: StoredAccessRequest, now: number): AccessRequestView {
    return {
      id: r.id,
      requester: r.requester,
      jurisdiction: r.jurisdiction,
      class: r.classId,
      subjects: r.subjects,
      actions: r.actions,
      purpose: r.purpose,
      durationSeconds: r.durationSeconds,
      breakGlass: r.breakGlass,
      status: effectiveStatus(r, now),
      createdAt: new Date(r.createdAt).toISOString(),
      pendingExpiresAt: new Date(r.pendingExpiresAt).toISOString(),
      decidedAt: iso(r.decidedAt),
      decidedBy: r.decidedBy,
      grantExpiresAt: iso(r.grantExpiresAt),
      revokedAt: iso(r.revokedAt),
      revokedBy: r.revokedBy,
      review:
        r.reviewDueAt === null
          ? null
          : {
              dueAt: new Date(r.reviewDueAt).toISOString(),
              reviewedAt: iso(r.reviewedAt),
              reviewedBy: r.reviewedBy,
              outcome: r.reviewOutcome,
              overdue: isReviewOverdue(r, now),
            },
    };
  }
}

interface Eligibility {
  readonly allowed: boolean;
  readonly reason: string;
  readonly policyHash: string;
  readonly determining: readonly string[];
}

/** The principal sweeps act as (never logged as a principal: their entries carry `null`). */
const SYSTEM: Principal = {
  id: 'domicile',
  type: 'service',
  department: undefined,
  roles: [],
  country: undefined,
  mfa: false,
};

/** The status time has made of a stored request. */
export function effectiveStatus(r: StoredAccessRequest, now: number): AccessRequestStatus {
  if (r.status === 'pending' && r.pendingExpiresAt <= now) return 'expired';
  if (r.status === 'approved' && (r.grantExpiresAt ?? 0) <= now) return 'expired';
  return r.status;
}

function isReviewOverdue(r: StoredAccessRequest, now: number): boolean {
  return r.breakGlass && r.reviewedAt === null && r.reviewDueAt !== null && r.reviewDueAt <= now;
}

/** The scope of a request as log details: counts and hashes, never subject ids or free text. */
function scopeDetails(r: StoredAccessRequest): AuditDetails {
  return {
    class: r.classId,
    actions: r.actions,
    subjects: r.subjects === 'all' ? 'all' : r.subjects.length,
    durationSeconds: r.durationSeconds,
    purposeSha256: createHash('sha256').update(r.purpose).digest('hex'),
  };
}
