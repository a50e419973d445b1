/**
 * Keyring backups (keys stay home, T1 and E1): a jurisdiction's key material — its KEKs and the
 * wrapped DEKs of its subjects — written only into the backup storage of one of the
 * jurisdiction's own regions, so that data backups can be decrypted again after a keyring is lost.
 *
 * Design. The content is sealed (AES-256-GCM) by the keyring of the region that holds the backup,
 * under a key-backup key that keyring derives from its master key and its region id (HKDF-SHA256).
 * Not under the jurisdiction's KEK (that is what the backup must bring back: circular), and not
 * under a key kept in a keyring file (it would be lost with the file it must restore): the master
 * key is kept apart from the keyring (environment or `master.key`), so a region that lost its
 * keyring file can still open its key backups, and a region outside the jurisdiction can open
 * none — its keyring refuses the jurisdiction, and the transfer gate refuses key material to it in
 * any form (`key-material` class). A restore opens the content in the holding region and installs
 * it into a region of the jurisdiction, leaving out the keys of subjects in the erasure ledger.
 *
 * Layout of a key backup `<id>` in `data/<region>/key-backups/<id>/`: `keys.sealed` and
 * `manifest.note`, a C2SP signed note (the jurisdiction's backup key) whose text is the canonical
 * JSON manifest: key ids and counts, source and holding region, time, size and SHA-256 of the file.
 */
import type {
  BackedUpSubjectKey,
  JurisdictionKeyMaterial,
  KeyRestoreOutcome,
  Keyring,
} from '../../crypto/keyring.js';
import type { Config, Jurisdiction } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId, SubjectId } from '../../domain/ids.js';
import { requireJurisdiction, requireRegion, servingRegions } from '../../domain/residency.js';
import type { BackupStorage } from '../../store/backup-storage.js';
import type { TransferStore } from '../../store/transfer-store.js';
import type { NoteSigner, NoteVerifier } from '../../tlog/note.js';
import { canonicalJson } from '../audit/entry.js';
import { KEY_MATERIAL_CLASS, requireOperator, type TransferGate } from '../transfer/gate.js';
import type { OperationContext } from './backup.js';
import { BackupShelf, invalidBackup, newBackupId, refuseIfDenied, sha256 } from './common.js';

/** Version of the key backup manifest and content formats. */
export const KEY_BACKUP_VERSION = 1;
const KEYS_FILE = 'keys.sealed';

/** The signed manifest of a key backup: ids and counts only, never a key. */
export interface KeyBackupManifest {
  readonly v: number;
  readonly kind: 'keys';
  readonly id: string;
  readonly jurisdiction: string;
  /** The region whose keyring the keys were read from. */
  readonly sourceRegion: string;
  /** The region that holds the backup and whose keyring sealed it. */
  readonly region: string;
  readonly createdAt: string;
  /** KEK ids (key check values), oldest first. */
  readonly keks: readonly string[];
  readonly subjectKeys: number;
  readonly destroyed: number;
  readonly file: { readonly name: string; readonly bytes: number; readonly sha256: string };
}

/** A key backup as listed. */
export interface KeyBackupSummary {
  readonly id: string;
  readonly region: string;
  readonly jurisdiction: string;
  readonly sourceRegion: string;
  readonly createdAt: string;
  readonly keks: readonly string[];
  readonly subjectKeys: number;
}

/** What a key restore did: the backup, the target region and what its keyring installed. */
export interface KeyRestoreReport extends KeyRestoreOutcome {
  readonly id: string;
  readonly to: string;
}

/** Dependencies of the key backup service. */
export interface KeyBackupServiceOptions {
  readonly config: Config;
  readonly keyrings: ReadonlyMap<RegionId, Keyring>;
  /** The key backup storage of a region (`data/<region>/key-backups/`). */
  readonly storage: (region: RegionId) => BackupStorage;
  readonly gate: TransferGate;
  readonly transfers: TransferStore;
  readonly pseudonym: (jurisdiction: JurisdictionId, subjectId: SubjectId) => string;
  readonly signer: (jurisdiction: JurisdictionId) => NoteSigner;
  readonly verifier: (jurisdiction: JurisdictionId) => NoteVerifier;
  readonly now?: () => Date;
}

/** The sealed content. */
interface Content {
  readonly v: number;
  readonly jurisdiction: string;
  readonly keks: readonly { readonly id: string; readonly key: string }[];
  readonly subjectKeys: readonly {
    readonly subjectId: string;
    readonly id: string;
    readonly kekId: string;
    readonly wrapped: string;
    readonly createdAt: number;
  }[];
  readonly destroyed: readonly string[];
}

const invalid = (id: string, reason: string): DomicileError => invalidBackup('key backup', id, reason);

