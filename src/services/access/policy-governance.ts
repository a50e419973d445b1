/**
 * The access policy as a protocol the auditor co-maintains. A new policy set is proposed (it must
 * validate against its schema, or it is refused and the active set stays); it becomes active only
 * when a steward of every affected jurisdiction and a principal with role `auditor` have approved
 * it, each with their own token, each approval allowed by the active set's `approvePolicy`
 * policies. Proposal, approvals, refusals and activation are entries in the logs of the affected
 * jurisdictions (activation: every jurisdiction's). The active set survives restarts: it lives in
 * the control store.
 *
 * Affected jurisdictions: a policy that names jurisdictions (`Domicile::Jurisdiction::"US"`)
 * affects those; a generic policy, or any schema change, affects every configured jurisdiction.
 *
 * An approval counts once: as the auditor's when the approver has role `auditor`, otherwise as a
 * steward's of the affected jurisdictions whose steward department the approver belongs to. So
 * activation always takes at least two people.
 */
import type { Config, Jurisdiction } from '../../domain/config.js';
import { DomicileError, type ErrorCode } from '../../domain/errors.js';
import type { JurisdictionId } from '../../domain/ids.js';
import {
  type LoadPolicySetOptions,
  loadPolicySet,
  POLICY_ERROR_CODES,
  type PolicyEngine,
  PolicyError,
} from '../../policy/index.js';
import type { ControlStore, PolicyApproval, StoredPolicySet } from '../../store/control-store.js';
import type { AuditSink } from '../audit/audit-event.js';
import { type ActivePolicySource, principalFacts } from './cedar-authorizer.js';
import { type Principal, summarizePrincipal } from './principal.js';

/** A policy set's files: the schema and the `*.cedar` sources. */
export type PolicyFiles = LoadPolicySetOptions;

/** The engine in force; activation swaps it for every authorizer that reads it. */
export class ActivePolicy implements ActivePolicySource {
  private engine: PolicyEngine;
  private activeFiles: PolicyFiles;

  constructor(engine: PolicyEngine, files: PolicyFiles) {
    this.engine = engine;
    this.activeFiles = files;
  }

  current(): PolicyEngine {
    return this.engine;
  }

  get files(): PolicyFiles {
    return this.activeFiles;
  }

  /** Replaces the engine in force (decisions already running finish on the old one). */
  replace(engine: PolicyEngine, files: PolicyFiles): void {
    this.engine = engine;
    this.activeFiles = files;
  }
}

/** What changed between two policy sets, by policy id. */
export interface PolicyDiff {
  readonly fromHash: string;
  readonly toHash: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly schemaChanged: boolean;
}

/**
 * Compares two loaded policy sets by policy id (a policy is changed when its JSON form differs:
 * comments and layout do not count, annotations do).
 */
export function diffPolicySets(
  from: PolicyEngine,
  to: PolicyEngine,
  fromSchema: string,
  toSchema: string,
): PolicyDiff {
  const a = new Map(from.policies.map((p) => [p.id, JSON.stringify(p.json)]));
  const b = new Map(to.policies.map((p) => [p.id, JSON.stringify(p.json)]));
  const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
  return {
    fromHash: from.policyHash,
    toHash: to.policyHash,
    added: sorted([...b.keys()].filter((id) => !a.has(id))),
    removed: sorted([...a.keys()].filter((id) => !b.has(id))),
    changed: sorted([...b.keys()].filter((id) => a.has(id) && a.get(id) !== b.get(id))),
    schemaChanged: fromSchema.trim() !== toSchema.trim(),
  };
}

/** Jurisdiction ids named as `Domicile::Jurisdiction` entity literals anywhere in a policy's JSON. */
function namedJurisdictions(json: unknown, out: Set<string>): void {
  if (Array.isArray(json)) {
    for (const x of json) namedJurisdictions(x, out);
  } else if (json !== null && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    if (o.type === 'Domicile::Jurisdiction' && typeof o.id === 'string') out.add(o.id);
    for (const v of Object.values(o)) namedJurisdictions(v, out);
  }
}

