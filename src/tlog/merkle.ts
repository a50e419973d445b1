/**
 * RFC 6962 / RFC 9162 Merkle trees: hashing, proof generation from any store of full-subtree
 * hashes, and proof verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 write it.
 *
 * Sizes and indices on the verification side are `bigint` (or a safe-integer `number`), because
 * tree sizes on the wire are uint64 and JS `>>` is 32-bit. Generation works on safe integers: a log
 * that stores its own tree never reaches 2^53 entries.
 */
import { at, bytesEqual, sha256, sha256Pair, sha256Prefixed } from './encoding.js';
import { TlogError } from './errors.js';

/** A SHA-256 Merkle hash: always 32 bytes. */
export type Hash = Uint8Array;

/** A tree size or leaf index as given by a caller or parsed from the wire. */
export type SizeLike = bigint | number;

/** Bytes in a hash. */
export const HASH_SIZE = 32;

/**
 * Most nodes accepted in a proof before any hashing. An inclusion proof in a tree of at most
 * 2^64 leaves has at most 64 nodes; consistency proofs for any size a log can reach fit too.
 */
export const MAX_PROOF_LENGTH = 64;

const EMPTY_ROOT = sha256();

/** `SHA-256(0x00 || entry)`. See: RFC 6962 §2.1 */
export function hashLeaf(entry: Uint8Array): Hash {
  return sha256Prefixed(0x00, entry);
}

/** `SHA-256(0x01 || left || right)`. See: RFC 6962 §2.1 */
export function hashChildren(left: Hash, right: Hash): Hash {
  return sha256Pair(0x01, left, right);
}

/** Root of the empty tree, `SHA-256("")` = `e3b0c442…b855` (not Go sumdb's all-zero hash). */
export function emptyRoot(): Hash {
  return EMPTY_ROOT.slice();
}

/**
 * Root of a list of leaf hashes, bottom-up: pair nodes level by level and promote an unpaired
 * right-most node unchanged (never duplicated, never re-hashed). See: RFC 6962 §2.1
 */
export function rootFromLeafHashes(leafHashes: readonly Hash[]): Hash {
  if (leafHashes.length === 0) return emptyRoot();
  let level: Hash[] = [...leafHashes];
  while (level.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(hashChildren(at(level, i), at(level, i + 1)));
    if (level.length % 2 === 1) next.push(at(level, level.length - 1));
    level = next;
  }
  return at(level, 0);
}

// ------------------------------------------------------------------------------------------------
// Verification

/**
 * Verifies that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`.
 * Throws `DOMICILE_ERR_TLOG_PROOF_MALFORMED` for a hash that is not 32 bytes or a proof longer
 * than `MAX_PROOF_LENGTH`, and `DOMICILE_ERR_TLOG_PROOF_INVALID` when the proof does not verify
 * (including `index >= size`, so a size-0 tree proves nothing).
 *
 * @example
 * verifyInclusion(5n, 8n, hashLeaf(entry), proof, checkpoint.root);
 */
export function verifyInclusion(
  index: SizeLike,
  size: SizeLike,
  leafHash: Hash,
  proof: readonly Hash[],
  root: Hash,
): void {
  const leafIndex = toUint64(index, 'leaf index');
  const treeSize = toUint64(size, 'tree size');
  checkHash(leafHash, 'leaf hash');
  checkHash(root, 'root hash');
  checkProof(proof);
  // See: RFC 9162 §2.1.3.2, steps 1-5, transcribed one to one.
  if (leafIndex >= treeSize) {
    throw invalid(`leaf index ${leafIndex} is not below tree size ${treeSize}`);
  }
  let fn = leafIndex;
  let sn = treeSize - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0n) throw invalid('inclusion proof has more nodes than the tree');
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw invalid('inclusion proof has fewer nodes than the tree');
  if (!bytesEqual(r, root)) throw invalid('inclusion proof does not lead to the root');
}

/**
 * How the trivial cases of a consistency check are decided; the RFC algorithm itself needs
 * `0 < size1 < size2`.
 * - `transparency-dev` (default; the published probes encode it): `size1 == 0` is an error,
 *   `size1 == size2` needs an empty proof and `root1 == root2` (compared as given).
 * - `c2sp` (tlog-witness): `size1 == 0` needs an empty proof and `root1 == SHA-256("")`, and is then
 *   consistent with anything; `size1 == size2` needs an empty proof and equal roots; a size-0 tree
 *   must have root `SHA-256("")`.
 */
export type ConsistencyConvention = 'transparency-dev' | 'c2sp';

/** Options of `verifyConsistency`. */
export interface VerifyConsistencyOptions {
  /** Default `transparency-dev`. */
  readonly convention?: ConsistencyConvention;
}

