/**
 * C2SP tlog-tiles: tile coordinates and paths, which tiles exist for a tree size, tile and entry
 * bundle encodings. Tiles have height 8: a tile at level L holds up to 256 hashes of Merkle level
 * 8L. See: C2SP tlog-tiles
 */
import { at, parseDecimal, truncate } from './encoding.js';
import { TlogError } from './errors.js';
import {
  HASH_SIZE,
  type Hash,
  type HashReader,
  type NodeId,
  rootFromLeafHashes,
  type SizeLike,
} from './merkle.js';

/** Merkle levels per tile level. */
export const TILE_HEIGHT = 8;
/** Hashes in a full tile, entries in a full bundle. */
export const TILE_WIDTH = 256;
/** Largest entry an entry bundle can carry (uint16 length prefix). */
export const MAX_ENTRY_SIZE = 0xffff;
/** Highest tile level a path may name. */
export const MAX_TILE_LEVEL = 63;

/** A Merkle tile: `width` hashes (1..256; 256 is a full tile) at tile level `level`. */
export interface TileId {
  readonly level: number;
  readonly index: bigint;
  readonly width: number;
}

/** An entry bundle: `width` entries (1..256) starting at entry `index * 256`. */
export interface EntryBundleId {
  readonly index: bigint;
  readonly width: number;
}

/** What a tile path names. */
export type TilePathTarget =
  | ({ readonly kind: 'tile' } & TileId)
  | ({ readonly kind: 'entries' } & EntryBundleId);

/**
 * `tile/<L>/<N>[.p/<W>]`, with N in zero-padded 3-digit groups, every group but the last
 * prefixed with `x` (1234067 → `x001/x234/067`). A width of 256 is a full tile and has no `.p/`.
 *
 * @example
 * tilePath(0, 1234067n) // 'tile/0/x001/x234/067'
 */
export function tilePath(level: number, index: SizeLike, width: number = TILE_WIDTH): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `tile level ${level} is not in 0..63`);
  }
  return `tile/${level}/${formatIndex(index)}${widthSuffix(width)}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function entryBundlePath(index: SizeLike, width: number = TILE_WIDTH): string {
  return `tile/entries/${formatIndex(index)}${widthSuffix(width)}`;
}

/** Path of any tile or entry bundle id. */
export function pathOf(target: TilePathTarget): string {
  return target.kind === 'tile'
    ? tilePath(target.level, target.index, target.width)
    : entryBundlePath(target.index, target.width);
}

/**
 * Parses a tile or entry bundle path (without the log prefix). Only canonical spellings are
 * accepted: no leading `x000` groups, no leading zeroes in L or W, W in 1..255.
 */
export function parseTilePath(path: string): TilePathTarget {
  // untrusted: a request path from the network
  const segments = path.split('/');
  if (segments.length < 3 || segments[0] !== 'tile') throw badPath(path);
  const levelText = at(segments, 1);
  let rest = segments.slice(2);
  let width = TILE_WIDTH;
  const last = at(rest, rest.length - 1);
  const beforeLast = rest[rest.length - 2];
  if (beforeLast?.endsWith('.p')) {
    if (!/^[1-9][0-9]{0,2}$/.test(last) || Number(last) > 255) throw badPath(path);
    width = Number(last);
    rest = [...rest.slice(0, -2), beforeLast.slice(0, -2)];
  }
  if (rest.length === 0) throw badPath(path);
  const groups = rest.map((g, i) => {
    const isLast = i === rest.length - 1;
    if (!(isLast ? /^[0-9]{3}$/ : /^x[0-9]{3}$/).test(g)) throw badPath(path);
    return isLast ? g : g.slice(1);
  });
  if (groups.length > 1 && groups[0] === '000') throw badPath(path);
  const digits = groups.join('').replace(/^0+(?=.)/, '');
  const index = parseDecimal(
    digits,
    'DOMICILE_ERR_TLOG_TILE_PATH_MALFORMED',
    `tile path \`${truncate(path)}\``,
  );
  if (levelText === 'entries') return { kind: 'entries', index, width };
  if (!/^(?:0|[1-9][0-9]?)$/.test(levelText) || Number(levelText) > MAX_TILE_LEVEL) throw badPath(path);
  return { kind: 'tile', level: Number(levelText), index, width };
}

