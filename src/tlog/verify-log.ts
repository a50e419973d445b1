/**
 * The auditor's check of a whole tlog-tiles log, independent of how Domicile stores it: fetch the
 * checkpoint, verify the log signature and witness cosignatures, check consistency with a
 * previously trusted checkpoint, download every tile and entry bundle, recompute every hash and
 * the root. Needs nothing but a function that fetches paths. See: C2SP tlog-tiles
 */
import { type Checkpoint, openCheckpoint, parseCheckpoint } from './checkpoint.js';
import { newCosignatureVerifier } from './cosignature.js';
import { at, bytesEqual, decodeUtf8 } from './encoding.js';
import { TlogError, type TlogErrorCode } from './errors.js';
import { TileHashReader } from './log.js';
import { type Hash, hashLeaf, treeRoot } from './merkle.js';
import { type NoteSignature, newEd25519Verifier, parseNote } from './note.js';
import { decodeEntryBundle, decodeTile, entryBundlePath, TILE_WIDTH, tilePath, tileRoot } from './tiles.js';

/** Fetches a path under the log prefix (`checkpoint`, `tile/…`); `undefined` means 404. */
export type LogFetcher = (path: string) => Promise<Uint8Array | undefined>;

/** Options of `verifyLog`. */
export interface VerifyLogOptions {
  readonly fetch: LogFetcher;
  /** The log's Ed25519 verifier key string. */
  readonly logKey: string;
  /** Expected origin; default the log key's name. */
  readonly origin?: string;
  /** Witness (type 0x04) verifier key strings. */
  readonly witnessKeys?: readonly string[];
  /** How many of `witnessKeys` must have cosigned; default 1 when keys are given, else 0. */
  readonly witnessQuorum?: number;
  /** A checkpoint (signed note text) the auditor already trusts; the new one must be consistent. */
  readonly trusted?: string;
  /**
   * With `trusted`: check only the entries after the trusted size, and consistency from the
   * trusted root via the tile hashes at its edge (default true). False re-checks everything.
   */
  readonly incremental?: boolean;
  /** Called for every checked entry in index order; throwing rejects the log (`…_ENTRY_REJECTED`). */
  readonly parseEntry?: (entry: Uint8Array, index: number) => void | Promise<void>;
  /** Tiles fetched ahead while hashing; default 8. */
  readonly concurrency?: number;
}

/** What `verifyLog` checked. */
export interface VerifyLogResult {
  readonly checkpoint: Checkpoint;
  /** The checkpoint as fetched; trust it next time. */
  readonly signedCheckpoint: string;
  /** Cosignatures by the given witness keys that verified. */
  readonly cosignatures: readonly NoteSignature[];
  /** First entry index whose bytes were downloaded and hashed. */
  readonly verifiedFrom: number;
  /** Number of entries downloaded and hashed. */
  readonly entriesVerified: number;
}

/**
 * Verifies a log. Throws a `TlogError` naming the index and the tile at fault: `…_NOT_FOUND`
 * (missing tile), `…_TILE_MALFORMED`, `…_ENTRY_BUNDLE_MALFORMED`, `…_ENTRY_MISMATCH`,
 * `…_TILE_MISMATCH`, `…_ROOT_MISMATCH`, `…_INCONSISTENT` (fork or rollback against `trusted`),
 * `…_WITNESS_QUORUM`, or the note errors of the checkpoint.
 *
 * @example
 * const result = await verifyLog({ fetch: (p) => get(`${prefix}/${p}`), logKey, trusted });
 * await save(result.signedCheckpoint);
 */
