/**
 * Backups (R1, T1, E1): a snapshot of a jurisdiction's records as ciphertext only — no key
 * material — with a manifest signed by the jurisdiction's backup key, written to a region's
 * `BackupStorage`. Only to the jurisdiction's own or configured backup regions (the transfer gate
 * decides). A restore verifies the manifest and the content, goes only to a region allowed to hold
 * the plaintext, needs the jurisdiction's keyring to decrypt, re-applies the erasure ledger, and
 * is idempotent: re-running an interrupted restore completes it and duplicates nothing.
 *
 * Layout of a backup `<id>`: `records-000000.jsonl`, `records-000001.jsonl`, … (one canonical JSON
 * record per line: ids, class, version, key id, base64 ciphertext) and `manifest.note`, a C2SP
 * signed note whose text is the canonical JSON manifest. The manifest's `root` is the RFC 9162
 * Merkle tree root over every record line (leaf = the line's bytes, without the newline).
 */
import { decryptRecord, encryptRecord } from '../../crypto/envelope.js';
import type { DataKey, Keyring } from '../../crypto/keyring.js';
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../../domain/ids.js';
import { isGlobalClass, requireJurisdiction, requireRegion, servingRegions } from '../../domain/residency.js';
import type { BackupStorage } from '../../store/backup-storage.js';
import type { RegionStore, StoredRecord, SubjectDirectory } from '../../store/region-store.js';
import type { TransferStore } from '../../store/transfer-store.js';
import { hashLeaf, rootFromLeafHashes } from '../../tlog/merkle.js';
import type { NoteSigner, NoteVerifier } from '../../tlog/note.js';
import type { Principal } from '../access/principal.js';
import { canonicalJson } from '../audit/entry.js';
import { requireOperator, type TransferGate } from '../transfer/gate.js';
import { BackupShelf, invalidBackup, newBackupId, refuseIfDenied, sha256 } from './common.js';

/** Version of the manifest format. */
export const MANIFEST_VERSION = 1;
const PAGE = 1000;

/** The signed manifest of a backup. */
export interface BackupManifest {
  readonly v: number;
  readonly id: string;
  readonly jurisdiction: string;
  readonly sourceRegion: string;
  readonly targetRegion: string;
  readonly createdAt: string;
  /** Always `ciphertext`: no key material is ever in a backup. */
  readonly form: 'ciphertext';
  readonly records: number;
  readonly bytes: number;
  /** Records per class. */
  readonly classes: Readonly<Record<string, number>>;
  /** Base64 RFC 9162 Merkle root over the record lines. */
  readonly root: string;
  readonly chunks: readonly { readonly name: string; readonly records: number; readonly sha256: string }[];
  /** Which keys decrypt it (ids only): the jurisdiction's KEKs and the number of subject data keys. */
  readonly keyIds: {
    readonly keks: readonly string[];
    readonly dataKeys: number;
    readonly regionKeys: readonly string[];
  };
}

/** A backup as listed. */
export interface BackupSummary {
  readonly id: string;
  readonly region: string;
  readonly jurisdiction: string;
  readonly sourceRegion: string;
  readonly createdAt: string;
  readonly records: number;
  readonly bytes: number;
  readonly root: string;
}

/** What a restore did. */
export interface RestoreReport {
  readonly id: string;
  readonly to: string;
  readonly records: number;
  /** Written now. */
  readonly restored: number;
  /** Already there, same or newer version (a re-run, or data written since). */
  readonly present: number;
  /** Subjects erased after the backup: skipped (E1). */
  readonly erased: number;
  /** Records whose data key no longer exists anywhere (crypto-shredded): skipped. */
  readonly unreadable: number;
  /** Subjects missing from the directory, registered again in the backup's jurisdiction. */
  readonly registered: number;
}

/** Who asks, for the log. */
export interface OperationContext {
  readonly requestId: string;
  readonly principal: Principal | undefined;
}

