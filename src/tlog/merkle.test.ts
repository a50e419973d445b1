import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TlogError } from './errors.js';
import {
  emptyRoot,
  type Hash,
  hashLeaf,
  MemoryTree,
  proveConsistency,
  proveInclusion,
  rootFromLeafHashes,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
import {
  b64,
  type ConsistencyProbe,
  hex,
  type InclusionProbe,
  loadProbes,
  loadTlogVectors,
} from './test-vectors.js';

const vectors = loadTlogVectors();
const leafInputs = vectors.hashing.leaves.map((l) => hex(l.input_hex));

// ---- An independent oracle: RFC 6962 §2.1 written recursively, straight from the text. ----
const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function naiveMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Uint8Array.of(0), d[0] as Uint8Array);
  const k = split(d.length);
  return sha(Uint8Array.of(1), naiveMth(d.slice(0, k)), naiveMth(d.slice(k)));
}
function naivePath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...naivePath(m, d.slice(0, k)), naiveMth(d.slice(k))]
    : [...naivePath(m - k, d.slice(k)), naiveMth(d.slice(0, k))];
}
function naiveSubproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [naiveMth(d)];
  const k = split(d.length);
  return m <= k
    ? [...naiveSubproof(m, d.slice(0, k), b), naiveMth(d.slice(k))]
    : [...naiveSubproof(m - k, d.slice(k), false), naiveMth(d.slice(0, k))];
}
const naiveProof = (m: number, d: Uint8Array[]): Uint8Array[] => naiveSubproof(m, d, true);

const toHex = (h: Uint8Array): string => Buffer.from(h).toString('hex');
const entriesOf = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`entry ${i}`));

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TlogError);
    expect((e as TlogError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('transparency-dev/merkle probes (../shared/vectors/transparency-dev-merkle-testdata)', () => {
  const inclusion = loadProbes<InclusionProbe>('inclusion');
  const consistency = loadProbes<ConsistencyProbe>('consistency');

  it('finds all 196 probe files', () => {
    expect(inclusion.length + consistency.length).toBe(196);
  });

  describe('verifyInclusion', () => {
    it.each(inclusion)('%s', (_file, p) => {
      const run = (): void =>
        verifyInclusion(p.leafIdx, p.treeSize, b64(p.leafHash), (p.proof ?? []).map(b64), b64(p.root));
      if (p.wantErr) expect(run).toThrow(TlogError);
      else expect(run).not.toThrow();
    });
  });

  describe('verifyConsistency', () => {
    it.each(consistency)('%s', (_file, p) => {
      const run = (): void =>
        verifyConsistency(p.size1, p.size2, b64(p.root1), b64(p.root2), (p.proof ?? []).map(b64));
      if (p.wantErr) expect(run).toThrow(TlogError);
      else expect(run).not.toThrow();
    });
  });
});

describe('hashing vectors (transparency-dev/merkle testonly/constants.go)', () => {
  it('hashes every leaf', () => {
    for (const l of vectors.hashing.leaves) expect(toHex(hashLeaf(hex(l.input_hex)))).toBe(l.leaf_hash);
  });

  it('computes every root, bottom-up and incrementally, and matches the oracle', () => {
    for (const r of vectors.hashing.roots) {
      const leaves = leafInputs.slice(0, r.tree_size);
      expect(toHex(rootFromLeafHashes(leaves.map(hashLeaf)))).toBe(r.root);
      expect(toHex(MemoryTree.fromEntries(leaves).root())).toBe(r.root);
      expect(toHex(naiveMth(leaves))).toBe(r.root);
      expect(Buffer.from(hex(r.root)).toString('base64')).toBe(r.root_b64);
    }
  });

  it('uses SHA-256("") for the empty tree, not the all-zero hash of Go sumdb', () => {
    expect(toHex(emptyRoot())).toBe(vectors.hashing.empty_tree_root);
    expect(toHex(new MemoryTree().root())).toBe(vectors.hashing.empty_tree_root);
  });

  it('matches the x/mod RecordHash vector', () => {
    for (const x of vectors.hashing.extra) {
      expect(Buffer.from(hashLeaf(new TextEncoder().encode(x.input_utf8))).toString('base64')).toBe(
        x.leaf_hash_b64,
      );
    }
  });
});

describe('inclusion and consistency vectors in tlog-vectors.json', () => {
  it.each(vectors.inclusion.cases)('inclusion $file', (c) => {
    const run = (): void =>
      verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), (c.proof ?? []).map(b64), b64(c.root));
    if (c.wantErr) expect(run).toThrow(TlogError);
    else expect(run).not.toThrow();
  });

  it.each(vectors.consistency.cases)('consistency $file', (c) => {
    const run = (): void =>
      verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), (c.proof ?? []).map(b64));
    if (c.wantErr) expect(run).toThrow(TlogError);
    else expect(run).not.toThrow();
  });
});

