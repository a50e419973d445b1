/**
 * What the console checks about a subject's access log: each entry's inclusion proof against the
 * root of the checkpoint it came with and, when the user gave the log's verifier key, that the
 * log signed that checkpoint.
 */
import {
  type Check,
  type Checkpoint,
  canonicalJson,
  decodeBase64,
  hashLeaf,
  parseCheckpoint,
  parseVerifierKey,
  utf8,
  verifyCheckpointSignature,
  verifyInclusion,
} from './tlog.js';
import { verifierKeyFor } from './verifier-keys.js';

/** One entry of `GET /v1/subjects/{id}/access-log` (untrusted). */
export interface AccessLogItem {
  readonly index: number;
  readonly entry: unknown;
  readonly inclusionProof: readonly string[];
}

/** The answer of `GET /v1/subjects/{id}/access-log` (untrusted). */
export interface AccessLog {
  readonly checkpoint: string;
  readonly treeSize: number;
  readonly entries: readonly AccessLogItem[];
}

/** The signature of the checkpoint: verified, failed, or not checked (and why). */
export type SignatureCheck =
  | { readonly state: 'verified'; readonly key: string }
  | { readonly state: 'failed'; readonly reason: string }
  | { readonly state: 'unchecked'; readonly reason: string };

/** The checks of one access log. */
export interface AccessLogChecks {
  readonly checkpoint: Checkpoint | null;
  readonly checkpointError: string | null;
  readonly signature: SignatureCheck;
  /** One per entry, in the answer's order. */
  readonly inclusion: readonly Check[];
}

/** Checks the signature of a checkpoint with the verifier key kept for its origin, if any. */
export async function checkSignature(checkpoint: Checkpoint): Promise<SignatureCheck> {
  const vkey = verifierKeyFor(checkpoint.origin);
  if (vkey === undefined) {
    return { state: 'unchecked', reason: 'no verifier key for this log: add it under Logs' };
  }
  const key = await parseVerifierKey(vkey);
  if ('error' in key) return { state: 'failed', reason: `the kept verifier key: ${key.error}` };
  const check = await verifyCheckpointSignature(checkpoint, key);
  return check.ok
    ? { state: 'verified', key: `${key.name}+${key.keyId}` }
    : { state: 'failed', reason: check.reason };
}

/**
 * Checks every entry's inclusion proof. The leaf is rebuilt from the entry as JSON: the log
 * stores each entry as canonical JSON and the server refuses to serve one that is not, so
 * `canonicalJson(entry)` is the exact logged byte string, and any change to the entry, its index
 * or its proof shows as a failed check.
 */
export async function checkAccessLog(log: AccessLog): Promise<AccessLogChecks> {
  const parsed =
    typeof log.checkpoint === 'string' ? parseCheckpoint(log.checkpoint) : { error: 'no checkpoint' };
  if ('error' in parsed) {
    const reason = `the checkpoint is malformed: ${parsed.error}`;
    return {
      checkpoint: null,
      checkpointError: reason,
      signature: { state: 'failed', reason },
      inclusion: log.entries.map(() => ({ ok: false, reason })),
    };
  }
  const inclusion = await Promise.all(log.entries.map((item) => checkItem(item, parsed, log.treeSize)));
  return { checkpoint: parsed, checkpointError: null, signature: await checkSignature(parsed), inclusion };
}

async function checkItem(item: AccessLogItem, checkpoint: Checkpoint, treeSize: number): Promise<Check> {
  if (treeSize !== checkpoint.size) {
    return {
      ok: false,
      reason: `proven against size ${treeSize}, but the checkpoint has ${checkpoint.size}`,
    };
  }
  if (!Array.isArray(item.inclusionProof)) return { ok: false, reason: 'no inclusion proof' };
  const proof = item.inclusionProof.map((h) => (typeof h === 'string' ? decodeBase64(h) : undefined));
  if (proof.some((h) => h === undefined)) return { ok: false, reason: 'a proof hash is not base64' };
  const leaf = await hashLeaf(utf8(canonicalJson(item.entry)));
  return verifyInclusion(item.index, checkpoint.size, leaf, proof as Uint8Array[], checkpoint.root);
}
