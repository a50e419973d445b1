/**
 * C2SP tlog-witness `add-checkpoint`: the request body, a witness server's logic with atomic
 * persisted state, a file-backed state store, and a client that submits checkpoints.
 * See: C2SP tlog-witness
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { openCheckpoint } from './checkpoint.js';
import { newCosignatureVerifier } from './cosignature.js';
import {
  bytesEqual,
  decodeBase64,
  decodeUtf8,
  encodeBase64,
  parseDecimal,
  sha256,
  toHex,
  truncate,
  utf8,
} from './encoding.js';
import { TlogError } from './errors.js';
import { emptyRoot, type Hash, verifyConsistency } from './merkle.js';
import {
  formatSignatureLine,
  type NoteSigner,
  type NoteVerifier,
  newEd25519Verifier,
  parseNote,
  parseSignatureLine,
} from './note.js';

/** Most consistency-proof lines in a request. */
export const MAX_WITNESS_PROOF_LINES = 63;
/** Content type of a 409 body. */
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

/** A parsed `add-checkpoint` request body. */
export interface AddCheckpointRequest {
  /** The size the client believes the witness last cosigned. */
  readonly oldSize: bigint;
  /** Consistency proof from `oldSize` to the checkpoint's size. */
  readonly proof: readonly Hash[];
  /** The signed checkpoint note. */
  readonly checkpoint: string;
}

/** `old <n>\n`, proof lines, a blank line, the signed checkpoint. */
export function formatAddCheckpointRequest(request: AddCheckpointRequest): string {
  if (request.proof.length > MAX_WITNESS_PROOF_LINES) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED',
      `proof has more than ${MAX_WITNESS_PROOF_LINES} lines`,
    );
  }
  return `old ${request.oldSize}\n${request.proof.map((h) => `${encodeBase64(h)}\n`).join('')}\n${request.checkpoint}`;
}

/** Parses an `add-checkpoint` body; anything malformed is `DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED`. */
export function parseAddCheckpointRequest(body: string | Uint8Array): AddCheckpointRequest {
  // untrusted: the whole body comes from any client until the log signature verifies
  const text =
    typeof body === 'string'
      ? body
      : decodeUtf8(body, 'DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED', 'request');
  const blank = text.indexOf('\n\n');
  if (blank < 0) throw bad('request has no blank line before the checkpoint');
  const head = text.slice(0, blank).split('\n');
  const checkpoint = text.slice(blank + 2);
  const [oldLine, ...proofLines] = head;
  if (oldLine === undefined || !oldLine.startsWith('old '))
    throw bad('request does not start with `old <size>`');
  const oldSize = parseDecimal(oldLine.slice(4), 'DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED', 'old size');
  if (proofLines.length > MAX_WITNESS_PROOF_LINES)
    throw bad(`request has more than ${MAX_WITNESS_PROOF_LINES} proof lines`);
  const proof = proofLines.map((l) => {
    const h = decodeBase64(l, 'DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED', 'proof line');
    if (h.length !== 32) throw bad(`proof line \`${truncate(l)}\` is not a 32-byte hash`);
    return h;
  });
  return { oldSize, proof, checkpoint };
}

/** What the witness last cosigned for one origin. */
export interface WitnessState {
  readonly size: bigint;
  readonly root: Hash;
}

/**
 * Persistent witness state, one (size, root) per origin.
 *
 * INVARIANT: `compareAndSet` is atomic and durable: it writes `next` only if the stored state
 * still equals `expected` (`undefined`: nothing stored), and the write is on disk when it resolves.
 * Without that, two concurrent requests could roll the witness back (C2SP tlog-witness).
 */
export interface WitnessStateStore {
  get(origin: string): Promise<WitnessState | undefined>;
  compareAndSet(origin: string, expected: WitnessState | undefined, next: WitnessState): Promise<boolean>;
}

/** In-memory `WitnessStateStore` for tests. */
export class MemoryWitnessStateStore implements WitnessStateStore {
  readonly #states = new Map<string, WitnessState>();

  async get(origin: string): Promise<WitnessState | undefined> {
    return this.#states.get(origin);
  }

