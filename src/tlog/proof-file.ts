/**
 * C2SP tlog-proof (`c2sp.org/tlog-proof@v1`): a portable, offline proof that an entry is in a log,
 * bundling the inclusion path with a checkpoint and its cosignatures. See: C2SP tlog-proof
 */
import { type Checkpoint, openCheckpoint } from './checkpoint.js';
import { newCosignatureVerifier } from './cosignature.js';
import { decodeBase64, decodeUtf8, encodeBase64, parseDecimal, truncate } from './encoding.js';
import { TlogError } from './errors.js';
import { type Hash, hashLeaf, MAX_PROOF_LENGTH, verifyInclusion } from './merkle.js';
import { type NoteSignature, newEd25519Verifier } from './note.js';

/** The first line of every proof file. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/** A parsed proof file. */
export interface TlogProof {
  /** Optional application data (`extra <b64>` line). */
  readonly extra?: Uint8Array;
  readonly index: bigint;
  /** Inclusion path, leaf sibling first. */
  readonly proof: readonly Hash[];
  /** The signed checkpoint note, with cosignatures. */
  readonly checkpoint: string;
}

/** Serialises a proof file. */
export function formatTlogProof(p: TlogProof): string {
  if (p.proof.length > MAX_PROOF_LENGTH) throw malformed(`proof has more than ${MAX_PROOF_LENGTH} hashes`);
  const extra = p.extra === undefined ? '' : `extra ${encodeBase64(p.extra)}\n`;
  const hashes = p.proof.map((h) => `${encodeBase64(h)}\n`).join('');
  return `${TLOG_PROOF_HEADER}\n${extra}index ${p.index}\n${hashes}\n${p.checkpoint}`;
}

/** Parses a proof file; anything malformed is `DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED`. */
export function parseTlogProof(input: string | Uint8Array): TlogProof {
  // untrusted until verifyTlogProof has checked signatures and the path
  const text =
    typeof input === 'string'
      ? input
      : decodeUtf8(input, 'DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED', 'proof file');
  const blank = text.indexOf('\n\n');
  if (blank < 0) throw malformed('proof file has no blank line before the checkpoint');
  const lines = text.slice(0, blank).split('\n');
  const checkpoint = text.slice(blank + 2);
  if (lines.shift() !== TLOG_PROOF_HEADER)
    throw malformed(`proof file does not start with \`${TLOG_PROOF_HEADER}\``);
  let extra: Uint8Array | undefined;
  if (lines[0]?.startsWith('extra ')) {
    extra = decodeBase64(lines[0].slice(6), 'DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED', 'extra');
    lines.shift();
  }
  const indexLine = lines.shift();
  if (indexLine === undefined || !indexLine.startsWith('index '))
    throw malformed('proof file has no `index` line');
  const index = parseDecimal(indexLine.slice(6), 'DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED', 'index');
  if (lines.length > MAX_PROOF_LENGTH) throw malformed(`proof file has more than ${MAX_PROOF_LENGTH} hashes`);
  const proof = lines.map((l) => {
    const h = decodeBase64(l, 'DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED', 'proof hash');
    if (h.length !== 32) throw malformed(`proof line \`${truncate(l)}\` is not a 32-byte hash`);
    return h;
  });
  return extra === undefined ? { index, proof, checkpoint } : { extra, index, proof, checkpoint };
}

/** Options of `verifyTlogProof`: what the auditor trusts and the leaf being proven. */
export interface VerifyTlogProofOptions {
  /** The entry (hashed as an RFC 6962 leaf) or its leaf hash. */
  readonly entry?: Uint8Array;
  readonly leafHash?: Hash;
  readonly logKey: string;
  /** Default: the log key's name. */
  readonly origin?: string;
  readonly witnessKeys?: readonly string[];
  /** Default 1 when witness keys are given, else 0. */
  readonly witnessQuorum?: number;
}

/** What a verified proof file established. */
export interface VerifiedTlogProof {
  readonly index: bigint;
  readonly checkpoint: Checkpoint;
  readonly cosignatures: readonly NoteSignature[];
  readonly extra?: Uint8Array;
}

/**
 * Verifies a proof file: log signature and origin, witness quorum, then the inclusion path.
 *
 * @example
 * verifyTlogProof(file, { entry, logKey, witnessKeys, witnessQuorum: 2 });
 */
export function verifyTlogProof(
  input: string | Uint8Array,
  options: VerifyTlogProofOptions,
): VerifiedTlogProof {
  const parsed = parseTlogProof(input);
  const log = newEd25519Verifier(options.logKey);
  const witnesses = (options.witnessKeys ?? []).map(newCosignatureVerifier);
  const opened = openCheckpoint(parsed.checkpoint, [log], { origin: options.origin ?? log.name, witnesses });
  const quorum = options.witnessQuorum ?? (witnesses.length > 0 ? 1 : 0);
  const cosigners = new Set(opened.cosignatures.map((s) => `${s.name}+${s.keyId}`));
  if (cosigners.size < quorum) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_WITNESS_QUORUM',
      `proof has ${cosigners.size} of ${quorum} required cosignatures`,
    );
  }
  const leaf = options.leafHash ?? (options.entry === undefined ? undefined : hashLeaf(options.entry));
  if (leaf === undefined)
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', 'give the entry or its leaf hash');
  verifyInclusion(parsed.index, opened.checkpoint.size, leaf, parsed.proof, opened.checkpoint.root);
  const result = { index: parsed.index, checkpoint: opened.checkpoint, cosignatures: opened.cosignatures };
  return parsed.extra === undefined ? result : { ...result, extra: parsed.extra };
}

function malformed(message: string): TlogError {
  return new TlogError('DOMICILE_ERR_TLOG_PROOF_FILE_MALFORMED', message);
}
