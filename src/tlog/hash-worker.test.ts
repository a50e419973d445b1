import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fullTileRootInline, fullTileRoots, hashLeaves, hashLeavesInline } from './hash-worker.js';
import { hashLeaf, MemoryTree } from './merkle.js';
import { decodeTile, TILE_WIDTH, tileRoot } from './tiles.js';

const packed = (hashes: readonly Uint8Array[]): Buffer => Buffer.concat(hashes);

describe('hashLeaves', () => {
  describe('when a batch is large enough for the worker thread', () => {
    it('gives the RFC 6962 leaf hash of every entry, in order', async () => {
      // empty, short, odd-sized and the largest entry a bundle holds
      const entries = Array.from({ length: 300 }, (_, i) =>
        randomBytes(i === 0 ? 0 : i === 1 ? 65_535 : (i * 37) % 700),
      );
      const hashes = await hashLeaves(entries);
      expect(Buffer.from(hashes)).toEqual(packed(entries.map(hashLeaf)));
    });

    it('answers concurrent batches each with its own hashes', async () => {
      const batches = Array.from({ length: 20 }, (_, b) =>
        Array.from({ length: 64 + b }, () => randomBytes(100 + b)),
      );
      const results = await Promise.all(batches.map((batch) => hashLeaves(batch)));
      results.forEach((hashes, b) => {
        expect(Buffer.from(hashes)).toEqual(packed((batches[b] ?? []).map(hashLeaf)));
      });
    });
  });

  it('hashes a small batch inline with the same result', async () => {
    const entries = [new TextEncoder().encode('record 0'), new Uint8Array(0)];
    expect(Buffer.from(await hashLeaves(entries))).toEqual(Buffer.from(hashLeavesInline(entries)));
    expect(Buffer.from(hashLeavesInline(entries))).toEqual(packed(entries.map(hashLeaf)));
  });
});

describe('fullTileRoots', () => {
  const tree = MemoryTree.fromEntries(
    Array.from({ length: 8 * TILE_WIDTH }, (_, i) => randomBytes(8 + (i % 5))),
  );
  const tiles = Array.from({ length: 8 }, (_, t) =>
    packed(Array.from({ length: TILE_WIDTH }, (_, i) => tree.leafHash(t * TILE_WIDTH + i))),
  );

  it('gives each full tile the root of its 256 hashes, for many tiles (worker thread) and few (inline)', async () => {
    for (const some of [tiles, tiles.slice(0, 2)]) {
      const roots = await fullTileRoots(some);
      expect(Buffer.from(roots)).toEqual(packed(some.map((tile) => tileRoot(decodeTile(tile, TILE_WIDTH)))));
    }
  });

  it('agrees with the Merkle tree: a level-0 tile root is the subtree root of its 256 entries', () => {
    const root = fullTileRootInline(tiles[3] ?? new Uint8Array());
    expect(Buffer.from(root)).toEqual(Buffer.from(tree.node({ level: 8, index: 3 })));
  });
});
