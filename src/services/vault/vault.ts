/**
 * The vault as the gateway sees it: the subject directory, routing, and the region nodes behind
 * them. It holds no keys and stores no records; it only decides where a request goes.
 */
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { requireJurisdiction } from '../../domain/residency.js';
import type { SubjectDirectory } from '../../store/region-store.js';
import {
  type AccessDecision,
  type Authorizer,
  auditDetailsOf,
  EVALUATION_FAILED,
} from '../access/authorizer.js';
import { summarizePrincipal } from '../access/principal.js';
import type { AuditSink } from '../audit/audit-event.js';
import type { Router } from '../routing/router.js';
import type {
  RecordListing,
  RecordMeta,
  RecordWithValue,
  RegionClient,
  RequestContext,
} from './region-node.js';

/** Receipt of an erasure (E1). */
export interface ErasureReceipt {
  readonly subjectId: SubjectId;
  readonly erasedAt: string;
  readonly records: number;
  readonly region: RegionId;
}

/** Dependencies of the vault service. */
export interface VaultServiceOptions {
  readonly config: Config;
  readonly directory: SubjectDirectory;
  readonly router: Router;
  readonly authorizer: Authorizer;
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  /**
   * Told after an erasure succeeded everywhere, before it is acknowledged: the erasure ledger,
   * which every restore re-applies (E1).
   */
  readonly onErased?: (jurisdiction: JurisdictionId, subjectId: SubjectId, erasedAt: Date) => Promise<void>;
  readonly now?: () => Date;
}

/** Served-by annotation added to every answer, for the `X-Domicile-Region` header. */
export interface Served<T> {
  readonly result: T;
  readonly region: RegionId;
  readonly jurisdiction: JurisdictionId;
}

/** The gateway's vault service. */
export class VaultService {
  private readonly options: VaultServiceOptions;

  constructor(options: VaultServiceOptions) {
    this.options = options;
  }

  /** Registers a subject in a jurisdiction (idempotent; another jurisdiction is a 409). */
  async registerSubject(
    ctx: RequestContext,
    subjectId: SubjectId,
    jurisdictionId: string,
  ): Promise<{ subjectId: SubjectId; jurisdiction: JurisdictionId; created: boolean }> {
    const jurisdiction = requireJurisdiction(this.options.config, jurisdictionId);
    let decision: AccessDecision;
    try {
      decision = await this.options.authorizer.decide({
        principal: ctx.principal,
        action: 'register',
        jurisdiction,
        subjectId,
        classId: undefined,
        globalClass: false,
      });
    } catch {
      // Fail closed: an error while deciding is a deny.
      decision = EVALUATION_FAILED;
    }
    await this.options.audit(jurisdiction.id).append({
      type: 'subject.register',
      requestId: ctx.requestId,
      principal: summarizePrincipal(ctx.principal),
      jurisdiction: jurisdiction.id,
      subjectId,
      decision: decision.allowed ? 'allow' : 'deny',
      reason: decision.reason,
      policyHash: decision.policyHash,
      determining: decision.determining,
      ...auditDetailsOf(decision),
    });
    if (!decision.allowed) {
      throw new DomicileError('DOMICILE_ERR_FORBIDDEN', `denied: ${decision.reason}`, {
        details: { policyHash: decision.policyHash, determining: decision.determining },
      });
    }
    const outcome = await this.options.directory.register(subjectId, jurisdiction.id);
    if (outcome === 'conflict') {
      throw new DomicileError(
        'DOMICILE_ERR_JURISDICTION_CONFLICT',
        'subject is registered in another jurisdiction: relocation is a separate operation',
      );
    }
    return { subjectId, jurisdiction: jurisdiction.id, created: outcome === 'created' };
  }

  /**
   * Puts a refused token on the record of the subject's jurisdiction (when the subject exists):
   * an attempt on someone's data is part of its access log even when it never got as far as
   * policy. Best effort: the caller is refused whether or not this entry is written.
   */
  async recordAuthenticationFailure(requestId: string, subjectId: SubjectId, reason: string): Promise<void> {
    try {
      const jurisdiction = await this.options.directory.lookup(subjectId);
      if (!jurisdiction) return;
      await this.options.audit(jurisdiction).append({
        type: 'auth.deny',
        requestId,
        principal: null,
        jurisdiction,
        subjectId,
        decision: 'deny',
        reason,
      });
    } catch {
      // the 401 stands; the operator log has the refusal
    }
  }

