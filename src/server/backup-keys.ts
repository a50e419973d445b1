/**
 * A jurisdiction's backup signing key: Ed25519, named `<log origin>/backup`, kept with its log
 * keys in its home region (`data/<home>/logs/<J>/backup.key`, `backup.vkey`). Backups are signed
 * at home and verified against this key wherever they are.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Jurisdiction } from '../domain/config.js';
import { DomicileError } from '../domain/errors.js';
import {
  generateEd25519Key,
  type NoteSigner,
  type NoteVerifier,
  newEd25519Signer,
  newEd25519Verifier,
} from '../tlog/note.js';
import { logKeyDir } from './audit-logs.js';

/** A jurisdiction's backup key pair, ready to sign and verify manifests. */
export interface BackupKeys {
  readonly signer: NoteSigner;
  readonly verifier: NoteVerifier;
  readonly verifierKey: string;
}

/** Creates the backup key of a jurisdiction when missing, and loads it. */
export async function ensureBackupKeys(dataDir: string, jurisdiction: Jurisdiction): Promise<BackupKeys> {
  const dir = logKeyDir(dataDir, jurisdiction);
  const vkeyFile = join(dir, 'backup.vkey');
  if (!existsSync(vkeyFile)) {
    await mkdir(dir, { recursive: true });
    const key = generateEd25519Key(`${jurisdiction.logOrigin}/backup`);
    await writeFile(join(dir, 'backup.key'), `${key.privateKey}\n`, { mode: 0o600 });
    await writeFile(vkeyFile, `${key.verifierKey}\n`, { mode: 0o644 });
  }
  try {
    const privateKey = (await readFile(join(dir, 'backup.key'), 'utf8')).trim();
    const verifierKey = (await readFile(vkeyFile, 'utf8')).trim();
    return { signer: newEd25519Signer(privateKey), verifier: newEd25519Verifier(verifierKey), verifierKey };
  } catch (cause) {
    throw new DomicileError(
      'DOMICILE_ERR_CONFIG',
      `${dir}: backup key of jurisdiction \`${jurisdiction.id}\` unreadable`,
      { cause },
    );
  }
}
