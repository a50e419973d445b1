/**
 * C2SP tlog-checkpoint: the signed tree head a log publishes. A checkpoint is the text of a signed
 * note: origin, tree size, base64 root, then optional extension lines. See: C2SP tlog-checkpoint
 */
import { decodeBase64, encodeBase64, parseDecimal, truncate } from './encoding.js';
import { TlogError } from './errors.js';
import { checkHash, type Hash } from './merkle.js';
import {
  type Note,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  openNote,
  signNote,
} from './note.js';

/** A parsed checkpoint body. */
export interface Checkpoint {
  /** The log's identity, e.g. `audit.example.com/log`. */
  readonly origin: string;
  /** Number of entries in the tree. */
  readonly size: bigint;
  /** RFC 6962 root hash (32 bytes). */
  readonly root: Hash;
  /** Extension lines, without newlines (NOT RECOMMENDED by the spec, kept for round trips). */
  readonly extensions: readonly string[];
}

/** Result of `openCheckpoint`. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly note: Note;
  /** Signatures that verified with a log key. */
  readonly logSignatures: readonly NoteSignature[];
  /** Signatures that verified with a witness key. */
  readonly cosignatures: readonly NoteSignature[];
}

/** Options of `openCheckpoint`. */
export interface OpenCheckpointOptions {
  /** When set, a checkpoint for another origin is refused with `DOMICILE_ERR_TLOG_ORIGIN_MISMATCH`. */
  readonly origin?: string;
  /** Witness (cosigner) verifiers: their signatures are checked too and reported as `cosignatures`. */
  readonly witnesses?: readonly NoteVerifier[];
}

/** The note text of a checkpoint: `<origin>\n<size>\n<base64 root>\n[<extension>\n…]`. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (!isValidLine(checkpoint.origin)) throw malformed(`invalid origin \`${truncate(checkpoint.origin)}\``);
  if (checkpoint.size < 0n || checkpoint.size >= 1n << 64n)
    throw malformed(`tree size ${checkpoint.size} is not a uint64`);
  try {
    checkHash(checkpoint.root, 'checkpoint root');
  } catch (cause) {
    throw new TlogError('DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED', 'checkpoint root is not 32 bytes', {
      cause,
    });
  }
  for (const line of checkpoint.extensions) {
    if (!isValidLine(line)) throw malformed(`invalid extension line \`${truncate(line)}\``);
  }
  const lines = [
    checkpoint.origin,
    checkpoint.size.toString(),
    encodeBase64(checkpoint.root),
    ...checkpoint.extensions,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Parses a checkpoint body (the note text, not the signed note). Refuses with
 * `DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED`: fewer than three lines, an empty line, a size with
 * leading zeroes or over uint64, a root that is not canonical base64 of 32 bytes.
 */
export function parseCheckpoint(text: string): Checkpoint {
  // untrusted until openCheckpoint has verified the log signature over these bytes
  if (!text.endsWith('\n')) throw malformed('checkpoint does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || sizeText === undefined || rootText === undefined) {
    throw malformed('checkpoint has fewer than three lines');
  }
  if (!isValidLine(origin)) throw malformed(`invalid origin \`${truncate(origin)}\``);
  const size = parseDecimal(sizeText, 'DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED', 'checkpoint size');
  const root = decodeBase64(rootText, 'DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED', 'checkpoint root');
  if (root.length !== 32) throw malformed(`checkpoint root has ${root.length} bytes, expected 32`);
  for (const line of extensions) {
    if (!isValidLine(line)) throw malformed('checkpoint has an empty extension line');
  }
  return { origin, size, root, extensions };
}

/**
 * Formats and signs a checkpoint.
 *
 * @example
 * const signed = signCheckpoint({ origin, size: 8n, root, extensions: [] }, [logSigner]);
 */
export function signCheckpoint(checkpoint: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/**
 * Verifies a signed checkpoint and parses its body. At least one of `logVerifiers` must have
 * signed it (`DOMICILE_ERR_TLOG_NOTE_UNVERIFIED` otherwise, even if witnesses did); a failing
 * signature by any known key rejects it (`DOMICILE_ERR_TLOG_SIGNATURE_INVALID`); unknown
 * signatures are ignored.
 *
 * @example
 * const { checkpoint } = openCheckpoint(text, [newEd25519Verifier(logVkey)], { origin: 'audit.example.com/log' });
 */
export function openCheckpoint(
  signed: string | Uint8Array,
  logVerifiers: readonly NoteVerifier[],
  options: OpenCheckpointOptions = {},
): OpenedCheckpoint {
  const witnesses = options.witnesses ?? [];
  const opened = openNote(signed, [...logVerifiers, ...witnesses]);
  const isLog = (s: NoteSignature): boolean =>
    logVerifiers.some((v) => v.name === s.name && v.keyId === s.keyId);
  const logSignatures = opened.verified.filter(isLog);
  if (logSignatures.length === 0) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_NOTE_UNVERIFIED',
      'checkpoint has no signature by a known log key',
    );
  }
  const checkpoint = parseCheckpoint(opened.note.text);
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_ORIGIN_MISMATCH',
      `checkpoint origin \`${truncate(checkpoint.origin)}\` is not \`${truncate(options.origin)}\``,
    );
  }
  const cosignatures = opened.verified.filter((s) => !isLog(s));
  return { checkpoint, note: opened.note, logSignatures, cosignatures };
}

function isValidLine(line: string): boolean {
  return line.length > 0 && !line.includes('\n');
}

function malformed(message: string): TlogError {
  return new TlogError('DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED', message);
}