  /** The jurisdiction of a registered subject, or `DOMICILE_ERR_SUBJECT_NOT_FOUND`. */
  async jurisdictionOf(subjectId: SubjectId): Promise<JurisdictionId> {
    const jurisdiction = await this.options.directory.lookup(subjectId);
    if (!jurisdiction) throw new DomicileError('DOMICILE_ERR_SUBJECT_NOT_FOUND', 'no such subject');
    return jurisdiction;
  }

  async putRecord(
    ctx: RequestContext,
    subjectId: SubjectId,
    key: RecordKey,
    classId: ClassId,
    value: unknown,
  ): Promise<Served<RecordMeta>> {
    const jurisdiction = await this.jurisdictionOf(subjectId);
    return this.serve(jurisdiction, (c) =>
      c.putRecord(ctx, { subjectId, jurisdiction, key }, classId, value),
    );
  }

  async getRecord(
    ctx: RequestContext,
    subjectId: SubjectId,
    key: RecordKey,
  ): Promise<Served<RecordWithValue>> {
    const jurisdiction = await this.jurisdictionOf(subjectId);
    // during a cut-over, a record not yet migrated is read from the draining region
    const { result, region } = await this.options.router.serveRead(jurisdiction, (c) =>
      c.getRecord(ctx, { subjectId, jurisdiction, key }),
    );
    return { result, region, jurisdiction };
  }

  async listRecords(ctx: RequestContext, subjectId: SubjectId): Promise<Served<RecordListing[]>> {
    const jurisdiction = await this.jurisdictionOf(subjectId);
    const { result, region } = await this.options.router.serveRead(
      jurisdiction,
      (c) => c.listRecords(ctx, { subjectId, jurisdiction }),
      mergeListings,
    );
    return { result, region, jurisdiction };
  }

  async deleteRecord(ctx: RequestContext, subjectId: SubjectId, key: RecordKey): Promise<Served<void>> {
    const jurisdiction = await this.jurisdictionOf(subjectId);
    return this.serve(jurisdiction, (c) => c.deleteRecord(ctx, { subjectId, jurisdiction, key }));
  }

  /** Erases a subject everywhere (E1) and removes it from the directory. */
  async eraseSubject(ctx: RequestContext, subjectId: SubjectId): Promise<Served<ErasureReceipt>> {
    const jurisdiction = await this.jurisdictionOf(subjectId);
    const served = await this.serve(jurisdiction, (c) => c.eraseSubject(ctx, { subjectId, jurisdiction }));
    const now = this.options.now?.() ?? new Date();
    // INVARIANT E1: the erasure is in the ledger before it is acknowledged, so no later restore
    // of an older backup brings the subject back
    await this.options.onErased?.(jurisdiction, subjectId, now);
    await this.options.directory.remove(subjectId);
    return {
      ...served,
      result: {
        subjectId,
        erasedAt: now.toISOString(),
        records: served.result.records,
        region: served.region,
      },
    };
  }

  private async serve<T>(
    jurisdiction: JurisdictionId,
    op: (client: RegionClient) => Promise<T>,
  ): Promise<Served<T>> {
    const { result, region } = await this.options.router.serve(jurisdiction, op);
    return { result, region, jurisdiction };
  }
}

/**
 * Merges a draining region's listing into the home region's: records the home region does not
 * hold yet are added; where both hold one, the newer version wins. Ordered by key.
 */
function mergeListings(
  served: RecordListing[],
  drained: RecordListing[],
): { result: RecordListing[]; changed: boolean } {
  const byKey = new Map(served.map((r) => [r.key, r]));
  let changed = false;
  for (const r of drained) {
    const mine = byKey.get(r.key);
    if (!mine || mine.version < r.version) {
      byKey.set(r.key, r);
      changed = true;
    }
  }
  if (!changed) return { result: served, changed };
  return {
    result: [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    changed,
  };
}