describe('RFC 6962 §2.1.3 example on the 7-leaf tree', () => {
  const ex = vectors.rfc6962_example_7_leaves;
  const tree = MemoryTree.fromEntries(leafInputs.slice(0, 7));

  it('generates the published audit paths, which verify', () => {
    expect(toHex(tree.root())).toBe(ex.root);
    for (const p of ex.paths) {
      const proof = tree.inclusionProof(p.leaf_index, p.tree_size);
      expect(proof.map(toHex)).toEqual(p.path);
      verifyInclusion(p.leaf_index, p.tree_size, tree.leafHash(p.leaf_index), proof, tree.root());
    }
  });

  it('generates the published consistency proofs, which verify', () => {
    for (const c of ex.consistency) {
      const proof = tree.consistencyProof(c.size1, c.size2);
      expect(proof.map(toHex)).toEqual(c.proof);
      verifyConsistency(c.size1, c.size2, hex(c.root1), tree.root(), proof);
    }
  });
});

describe('verifyConsistency', () => {
  const tree = MemoryTree.fromEntries(entriesOf(40));

  describe('when the first size is a power of two (the prepend step some ports drop)', () => {
    it.each([1, 2, 4, 8, 16, 32])('accepts %i → 40 and rejects a wrong first root', (m) => {
      const proof = tree.consistencyProof(m, 40);
      verifyConsistency(m, 40, tree.root(m), tree.root(), proof);
      expectCode(
        () => verifyConsistency(m, 40, tree.root(m + 1), tree.root(), proof),
        'DOMICILE_ERR_TLOG_PROOF_INVALID',
      );
    });
  });

  describe('under the c2sp convention', () => {
    it('accepts old size 0 with an empty proof and the empty root', () => {
      expect(() =>
        verifyConsistency(0, 40, emptyRoot(), tree.root(), [], { convention: 'c2sp' }),
      ).not.toThrow();
    });
    it('rejects old size 0 with a non-empty proof', () => {
      expectCode(
        () => verifyConsistency(0, 40, emptyRoot(), tree.root(), [tree.root()], { convention: 'c2sp' }),
        'DOMICILE_ERR_TLOG_PROOF_INVALID',
      );
    });
    it('rejects a size-0 tree whose root is not SHA-256("")', () => {
      expectCode(
        () => verifyConsistency(0, 0, tree.root(), tree.root(), [], { convention: 'c2sp' }),
        'DOMICILE_ERR_TLOG_PROOF_INVALID',
      );
    });
    it('rejects equal sizes with different roots', () => {
      expectCode(
        () => verifyConsistency(40, 40, tree.root(39), tree.root(), [], { convention: 'c2sp' }),
        'DOMICILE_ERR_TLOG_PROOF_INVALID',
      );
    });
  });

  describe('when the proof is oversized', () => {
    it('refuses it before hashing', () => {
      const long = Array.from({ length: 65 }, () => tree.root());
      expectCode(
        () => verifyConsistency(3, 40, tree.root(3), tree.root(), long),
        'DOMICILE_ERR_TLOG_PROOF_MALFORMED',
      );
      expectCode(
        () => verifyInclusion(3, 40, tree.leafHash(3), long, tree.root()),
        'DOMICILE_ERR_TLOG_PROOF_MALFORMED',
      );
    });
  });

  it('accepts uint64 sizes given as bigint and rejects negative ones', () => {
    expectCode(
      () => verifyInclusion(-1, 40, tree.leafHash(0), [], tree.root()),
      'DOMICILE_ERR_TLOG_OUT_OF_RANGE',
    );
    expectCode(
      () => verifyInclusion(0n, (1n << 64n) - 1n, tree.leafHash(0), [], tree.root()),
      'DOMICILE_ERR_TLOG_PROOF_INVALID',
    );
  });
});