export async function verifyLog(options: VerifyLogOptions): Promise<VerifyLogResult> {
  const logVerifier = newEd25519Verifier(options.logKey);
  const witnesses = (options.witnessKeys ?? []).map(newCosignatureVerifier);
  const quorum = options.witnessQuorum ?? (witnesses.length > 0 ? 1 : 0);
  const fetchCached = memoFetch(options.fetch);

  const checkpointBytes = await fetchCached('checkpoint');
  const signedCheckpoint = decodeUtf8(checkpointBytes, 'DOMICILE_ERR_TLOG_NOTE_MALFORMED', 'checkpoint');
  const opened = openCheckpoint(signedCheckpoint, [logVerifier], {
    origin: options.origin ?? logVerifier.name,
    witnesses,
  });
  const cosigners = new Set(opened.cosignatures.map((s) => `${s.name}+${s.keyId}`));
  if (cosigners.size < quorum) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_WITNESS_QUORUM',
      `checkpoint has ${cosigners.size} of ${quorum} required cosignatures`,
    );
  }
  const { checkpoint } = opened;
  const size = safeSize(checkpoint.size);

  let trustedSize = 0;
  let trustedRoot: Hash | undefined;
  if (options.trusted !== undefined) {
    // The trusted checkpoint is the caller's own record: parse it, no need to re-verify.
    const trusted = parseCheckpoint(parseNote(options.trusted).text);
    if (trusted.origin !== checkpoint.origin) {
      throw new TlogError('DOMICILE_ERR_TLOG_ORIGIN_MISMATCH', 'trusted checkpoint is for another origin');
    }
    if (trusted.size > checkpoint.size) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_INCONSISTENT',
        `log rolled back: checkpoint size ${checkpoint.size} is smaller than trusted size ${trusted.size}`,
      );
    }
    trustedSize = safeSize(trusted.size);
    trustedRoot = trusted.root;
  }

  const start = options.incremental === false ? 0 : trustedSize;
  const edges = await verifyTiles(fetchCached, options, start, size);
  const reader = new TileHashReader(async (level, index) => edges.get(`${level}/${index}`));
  const root = await treeRoot(reader, size);
  if (!bytesEqual(root, checkpoint.root)) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_ROOT_MISMATCH',
      `root recomputed from the tiles differs from checkpoint size ${size}`,
    );
  }
  if (trustedRoot !== undefined && trustedSize > 0) {
    // The old root is folded from the tile hashes at the trusted size's edge; those hashes are
    // part of what the new root was just recomputed from, so equality proves consistency.
    const oldEdges = await edgeTiles(fetchCached, trustedSize, size);
    const oldRoot = await treeRoot(
      new TileHashReader(async (level, index) => oldEdges.get(`${level}/${index}`)),
      trustedSize,
    );
    if (!bytesEqual(oldRoot, trustedRoot)) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_INCONSISTENT',
        `checkpoint size ${size} is not consistent with the trusted checkpoint of size ${trustedSize}: the log forked`,
      );
    }
  }
  return {
    checkpoint,
    signedCheckpoint,
    cosignatures: opened.cosignatures,
    verifiedFrom: start,
    entriesVerified: size - start,
  };
}