function encodeContent(jurisdiction: JurisdictionId, material: JurisdictionKeyMaterial): Buffer {
  const content: Content = {
    v: KEY_BACKUP_VERSION,
    jurisdiction,
    keks: material.keks.map((k) => ({ id: k.id, key: k.key.toString('base64') })),
    subjectKeys: material.subjectKeys.map((k) => ({
      subjectId: k.subjectId,
      id: k.id,
      kekId: k.kekId,
      wrapped: Buffer.from(k.wrapped).toString('base64'),
      createdAt: k.createdAt,
    })),
    destroyed: material.destroyed,
  };
  return Buffer.from(canonicalJson(content), 'utf8');
}

function decodeContent(id: string, jurisdiction: string, bytes: Buffer): JurisdictionKeyMaterial {
  let content: Content;
  try {
    content = JSON.parse(bytes.toString('utf8')) as Content;
  } catch {
    throw invalid(id, 'content does not parse');
  }
  if (content.v !== KEY_BACKUP_VERSION || content.jurisdiction !== jurisdiction) {
    throw invalid(id, 'content is not of this backup');
  }
  return {
    keks: content.keks.map((k) => ({ id: k.id, key: Buffer.from(k.key, 'base64') })),
    subjectKeys: content.subjectKeys.map(
      (k): BackedUpSubjectKey => ({
        subjectId: k.subjectId as SubjectId,
        id: k.id,
        kekId: k.kekId,
        wrapped: Buffer.from(k.wrapped, 'base64'),
        createdAt: k.createdAt,
      }),
    ),
    destroyed: content.destroyed,
  };
}

const wipe = (material: JurisdictionKeyMaterial): void => {
  for (const kek of material.keks) kek.key.fill(0);
};

/** The key backup service. */
export class KeyBackupService {
  private readonly options: KeyBackupServiceOptions;
  private readonly now: () => Date;
  private readonly shelf: BackupShelf<KeyBackupManifest>;

  constructor(options: KeyBackupServiceOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
    this.shelf = new BackupShelf<KeyBackupManifest>({
      ...options,
      what: 'key backup',
      version: KEY_BACKUP_VERSION,
      kind: 'keys',
      check: (manifest, storage) => {
        // sealed by the holding region's keyring: a copy moved to another region does not open there
        if (manifest.region !== storage.regionId) throw invalid(manifest.id, 'manifest names another region');
      },
    });
  }

  /**
   * Writes a backup of the jurisdiction's keys into region `to`'s key backup storage, sealed by
   * that region's keyring. Refused (and logged) with `DOMICILE_ERR_RESIDENCY` unless `to` is a
   * region of the jurisdiction — its backup regions abroad included: keys stay home.
   *
   * @example
   * const backup = await keyBackups.create({ jurisdiction: 'US', to: 'oci-us-phoenix' }, ctx);
   */
  async create(args: { jurisdiction: string; to: string }, ctx: OperationContext): Promise<KeyBackupSummary> {
    const { config, gate, keyrings } = this.options;
    const jurisdiction = requireJurisdiction(config, args.jurisdiction);
    const target = requireRegion(config, args.to);
    const source = await this.sourceRegion(jurisdiction);
    const base = {
      kind: 'backup' as const,
      sourceJurisdiction: jurisdiction.id,
      sourceRegion: source,
      destinationRegion: target.id,
      classId: KEY_MATERIAL_CLASS,
      form: 'ciphertext' as const,
      requestId: ctx.requestId,
      principal: ctx.principal,
    };
    await requireOperator(gate, ctx.principal, jurisdiction, { ...base, records: 0, bytes: 0 });
    // INVARIANT T1: key material never leaves the jurisdiction; refused (and logged) before any key is read
    await refuseIfDenied(config, gate, { ...base, records: 0, bytes: 0 });
    const sealer = keyrings.get(target.id);
    const sourceKeyring = keyrings.get(source);
    if (!sealer || !sourceKeyring) {
      throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', `no keyring in \`${target.id}\``);
    }
    const id = newBackupId(jurisdiction.id, this.now(), 'keys');
    const material = await sourceKeyring.exportJurisdictionKeys(jurisdiction.id);
    let sealed: Buffer;
    try {
      const content = encodeContent(jurisdiction.id, material);
      try {
        sealed = await sealer.sealKeyBackup(jurisdiction.id, id, content);
      } finally {
        content.fill(0);
      }
    } finally {
      wipe(material);
    }
    const records = material.keks.length + material.subjectKeys.length;
    // the volume goes on the log before the manifest makes the backup visible
    await gate.authorize({
      ...base,
      records,
      bytes: sealed.length,
      details: { backupId: id, keks: material.keks.length, subjectKeys: material.subjectKeys.length },
    });
    const storage = this.options.storage(target.id);
    await storage.putFile(id, KEYS_FILE, sealed);
    const manifest: KeyBackupManifest = {
      v: KEY_BACKUP_VERSION,
      kind: 'keys',
      id,
      jurisdiction: jurisdiction.id,
      sourceRegion: source,
      region: target.id,
      createdAt: this.now().toISOString(),
      keks: material.keks.map((k) => k.id),
      subjectKeys: material.subjectKeys.length,
      destroyed: material.destroyed.length,
      file: { name: KEYS_FILE, bytes: sealed.length, sha256: sha256(sealed) },
    };
    await this.shelf.writeManifest(storage, manifest);
    return summaryOf(manifest);
  }

