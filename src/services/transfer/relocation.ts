/**
 * Relocation: a subject who moves to another jurisdiction takes their records along. Each record
 * is decrypted in the old jurisdiction, re-encrypted under a data key of the new jurisdiction
 * (whose KEK wraps it) and written there; the directory then names the new home; the old copies
 * are erased (keys destroyed, rows deleted — E1) and the erasure is put in the old jurisdiction's
 * ledger so no old backup brings them back. Both logs get the `transfer.relocation` entries.
 */
import { decryptRecord, encryptRecord } from '../../crypto/envelope.js';
import type { Keyring } from '../../crypto/keyring.js';
import type { Config, Jurisdiction } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RegionId, SubjectId } from '../../domain/ids.js';
import { isGlobalClass, requireJurisdiction, servingRegions } from '../../domain/residency.js';
import type { RegionStore, StoredRecord, SubjectDirectory } from '../../store/region-store.js';
import type { TransferStore } from '../../store/transfer-store.js';
import type { OperationContext } from '../backup/backup.js';
import type { RegionClient } from '../vault/region-node.js';
import { requireOperator, type TransferGate } from './gate.js';

/** Receipt of a relocation. */
export interface RelocationReceipt {
  readonly subjectId: string;
  readonly from: string;
  readonly to: string;
  readonly records: number;
  readonly region: string;
  readonly relocatedAt: string;
}

/** Dependencies of the relocation service. */
export interface RelocationServiceOptions {
  readonly config: Config;
  readonly directory: SubjectDirectory;
  readonly nodes: ReadonlyMap<RegionId, RegionClient>;
  readonly stores: ReadonlyMap<RegionId, RegionStore>;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  readonly gate: TransferGate;
  readonly transfers: TransferStore;
  readonly pseudonym: (jurisdiction: JurisdictionId, subjectId: SubjectId) => string;
  readonly now?: () => number;
}

interface Moving {
  readonly record: StoredRecord;
  readonly plaintext: Buffer;
}

/** The relocation service. */
export class RelocationService {
  private readonly options: RelocationServiceOptions;
  private readonly now: () => number;