/**
 * Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of `size2`
 * leaves with root `root2`. Throws `DOMICILE_ERR_TLOG_PROOF_INVALID` or
 * `DOMICILE_ERR_TLOG_PROOF_MALFORMED`. See `ConsistencyConvention` for `size1 == 0` and
 * `size1 == size2`.
 *
 * @example
 * verifyConsistency(trusted.size, latest.size, trusted.root, latest.root, proof);
 */
export function verifyConsistency(
  size1: SizeLike,
  size2: SizeLike,
  root1: Hash,
  root2: Hash,
  proof: readonly Hash[],
  options: VerifyConsistencyOptions = {},
): void {
  const first = toUint64(size1, 'first tree size');
  const second = toUint64(size2, 'second tree size');
  checkProof(proof);
  const convention = options.convention ?? 'transparency-dev';
  if (first > second) throw invalid(`first tree size ${first} is larger than second tree size ${second}`);
  if (convention === 'c2sp') {
    checkHash(root1, 'first root hash');
    checkHash(root2, 'second root hash');
    if (first === 0n && !bytesEqual(root1, EMPTY_ROOT))
      throw invalid('a size-0 tree must have root SHA-256("")');
    if (second === 0n && !bytesEqual(root2, EMPTY_ROOT))
      throw invalid('a size-0 tree must have root SHA-256("")');
    if (first === 0n) {
      if (proof.length !== 0) throw invalid('a consistency proof from the empty tree must be empty');
      return;
    }
  } else if (first === 0n) {
    // transparency-dev: "consistency proof from empty tree is meaningless".
    throw invalid('consistency from the empty tree is not checked under the transparency-dev convention');
  }
  if (first === second) {
    // Both roots are the caller's own inputs and nothing is hashed, so they are compared as given;
    // the transparency-dev probes accept equal non-32-byte roots here.
    if (proof.length !== 0) throw invalid('a consistency proof between equal sizes must be empty');
    if (!bytesEqual(root1, root2)) throw invalid(`two different roots for tree size ${first}`);
    return;
  }
  checkHash(root1, 'first root hash');
  checkHash(root2, 'second root hash');
  // See: RFC 9162 §2.1.4.2, steps 1-7, transcribed one to one.
  if (proof.length === 0) throw invalid('consistency proof is empty');
  const path = isPowerOfTwo(first) ? [root1, ...proof] : [...proof];
  let fn = first - 1n;
  let sn = second - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = at(path, 0);
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = at(path, i);
    if (sn === 0n) throw invalid('consistency proof has more nodes than the tree');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw invalid('consistency proof has fewer nodes than the tree');
  if (!bytesEqual(fr, root1)) throw invalid('consistency proof does not lead to the first root');
  if (!bytesEqual(sr, root2)) throw invalid('consistency proof does not lead to the second root');
}

// ------------------------------------------------------------------------------------------------
// Generation

/**
 * A full (perfect) subtree: the node at height `level` covering leaves
 * `[index * 2^level, (index + 1) * 2^level)`. Level 0 nodes are leaf hashes.
 */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/**
 * A source of full-subtree hashes: an in-memory tree, stored tiles, a database table. Proof
 * generation asks for all the nodes it needs in one call so a store can batch its reads.
 */
export interface HashReader {
  /** Hashes of the given nodes, in the same order. Every node lies inside the tree being proven. */
  readHashes(nodes: readonly NodeId[]): Promise<readonly Hash[]>;
}

/**
 * What a proof needs: `nodes` to read, and how many consecutive nodes fold into each proof
 * element (`groups`, in proof order). A group of several nodes is a subtree that is not perfect;
 * its hash folds the nodes right to left. Lets a storage layer fetch everything in one query.
 */
export interface ProofPlan {
  readonly nodes: readonly NodeId[];
  readonly groups: readonly number[];
}

/** The nodes needed for the audit path of leaf `index` in a tree of `size`. See: RFC 6962 §2.1.1 */
export function inclusionProofPlan(index: number, size: number): ProofPlan {
  checkSafe(size, 'tree size');
  checkSafe(index, 'leaf index');
  if (index >= size) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_OUT_OF_RANGE',
      `leaf index ${index} is not below tree size ${size}`,
    );
  }
  const ranges: Array<[number, number]> = [];
  pathRanges(index, 0, size, ranges);
  return planFromRanges(ranges);
}

/**
 * The nodes needed for a consistency proof between sizes `size1 <= size2`. See: RFC 6962 §2.1.2
 * Trivial cases follow C2SP: `size1 == 0` and `size1 == size2` give an empty proof.
 */