/** Dependencies of the backup service. */
export interface BackupServiceOptions {
  readonly config: Config;
  readonly stores: ReadonlyMap<RegionId, RegionStore>;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  /** The backup storage of a region. */
  readonly storage: (region: RegionId) => BackupStorage;
  readonly gate: TransferGate;
  readonly transfers: TransferStore;
  /**
   * The subject directory: a restore registers the subjects of the records it restores that are
   * missing there (a directory lost with the rest), never an erased one. Omitted: left alone.
   */
  readonly directory?: SubjectDirectory | undefined;
  /** The subject's pseudonym in its jurisdiction's log (the erasure ledger's key). */
  readonly pseudonym: (jurisdiction: JurisdictionId, subjectId: SubjectId) => string;
  readonly signer: (jurisdiction: JurisdictionId) => NoteSigner;
  readonly verifier: (jurisdiction: JurisdictionId) => NoteVerifier;
  readonly now?: () => Date;
}

interface RecordLine {
  readonly subjectId: string;
  readonly key: string;
  readonly jurisdiction: string;
  readonly classId: string;
  readonly version: number;
  readonly keyId: string;
  readonly updatedAt: number;
  readonly ciphertext: string;
}

const invalid = (id: string, reason: string): DomicileError => invalidBackup('backup', id, reason);
const chunkName = (n: number): string => `records-${String(n).padStart(6, '0')}.jsonl`;

/** The backup service. */
export class BackupService {
  private readonly options: BackupServiceOptions;
  private readonly now: () => Date;
  private readonly shelf: BackupShelf<BackupManifest>;

  constructor(options: BackupServiceOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.shelf = new BackupShelf({ ...options, what: 'backup', version: MANIFEST_VERSION });
  }

  /**
   * Writes a backup of every record of `jurisdiction` into `to`'s backup storage.
   * Refused (and logged) with `DOMICILE_ERR_RESIDENCY` unless `to` is a region or a backup region
   * of the jurisdiction; `DOMICILE_ERR_FORBIDDEN` unless the caller may operate on it.
   *
   * @example
   * const backup = await backups.create({ jurisdiction: 'US', to: 'sg-singapore' }, ctx);
   */
  async create(args: { jurisdiction: string; to: string }, ctx: OperationContext): Promise<BackupSummary> {
    const { config, gate } = this.options;
    const jurisdiction = requireJurisdiction(config, args.jurisdiction);
    const target = requireRegion(config, args.to);
    const source = await this.sourceRegion(jurisdiction.id);
    const base = {
      kind: 'backup' as const,
      sourceJurisdiction: jurisdiction.id,
      sourceRegion: source,
      destinationRegion: target.id,
      form: 'ciphertext' as const,
      requestId: ctx.requestId,
      principal: ctx.principal,
    };
    await requireOperator(gate, ctx.principal, jurisdiction, {
      ...base,
      classId: 'protected',
      records: 0,
      bytes: 0,
    });
    // INVARIANT T1: nothing is written unless every class may go there as ciphertext
    for (const classId of config.classes.keys()) {
      await refuseIfDenied(config, gate, { ...base, classId, records: 0, bytes: 0 });
    }
    const id = newBackupId(jurisdiction.id, this.now());
    const storage = this.options.storage(target.id);
    const store = this.requireStore(source);
    const keyring = this.options.keyrings.get(source);
    const leaves: Uint8Array[] = [];
    const chunks: { name: string; records: number; sha256: string }[] = [];
    const classes: Record<string, number> = {};
    const keks = new Set<string>();
    const regionKeys = new Set<string>();
    const dataKeys = new Set<string>();
    let lines: Buffer[] = [];
    let bytes = 0;
    const writeChunk = async (): Promise<void> => {
      if (lines.length === 0) return;
      const content = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
      const name = chunkName(chunks.length);
      await storage.putFile(id, name, content);
      chunks.push({ name, records: lines.length, sha256: sha256(content) });
      lines = [];
    };
    let after: { subjectId: SubjectId; key: RecordKey } | undefined;
    let lastSubject: string | undefined;
    for (;;) {
      const page = await store.scanRecords({
        jurisdiction: jurisdiction.id,
        limit: PAGE,
        ...(after ? { after } : {}),
      });
      for (const record of page) {
        const line = Buffer.from(canonicalJson(toLine(record)), 'utf8');
        leaves.push(hashLeaf(line));
        lines.push(line);
        bytes += record.ciphertext.length;
        classes[record.classId] = (classes[record.classId] ?? 0) + 1;
        if (isGlobalClass(config, record.classId)) regionKeys.add(record.keyId);
        else {
          dataKeys.add(record.keyId);
          if (keyring && record.subjectId !== lastSubject) {
            const wrapped = await keyring.exportSubjectKey(jurisdiction.id, record.subjectId);
            if (wrapped) keks.add(wrapped.kekId);
          }
        }
        lastSubject = record.subjectId;
        if (lines.length >= config.backups.chunkRecords) await writeChunk();
      }
      const last = page[page.length - 1];
      if (!last || page.length < PAGE) break;
      after = { subjectId: last.subjectId, key: last.key };
    }
    await writeChunk();
    // the volumes go on the log before the manifest makes the backup visible
    for (const [classId, records] of Object.entries(classes)) {
      await gate.authorize({ ...base, classId, records, bytes, details: { backupId: id } });
    }
    const manifest: BackupManifest = {
      v: MANIFEST_VERSION,
      id,
      jurisdiction: jurisdiction.id,
      sourceRegion: source,
      targetRegion: target.id,
      createdAt: this.now().toISOString(),
      form: 'ciphertext',
      records: leaves.length,
      bytes,
      classes,
      root: Buffer.from(rootFromLeafHashes(leaves)).toString('base64'),
      chunks,
      keyIds: { keks: [...keks].sort(), dataKeys: dataKeys.size, regionKeys: [...regionKeys].sort() },
    };
    await this.shelf.writeManifest(storage, manifest);
    return summaryOf(manifest, target.id);
  }

