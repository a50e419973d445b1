/**
 * The wipe of a legacy region — or of an application database migrated through a mapping file —
 * for a jurisdiction, after its data was migrated home (E1): refuses unless the migration out of
 * it is complete and verified (or forced with a logged reason), deletes the rows so they cannot
 * be carved out of the file, destroys the region's keys of the jurisdiction, scans the source to
 * prove nothing of the jurisdiction remains, and writes a deletion receipt to the jurisdiction's
 * log, naming what may still hold the rows. The caller then records a region as retired for the
 * jurisdiction.
 */
import { createHash } from 'node:crypto';
import type { Keyring } from '../../crypto/keyring.js';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId } from '../../domain/ids.js';
import type { MigrationProgress } from '../../store/migration-store.js';
import type { PrincipalSummary } from '../access/principal.js';
import type { AuditSink } from '../audit/audit-event.js';
import { pseudonymize } from '../audit/entry.js';
import { MerkleAccumulator, recordLeaf } from './merkle-accumulator.js';

/** A deleted row as the receipt sees it. */
export interface WipedRow {
  readonly subjectId: string;
  readonly key: string;
  readonly version: number;
  /** The stored bytes: a region's ciphertext, or the value of an application database's row. */
  readonly ciphertext: Uint8Array;
}

/**
 * What a wipe needs of the source's storage (the SQLite region adapter, or an application
 * database through `foreign-source.ts`).
 */
export interface WipeStorage {
  /** Deletes every row of the jurisdiction, showing each page before it goes; returns the count. */
  deleteAll(onPage: (rows: readonly WipedRow[]) => void): Promise<number>;
  /** Counts the jurisdiction's rows by reading every row (not an index). */
  countByFullScan(): Promise<number>;
  /** Whether deleted rows are overwritten in place (SQLite `secure_delete` + VACUUM). Read after `deleteAll`. */
  readonly secureErase: boolean;
  /**
   * What may still hold deleted rows, known after `deleteAll` (a WAL other connections kept,
   * PostgreSQL's reusable-but-not-overwritten space, rows a query mapping cannot delete). Without
   * it: nothing when `secureErase`, else free space.
   */
  notSecurelyErased?(): readonly string[];
}

/** Options of `wipeRegion`. */
export interface WipeOptions {
  /** A region id, or `foreign:<name>` for an application database. */
  readonly regionId: string;
  readonly jurisdiction: JurisdictionId;
  readonly storage: WipeStorage;
  /** The region's keyring; none for a foreign database (it has no Domicile keys). */
  readonly keyring?: Keyring;
  /** The migrations out of this source (a wipe needs one complete and verified). */
  readonly migrations: readonly MigrationProgress[];
  /** Wipes without a passed verification; the reason goes to the log. */
  readonly force?: { readonly reason: string };
  readonly audit: AuditSink;
  readonly pseudonymKey: Uint8Array;
  readonly principal: PrincipalSummary | null;
  readonly requestId: string;
  readonly now?: () => number;
}

/** The deletion receipt, as written to the log. No personal data. */
export interface WipeReceipt {
  readonly region: string;
  readonly jurisdiction: JurisdictionId;
  readonly at: string;
  readonly deletedRecords: number;
  /**
   * RFC 9162 root (hex) over (subject pseudonym, key, version, SHA-256 of the stored bytes: the
   * ciphertext, or an application row's value) of the deleted rows.
   */
  readonly deletedRoot: string;
  readonly destroyedKeks: number;
  readonly destroyedSubjectKeys: number;
  /** Rows of the jurisdiction found by the full scan afterwards: 0 for a complete wipe. */
  readonly remainingRecords: number;
  /** Whether a KEK of the jurisdiction is still installed afterwards. */
  readonly kekRemains: boolean;
  readonly secureErase: boolean;
  /** What may still hold deleted rows (empty for a Domicile region). */
  readonly notSecurelyErased: readonly string[];
  readonly forced: boolean;
  /** The verification the wipe relied on, if any. */
  readonly verifiedRoot: string | null;
}

/**
 * Wipes a source region (or foreign database) of a jurisdiction.
 *
 * @throws DomicileError `DOMICILE_ERR_MIGRATION_UNVERIFIED` without a complete, passed verification
 *   and without `force`.
 */
