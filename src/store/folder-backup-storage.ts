/**
 * The default `BackupStorage`: one folder per backup under a region's backup folder
 * (`data/<region>/backups/<id>/<file>`). Files are written to a temporary name, fsynced and
 * renamed, so a crash never leaves a half-written file under its real name.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DomicileError } from '../domain/errors.js';
import type { RegionId } from '../domain/ids.js';
import type { BackupStorage } from './backup-storage.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkName(kind: string, name: string): void {
  // names come from manifests and the command line: never let one climb out of the folder
  if (!NAME.test(name) || name.includes('..')) {
    throw new DomicileError('DOMICILE_ERR_BAD_REQUEST', `invalid backup ${kind} \`${name.slice(0, 64)}\``);
  }
}

function unavailable(operation: string, cause: unknown): DomicileError {
  return new DomicileError('DOMICILE_ERR_STORE_UNAVAILABLE', `backup storage: ${operation} failed`, {
    cause,
  });
}

/** Backups in a folder. */
export class FolderBackupStorage implements BackupStorage {
  readonly regionId: RegionId;
  readonly root: string;

  constructor(regionId: RegionId, root: string) {
    this.regionId = regionId;
    this.root = root;
  }

  async putFile(backupId: string, name: string, bytes: Uint8Array): Promise<void> {
    checkName('id', backupId);
    checkName('file', name);
    const dir = join(this.root, backupId);
    const tmp = join(dir, `.${name}.tmp`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, join(dir, name));
    } catch (cause) {
      throw unavailable('writing a file', cause);
    }
  }

  async getFile(backupId: string, name: string): Promise<Uint8Array | undefined> {
    checkName('id', backupId);
    checkName('file', name);
    try {
      return await readFile(join(this.root, backupId, name));
    } catch (cause) {
      if ((cause as { code?: string }).code === 'ENOENT') return undefined;
      throw unavailable('reading a file', cause);
    }
  }

  async listBackups(): Promise<string[]> {
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      return entries
        .filter((e) => e.isDirectory() && NAME.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (cause) {
      if ((cause as { code?: string }).code === 'ENOENT') return [];
      throw unavailable('listing backups', cause);
    }
  }

  async deleteBackup(backupId: string): Promise<boolean> {
    checkName('id', backupId);
    const existed = (await this.listBackups()).includes(backupId);
    try {
      await rm(join(this.root, backupId), { recursive: true, force: true });
    } catch (cause) {
      throw unavailable('deleting a backup', cause);
    }
    return existed;
  }
}