/** Width of the partial tile at `level` for a tree of `size` entries (0 when there is none). */
export function partialTileWidth(level: number, size: SizeLike): number {
  return Number((BigInt(size) / TILE_WIDTH_BIG ** BigInt(level)) % TILE_WIDTH_BIG);
}

/** For one tile level at a tree size: how many full tiles and the partial tile's width (0: none). */
export interface TileLevelSummary {
  readonly level: number;
  readonly fullTiles: bigint;
  readonly partialWidth: number;
}

/**
 * The tiles a log must serve for a tree of `size` entries, one summary per level. Size 70,000:
 * level 0 has 273 full tiles and a partial of width 112, level 1 one full and a partial of 17,
 * level 2 a partial of width 1. Size 256: one full level-0 tile and a level-1 partial of width 1.
 */
export function tileLevelsForSize(size: SizeLike): TileLevelSummary[] {
  const out: TileLevelSummary[] = [];
  let hashes = BigInt(size);
  for (let level = 0; hashes > 0n; level++) {
    out.push({ level, fullTiles: hashes / TILE_WIDTH_BIG, partialWidth: Number(hashes % TILE_WIDTH_BIG) });
    hashes /= TILE_WIDTH_BIG;
  }
  return out;
}

/** Every tile (full and partial) that exists for a tree of `size` entries, level by level. */
export function* tilesForSize(size: SizeLike): Generator<TileId> {
  for (const { level, fullTiles, partialWidth } of tileLevelsForSize(size)) {
    for (let n = 0n; n < fullTiles; n++) yield { level, index: n, width: TILE_WIDTH };
    if (partialWidth > 0) yield { level, index: fullTiles, width: partialWidth };
  }
}

/** The tile at `level` holding hash position `position` (of Merkle level 8·level) at tree `size`. */
export function tileForPosition(level: number, position: SizeLike, size: SizeLike): TileId {
  const pos = BigInt(position);
  const hashes = BigInt(size) / TILE_WIDTH_BIG ** BigInt(level);
  if (pos < 0n || pos >= hashes) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_OUT_OF_RANGE',
      `hash ${pos} at tile level ${level} is outside tree size ${size}`,
    );
  }
  const index = pos / TILE_WIDTH_BIG;
  const width = Number(
    hashes - index * TILE_WIDTH_BIG < TILE_WIDTH_BIG ? hashes - index * TILE_WIDTH_BIG : TILE_WIDTH_BIG,
  );
  return { level, index, width };
}

/** The entry bundle holding entry `index` in a tree of `size` entries. */
export function entryBundleForIndex(index: SizeLike, size: SizeLike): EntryBundleId {
  const { index: n, width } = tileForPosition(0, index, size);
  return { index: n, width };
}

/** Encodes hashes as a tile: their concatenation. */
export function encodeTile(hashes: readonly Hash[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    if (h.length !== HASH_SIZE)
      throw new TlogError('DOMICILE_ERR_TLOG_TILE_MALFORMED', `hash ${i} is not 32 bytes`);
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/**
 * Splits a tile into hashes. With `width`, the tile must hold exactly that many; otherwise any
 * whole number of hashes from 1 to 256.
 */
export function decodeTile(bytes: Uint8Array, width?: number): Hash[] {
  // untrusted: tiles come from the log, which the auditor does not trust
  if (bytes.length % HASH_SIZE !== 0) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_TILE_MALFORMED',
      `tile of ${bytes.length} bytes is not whole 32-byte hashes`,
    );
  }
  const count = bytes.length / HASH_SIZE;
  if (width !== undefined ? count !== width : count < 1 || count > TILE_WIDTH) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_TILE_MALFORMED',
      `tile holds ${count} hashes, expected ${width ?? '1 to 256'}`,
    );
  }
  const out: Hash[] = [];
  for (let i = 0; i < count; i++) out.push(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** Root of a full tile: the Merkle node 8 levels above its hashes. */
export function tileRoot(hashes: readonly Hash[]): Hash {
  if (hashes.length !== TILE_WIDTH) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_TILE_MALFORMED',
      `only a full tile has a root, got ${hashes.length} hashes`,
    );
  }
  return rootFromLeafHashes(hashes);
}

