import { describe, expect, it } from 'vitest';
import { TlogError } from './errors.js';
import { hashLeaf, MemoryTree } from './merkle.js';
import { hex, loadTlogVectors } from './test-vectors.js';
import {
  decodeEntryBundle,
  decodeTile,
  encodeEntryBundle,
  entryBundleForIndex,
  entryBundlePath,
  parseTilePath,
  readTileFrom,
  tileLevelsForSize,
  tilePath,
  tileRoot,
  tilesForSize,
} from './tiles.js';

const vectors = loadTlogVectors();
const t = vectors.tiles;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof TlogError) return e.code;
    throw e;
  }
  return undefined;
}

describe('tile paths (tessera api/layout/paths_test.go)', () => {
  it.each(t.paths)('$path', (p) => {
    const width = p.width === 0 ? 256 : p.width;
    const path = p.entries
      ? entryBundlePath(BigInt(p.n), width)
      : tilePath(p.level ?? -1, BigInt(p.n), width);
    expect(path).toBe(p.path);
    const parsed = parseTilePath(p.path);
    expect(parsed.kind).toBe(p.entries ? 'entries' : 'tile');
    expect(parsed.index).toBe(BigInt(p.n));
    expect(parsed.width).toBe(width);
  });

  it.each(t.entries_path_for_index)('entry $index at size $tree_size is in $path', (e) => {
    const b = entryBundleForIndex(e.index, e.tree_size);
    expect(entryBundlePath(b.index, b.width)).toBe(e.path);
  });

  it.each([
    'tile/0/x001/x234/067.p/',
    'tile/0/x001/x234/067.p',
    'tile/0/1',
    'tile/64/000',
    'tile/01/000',
    'tile/0/x000/001',
    'tile/0/000.p/0',
    'tile/0/000.p/256',
    'tile/0/000.p/08',
    'tile/entries/x1/000',
    'tile/4/0/001',
    'tile/3/5/123/456/078',
    'tiles/0/000',
    'tile/0',
  ])('refuses %s', (path) => {
    expect(codeOf(() => parseTilePath(path))).toBe('DOMICILE_ERR_TLOG_TILE_PATH_MALFORMED');
  });
});

describe('tiles for a tree size (C2SP tlog-tiles examples)', () => {
  it('size 70,000', () => {
    expect(tileLevelsForSize(70_000)).toEqual([
      { level: 0, fullTiles: 273n, partialWidth: 112 },
      { level: 1, fullTiles: 1n, partialWidth: 17 },
      { level: 2, fullTiles: 0n, partialWidth: 1 },
    ]);
    expect([...tilesForSize(70_000)]).toHaveLength(273 + 1 + 1 + 1 + 1);
  });
  it('size 256', () => {
    expect([...tilesForSize(256)]).toEqual([
      { level: 0, index: 0n, width: 256 },
      { level: 1, index: 0n, width: 1 },
    ]);
  });
  it('size 0 has no tiles', () => {
    expect([...tilesForSize(0)]).toEqual([]);
  });
});

describe('the 8-leaf tree', () => {
  const entries = vectors.hashing.leaves.map((l) => hex(l.input_hex));
  const tree = MemoryTree.fromEntries(entries);
  const d = t.derived_8_leaf_tree;

  it('has the derived level-0 partial tile', async () => {
    expect(tilePath(0, 0, 8)).toBe(d.level0_partial_path);
    const tile = await readTileFrom(tree, { level: 0, index: 0n, width: 8 });
    expect(Buffer.from(tile).toString('hex')).toBe(d.level0_partial_content_hex);
    expect(decodeTile(tile, 8).map((h) => Buffer.from(h).toString('hex'))).toEqual(
      vectors.hashing.leaves.map((l) => l.leaf_hash),
    );
  });

  it('has the derived entry bundle, which decodes to the entries', () => {
    expect(entryBundlePath(0, 8)).toBe(d.entry_bundle_path);
    const bundle = encodeEntryBundle(entries);
    expect(Buffer.from(bundle).toString('hex')).toBe(d.entry_bundle_hex);
    expect(decodeEntryBundle(bundle, 8).map((e) => Buffer.from(hashLeaf(e)).toString('hex'))).toEqual(
      vectors.hashing.leaves.map((l) => l.leaf_hash),
    );
  });
});

describe('entry bundles', () => {
  it('carries a 65,535-byte entry and refuses a 65,536-byte one', () => {
    const max = new Uint8Array(65_535).fill(1);
    expect(decodeEntryBundle(encodeEntryBundle([max]))[0]).toHaveLength(65_535);
    expect(codeOf(() => encodeEntryBundle([new Uint8Array(65_536)]))).toBe(
      'DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE',
    );
  });
  it.each([
    ['a truncated length', Uint8Array.of(0)],
    ['a truncated entry', Uint8Array.of(0, 5, 1, 2)],
  ])('refuses %s', (_what, bytes) => {
    expect(codeOf(() => decodeEntryBundle(bytes))).toBe('DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED');
  });
  it('refuses the wrong count and more than 256 entries', () => {
    expect(codeOf(() => decodeEntryBundle(encodeEntryBundle([Uint8Array.of(1)]), 2))).toBe(
      'DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED',
    );
    expect(codeOf(() => decodeEntryBundle(new Uint8Array(2 * 257)))).toBe(
      'DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED',
    );
  });
});

describe('decodeTile', () => {
  it('refuses partial hashes and wrong widths', () => {
    expect(codeOf(() => decodeTile(new Uint8Array(33)))).toBe('DOMICILE_ERR_TLOG_TILE_MALFORMED');
    expect(codeOf(() => decodeTile(new Uint8Array(64), 3))).toBe('DOMICILE_ERR_TLOG_TILE_MALFORMED');
    expect(codeOf(() => decodeTile(new Uint8Array(0)))).toBe('DOMICILE_ERR_TLOG_TILE_MALFORMED');
    expect(codeOf(() => tileRoot(decodeTile(new Uint8Array(64))))).toBe('DOMICILE_ERR_TLOG_TILE_MALFORMED');
  });
  it('the root of a full level-0 tile is the level-8 node', async () => {
    const tree = MemoryTree.fromEntries(
      Array.from({ length: 300 }, (_, i) => Uint8Array.of(i % 256, i >> 8)),
    );
    const tile = decodeTile(await readTileFrom(tree, { level: 0, index: 0n, width: 256 }), 256);
    expect(Buffer.from(tileRoot(tile))).toEqual(Buffer.from(tree.node({ level: 8, index: 0 })));
  });
});