// Checks levels bottom-up from `start` to `size`; returns the right-edge (partial) tile of each
// level, from which the root is folded.
async function verifyTiles(
  fetch: LogFetcher,
  options: VerifyLogOptions,
  start: number,
  size: number,
): Promise<Map<string, Uint8Array>> {
  const edges = new Map<string, Uint8Array>();
  const concurrency = Math.max(1, options.concurrency ?? 8);
  let computed: Hash[] = [];
  for (let level = 0, scale = 1; Math.floor(size / scale) > 0; level++, scale *= TILE_WIDTH) {
    const s = Math.floor(start / scale);
    const n = Math.floor(size / scale);
    const firstTile = Math.floor(s / TILE_WIDTH);
    const lastTile = Math.floor((n - 1) / TILE_WIDTH);
    const parents: Hash[] = [];
    const load = (t: number): Promise<[Uint8Array, Uint8Array | undefined]> => {
      const width = Math.min(TILE_WIDTH, n - t * TILE_WIDTH);
      const tile = fetchTile(fetch, tilePath(level, t, width), width);
      const bundle =
        level === 0 ? fetchRequired(fetch, entryBundlePath(t, width)) : Promise.resolve(undefined);
      return Promise.all([tile, bundle]);
    };
    const window: Array<Promise<[Uint8Array, Uint8Array | undefined]>> = [];
    for (let t = firstTile; t <= lastTile && t < firstTile + concurrency; t++) window.push(load(t));
    for (let t = firstTile; t <= lastTile; t++) {
      const next = t + concurrency;
      if (next <= lastTile) window.push(load(next));
      const pending = window.shift();
      if (pending === undefined) break;
      const [tileBytes, bundleBytes] = await pending;
      const width = tileBytes.length / 32;
      const path = tilePath(level, t, width);
      const hashes = decodeTile(tileBytes, width);
      const from = Math.max(s, t * TILE_WIDTH);
      if (level === 0 && bundleBytes !== undefined) {
        const bundlePath = entryBundlePath(t, width);
        const entries = withPath(bundlePath, () => decodeEntryBundle(bundleBytes, width));
        for (let i = from; i < t * TILE_WIDTH + width; i++) {
          const entry = at(entries, i - t * TILE_WIDTH);
          if (options.parseEntry !== undefined) {
            try {
              await options.parseEntry(entry, i);
            } catch (cause) {
              throw new TlogError('DOMICILE_ERR_TLOG_ENTRY_REJECTED', `entry ${i}: rejected by the parser`, {
                details: { index: BigInt(i), path: bundlePath },
                cause,
              });
            }
          }
          if (!bytesEqual(hashLeaf(entry), at(hashes, i - t * TILE_WIDTH))) {
            throw located(
              'DOMICILE_ERR_TLOG_ENTRY_MISMATCH',
              `entry ${i} in \`${bundlePath}\` does not hash to its hash in \`${path}\``,
              i,
              path,
            );
          }
        }
      } else {
        for (let p = from; p < t * TILE_WIDTH + width; p++) {
          if (!bytesEqual(at(computed, p - s), at(hashes, p - t * TILE_WIDTH))) {
            throw located(
              'DOMICILE_ERR_TLOG_TILE_MISMATCH',
              `hash ${p} of \`${path}\` differs from the tiles below it`,
              p,
              path,
            );
          }
        }
      }
      if (width === TILE_WIDTH) parents.push(tileRoot(hashes));
      else edges.set(`${level}/${t}`, tileBytes);
    }
    computed = parents;
  }
  return edges;
}

// The partial tiles of the tree of `oldSize`, cut from the tiles of the tree of `size`.
async function edgeTiles(fetch: LogFetcher, oldSize: number, size: number): Promise<Map<string, Uint8Array>> {
  const edges = new Map<string, Uint8Array>();
  for (let level = 0, scale = 1; Math.floor(oldSize / scale) > 0; level++, scale *= TILE_WIDTH) {
    const m = Math.floor(oldSize / scale);
    const width = m % TILE_WIDTH;
    if (width === 0) continue;
    const t = Math.floor(m / TILE_WIDTH);
    const available = Math.min(TILE_WIDTH, Math.floor(size / scale) - t * TILE_WIDTH);
    const bytes = await fetchTile(fetch, tilePath(level, t, available), available);
    edges.set(`${level}/${t}`, bytes.subarray(0, width * 32));
  }
  return edges;
}

async function fetchTile(fetch: LogFetcher, path: string, width: number): Promise<Uint8Array> {
  const bytes = await fetchRequired(fetch, path);
  withPath(path, () => decodeTile(bytes, width));
  return bytes;
}

async function fetchRequired(fetch: LogFetcher, path: string): Promise<Uint8Array> {
  const bytes = await fetch(path);
  if (bytes === undefined)
    throw new TlogError('DOMICILE_ERR_TLOG_NOT_FOUND', `\`${path}\` is missing from the log`, {
      details: { path },
    });
  return bytes;
}

function memoFetch(fetch: LogFetcher): (path: string) => Promise<Uint8Array> {
  const cache = new Map<string, Promise<Uint8Array>>();
  return (path) => {
    let p = cache.get(path);
    if (p === undefined) {
      p = fetchRequired(fetch, path);
      if (path.startsWith('tile/') && !path.startsWith('tile/0/') && !path.startsWith('tile/entries/'))
        cache.set(path, p);
      if (path === 'checkpoint') cache.set(path, p);
    }
    return p;
  };
}

function withPath<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TlogError)
      throw new TlogError(e.code, `\`${path}\`: ${e.message}`, { details: { path }, cause: e });
    throw e;
  }
}

function located(code: TlogErrorCode, message: string, index: number, path: string): TlogError {
  return new TlogError(code, message, { details: { index: BigInt(index), path } });
}

function safeSize(size: bigint): number {
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `tree size ${size} is too large to audit here`);
  }
  return Number(size);
}