export function consistencyProofPlan(size1: number, size2: number): ProofPlan {
  checkSafe(size1, 'first tree size');
  checkSafe(size2, 'second tree size');
  if (size1 > size2) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `first tree size ${size1} is larger than ${size2}`);
  }
  const ranges: Array<[number, number]> = [];
  if (size1 > 0 && size1 < size2) subproofRanges(size1, 0, size2, true, ranges);
  return planFromRanges(ranges);
}

/** The nodes whose right-to-left fold is the root of a tree of `size` (empty for size 0). */
export function treeRootPlan(size: number): ProofPlan {
  checkSafe(size, 'tree size');
  return planFromRanges(size === 0 ? [] : [[0, size]]);
}

/**
 * The full subtrees that make up leaves `[start, end)`, left to right, each as large as its
 * alignment allows. For the ranges RFC 6962 proofs use, these are the binary digits of the width.
 */
export function subtreeNodes(start: number, end: number): NodeId[] {
  const nodes: NodeId[] = [];
  let lo = start;
  while (lo < end) {
    let level = 0;
    while (lo % 2 ** (level + 1) === 0 && lo + 2 ** (level + 1) <= end) level++;
    nodes.push({ level, index: lo / 2 ** level });
    lo += 2 ** level;
  }
  return nodes;
}

/** Folds the hashes read for a plan into proof elements (or a one-element root). */
export function assembleProof(plan: ProofPlan, hashes: readonly Hash[]): Hash[] {
  if (hashes.length !== plan.nodes.length) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
      `hash reader returned ${hashes.length} hashes for ${plan.nodes.length} nodes`,
    );
  }
  for (const h of hashes) checkHash(h, 'stored hash', 'DOMICILE_ERR_TLOG_STORAGE_CORRUPT');
  const out: Hash[] = [];
  let offset = 0;
  for (const count of plan.groups) {
    let h = at(hashes, offset + count - 1);
    for (let i = offset + count - 2; i >= offset; i--) h = hashChildren(at(hashes, i), h);
    out.push(h);
    offset += count;
  }
  return out;
}

/** Inclusion proof for leaf `index` in the tree of `size`, from any hash store. */
export async function proveInclusion(reader: HashReader, index: number, size: number): Promise<Hash[]> {
  const plan = inclusionProofPlan(index, size);
  return assembleProof(plan, await reader.readHashes(plan.nodes));
}

/** Consistency proof from `size1` to `size2`, from any hash store. */
export async function proveConsistency(reader: HashReader, size1: number, size2: number): Promise<Hash[]> {
  const plan = consistencyProofPlan(size1, size2);
  return assembleProof(plan, await reader.readHashes(plan.nodes));
}

/** Root of the tree of `size` leaves, from any hash store. */
export async function treeRoot(reader: HashReader, size: number): Promise<Hash> {
  const plan = treeRootPlan(size);
  if (plan.nodes.length === 0) return emptyRoot();
  return at(assembleProof(plan, await reader.readHashes(plan.nodes)), 0);
}

/**
 * An append-only in-memory Merkle tree that keeps every full-subtree hash. For tests, tools and
 * small logs; also a `HashReader`. Sizes are safe integers.
 *
 * @example
 * const tree = MemoryTree.fromEntries(entries);
 * verifyInclusion(3, tree.size, tree.leafHash(3), tree.inclusionProof(3), tree.root());
 */
export class MemoryTree implements HashReader {
  // levels[h][i] is the hash of node (h, i); only full nodes are stored.
  readonly #levels: Hash[][] = [[]];

  /** A tree with the given entries appended in order. */
  static fromEntries(entries: Iterable<Uint8Array>): MemoryTree {
    const tree = new MemoryTree();
    for (const e of entries) tree.appendLeafHash(hashLeaf(e));
    return tree;
  }