  /** Backups held in the given regions (default: every region), newest last. Unsigned ones are skipped. */
  list(filter: { region?: string; jurisdiction?: string } = {}): Promise<BackupSummary[]> {
    return this.shelf.list(filter, summaryOf);
  }

  /**
   * Checks a backup: the manifest's signature by its jurisdiction's backup key, every content
   * file's hash, the record count and the Merkle root. Throws `DOMICILE_ERR_BACKUP_INVALID` naming
   * what failed.
   */
  async verify(id: string): Promise<BackupSummary & { chunks: number }> {
    const { storage, region, manifest } = await this.shelf.open(id);
    await this.readRecords(storage, manifest, async () => {});
    return { ...summaryOf(manifest, region), chunks: manifest.chunks.length };
  }

  /**
   * Restores a backup into region `to` (verifying it first). Refused with `DOMICILE_ERR_RESIDENCY`
   * unless `to` may hold the jurisdiction's plaintext. Records of subjects erased after the backup
   * are skipped (E1); records already present (same or newer version) are left alone, so a re-run
   * completes an interrupted restore without duplicating anything.
   */
  async restore(args: { id: string; to: string }, ctx: OperationContext): Promise<RestoreReport> {
    const { config, gate } = this.options;
    const { storage, manifest } = await this.shelf.open(args.id);
    const jurisdiction = requireJurisdiction(config, manifest.jurisdiction);
    const target = requireRegion(config, args.to);
    const base = {
      kind: 'restore' as const,
      sourceJurisdiction: jurisdiction.id,
      sourceRegion: storage.regionId,
      destinationRegion: target.id,
      form: 'plaintext' as const,
      requestId: ctx.requestId,
      principal: ctx.principal,
      details: { backupId: manifest.id },
    };
    await requireOperator(gate, ctx.principal, jurisdiction, {
      ...base,
      classId: 'protected',
      records: 0,
      bytes: 0,
    });
    const classes = Object.entries(manifest.classes);
    // INVARIANT R1 and T1: a restore makes data decryptable where it lands, so it goes only to a
    // region allowed to hold the plaintext; checked for every class before anything is read
    for (const [classId, records] of classes) {
      await refuseIfDenied(config, gate, { ...base, classId, records, bytes: 0 });
    }
    // the whole backup verifies before a single record is written
    await this.readRecords(storage, manifest, async () => {});
    for (const [classId, records] of classes) await gate.authorize({ ...base, classId, records, bytes: 0 });
    const store = this.requireStore(target.id);
    const keyring = this.options.keyrings.get(target.id);
    if (!keyring)
      throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', `no keyring in \`${target.id}\``);
    const ledger = await this.options.transfers.erasures(jurisdiction.id);
    const counts = { restored: 0, present: 0, erased: 0, unreadable: 0, registered: 0 };
    const { directory } = this.options;
    const seen = new Set<string>();
    await this.readRecords(storage, manifest, async (line) => {
      const record = fromLine(line);
      // INVARIANT E1: an erasure after the backup was taken is re-applied: the subject stays gone
      const erasedAt = ledger.get(this.options.pseudonym(jurisdiction.id, record.subjectId));
      if (erasedAt !== undefined && record.updatedAt <= erasedAt) {
        counts.erased++;
        return;
      }
      const restored = await this.openForTarget(record, manifest, target.id, keyring);
      if (!restored) {
        counts.unreadable++;
        return;
      }
      if ((await store.putRecordIfNewer(restored)) === 'written') counts.restored++;
      else counts.present++;
      // a readable, not erased record: its subject must be reachable through the directory again
      // (registered after the write, so an interrupted restore re-registers on its re-run)
      if (directory && !seen.has(record.subjectId)) {
        seen.add(record.subjectId);
        if ((await directory.lookup(record.subjectId)) === undefined) {
          if ((await directory.register(record.subjectId, jurisdiction.id)) === 'created')
            counts.registered++;
        }
      }
    });
    return { id: manifest.id, to: target.id, records: manifest.records, ...counts };
  }