  async compareAndSet(
    origin: string,
    expected: WitnessState | undefined,
    next: WitnessState,
  ): Promise<boolean> {
    if (!sameState(this.#states.get(origin), expected)) return false;
    this.#states.set(origin, { size: next.size, root: next.root.slice() });
    return true;
  }
}

/**
 * A `WitnessStateStore` with one file per origin in a directory. Writes go to a temporary file
 * that is fsynced and renamed over the old one (then the directory is fsynced), and a per-origin
 * mutex makes compare-and-set atomic among requests of this process. One process per directory.
 */
export class FileWitnessStateStore implements WitnessStateStore {
  readonly #dir: string;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(directory: string) {
    this.#dir = directory;
  }

  async get(origin: string): Promise<WitnessState | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file(origin), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const [sizeText, rootText] = text.split('\n');
    if (sizeText === undefined || rootText === undefined) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
        `witness state for \`${truncate(origin)}\` is corrupt`,
      );
    }
    return {
      size: parseDecimal(sizeText, 'DOMICILE_ERR_TLOG_STORAGE_CORRUPT', 'witness state size'),
      root: decodeBase64(rootText, 'DOMICILE_ERR_TLOG_STORAGE_CORRUPT', 'witness state root'),
    };
  }

  compareAndSet(origin: string, expected: WitnessState | undefined, next: WitnessState): Promise<boolean> {
    const previous = this.#locks.get(origin) ?? Promise.resolve();
    const run = previous.then(async () => {
      if (!sameState(await this.get(origin), expected)) return false;
      await mkdir(this.#dir, { recursive: true });
      const file = this.#file(origin);
      const temp = `${file}.${process.pid}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(`${next.size}\n${encodeBase64(next.root)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      const dir = await open(this.#dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return true;
    });
    const settled = run.catch(() => {});
    this.#locks.set(origin, settled);
    void settled.then(() => {
      if (this.#locks.get(origin) === settled) this.#locks.delete(origin);
    });
    return run;
  }

  #file(origin: string): string {
    return join(this.#dir, `${toHex(sha256(utf8(origin)))}.state`);
  }
}

/** A log the witness cosigns for. */
export interface WitnessedLog {
  readonly origin: string;
  /** Verifier key strings of the log (Ed25519 note keys). */
  readonly verifierKeys: readonly string[];
}

/** Options of `Witness`. */
export interface WitnessOptions {
  /** The witness's cosigner (`newCosignatureSigner`). */
  readonly signer: NoteSigner;
  readonly logs: readonly WitnessedLog[];
  readonly store: WitnessStateStore;
}

/** An HTTP answer of the witness. */
export interface WitnessResponse {
  readonly status: 200 | 400 | 403 | 404 | 409 | 422;
  readonly contentType: string;
  readonly body: string;
}

/**
 * The witness's `add-checkpoint` logic, independent of any HTTP framework.
 *
 * @example
 * const witness = new Witness({ signer: newCosignatureSigner(skey), logs, store });
 * const { status, contentType, body } = await witness.addCheckpoint(await readBody(req));
 */
export class Witness {
  readonly #signer: NoteSigner;
  readonly #logs: ReadonlyMap<string, readonly NoteVerifier[]>;
  readonly #store: WitnessStateStore;

  constructor(options: WitnessOptions) {
    this.#signer = options.signer;
    this.#store = options.store;
    this.#logs = new Map(
      options.logs.map((l) => [l.origin, l.verifierKeys.map((k) => newEd25519Verifier(k))]),
    );
  }

  /**
   * Handles one `POST <prefix>/add-checkpoint` body. Statuses: 400 malformed or old > size; 404
   * unknown origin; 403 no valid trusted log signature; 409 with `text/x.tlog.size` when `old`
   * is not the size last cosigned; 422 when consistency fails (including old == size with
   * another root, a non-empty proof from 0, a size-0 checkpoint whose root is not SHA-256("")); 200
   * with cosignature lines after the new state is durable.
   */
  async addCheckpoint(body: string | Uint8Array): Promise<WitnessResponse> {
    let request: AddCheckpointRequest;
    let origin: string;
    try {
      request = parseAddCheckpointRequest(body);
      origin = parseNote(request.checkpoint).text.split('\n', 1)[0] ?? '';
    } catch (e) {
      return text(400, errorMessage(e));
    }
    const verifiers = this.#logs.get(origin);
    if (verifiers === undefined) return text(404, `unknown log origin \`${truncate(origin)}\``);
    let opened: ReturnType<typeof openCheckpoint>;
    try {
      opened = openCheckpoint(request.checkpoint, verifiers, { origin });
    } catch (e) {
      const status =
        e instanceof TlogError && e.code === 'DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED' ? 400 : 403;
      return text(status, errorMessage(e));
    }
    const { checkpoint } = opened;
    if (request.oldSize > checkpoint.size)
      return text(400, `old size ${request.oldSize} exceeds checkpoint size ${checkpoint.size}`);
    for (;;) {
      const stored = await this.#store.get(origin);
      const latest = stored?.size ?? 0n;
      if (request.oldSize !== latest)
        return { status: 409, contentType: TLOG_SIZE_CONTENT_TYPE, body: `${latest}\n` };
      const oldRoot = stored?.root ?? emptyRoot();
      try {
        verifyConsistency(request.oldSize, checkpoint.size, oldRoot, checkpoint.root, request.proof, {
          convention: 'c2sp',
        });
      } catch (e) {
        return text(422, errorMessage(e));
      }
      const unchanged = stored !== undefined && stored.size === checkpoint.size;
      if (
        unchanged ||
        (await this.#store.compareAndSet(origin, stored, { size: checkpoint.size, root: checkpoint.root }))
      ) {
        break;
      }
      // Another request moved the state between our read and our write: decide again.
    }
    const signature = this.#signer.sign(utf8(opened.note.text));
    const line = formatSignatureLine({ name: this.#signer.name, keyId: this.#signer.keyId, signature });
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: `${line}\n` };
  }
}

/** Options of `submitCheckpoint`. */
export interface SubmitCheckpointOptions {
  /** The signed checkpoint to have cosigned. */
  readonly checkpoint: string;
  /** The size the client believes the witness has (0 to discover it). */
  readonly oldSize: bigint;
  /** A consistency proof from `oldSize` to the checkpoint's size (the log's `consistencyProof`). */
  readonly proofFrom: (oldSize: bigint) => Promise<readonly Hash[]>;
  /** Witness key to verify the answer with; answers that do not verify are refused. */
  readonly witnessKey?: string;
  /** Injected fetch; default the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/**
 * Sends a checkpoint to a witness's `add-checkpoint` URL and returns its cosignature lines. On 409
 * it reads the witness's size from the `text/x.tlog.size` body and retries once with a proof
 * from that size. Other failures are `DOMICILE_ERR_TLOG_WITNESS_REJECTED` with the status.
 *
 * @example
 * const lines = await submitCheckpoint('https://w.example/add-checkpoint', {
 *   checkpoint, oldSize: 0n, proofFrom: (old) => log.consistencyProof(Number(old)),
 * });
 */
export async function submitCheckpoint(url: string, options: SubmitCheckpointOptions): Promise<string[]> {
  const doFetch = options.fetch ?? fetch;
  let oldSize = options.oldSize;
  for (let attempt = 0; attempt < 2; attempt++) {
    const body = formatAddCheckpointRequest({
      oldSize,
      proof: await options.proofFrom(oldSize),
      checkpoint: options.checkpoint,
    });
    const response = await doFetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
    const answer = await response.text();
    if (response.status === 200) {
      // untrusted until the witness key verifies the lines
      const lines = answer.split('\n').filter((l) => l.length > 0);
      const signatures = lines.map(parseSignatureLine);
      if (options.witnessKey !== undefined) {
        const verifier = newCosignatureVerifier(options.witnessKey);
        const text = utf8(parseNote(options.checkpoint).text);
        const ok = signatures.some(
          (s) => s.name === verifier.name && s.keyId === verifier.keyId && verifier.verify(text, s.signature),
        );
        if (!ok)
          throw new TlogError(
            'DOMICILE_ERR_TLOG_SIGNATURE_INVALID',
            'the witness answered without a valid cosignature',
          );
      }
      return lines;
    }
    if (
      response.status === 409 &&
      attempt === 0 &&
      (response.headers.get('content-type') ?? '').startsWith(TLOG_SIZE_CONTENT_TYPE)
    ) {
      oldSize = parseDecimal(answer.trim(), 'DOMICILE_ERR_TLOG_WITNESS_REJECTED', 'witness size');
      continue;
    }
    throw new TlogError(
      'DOMICILE_ERR_TLOG_WITNESS_REJECTED',
      `witness answered ${response.status}: ${truncate(answer, 200)}`,
    );
  }
  throw new TlogError('DOMICILE_ERR_TLOG_WITNESS_REJECTED', 'witness size changed twice during submission');
}

function sameState(a: WitnessState | undefined, b: WitnessState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && bytesEqual(a.root, b.root);
}

function text(status: WitnessResponse['status'], body: string): WitnessResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body: `${body}\n` };
}

function errorMessage(e: unknown): string {
  if (e instanceof TlogError) return e.message;
  throw e;
}

function bad(message: string): TlogError {
  return new TlogError('DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED', message);
}