  /** Number of leaves. */
  get size(): number {
    return at(this.#levels, 0).length;
  }

  /** Appends an entry; returns its index. */
  append(entry: Uint8Array): number {
    return this.appendLeafHash(hashLeaf(entry));
  }

  /** Appends a leaf hash; returns its index. */
  appendLeafHash(leafHash: Hash): number {
    checkHash(leafHash, 'leaf hash');
    const index = this.size;
    let h = leafHash;
    let i = index;
    for (let level = 0; ; level++) {
      let row = this.#levels[level];
      if (row === undefined) {
        row = [];
        this.#levels.push(row);
      }
      row.push(h);
      if (i % 2 === 0) break;
      h = hashChildren(at(row, i - 1), h);
      i = (i - 1) / 2;
    }
    return index;
  }

  /** The hash of leaf `index`. */
  leafHash(index: number): Hash {
    return this.node({ level: 0, index });
  }

  /** The hash of a full node inside the tree. */
  node(id: NodeId): Hash {
    const h = this.#levels[id.level]?.[id.index];
    if (h === undefined) {
      throw new TlogError(
        'DOMICILE_ERR_TLOG_NOT_FOUND',
        `no full node at level ${id.level} index ${id.index}`,
      );
    }
    return h;
  }

  /** {@inheritDoc HashReader.readHashes} */
  readHashes(nodes: readonly NodeId[]): Promise<readonly Hash[]> {
    return Promise.resolve(nodes.map((n) => this.node(n)));
  }

  /** Root of the first `size` leaves (default: all). */
  root(size: number = this.size): Hash {
    this.#checkSize(size);
    const plan = treeRootPlan(size);
    return plan.nodes.length === 0 ? emptyRoot() : at(this.#assemble(plan), 0);
  }

  /** Audit path of leaf `index` in the tree of the first `size` leaves (default: all). */
  inclusionProof(index: number, size: number = this.size): Hash[] {
    this.#checkSize(size);
    return this.#assemble(inclusionProofPlan(index, size));
  }

  /** Consistency proof from `size1` to `size2` (default: all). */
  consistencyProof(size1: number, size2: number = this.size): Hash[] {
    this.#checkSize(size2);
    return this.#assemble(consistencyProofPlan(size1, size2));
  }

  #assemble(plan: ProofPlan): Hash[] {
    return assembleProof(
      plan,
      plan.nodes.map((n) => this.node(n)),
    );
  }

  #checkSize(size: number): void {
    checkSafe(size, 'tree size');
    if (size > this.size) {
      throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `tree size ${size} exceeds ${this.size} leaves`);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Internals

// PATH(m, D[lo:hi]) as ranges of the global tree. See: RFC 6962 §2.1.1
function pathRanges(m: number, lo: number, hi: number, out: Array<[number, number]>): void {
  const n = hi - lo;
  if (n <= 1) return;
  const k = largestPowerOfTwoBelow(n);
  if (m < k) {
    pathRanges(m, lo, lo + k, out);
    out.push([lo + k, hi]);
  } else {
    pathRanges(m - k, lo + k, hi, out);
    out.push([lo, lo + k]);
  }
}

// SUBPROOF(m, D[lo:hi], b) as ranges of the global tree. See: RFC 6962 §2.1.2
function subproofRanges(m: number, lo: number, hi: number, b: boolean, out: Array<[number, number]>): void {
  const n = hi - lo;
  if (m === n) {
    if (!b) out.push([lo, hi]);
    return;
  }
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) {
    subproofRanges(m, lo, lo + k, b, out);
    out.push([lo + k, hi]);
  } else {
    subproofRanges(m - k, lo + k, hi, false, out);
    out.push([lo, lo + k]);
  }
}

function planFromRanges(ranges: ReadonlyArray<readonly [number, number]>): ProofPlan {
  const nodes: NodeId[] = [];
  const groups: number[] = [];
  for (const [lo, hi] of ranges) {
    const sub = subtreeNodes(lo, hi);
    nodes.push(...sub);
    groups.push(sub.length);
  }
  return { nodes, groups };
}

// Largest power of two strictly less than n (n >= 2). See: RFC 6962 §2.1
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

function toUint64(value: SizeLike, what: string): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `${what} ${value} is not a safe integer`);
  }
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 64n) {
    throw new TlogError('DOMICILE_ERR_TLOG_OUT_OF_RANGE', `${what} ${v} is not a uint64`);
  }
  return v;
}

function checkSafe(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_OUT_OF_RANGE',
      `${what} ${value} is not a non-negative safe integer`,
    );
  }
}

/** Throws unless `hash` is exactly 32 bytes. */
export function checkHash(
  hash: Uint8Array,
  what: string,
  code:
    | 'DOMICILE_ERR_TLOG_PROOF_MALFORMED'
    | 'DOMICILE_ERR_TLOG_STORAGE_CORRUPT' = 'DOMICILE_ERR_TLOG_PROOF_MALFORMED',
): void {
  if (!(hash instanceof Uint8Array) || hash.byteLength !== HASH_SIZE) {
    const length = hash instanceof Uint8Array ? hash.byteLength : 'no';
    throw new TlogError(code, `${what} has ${length} bytes, expected ${HASH_SIZE}`);
  }
}

function checkProof(proof: readonly Hash[]): void {
  if (proof.length > MAX_PROOF_LENGTH) {
    throw new TlogError(
      'DOMICILE_ERR_TLOG_PROOF_MALFORMED',
      `proof has ${proof.length} nodes, more than ${MAX_PROOF_LENGTH}`,
    );
  }
  proof.forEach((p, i) => {
    checkHash(p, `proof node ${i}`);
  });
}

function invalid(message: string): TlogError {
  return new TlogError('DOMICILE_ERR_TLOG_PROOF_INVALID', message);
}
