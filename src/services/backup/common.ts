/**
 * What data backups and key backups share: backup ids, the operator check, and finding a
 * backup's storage by its manifest.
 */
import { randomBytes } from 'node:crypto';
import type { Config, Jurisdiction } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { JurisdictionId, RegionId } from '../../domain/ids.js';
import type { BackupStorage } from '../../store/backup-storage.js';
import type { Principal } from '../access/principal.js';
import { mayOperate, type TransferGate, type TransferRequest } from '../transfer/gate.js';

/** A new backup id: jurisdiction, optional kind, UTC timestamp and a random suffix. */
export function newBackupId(jurisdiction: JurisdictionId, now: Date, kind?: string): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${jurisdiction}${kind === undefined ? '' : `-${kind}`}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * Refuses (and logs through the gate) a caller who may not operate on the jurisdiction's data.
 * No principal means the scheduler of `domicile up` itself.
 */
export async function requireOperator(
  gate: TransferGate,
  principal: Principal | undefined,
  jurisdiction: Jurisdiction,
  request: TransferRequest,
): Promise<void> {
  if (principal === undefined) return;
  if (mayOperate(principal, jurisdiction)) return;
  const reason = 'principal is not an operator of the jurisdiction';
  await gate.logRefusal(request, reason);
  throw new DomicileError('DOMICILE_ERR_FORBIDDEN', `denied: ${reason}`);
}

/** The region whose backup storage holds backup `id` (found by its manifest file). */
export async function findBackup(
  config: Config,
  storageOf: (region: RegionId) => BackupStorage,
  id: string,
  manifestFile: string,
  what: string,
): Promise<{ storage: BackupStorage; region: RegionId }> {
  for (const region of config.regions.keys()) {
    const storage = storageOf(region);
    if ((await storage.getFile(id, manifestFile)) !== undefined) return { storage, region };
  }
  throw new DomicileError('DOMICILE_ERR_NOT_FOUND', `no ${what} \`${id}\``);
}