  /** Key backups held in the given regions (default: every region), oldest first. Unsigned ones are skipped. */
  list(filter: { region?: string; jurisdiction?: string } = {}): Promise<KeyBackupSummary[]> {
    return this.shelf.list(filter, summaryOf);
  }

  /**
   * Restores a key backup into region `to`: verifies the manifest and the file, opens the content
   * in the holding region, and installs the keys in `to`, leaving out those of subjects in the
   * erasure ledger (E1). Refused with `DOMICILE_ERR_RESIDENCY` unless `to` is a region of the
   * jurisdiction. Idempotent.
   */
  async restore(args: { id: string; to: string }, ctx: OperationContext): Promise<KeyRestoreReport> {
    const { config, gate, keyrings } = this.options;
    const { storage, manifest } = await this.shelf.open(args.id);
    const jurisdiction = requireJurisdiction(config, manifest.jurisdiction);
    const target = requireRegion(config, args.to);
    const base = {
      kind: 'restore' as const,
      sourceJurisdiction: jurisdiction.id,
      sourceRegion: storage.regionId,
      destinationRegion: target.id,
      classId: KEY_MATERIAL_CLASS,
      form: 'ciphertext' as const,
      requestId: ctx.requestId,
      principal: ctx.principal,
      details: { backupId: manifest.id },
    };
    const records = manifest.keks.length + manifest.subjectKeys;
    await requireOperator(gate, ctx.principal, jurisdiction, { ...base, records, bytes: 0 });
    await refuseIfDenied(config, gate, { ...base, records, bytes: 0 });
    const sealed = await storage.getFile(manifest.id, manifest.file.name);
    if (!sealed) throw invalid(manifest.id, `file \`${manifest.file.name}\` missing`);
    if (sha256(sealed) !== manifest.file.sha256) {
      throw invalid(manifest.id, `file \`${manifest.file.name}\` was modified`);
    }
    const opener = keyrings.get(storage.regionId);
    const keyring = keyrings.get(target.id);
    if (!opener || !keyring) {
      throw new DomicileError('DOMICILE_ERR_KEYRING_UNAVAILABLE', `no keyring in \`${target.id}\``);
    }
    let opened: Buffer;
    try {
      opened = await opener.openKeyBackup(jurisdiction.id, manifest.id, sealed);
    } catch (error) {
      if (isDomicileError(error, 'DOMICILE_ERR_INTEGRITY')) {
        throw invalid(manifest.id, `content does not open in \`${storage.regionId}\``);
      }
      throw error;
    }
    let material: JurisdictionKeyMaterial;
    try {
      material = decodeContent(manifest.id, jurisdiction.id, opened);
    } finally {
      opened.fill(0);
    }
    try {
      if (canonicalJson(material.keks.map((k) => k.id)) !== canonicalJson(manifest.keks)) {
        throw invalid(manifest.id, 'content does not match the manifest');
      }
      await gate.authorize({ ...base, records, bytes: sealed.length });
      const ledger = await this.options.transfers.erasures(jurisdiction.id);
      const outcome = await keyring.restoreJurisdictionKeys(jurisdiction.id, material, (key) => {
        // INVARIANT E1: a key that existed when its subject was erased stays destroyed
        const erasedAt = ledger.get(this.options.pseudonym(jurisdiction.id, key.subjectId));
        return erasedAt !== undefined && key.createdAt <= erasedAt;
      });
      return { id: manifest.id, to: target.id, ...outcome };
    } finally {
      wipe(material);
    }
  }

  /** The first region of the jurisdiction whose keyring holds its KEK (home, failover, legacy). */
  private async sourceRegion(jurisdiction: Jurisdiction): Promise<RegionId> {
    const { config, keyrings } = this.options;
    for (const region of new Set([...servingRegions(config, jurisdiction.id), ...jurisdiction.legacy])) {
      try {
        if (await keyrings.get(region)?.hasKek(jurisdiction.id)) return region;
      } catch {
        // next region of the jurisdiction
      }
    }
    throw new DomicileError(
      'DOMICILE_ERR_KEYRING_UNAVAILABLE',
      `no keyring of jurisdiction \`${jurisdiction.id}\` holds its key`,
    );
  }
}

function summaryOf(manifest: KeyBackupManifest): KeyBackupSummary {
  return {
    id: manifest.id,
    region: manifest.region,
    jurisdiction: manifest.jurisdiction,
    sourceRegion: manifest.sourceRegion,
    createdAt: manifest.createdAt,
    keks: manifest.keks,
    subjectKeys: manifest.subjectKeys,
  };
}