export async function wipeRegion(options: WipeOptions): Promise<WipeReceipt> {
  const { jurisdiction, regionId, audit } = options;
  const now = options.now ?? Date.now;
  const kind = regionId.startsWith('foreign:') ? 'source' : 'region';
  const verified = options.migrations.find((m) => m.status === 'done' && m.verification?.passed === true);
  const base = {
    requestId: options.requestId,
    principal: options.principal,
    jurisdiction,
  } as const;
  if (!verified) {
    if (!options.force) {
      await audit.append({
        ...base,
        type: 'wipe.refuse',
        decision: 'deny',
        reason: `no complete and verified migration out of this ${kind}`,
        details: { region: regionId },
      });
      throw new DomicileError(
        'DOMICILE_ERR_MIGRATION_UNVERIFIED',
        `${kind} \`${regionId}\`: refusing to wipe jurisdiction \`${jurisdiction}\`: no complete migration out of it passed \`domicile migrate verify\` (or use --force --reason)`,
      );
    }
    if (options.force.reason.trim() === '') {
      throw new DomicileError('DOMICILE_ERR_USAGE', '--force needs --reason');
    }
    await audit.append({
      ...base,
      type: 'wipe.force',
      decision: 'allow',
      reason: 'wipe forced without a passed verification',
      details: { region: regionId, operatorReason: options.force.reason.slice(0, 1000) },
    });
  }
  await audit.append({
    ...base,
    type: 'wipe.start',
    decision: 'allow',
    reason: `wiping the ${kind} for the jurisdiction`,
    details: { region: regionId, verifiedRoot: verified?.verification?.targetRoot ?? null },
  });
  const tree = new MerkleAccumulator();
  const pseudonyms = new Map<string, string>();
  const deletedRecords = await options.storage.deleteAll((page) => {
    for (const r of page) {
      let p = pseudonyms.get(r.subjectId);
      if (p === undefined) {
        p = pseudonymize(options.pseudonymKey, 'subject', r.subjectId);
        if (pseudonyms.size > 10_000) pseudonyms.clear();
        pseudonyms.set(r.subjectId, p);
      }
      tree.add(recordLeaf(p, r.key, r.version, createHash('sha256').update(r.ciphertext).digest('hex')));
    }
  });
  // INVARIANT E1: crypto-shredding as well as deletion — any copy of these rows elsewhere
  // (a backup, a forgotten file) is unreadable once the region's keys of the jurisdiction are gone
  const destroyed = options.keyring
    ? await options.keyring.destroyJurisdictionKeys(jurisdiction)
    : { keks: 0, subjectKeys: 0 };
  const notSecurelyErased =
    options.storage.notSecurelyErased?.() ??
    (options.storage.secureErase ? [] : ['deleted rows may persist in free space']);
  const remainingRecords = await options.storage.countByFullScan();
  const kekRemains = options.keyring ? await options.keyring.hasKek(jurisdiction) : false;
  const receipt: WipeReceipt = {
    region: regionId,
    jurisdiction,
    at: new Date(now()).toISOString(),
    deletedRecords,
    deletedRoot: Buffer.from(tree.root()).toString('hex'),
    destroyedKeks: destroyed.keks,
    destroyedSubjectKeys: destroyed.subjectKeys,
    remainingRecords,
    kekRemains,
    secureErase: options.storage.secureErase && notSecurelyErased.length === 0,
    notSecurelyErased,
    forced: verified === undefined,
    verifiedRoot: verified?.verification?.targetRoot ?? null,
  };
  await audit.append({
    ...base,
    type: 'wipe.receipt',
    decision: remainingRecords === 0 && !kekRemains ? 'allow' : 'deny',
    reason:
      remainingRecords === 0 && !kekRemains
        ? 'wipe complete: no record of the jurisdiction remains'
        : 'wipe incomplete: records or keys remain',
    details: {
      region: receipt.region,
      deletedRecords: receipt.deletedRecords,
      deletedRoot: receipt.deletedRoot,
      destroyedKeks: receipt.destroyedKeks,
      destroyedSubjectKeys: receipt.destroyedSubjectKeys,
      remainingRecords: receipt.remainingRecords,
      kekRemains: receipt.kekRemains,
      secureErase: receipt.secureErase,
      notSecurelyErased: receipt.notSecurelyErased,
      forced: receipt.forced,
      verifiedRoot: receipt.verifiedRoot,
    },
  });
  return receipt;
}