/** The jurisdictions a change affects; see the file comment. */
export function affectedJurisdictions(
  config: Config,
  diff: PolicyDiff,
  from: PolicyEngine,
  to: PolicyEngine,
): JurisdictionId[] {
  const all = [...config.jurisdictions.keys()];
  if (diff.schemaChanged) return all;
  const touched = new Set([...diff.added, ...diff.removed, ...diff.changed]);
  const named = new Set<string>();
  for (const p of [...from.policies, ...to.policies]) {
    if (!touched.has(p.id)) continue;
    const own = new Set<string>();
    namedJurisdictions(p.json, own);
    if (own.size === 0) return all;
    for (const j of own) named.add(j);
  }
  const affected = all.filter((j) => named.has(j));
  return affected.length === 0 ? all : affected;
}

/** A proposal as the API shows it. */
export interface PolicyProposalView {
  readonly hash: string;
  readonly status: StoredPolicySet['status'];
  readonly proposedBy: string;
  readonly proposedAt: string;
  readonly activatedAt: string | null;
  readonly affected: readonly string[];
  readonly approvals: readonly {
    principalId: string;
    capacity: PolicyApproval['capacity'];
    approvedAt: string;
  }[];
  /** What is still needed: `steward:<J>` for each jurisdiction without one, `auditor`. */
  readonly missing: readonly string[];
  readonly diff?: PolicyDiff;
}

/** Who is asking, for one step. */
export interface GovernanceContext {
  readonly requestId: string;
  readonly principal: Principal;
}

/** Dependencies of the governance service. */
export interface PolicyGovernanceOptions {
  readonly config: Config;
  readonly store: ControlStore;
  readonly active: ActivePolicy;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  readonly now?: () => number;
}

/** Loads a set, turning the engine's error into the catalog's. */
export function loadPolicyFiles(files: PolicyFiles): PolicyEngine {
  try {
    return loadPolicySet(files);
  } catch (error) {
    if (error instanceof PolicyError) {
      const code: ErrorCode =
        error.code === POLICY_ERROR_CODES.duplicateId
          ? 'DOMICILE_ERR_POLICY_DUPLICATE_ID'
          : error.code === POLICY_ERROR_CODES.cedar
            ? 'DOMICILE_ERR_POLICY_CEDAR'
            : 'DOMICILE_ERR_POLICY_INVALID';
      throw new DomicileError(code, error.message, { cause: error });
    }
    throw error;
  }
}

/** Proposals, approvals and activation of policy sets. */
export class PolicyGovernance {
  private readonly options: PolicyGovernanceOptions;
  private readonly now: () => number;

