/**
 * A region node: the only place where a region's records are encrypted, decrypted and stored.
 * It trusts nobody about residency: every write and every replica is checked against the
 * configuration again here (invariant R1, defence in depth), even when the gateway already did.
 */

import { decryptRecord, encryptRecord } from '../../crypto/envelope.js';
import type { DataKey, Keyring, WrappedKey } from '../../crypto/keyring.js';
import type { Config } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import {
  assertMayHold,
  drainingRegions,
  isGlobalClass,
  replicaRegions,
  requireJurisdiction,
} from '../../domain/residency.js';
import type { RegionStore, StoredRecord } from '../../store/region-store.js';
import {
  type AccessDecision,
  type Authorizer,
  auditDetailsOf,
  EVALUATION_FAILED,
  type VaultAction,
} from '../access/authorizer.js';
import { type Principal, summarizePrincipal } from '../access/principal.js';
import type { AuditSink } from '../audit/audit-event.js';
import type { TransferGate } from '../transfer/gate.js';

/** Who is asking, for one request. */
export interface RequestContext {
  readonly requestId: string;
  readonly principal: Principal;
}

/** Identifies a subject's data at a region. */
export interface SubjectRef {
  readonly subjectId: SubjectId;
  readonly jurisdiction: JurisdictionId;
}

/** Identifies one record. */
export interface RecordRef extends SubjectRef {
  readonly key: RecordKey;
}

/** What a write or read returns about a record. */
export interface RecordMeta {
  readonly subjectId: SubjectId;
  readonly key: RecordKey;
  readonly class: ClassId;
  readonly version: number;
  readonly region: RegionId;
}

/** A read record with its value. */
export interface RecordWithValue extends RecordMeta {
  readonly value: unknown;
}

/** A line of a subject's record listing. */
export interface RecordListing {
  readonly key: RecordKey;
  readonly class: ClassId;
  readonly version: number;
  readonly updatedAt: string;
}

/**
 * A copy sent from one region to another.
 * - `sealed`: a personal record as ciphertext with its DEK wrapped by the jurisdiction's KEK;
 *   only regions of the jurisdiction hold that KEK, so only they can open it.
 * - `open`: a global-class (non-personal) record; the receiver encrypts it under its own key.
 * - `delete`: the record is gone at the origin.
 */
export type Replica =
  | { readonly kind: 'sealed'; readonly record: StoredRecord; readonly wrappedKey: WrappedKey }
  | {
      readonly kind: 'open';
      readonly ref: RecordRef;
      readonly classId: ClassId;
      readonly version: number;
      readonly value: Uint8Array;
      readonly updatedAt: number;
    }
  | { readonly kind: 'delete'; readonly ref: RecordRef };

/** The operations a gateway (or another region) can ask of a region node. */
export interface RegionClient {
  readonly regionId: RegionId;
  putRecord(ctx: RequestContext, ref: RecordRef, classId: ClassId, value: unknown): Promise<RecordMeta>;
  getRecord(ctx: RequestContext, ref: RecordRef): Promise<RecordWithValue>;
  listRecords(ctx: RequestContext, ref: SubjectRef): Promise<RecordListing[]>;
  deleteRecord(ctx: RequestContext, ref: RecordRef): Promise<void>;
  eraseSubject(ctx: RequestContext, ref: SubjectRef): Promise<{ records: number }>;
  receiveReplica(replica: Replica): Promise<void>;
  /** Destroys a subject's DEK and rows here, as part of an erasure served by another region. */
  purgeSubject(ref: SubjectRef): Promise<number>;
  /**
   * The stored version of a record here (no policy, no audit, no value): asked by the home region
   * of a draining region during a cut-over, so a write continues the record's version numbers.
   */
  recordVersion?(ref: RecordRef): Promise<number | undefined>;
  checkHealth(): Promise<void>;
}

/** How a region node reaches its peers (in-process in `domicile up`, HTTPS between processes). */
export type PeerLookup = (regionId: RegionId) => RegionClient | undefined;