  /** Deletes the oldest backups of `jurisdiction` in `region` beyond the newest `keep`. */
  async prune(jurisdiction: string, region: string, keep: number): Promise<string[]> {
    const backups = (await this.list({ region, jurisdiction })).map((b) => b.id);
    const doomed = backups.slice(0, Math.max(0, backups.length - keep));
    const storage = this.options.storage(requireRegion(this.options.config, region).id);
    for (const id of doomed) await storage.deleteBackup(id);
    return doomed;
  }

  /**
   * The record as the target region stores it, checked to decrypt with the jurisdiction's keys:
   * subject data keys come from the target's keyring or, wrapped, from another region of the
   * jurisdiction; global-class records are re-encrypted under the target's own region key.
   * Undefined when no key exists any more (erased: crypto-shredded).
   */
  private async openForTarget(
    record: StoredRecord,
    manifest: BackupManifest,
    target: RegionId,
    keyring: Keyring,
  ): Promise<StoredRecord | undefined> {
    const { config, keyrings } = this.options;
    const aad = { ...record, classId: record.classId };
    if (isGlobalClass(config, record.classId)) {
      const sourceKeyring = keyrings.get(manifest.sourceRegion as RegionId);
      const key = await sourceKeyring?.keyById(record.jurisdiction, record.subjectId, record.keyId);
      if (!key) return undefined;
      const plaintext = decryptRecord(key, aad, record.ciphertext);
      if (target === manifest.sourceRegion) return record;
      const own = await keyring.regionKey();
      return { ...record, keyId: own.id, ciphertext: encryptRecord(own, aad, plaintext) };
    }
    const key = await this.subjectKey(record, keyring);
    if (!key) return undefined;
    try {
      decryptRecord(key, aad, record.ciphertext);
    } catch {
      return undefined;
    }
    return record;
  }