  constructor(options: PolicyGovernanceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /**
   * The policy set in force at start: the one the control store holds as active, else the policy
   * folder's (then recorded as active). A stored set that no longer loads stops the start:
   * deciding with another set would be a silent policy change. The caller puts the hash on the
   * record (the `config.load` entry of every log).
   */
  static async openActive(options: {
    config: Config;
    store: ControlStore;
    folder: () => Promise<PolicyFiles>;
    now?: () => number;
  }): Promise<{ active: ActivePolicy; source: 'control-store' | 'folder' }> {
    const stored = await options.store.activePolicySet();
    if (stored) {
      const files = { schemaText: stored.schemaText, policies: stored.policies };
      return { active: new ActivePolicy(loadPolicyFiles(files), files), source: 'control-store' };
    }
    const files = await options.folder();
    const engine = loadPolicyFiles(files);
    const now = (options.now ?? Date.now)();
    const all = [...options.config.jurisdictions.keys()];
    await options.store.insertPolicySet({
      hash: engine.policyHash,
      schemaText: files.schemaText,
      policies: files.policies,
      status: 'proposed',
      proposedBy: 'bootstrap',
      proposedAt: now,
      activatedAt: null,
      affected: all,
    });
    await options.store.activatePolicySet(engine.policyHash, now);
    return { active: new ActivePolicy(engine, files), source: 'folder' };
  }

  /** The active set's files and hash. */
  activeSet(): { hash: string; files: PolicyFiles } {
    return { hash: this.options.active.current().policyHash, files: this.options.active.files };
  }

  /** Compares a candidate set with the active one (the candidate must validate). */
  diff(files: PolicyFiles): PolicyDiff {
    const active = this.options.active;
    return diffPolicySets(
      active.current(),
      loadPolicyFiles(files),
      active.files.schemaText,
      files.schemaText,
    );
  }

  /** Stages a new policy set; refuses (and logs) one that does not validate. */
  async propose(ctx: GovernanceContext, files: PolicyFiles): Promise<PolicyProposalView> {
    const active = this.options.active;
    let engine: PolicyEngine;
    try {
      engine = loadPolicyFiles(files);
    } catch (error) {
      if (error instanceof DomicileError) {
        // INVARIANT A1: the refusal is on the record; the active set stays in force
        await this.logAll([...this.options.config.jurisdictions.keys()], ctx, 'policy.propose', {
          decision: 'deny',
          reason: `policy set refused: ${error.code}`,
          policyHash: active.current().policyHash,
        });
      }
      throw error;
    }
    const diff = diffPolicySets(active.current(), engine, active.files.schemaText, files.schemaText);
    const affected = affectedJurisdictions(this.options.config, diff, active.current(), engine);
    const existing = await this.options.store.getPolicySet(engine.policyHash);
    if (existing?.status === 'active') {
      throw new DomicileError(
        'DOMICILE_ERR_STATE_CONFLICT',
        `policy set \`${engine.policyHash}\` is already active`,
      );
    }
    if (!existing) {
      await this.logAll(affected, ctx, 'policy.propose', {
        decision: 'info',
        reason: 'policy set proposed: awaiting approvals',
        policyHash: engine.policyHash,
        details: {
          activePolicyHash: diff.fromHash,
          added: diff.added,
          removed: diff.removed,
          changed: diff.changed,
          schemaChanged: diff.schemaChanged,
        },
      });
      await this.options.store.insertPolicySet({
        hash: engine.policyHash,
        schemaText: files.schemaText,
        policies: files.policies.map((p) => ({ file: p.file, text: p.text })),
        status: 'proposed',
        proposedBy: ctx.principal.id,
        proposedAt: this.now(),
        activatedAt: null,
        affected,
      });
    }
    return { ...(await this.view(engine.policyHash)), diff };
  }

  /** Approves a proposed set with the caller's own token; activates it once approvals suffice. */
  async approve(ctx: GovernanceContext, hash: string): Promise<PolicyProposalView> {
    const set = await this.options.store.getPolicySet(hash);
    if (!set) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no proposed policy set \`${hash}\``);
    const affected = set.affected
      .map((j) => this.options.config.jurisdictions.get(j))
      .filter((j): j is Jurisdiction => j !== undefined);
    const engine = this.options.active.current();
    const p = ctx.principal;
    const allowedFor = (j: Jurisdiction) => {
      try {
        return engine.decide({
          principal: principalFacts(p),
          action: 'approvePolicy',
          resource: { type: 'policyBundle', id: hash, jurisdiction: j },
          context: { now: Math.floor(this.now() / 1000) },
        });
      } catch {
        return {
          allowed: false,
          policyHash: engine.policyHash,
          determining: [],
          errors: ['evaluation failed'],
        };
      }
    };
    const decisions = affected.map((j) => ({ j, d: allowedFor(j) }));
    const permitted = decisions.filter(({ d }) => d.allowed && d.errors.length === 0);
    let capacity: PolicyApproval['capacity'] | undefined;
    if (p.roles.includes('auditor') && permitted.length > 0) capacity = 'auditor';
    else {
      const stewardOf = permitted.filter(({ j }) => j.steward === p.department).map(({ j }) => j.id);
      if (stewardOf.length > 0) capacity = { stewardOf };
    }
    const ids = affected.map((j) => j.id);
    const determining = [...new Set(permitted.flatMap(({ d }) => d.determining))];
    if (capacity === undefined) {
      await this.logAll(ids, ctx, 'policy.approve', {
        decision: 'deny',
        reason: 'neither the auditor nor a steward of an affected jurisdiction',
        policyHash: engine.policyHash,
        determining: [...new Set(decisions.flatMap(({ d }) => (d.allowed ? [] : d.determining)))],
        details: { proposedPolicyHash: hash },
      });
      throw new DomicileError(
        'DOMICILE_ERR_FORBIDDEN',
        'denied: only the auditor or a steward of an affected jurisdiction approves a policy set',
        { details: { policyHash: engine.policyHash, determining: [] } },
      );
    }
    if (set.status !== 'proposed') {
      await this.logAll(ids, ctx, 'policy.approve', {
        decision: 'deny',
        reason: `policy set is ${set.status}`,
        policyHash: engine.policyHash,
        details: { proposedPolicyHash: hash },
      });
      throw new DomicileError('DOMICILE_ERR_STATE_CONFLICT', `policy set \`${hash}\` is ${set.status}`);
    }
    await this.logAll(ids, ctx, 'policy.approve', {
      decision: 'allow',
      reason:
        capacity === 'auditor'
          ? 'approved as the auditor'
          : `approved as steward of ${capacity.stewardOf.join(', ')}`,
      policyHash: engine.policyHash,
      determining,
      details: { proposedPolicyHash: hash },
    });
    const outcome = await this.options.store.insertPolicyApproval({
      hash,
      principalId: p.id,
      capacity,
      approvedAt: this.now(),
    });
    if (outcome === 'conflict') {
      throw new DomicileError(
        'DOMICILE_ERR_STATE_CONFLICT',
        `policy set \`${hash}\`: already approved by \`${p.id}\``,
      );
    }
    const view = await this.view(hash);
    if (view.missing.length > 0) return view;
    return this.activate(ctx, set);
  }

