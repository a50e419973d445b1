/**
 * What data backups and key backups share: backup ids, content hashes, the early residency
 * refusal and the shelf of signed manifests (write, read and verify, list, find).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../../domain/config.js';
import { DomicileError, isDomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import { requireRegion } from '../../domain/residency.js';
import type { BackupStorage } from '../../store/backup-storage.js';
import { type NoteSigner, type NoteVerifier, openNote, parseNote, signNote } from '../../tlog/note.js';
import { canonicalJson } from '../audit/entry.js';
import { checkTransfer, type TransferGate, type TransferRequest } from '../transfer/gate.js';

/** A new backup id: jurisdiction, optional kind, UTC timestamp and a random suffix. */
export function newBackupId(jurisdiction: JurisdictionId, now: Date, kind?: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${jurisdiction}${kind === undefined ? '' : `-${kind}`}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Hex SHA-256 of a content file, as manifests record it. */
export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** `DOMICILE_ERR_BACKUP_INVALID` for backup `id` of the kind `what` (`backup`, `key backup`). */
export function invalidBackup(what: string, id: string, reason: string): DomicileError {
  return new DomicileError('DOMICILE_ERR_BACKUP_INVALID', `${what} \`${id}\`: ${reason}`);
}

/**
 * Refuses (and logs through the gate) a transfer the gate would refuse, before anything is read.
 * An allowed one is logged later, with its volume.
 */
export async function refuseIfDenied(
  config: Config,
  gate: TransferGate,
  request: TransferRequest,
): Promise<void> {
  if (!checkTransfer(config, request).allowed) await gate.authorize(request);
}

/** What every manifest holds. */
export interface ManifestBase {
  readonly v: number;
  readonly id: string;
  readonly jurisdiction: string;
  readonly createdAt: string;
}

/** How a `BackupShelf` names, signs and checks its manifests. */
export interface BackupShelfOptions<M extends ManifestBase> {
  readonly config: Config;
  /** The backup storage of a region. */
  readonly storage: (region: RegionId) => BackupStorage;
  readonly signer: (jurisdiction: JurisdictionId) => NoteSigner;
  readonly verifier: (jurisdiction: JurisdictionId) => NoteVerifier;
  /** Names the backup in errors: `backup`, `key backup`. */
  readonly what: string;
  readonly version: number;
  /** The manifest's `kind`, when its format has one. */
  readonly kind?: string;
  /** Further checks of a verified manifest of this backup; throws `DOMICILE_ERR_BACKUP_INVALID`. */
  readonly check?: (manifest: M, storage: BackupStorage) => void;
}

const MANIFEST_FILE = 'manifest.note';

/**
 * The signed manifests of one kind of backup across the regions' backup storages. A manifest,
 * `manifest.note`, is a C2SP signed note by the jurisdiction's backup key whose text is the
 * canonical JSON manifest; it is written last, so it is what makes a backup visible.
 */
export class BackupShelf<M extends ManifestBase> {
  private readonly options: BackupShelfOptions<M>;

  constructor(options: BackupShelfOptions<M>) {
    this.options = options;
  }

  /** `DOMICILE_ERR_BACKUP_INVALID` naming this kind of backup. */
  invalid(id: string, reason: string): DomicileError {
    return invalidBackup(this.options.what, id, reason);
  }

  /** Signs the manifest with its jurisdiction's backup key and writes it next to the content. */
  async writeManifest(storage: BackupStorage, manifest: M): Promise<void> {
    const signer = this.options.signer(manifest.jurisdiction as JurisdictionId);
    const signed = signNote(`${canonicalJson(manifest)}\n`, [signer]);
    await storage.putFile(manifest.id, MANIFEST_FILE, Buffer.from(signed, 'utf8'));
  }

  /** The manifest of backup `id` in `storage`, verified: signature, format version, kind and id. */
  async readManifest(storage: BackupStorage, id: string): Promise<M> {
    const { config, what } = this.options;
    const bytes = await storage.getFile(id, MANIFEST_FILE);
    if (!bytes) throw this.invalid(id, 'manifest missing');
    // the manifest is untrusted until its signature verifies
    let claimed: unknown;
    try {
      claimed = (JSON.parse(parseNote(bytes).text) as { jurisdiction?: unknown }).jurisdiction;
    } catch {
      throw this.invalid(id, 'manifest is not a signed note');
    }
    const jurisdiction = config.jurisdictions.get(claimed as JurisdictionId);
    if (!jurisdiction) throw this.invalid(id, 'manifest names an unknown jurisdiction');
    let text: string;
    try {
      text = openNote(bytes, [this.options.verifier(jurisdiction.id)]).note.text;
    } catch {
      throw this.invalid(
        id,
        `manifest signature does not verify with the backup key of \`${jurisdiction.id}\``,
      );
    }
    const manifest = JSON.parse(text) as M & { kind?: unknown };
    if (
      manifest.v !== this.options.version ||
      (this.options.kind !== undefined && manifest.kind !== this.options.kind) ||
      manifest.id !== id
    ) {
      throw this.invalid(id, `manifest is not of this ${what}`);
    }
    this.options.check?.(manifest, storage);
    return manifest;
  }

  /** The region whose backup storage holds backup `id` (found by its manifest file). */
  async find(id: string): Promise<{ storage: BackupStorage; region: RegionId }> {
    for (const region of this.options.config.regions.keys()) {
      const storage = this.options.storage(region);
      if ((await storage.getFile(id, MANIFEST_FILE)) !== undefined) return { storage, region };
    }
    throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no ${this.options.what} \`${id}\``);
  }

  /** Finds backup `id` and reads its verified manifest. */
  async open(id: string): Promise<{ storage: BackupStorage; region: RegionId; manifest: M }> {
    const { storage, region } = await this.find(id);
    return { storage, region, manifest: await this.readManifest(storage, id) };
  }

  /**
   * Backups held in the given regions (default: every region), oldest first, summarised. Ones
   * whose manifest does not verify are skipped.
   */
  async list<S extends { readonly createdAt: string }>(
    filter: { region?: string; jurisdiction?: string },
    summarize: (manifest: M, region: RegionId) => S,
  ): Promise<S[]> {
    const { config } = this.options;
    const regions = filter.region ? [requireRegion(config, filter.region).id] : [...config.regions.keys()];
    const out: S[] = [];
    for (const region of regions) {
      const storage = this.options.storage(region);
      for (const id of await storage.listBackups()) {
        try {
          const manifest = await this.readManifest(storage, id);
          if (filter.jurisdiction && manifest.jurisdiction !== filter.jurisdiction) continue;
          out.push(summarize(manifest, region));
        } catch (error) {
          if (!isDomicileError(error, 'DOMICILE_ERR_BACKUP_INVALID')) throw error;
        }
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }
}