describe('proof generation against the naive oracle (property)', () => {
  const sizeAndIndex = fc
    .integer({ min: 1, max: 300 })
    .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })));

  it('roots and inclusion proofs equal the oracle and verify; tampering fails', () => {
    fc.assert(
      fc.property(sizeAndIndex, fc.nat(), ([n, m], salt) => {
        const entries = entriesOf(n);
        const tree = MemoryTree.fromEntries(entries);
        const root = tree.root();
        expect(toHex(root)).toBe(toHex(naiveMth(entries)));
        const proof = tree.inclusionProof(m);
        expect(proof.map(toHex)).toEqual(naivePath(m, entries).map(toHex));
        verifyInclusion(m, n, tree.leafHash(m), proof, root);
        if (proof.length > 0) {
          const tampered = proof.map((h) => h.slice());
          const victim = tampered[salt % tampered.length] as Hash;
          victim[salt % 32] = (victim[salt % 32] as number) ^ (1 << (salt % 8));
          expect(() => verifyInclusion(m, n, tree.leafHash(m), tampered, root)).toThrow(TlogError);
          expect(() => verifyInclusion(m, n, tree.leafHash(m), proof.slice(1), root)).toThrow(TlogError);
          expect(() => verifyInclusion(m, n, tree.leafHash(m), [...proof, root], root)).toThrow(TlogError);
        }
        expect(() =>
          verifyInclusion((m + 1) % n === m ? m + 1 : (m + 1) % n, n, tree.leafHash(m), proof, root),
        ).toThrow(TlogError);
      }),
      { numRuns: 150 },
    );
  });

  it('consistency proofs equal the oracle and verify; tampering fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.nat(), fc.nat(), (n, a, salt) => {
        const m = 1 + (a % (n - 1));
        const entries = entriesOf(n);
        const tree = MemoryTree.fromEntries(entries);
        const proof = tree.consistencyProof(m, n);
        expect(proof.map(toHex)).toEqual(naiveProof(m, entries).map(toHex));
        verifyConsistency(m, n, tree.root(m), tree.root(n), proof);
        const tampered = proof.map((h) => h.slice());
        const victim = tampered[salt % tampered.length] as Hash;
        victim[salt % 32] = (victim[salt % 32] as number) ^ 1;
        expect(() => verifyConsistency(m, n, tree.root(m), tree.root(n), tampered)).toThrow(TlogError);
        expect(() => verifyConsistency(m, n, tree.root(m), tree.root(n), proof.slice(0, -1))).toThrow(
          TlogError,
        );
        // A forked history of the same size must not verify against the honest proof.
        const forked = MemoryTree.fromEntries([
          ...entries.slice(0, m - 1),
          new Uint8Array([0xff]),
          ...entries.slice(m),
        ]);
        expect(() => verifyConsistency(m, n, forked.root(m), tree.root(n), proof)).toThrow(TlogError);
      }),
      { numRuns: 150 },
    );
  });

  it('proves through a HashReader the same way', async () => {
    const tree = MemoryTree.fromEntries(entriesOf(77));
    expect(await proveInclusion(tree, 70, 77)).toEqual(tree.inclusionProof(70, 77));
    expect(await proveConsistency(tree, 33, 77)).toEqual(tree.consistencyProof(33, 77));
    expect(toHex(await treeRoot(tree, 50))).toBe(toHex(tree.root(50)));
    expect(toHex(await treeRoot(tree, 0))).toBe(toHex(emptyRoot()));
  });
});