  /** Every policy set known, newest first, with approvals and what is missing. */
  async list(): Promise<PolicyProposalView[]> {
    const sets = await this.options.store.listPolicySets();
    return Promise.all(sets.map((s) => this.view(s.hash)));
  }

  private async activate(ctx: GovernanceContext, set: StoredPolicySet): Promise<PolicyProposalView> {
    const files = { schemaText: set.schemaText, policies: set.policies };
    const engine = loadPolicyFiles(files);
    const previous = this.options.active.current().policyHash;
    // INVARIANT L1: the activation is on every jurisdiction's record before it takes effect
    await this.logAll([...this.options.config.jurisdictions.keys()], ctx, 'policy.activate', {
      decision: 'info',
      reason: 'policy set approved by the stewards of the affected jurisdictions and the auditor',
      policyHash: engine.policyHash,
      details: { previousPolicyHash: previous, affected: set.affected },
    });
    await this.options.store.activatePolicySet(set.hash, this.now());
    this.options.active.replace(engine, files);
    return this.view(set.hash);
  }

  private async view(hash: string): Promise<PolicyProposalView> {
    const set = await this.options.store.getPolicySet(hash);
    if (!set) throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no proposed policy set \`${hash}\``);
    const approvals = await this.options.store.policyApprovals(hash);
    const stewarded = new Set(
      approvals.flatMap((a) => (a.capacity === 'auditor' ? [] : a.capacity.stewardOf)),
    );
    const missing = [
      ...set.affected.filter((j) => !stewarded.has(j)).map((j) => `steward:${j}`),
      ...(approvals.some((a) => a.capacity === 'auditor') ? [] : ['auditor']),
    ];
    return {
      hash: set.hash,
      status: set.status,
      proposedBy: set.proposedBy,
      proposedAt: new Date(set.proposedAt).toISOString(),
      activatedAt: set.activatedAt === null ? null : new Date(set.activatedAt).toISOString(),
      affected: set.affected,
      approvals: approvals.map((a) => ({
        principalId: a.principalId,
        capacity: a.capacity,
        approvedAt: new Date(a.approvedAt).toISOString(),
      })),
      missing: set.status === 'proposed' ? missing : [],
    };
  }

  private async logAll(
    jurisdictions: readonly JurisdictionId[],
    ctx: GovernanceContext,
    type: string,
    entry: {
      decision: 'allow' | 'deny' | 'info';
      reason: string;
      policyHash: string;
      determining?: readonly string[];
      details?: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
    },
  ): Promise<void> {
    for (const j of jurisdictions) {
      await this.options.audit(j).append({
        type,
        requestId: ctx.requestId,
        principal: summarizePrincipal(ctx.principal),
        jurisdiction: j,
        decision: entry.decision,
        reason: entry.reason,
        policyHash: entry.policyHash,
        determining: entry.determining ?? [],
        ...(entry.details === undefined ? {} : { details: entry.details }),
      });
    }
  }
}

/**
 * Keeps `active` on the set the control store holds as active, for processes that share the
 * control store with the one that activates (gateways and region nodes of one deployment): polls
 * every `intervalMs` and swaps in a newly activated set. Returns the function that stops it.
 * A stored set that no longer loads is reported and the engine in force is kept.
 */
export function followActivePolicy(options: {
  readonly store: ControlStore;
  readonly active: ActivePolicy;
  readonly intervalMs: number;
  readonly onError: (error: unknown) => void;
}): () => void {
  const { store, active } = options;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    store
      .activePolicySet()
      .then((stored) => {
        if (!stored || stored.hash === active.current().policyHash) return;
        const files = { schemaText: stored.schemaText, policies: stored.policies };
        active.replace(loadPolicyFiles(files), files);
      })
      .catch(options.onError)
      .finally(() => {
        running = false;
      });
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