/**
 * Encodes entries as an entry bundle: each prefixed by its length as big-endian uint16.
 * An entry over 65,535 bytes is refused with `DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE`.
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length > TILE_WIDTH) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED',
      `a bundle holds at most 256 entries, got ${entries.length}`,
    );
  }
  let total = 0;
  for (const e of entries) {
    checkEntrySize(e);
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const e of entries) {
    view.setUint16(offset, e.length);
    out.set(e, offset + 2);
    offset += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle. With `width`, it must hold exactly that many entries; it never holds
 * more than 256. Truncation gives `DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED`.
 */
export function decodeEntryBundle(bytes: Uint8Array, width?: number): Uint8Array[] {
  // untrusted: bundles come from the log, which the auditor does not trust
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (out.length === TILE_WIDTH) throw bundleError('entry bundle holds more than 256 entries');
    if (offset + 2 > bytes.length)
      throw bundleError(`entry bundle is truncated in the length of entry ${out.length}`);
    const length = view.getUint16(offset);
    if (offset + 2 + length > bytes.length)
      throw bundleError(`entry bundle is truncated in entry ${out.length}`);
    out.push(bytes.subarray(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  if (width !== undefined && out.length !== width) {
    throw bundleError(`entry bundle holds ${out.length} entries, expected ${width}`);
  }
  return out;
}

/** Throws `DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE` for an entry a bundle cannot carry. */
export function checkEntrySize(entry: Uint8Array): void {
  if (entry.length > MAX_ENTRY_SIZE) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE',
      `entry of ${entry.length} bytes exceeds the ${MAX_ENTRY_SIZE}-byte limit of tlog-tiles entry bundles`,
    );
  }
}

/** The Merkle nodes a tile holds: level 8·L, positions `index*256 .. index*256+width-1`. */
export function tileNodes(tile: TileId): NodeId[] {
  const first = Number(tile.index) * TILE_WIDTH;
  const nodes: NodeId[] = [];
  for (let i = 0; i < tile.width; i++) nodes.push({ level: tile.level * TILE_HEIGHT, index: first + i });
  return nodes;
}

/** Computes a tile's bytes from any store of full-subtree hashes. */
export async function readTileFrom(reader: HashReader, tile: TileId): Promise<Uint8Array> {
  return encodeTile(await reader.readHashes(tileNodes(tile)));
}

// ------------------------------------------------------------------------------------------------

const TILE_WIDTH_BIG = 256n;

function formatIndex(index: SizeLike): string {
  const n = BigInt(index);
  if (n < 0n || n >= 1n << 64n)
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `tile index ${n} is not a uint64`);
  let digits = n.toString();
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 3) groups.push(digits.slice(i, i + 3));
  return groups.map((g, i) => (i === groups.length - 1 ? g : `x${g}`)).join('/');
}

function widthSuffix(width: number): string {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `tile width ${width} is not in 1..256`);
  }
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

function badPath(path: string): TlogError {
  return new TlogError(
    'DOMICILE_ERR_TLOG_TILE_PATH_MALFORMED',
    `\`${truncate(path)}\` is not a tlog-tiles path`,
  );
}

function bundleError(message: string): TlogError {
  return new TlogError('DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED', message);
}