  constructor(options: RelocationServiceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /**
   * Moves a subject and its records to jurisdiction `to`. `DOMICILE_ERR_UNKNOWN_JURISDICTION`
   * (logged) for an unknown target, `DOMICILE_ERR_STATE_CONFLICT` when it already lives there,
   * `DOMICILE_ERR_FORBIDDEN` unless the caller operates the subject's current jurisdiction.
   *
   * @example
   * const receipt = await relocation.relocate('user-1', 'EU', ctx);
   */
  async relocate(subjectId: SubjectId, to: string, ctx: OperationContext): Promise<RelocationReceipt> {
    const { config, directory, gate } = this.options;
    const current = await directory.lookup(subjectId);
    if (!current) throw new DomicileError('DOMICILE_ERR_SUBJECT_NOT_FOUND', 'no such subject');
    const from = requireJurisdiction(config, current);
    const source = this.regionOf(from);
    const base = {
      kind: 'relocation' as const,
      sourceJurisdiction: from.id,
      sourceRegion: source.region,
      destinationJurisdiction: to,
      requestId: ctx.requestId,
      principal: ctx.principal,
      form: 'plaintext' as const,
      records: 0,
      bytes: 0,
    };
    const target = config.jurisdictions.get(to as JurisdictionId);
    if (!target) {
      // INVARIANT T1: nothing moves to a jurisdiction the configuration does not know
      await gate.logRefusal(
        { ...base, destinationRegion: source.region, classId: 'protected' },
        `unknown jurisdiction \`${to.slice(0, 16)}\``,
      );
      throw new DomicileError(
        'DOMICILE_ERR_UNKNOWN_JURISDICTION',
        `unknown jurisdiction \`${to.slice(0, 16)}\``,
      );
    }
    if (target.id === from.id) {
      throw new DomicileError('DOMICILE_ERR_STATE_CONFLICT', `subject already lives in \`${target.id}\``);
    }
    const destination = this.regionOf(target);
    await requireOperator(gate, ctx.principal, from, {
      ...base,
      destinationRegion: destination.region,
      classId: 'protected',
    });
    const moving = await this.read(subjectId, from, source);
    const byClass = new Map<ClassId, { records: number; bytes: number }>();
    for (const m of moving) {
      const sum = byClass.get(m.record.classId) ?? { records: 0, bytes: 0 };
      byClass.set(m.record.classId, { records: sum.records + 1, bytes: sum.bytes + m.plaintext.length });
    }
    if (byClass.size === 0) byClass.set('protected' as ClassId, { records: 0, bytes: 0 });
    for (const [classId, volume] of byClass) {
      await gate.authorize({ ...base, destinationRegion: destination.region, classId, ...volume });
    }
    const written = await this.write(subjectId, target, destination, moving);
    // the directory names the new home before the old copies go: a crash in between leaves two
    // copies (re-run the erasure), never none
    await directory.remove(subjectId);
    await directory.register(subjectId, target.id);
    await this.eraseOld(subjectId, from);
    await this.options.transfers.recordErasure({
      jurisdiction: from.id,
      subject: this.options.pseudonym(from.id, subjectId),
      erasedAt: this.now(),
    });
    await this.replicateGlobal(target, destination.region, written);
    return {
      subjectId,
      from: from.id,
      to: target.id,
      records: moving.length,
      region: destination.region,
      relocatedAt: new Date(this.now()).toISOString(),
    };
  }

  private regionOf(j: Jurisdiction): { region: RegionId; store: RegionStore; keyring: Keyring } {
    for (const region of servingRegions(this.options.config, j.id)) {
      const store = this.options.stores.get(region);
      const keyring = this.options.keyrings.get(region);
      if (store && keyring) return { region, store, keyring };
    }
    throw new DomicileError(
      'DOMICILE_ERR_REGION_UNAVAILABLE',
      `no region of jurisdiction \`${j.id}\` is available`,
    );
  }

  private async read(
    subjectId: SubjectId,
    from: Jurisdiction,
    source: { store: RegionStore; keyring: Keyring },
  ): Promise<Moving[]> {
    const out: Moving[] = [];
    for (const summary of await source.store.listRecords(subjectId, from.id)) {
      const record = await source.store.getRecord(subjectId, summary.key);
      if (!record || record.jurisdiction !== from.id) continue;
      const key = await source.keyring.keyById(from.id, subjectId, record.keyId);
      if (!key) throw new DomicileError('DOMICILE_ERR_INTEGRITY', 'the data key of this record is destroyed');
      out.push({ record, plaintext: decryptRecord(key, record, record.ciphertext) });
    }
    return out;
  }

  private async write(
    subjectId: SubjectId,
    target: Jurisdiction,
    destination: { region: RegionId; store: RegionStore; keyring: Keyring },
    moving: readonly Moving[],
  ): Promise<Moving[]> {
    const { config, nodes } = this.options;
    const written: Moving[] = [];
    for (const { record, plaintext } of moving) {
      const global = isGlobalClass(config, record.classId);
      const key = global
        ? await destination.keyring.regionKey()
        : await destination.keyring.subjectKey(target.id, subjectId, true);
      if (!key) throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', 'no data key for this subject');
      // a new version: it supersedes any older global-class replica of the same record
      const next = { ...record, jurisdiction: target.id, version: record.version + 1, keyId: key.id };
      const stored: StoredRecord = { ...next, ciphertext: encryptRecord(key, next, plaintext) };
      await destination.store.putRecordIfNewer(stored);
      written.push({ record: stored, plaintext });
      if (global) continue;
      const wrappedKey = await destination.keyring.exportSubjectKey(target.id, subjectId);
      if (!wrappedKey) throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', 'subject key vanished');
      for (const region of servingRegions(config, target.id)) {
        if (region === destination.region) continue;
        await nodes.get(region)?.receiveReplica({ kind: 'sealed', record: stored, wrappedKey });
      }
    }
    return written;
  }

  /** INVARIANT E1: every region of the old jurisdiction loses the subject's key and rows. */
  private async eraseOld(subjectId: SubjectId, from: Jurisdiction): Promise<void> {
    const regions = new Set<RegionId>([from.home, ...from.failover, ...from.legacy]);
    for (const region of regions) {
      const node = this.options.nodes.get(region);
      if (!node) continue;
      try {
        await node.purgeSubject({ subjectId, jurisdiction: from.id });
      } catch (cause) {
        throw new DomicileError(
          'DOMICILE_ERR_REGION_UNAVAILABLE',
          `region \`${region}\` unreachable while erasing the old copies: retry the erasure`,
          { cause },
        );
      }
    }
  }

  private async replicateGlobal(
    target: Jurisdiction,
    home: RegionId,
    written: readonly Moving[],
  ): Promise<void> {
    for (const { record, plaintext } of written) {
      if (!isGlobalClass(this.options.config, record.classId)) continue;
      for (const [region, node] of this.options.nodes) {
        if (region === home || this.options.config.regions.get(region)?.status !== 'active') continue;
        await node.receiveReplica({
          kind: 'open',
          ref: { subjectId: record.subjectId, jurisdiction: target.id, key: record.key },
          classId: record.classId,
          version: record.version,
          value: plaintext,
          updatedAt: record.updatedAt,
        });
      }
    }
  }
}