  private async subjectKey(record: StoredRecord, keyring: Keyring): Promise<DataKey | undefined> {
    const { config, keyrings } = this.options;
    const found = await keyring.keyById(record.jurisdiction, record.subjectId, record.keyId);
    if (found) return found;
    const jurisdiction = requireJurisdiction(config, record.jurisdiction);
    // INVARIANT: wrapped keys move only between regions of the jurisdiction (keys stay home)
    for (const region of [jurisdiction.home, ...jurisdiction.failover, ...jurisdiction.legacy]) {
      const other = keyrings.get(region);
      if (!other || other === keyring) continue;
      try {
        const wrapped = await other.exportSubjectKey(record.jurisdiction, record.subjectId);
        if (!wrapped || wrapped.id !== record.keyId) continue;
        await keyring.importSubjectKey(record.jurisdiction, record.subjectId, wrapped);
        return await keyring.keyById(record.jurisdiction, record.subjectId, record.keyId);
      } catch {
        // a keyring that cannot export, or a key destroyed here: try the next region
      }
    }
    return undefined;
  }

  private async sourceRegion(jurisdiction: JurisdictionId): Promise<RegionId> {
    for (const region of servingRegions(this.options.config, jurisdiction)) {
      const store = this.options.stores.get(region);
      if (!store) continue;
      try {
        await store.checkHealth();
        return region;
      } catch {
        // next region of the jurisdiction
      }
    }
    throw new DomicileError(
      'DOMICILE_ERR_REGION_UNAVAILABLE',
      `no region of jurisdiction \`${jurisdiction}\` is available`,
    );
  }

  private requireStore(region: RegionId): RegionStore {
    const store = this.options.stores.get(region);
    if (!store)
      throw new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', `region \`${region}\` has no store here`);
    return store;
  }

  /** Reads every record line, checking file hashes, count and Merkle root; `visit` sees each record. */
  private async readRecords(
    storage: BackupStorage,
    manifest: BackupManifest,
    visit: (line: RecordLine) => Promise<void>,
  ): Promise<void> {
    const leaves: Uint8Array[] = [];
    for (const chunk of manifest.chunks) {
      const content = await storage.getFile(manifest.id, chunk.name);
      if (!content) throw invalid(manifest.id, `file \`${chunk.name}\` missing`);
      if (sha256(content) !== chunk.sha256) throw invalid(manifest.id, `file \`${chunk.name}\` was modified`);
      const text = Buffer.from(content).toString('utf8');
      const lines = text.split('\n');
      if (lines.pop() !== '') throw invalid(manifest.id, `file \`${chunk.name}\` is truncated`);
      if (lines.length !== chunk.records)
        throw invalid(manifest.id, `file \`${chunk.name}\` has a wrong count`);
      for (const line of lines) {
        leaves.push(hashLeaf(Buffer.from(line, 'utf8')));
        const parsed = JSON.parse(line) as RecordLine;
        if (parsed.jurisdiction !== manifest.jurisdiction) {
          throw invalid(manifest.id, 'a record belongs to another jurisdiction');
        }
        await visit(parsed);
      }
    }
    if (leaves.length !== manifest.records)
      throw invalid(manifest.id, 'record count does not match the manifest');
    if (Buffer.from(rootFromLeafHashes(leaves)).toString('base64') !== manifest.root) {
      throw invalid(manifest.id, 'content root does not match the manifest');
    }
  }
}

function toLine(record: StoredRecord): RecordLine {
  return {
    subjectId: record.subjectId,
    key: record.key,
    jurisdiction: record.jurisdiction,
    classId: record.classId,
    version: record.version,
    keyId: record.keyId,
    updatedAt: record.updatedAt,
    ciphertext: Buffer.from(record.ciphertext).toString('base64'),
  };
}

function fromLine(line: RecordLine): StoredRecord {
  return {
    subjectId: line.subjectId as SubjectId,
    key: line.key as RecordKey,
    jurisdiction: line.jurisdiction as JurisdictionId,
    classId: line.classId as ClassId,
    version: line.version,
    keyId: line.keyId,
    updatedAt: line.updatedAt,
    ciphertext: Buffer.from(line.ciphertext, 'base64'),
  };
}

function summaryOf(manifest: BackupManifest, region: string): BackupSummary {
  return {
    id: manifest.id,
    region,
    jurisdiction: manifest.jurisdiction,
    sourceRegion: manifest.sourceRegion,
    createdAt: manifest.createdAt,
    records: manifest.records,
    bytes: manifest.bytes,
    root: manifest.root,
  };
}