/** Dependencies of a region node. */
export interface RegionNodeOptions {
  readonly config: Config;
  readonly regionId: RegionId;
  readonly store: RegionStore;
  readonly keyring: Keyring;
  readonly authorizer: Authorizer;
  /** The audit sink of a jurisdiction's log. */
  readonly audit: (jurisdiction: JurisdictionId) => AuditSink;
  readonly peers: PeerLookup;
  /** Told about replication that could not reach a peer (no personal data in the arguments). */
  readonly onReplicationFailure?: (target: RegionId, error: unknown) => void;
  /** The transfer gate every replica passes (T1); volumes are summed into its log summaries. */
  readonly gate?: TransferGate;
  readonly now?: () => number;
}

const MAX_WRITE_ATTEMPTS = 8;

/** A region node. Create one per region; `stop()` makes it unavailable like a crashed process. */
export class RegionNode implements RegionClient {
  readonly regionId: RegionId;
  private readonly options: RegionNodeOptions;
  private readonly now: () => number;
  private stopped = false;

  constructor(options: RegionNodeOptions) {
    this.options = options;
    this.regionId = options.regionId;
    this.now = options.now ?? Date.now;
  }

  /** Marks the node unavailable: every call then fails with `DOMICILE_ERR_REGION_UNAVAILABLE`. */
  stop(): void {
    this.stopped = true;
  }

  /** Makes a stopped node available again. */
  restart(): void {
    this.stopped = false;
  }

  get available(): boolean {
    return !this.stopped;
  }

  async checkHealth(): Promise<void> {
    this.assertUp();
    await this.options.store.checkHealth();
  }

