import { describe, expect, it } from 'vitest';
import { hashLeaf, rootFromLeafHashes } from '../../tlog/merkle.js';
import { MerkleAccumulator } from './merkle-accumulator.js';

describe('MerkleAccumulator', () => {
  it('gives the RFC 9162 root of every size from 0 to 300, as the tlog library computes it', () => {
    const leaves = Array.from({ length: 300 }, (_, i) => hashLeaf(Buffer.from(`leaf ${i}`)));
    const tree = new MerkleAccumulator();
    expect(Buffer.from(tree.root())).toEqual(Buffer.from(rootFromLeafHashes([])));
    leaves.forEach((leaf, i) => {
      tree.add(leaf);
      expect(Buffer.from(tree.root())).toEqual(Buffer.from(rootFromLeafHashes(leaves.slice(0, i + 1))));
    });
    expect(tree.count).toBe(300);
  });
});
