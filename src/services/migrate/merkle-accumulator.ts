/**
 * The verification tree of a migration: an RFC 9162 Merkle tree over one leaf per record,
 * (subject pseudonym, record key, version, SHA-256 of the plaintext), built in one pass with
 * memory logarithmic in the number of records, so both sides of a million-record migration are
 * hashed while streaming.
 */
import { createHash } from 'node:crypto';
import { emptyRoot, type Hash, hashChildren, hashLeaf } from '../../tlog/merkle.js';

/** The leaf of one record: RFC 9162 leaf hash of canonical JSON `[pseudonym, key, version, contentHash]`. */
export function recordLeaf(
  subjectPseudonym: string,
  key: string,
  version: number,
  contentHash: string,
): Hash {
  return hashLeaf(Buffer.from(JSON.stringify([subjectPseudonym, key, version, contentHash]), 'utf8'));
}

/** SHA-256 (hex) of a record's plaintext. */
export function contentHash(plaintext: Uint8Array): string {
  return createHash('sha256').update(plaintext).digest('hex');
}

/**
 * Accumulates leaf hashes left to right and gives the RFC 9162 tree head (MTH) of all of them.
 * See: RFC 9162 §2.1.1 — the stack holds the roots of the perfect subtrees of the compact range.
 *
 * @example
 * const tree = new MerkleAccumulator();
 * for (const leaf of leaves) tree.add(leaf);
 * tree.root(); // equals rootFromLeafHashes(leaves)
 */
export class MerkleAccumulator {
  readonly #stack: { size: number; hash: Hash }[] = [];
  #count = 0;

  /** Number of leaves added. */
  get count(): number {
    return this.#count;
  }

  add(leafHash: Hash): void {
    let node = { size: 1, hash: leafHash };
    for (
      let top = this.#stack.at(-1);
      top !== undefined && top.size === node.size;
      top = this.#stack.at(-1)
    ) {
      this.#stack.pop();
      node = { size: top.size * 2, hash: hashChildren(top.hash, node.hash) };
    }
    this.#stack.push(node);
    this.#count++;
  }

  /** The tree head of the leaves added so far (the hash of the empty string for none). */
  root(): Hash {
    let acc: Hash | undefined;
    for (let i = this.#stack.length - 1; i >= 0; i--) {
      const node = this.#stack[i];
      if (node === undefined) continue;
      acc = acc === undefined ? node.hash : hashChildren(node.hash, acc);
    }
    return acc ?? emptyRoot();
  }
}