  async putRecord(
    ctx: RequestContext,
    ref: RecordRef,
    classId: ClassId,
    value: unknown,
  ): Promise<RecordMeta> {
    this.assertUp();
    const { config, store } = this.options;
    // INVARIANT R1: this region re-checks that it may hold this data, whatever the caller decided.
    assertMayHold(config, this.regionId, ref.jurisdiction, classId);
    await this.authorizeAndAudit(ctx, 'write', 'record.write', ref, classId);
    const plaintext = Buffer.from(JSON.stringify(value), 'utf8');
    const global = isGlobalClass(config, classId);
    const key = await this.dataKeyFor(ref, global, true);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await store.getRecord(ref.subjectId, ref.key);
      if (current && current.jurisdiction !== ref.jurisdiction) {
        throw new DomicileError(
          'DOMICILE_ERR_JURISDICTION_CONFLICT',
          'record belongs to another jurisdiction',
        );
      }
      // INVARIANT: during a cut-over a record not yet migrated continues its legacy versions, so the
      // migration's put-if-newer never lets the older legacy copy overwrite this write
      const version = (current?.version ?? (await this.drainingVersion(ref))) + 1;
      const record: StoredRecord = {
        subjectId: ref.subjectId,
        key: ref.key,
        jurisdiction: ref.jurisdiction,
        classId,
        version,
        ciphertext: encryptRecord(key, { ...ref, classId, version }, plaintext),
        keyId: key.id,
        updatedAt: this.now(),
      };
      if ((await store.putRecord(record, current?.version ?? 0)) === 'written') {
        await this.replicate(
          ref,
          classId,
          global ? { kind: 'open', value: plaintext, record } : { kind: 'sealed', record },
        );
        return { subjectId: ref.subjectId, key: ref.key, class: classId, version, region: this.regionId };
      }
    }
    throw new DomicileError(
      'DOMICILE_ERR_STORE_UNAVAILABLE',
      'too many concurrent writes of the same record',
    );
  }

  async getRecord(ctx: RequestContext, ref: RecordRef): Promise<RecordWithValue> {
    this.assertUp();
    const record = await this.options.store.getRecord(ref.subjectId, ref.key);
    const classId = record?.classId;
    // A foreign region may answer only for global-class records; anything else is refused
    // before policy is even asked (R1), and a missing record reveals nothing either way.
    assertMayHold(this.options.config, this.regionId, ref.jurisdiction, classId ?? ('protected' as ClassId));
    await this.authorizeAndAudit(ctx, 'read', 'record.read', ref, classId);
    if (!record || record.jurisdiction !== ref.jurisdiction) {
      throw new DomicileError('DOMICILE_ERR_RECORD_NOT_FOUND', `no record \`${ref.key}\` for this subject`);
    }
    const key = await this.options.keyring.keyById(ref.jurisdiction, ref.subjectId, record.keyId);
    if (!key) throw new DomicileError('DOMICILE_ERR_INTEGRITY', 'the data key of this record is destroyed');
    const plaintext = decryptRecord(
      key,
      { ...ref, classId: record.classId, version: record.version },
      record.ciphertext,
    );
    return {
      subjectId: ref.subjectId,
      key: ref.key,
      class: record.classId,
      version: record.version,
      region: this.regionId,
      value: JSON.parse(plaintext.toString('utf8')) as unknown,
    };
  }

  async listRecords(ctx: RequestContext, ref: SubjectRef): Promise<RecordListing[]> {
    this.assertUp();
    assertMayHold(this.options.config, this.regionId, ref.jurisdiction, 'protected' as ClassId);
    await this.authorizeAndAudit(ctx, 'list', 'record.list', ref, undefined);
    const rows = await this.options.store.listRecords(ref.subjectId, ref.jurisdiction);
    return rows.map((r) => ({
      key: r.key,
      class: r.classId,
      version: r.version,
      updatedAt: new Date(r.updatedAt).toISOString(),
    }));
  }

  async deleteRecord(ctx: RequestContext, ref: RecordRef): Promise<void> {
    this.assertUp();
    const { config, store } = this.options;
    const record = await store.getRecord(ref.subjectId, ref.key);
    const classId = record?.classId ?? ('protected' as ClassId);
    assertMayHold(config, this.regionId, ref.jurisdiction, classId);
    await this.authorizeAndAudit(ctx, 'delete', 'record.delete', ref, record?.classId);
    const deletedHere =
      record !== undefined && (await store.deleteRecord(ref.subjectId, ref.key, ref.jurisdiction));
    // during a cut-over the legacy copy goes too, or the migration would bring it back
    const deletedDraining = await this.deleteInDraining(ref);
    if (!deletedHere && !deletedDraining) {
      throw new DomicileError('DOMICILE_ERR_RECORD_NOT_FOUND', `no record \`${ref.key}\` for this subject`);
    }
    if (deletedHere) await this.replicate(ref, classId, { kind: 'delete' });
  }

  /** Deletes a record's copies in the jurisdiction's draining regions; true when one existed. */
  private async deleteInDraining(ref: RecordRef): Promise<boolean> {
    let existed = false;
    for (const regionId of drainingRegions(this.options.config, ref.jurisdiction)) {
      const peer = regionId === this.regionId ? undefined : this.options.peers(regionId);
      if (!peer?.recordVersion) continue;
      try {
        if ((await peer.recordVersion(ref)) === undefined) continue;
        await peer.receiveReplica({ kind: 'delete', ref });
        existed = true;
      } catch (cause) {
        throw new DomicileError(
          'DOMICILE_ERR_REGION_UNAVAILABLE',
          `draining region \`${regionId}\` unreachable during cut-over: retry`,
          { cause },
        );
      }
    }
    return existed;
  }

  async eraseSubject(ctx: RequestContext, ref: SubjectRef): Promise<{ records: number }> {
    this.assertUp();
    assertMayHold(this.options.config, this.regionId, ref.jurisdiction, 'protected' as ClassId);
    await this.authorizeAndAudit(ctx, 'erase', 'subject.erase', ref, undefined);
    const records = await this.purgeSubject(ref);
    // INVARIANT E1: every region that may hold a copy (same-jurisdiction regions, and every region
    // for global-class replicas) loses the subject's key and rows; an unreachable one fails the
    // erasure so that the caller retries (erasure is idempotent).
    const targets = new Set<RegionId>();
    for (const c of this.options.config.classes.keys()) {
      for (const r of replicaRegions(this.options.config, ref.jurisdiction, c, this.regionId)) targets.add(r);
    }
    const jurisdiction = requireJurisdiction(this.options.config, ref.jurisdiction);
    for (const r of jurisdiction.legacy) if (r !== this.regionId) targets.add(r);
    for (const target of targets) {
      const peer = this.options.peers(target);
      if (!peer) continue;
      try {
        await peer.purgeSubject(ref);
      } catch (cause) {
        throw new DomicileError(
          'DOMICILE_ERR_REGION_UNAVAILABLE',
          `region \`${target}\` unreachable during erasure: retry`,
          {
            cause,
          },
        );
      }
    }
    // a replica a peer still held for this region (it was down) arrived before that peer's purge:
    // purging here again leaves nothing behind
    return { records: records + (await this.purgeSubject(ref)) };
  }

  async purgeSubject(ref: SubjectRef): Promise<number> {
    this.assertUp();
    const { keyring, store } = this.options;
    // Destroy the key first: from that moment every copy anywhere (backups included) is unreadable.
    if (await keyring.hasKek(ref.jurisdiction))
      await keyring.destroySubjectKey(ref.jurisdiction, ref.subjectId);
    // INVARIANT E1, R1: only this jurisdiction's rows of the id; another's subject of the same id stays
    return store.deleteSubject(ref.subjectId, ref.jurisdiction);
  }

  async recordVersion(ref: RecordRef): Promise<number | undefined> {
    this.assertUp();
    const record = await this.options.store.getRecord(ref.subjectId, ref.key);
    return record !== undefined && record.jurisdiction === ref.jurisdiction ? record.version : undefined;
  }

  /** The highest version of a record in the jurisdiction's draining regions (0 when none holds it). */
  private async drainingVersion(ref: RecordRef): Promise<number> {
    let version = 0;
    for (const regionId of drainingRegions(this.options.config, ref.jurisdiction)) {
      if (regionId === this.regionId) continue;
      const peer = this.options.peers(regionId);
      if (!peer?.recordVersion) continue;
      try {
        version = Math.max(version, (await peer.recordVersion(ref)) ?? 0);
      } catch (cause) {
        // fail closed: a version guessed too low could be overwritten by the migration later
        throw new DomicileError(
          'DOMICILE_ERR_REGION_UNAVAILABLE',
          `draining region \`${regionId}\` unreachable during cut-over: retry`,
          { cause },
        );
      }
    }
    return version;
  }

  async receiveReplica(replica: Replica): Promise<void> {
    this.assertUp();
    const { config, store, keyring } = this.options;
    if (replica.kind === 'delete') {
      const { ref } = replica;
      // INVARIANT R1: a replica of one jurisdiction never deletes another's row of the same id
      await store.deleteRecord(ref.subjectId, ref.key, ref.jurisdiction);
      return;
    }
    if (replica.kind === 'sealed') {
      const { record } = replica;
      // INVARIANT R1: a sealed copy is accepted only by a region allowed to hold it.
      assertMayHold(config, this.regionId, record.jurisdiction, record.classId);
      try {
        await keyring.importSubjectKey(record.jurisdiction, record.subjectId, replica.wrappedKey);
      } catch (error) {
        // the wrapped key comes from the sender: one that is malformed or does not unwrap here
        // is a bad request, not a fault of this region
        if (!isDomicileError(error, 'DOMICILE_ERR_INTEGRITY')) throw error;
        throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', 'replica: its data key does not unwrap here', {
          cause: error,
        });
      }
      await store.putRecordIfNewer(record);
      return;
    }
    assertMayHold(config, this.regionId, replica.ref.jurisdiction, replica.classId);
    if (!isGlobalClass(config, replica.classId)) {
      throw new DomicileError(
        'DOMICILE_ERR_RESIDENCY',
        `region \`${this.regionId}\`: refusing open copy of a personal class`,
      );
    }
    const key = await keyring.regionKey();
    await store.putRecordIfNewer({
      subjectId: replica.ref.subjectId,
      key: replica.ref.key,
      jurisdiction: replica.ref.jurisdiction,
      classId: replica.classId,
      version: replica.version,
      ciphertext: encryptRecord(
        key,
        { ...replica.ref, classId: replica.classId, version: replica.version },
        replica.value,
      ),
      keyId: key.id,
      updatedAt: replica.updatedAt,
    });
  }

  private assertUp(): void {
    if (this.stopped) {
      throw new DomicileError(
        'DOMICILE_ERR_REGION_UNAVAILABLE',
        `region \`${this.regionId}\` is unavailable`,
      );
    }
  }

  private async dataKeyFor(ref: SubjectRef, global: boolean, create: boolean): Promise<DataKey> {
    const { keyring } = this.options;
    const key = global
      ? await keyring.regionKey()
      : await keyring.subjectKey(ref.jurisdiction, ref.subjectId, create);
    if (!key) throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', 'no data key for this subject');
    return key;
  }

  /**
   * Asks policy, writes the decision to the jurisdiction's log, and only then lets the
   * operation proceed. INVARIANT L1 and A1: allowed or denied, the decision is durable first.
   */
  private async authorizeAndAudit(
    ctx: RequestContext,
    action: VaultAction,
    type: string,
    ref: SubjectRef & { key?: RecordKey },
    classId: ClassId | undefined,
  ): Promise<AccessDecision> {
    const { config, authorizer } = this.options;
    const jurisdiction = requireJurisdiction(config, ref.jurisdiction);
    let decision: AccessDecision;
    try {
      decision = await authorizer.decide({
        principal: ctx.principal,
        action,
        jurisdiction,
        subjectId: ref.subjectId,
        classId,
        globalClass: classId !== undefined && isGlobalClass(config, classId),
      });
    } catch {
      // Fail closed: an error while deciding is a deny.
      decision = EVALUATION_FAILED;
    }
    try {
      await this.options.audit(ref.jurisdiction).append({
        type,
        requestId: ctx.requestId,
        principal: summarizePrincipal(ctx.principal),
        jurisdiction: ref.jurisdiction,
        subjectId: ref.subjectId,
        ...(ref.key === undefined ? {} : { recordKey: ref.key }),
        ...(classId === undefined ? {} : { classId }),
        region: this.regionId,
        decision: decision.allowed ? 'allow' : 'deny',
        reason: decision.reason,
        policyHash: decision.policyHash,
        determining: decision.determining,
        ...auditDetailsOf(decision),
      });
    } catch (cause) {
      if (isDomicileError(cause, 'DOMICILE_ERR_AUDIT_UNAVAILABLE')) throw cause;
      throw new DomicileError(
        'DOMICILE_ERR_AUDIT_UNAVAILABLE',
        'audit log unavailable: operation not performed',
        { cause },
      );
    }
    if (!decision.allowed) {
      throw new DomicileError('DOMICILE_ERR_FORBIDDEN', `denied: ${decision.reason}`, {
        details: { policyHash: decision.policyHash, determining: decision.determining },
      });
    }
    return decision;
  }

  private async passGate(
    ref: RecordRef,
    classId: ClassId,
    target: RegionId,
    replica: Replica & { kind: 'sealed' | 'open' },
  ): Promise<boolean> {
    const gate = this.options.gate;
    if (!gate) return true;
    try {
      await gate.authorize(
        {
          kind: 'replication',
          sourceJurisdiction: ref.jurisdiction,
          sourceRegion: this.regionId,
          destinationRegion: target,
          classId,
          // a sealed copy carries its wrapped key: the receiver can decrypt it, so it counts as plaintext
          form: 'plaintext',
          records: 1,
          bytes: replica.kind === 'sealed' ? replica.record.ciphertext.length : replica.value.length,
        },
        { batch: true },
      );
      return true;
    } catch (error) {
      this.options.onReplicationFailure?.(target, error);
      return false;
    }
  }

  private async replicate(
    ref: RecordRef,
    classId: ClassId,
    what:
      | { kind: 'sealed'; record: StoredRecord }
      | { kind: 'open'; value: Uint8Array; record: StoredRecord }
      | { kind: 'delete' },
  ): Promise<void> {
    const targets = replicaRegions(this.options.config, ref.jurisdiction, classId, this.regionId);
    if (targets.length === 0) return;
    let replica: Replica;
    if (what.kind === 'delete') replica = { kind: 'delete', ref };
    else if (what.kind === 'open') {
      replica = {
        kind: 'open',
        ref,
        classId,
        version: what.record.version,
        value: what.value,
        updatedAt: what.record.updatedAt,
      };
    } else {
      const wrappedKey = await this.options.keyring.exportSubjectKey(ref.jurisdiction, ref.subjectId);
      if (!wrappedKey)
        throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', 'subject key vanished during write');
      replica = { kind: 'sealed', record: what.record, wrappedKey };
    }
    await Promise.all(
      targets.map(async (target) => {
        const peer = this.options.peers(target);
        if (!peer) return;
        // INVARIANT T1: every copy leaving this region passes the transfer gate and is counted;
        // a refused target gets nothing (the refusal is on the log).
        if (replica.kind !== 'delete' && !(await this.passGate(ref, classId, target, replica))) return;
        try {
          await peer.receiveReplica(replica);
        } catch (error) {
          this.options.onReplicationFailure?.(target, error);
        }
      }),
    );
  }
}
