/**
 * Test-only loader for the pinned vectors in `../shared/vectors/` (sources are named inside each
 * file). Not exported from `index.ts`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The shared vectors folder, resolved from this file (`src/tlog` → repo root → `../shared`). */
export const VECTORS_DIR = fileURLToPath(new URL('../../../shared/vectors/', import.meta.url));

/** An inclusion probe (base64 fields). */
export interface InclusionProbe {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

/** A consistency probe (base64 fields). */
export interface ConsistencyProbe {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

/** The parts of `tlog-vectors.json` the tests use (hex unless named `_b64`). */
export interface TlogVectors {
  hashing: {
    empty_tree_root: string;
    leaves: Array<{ index: number; input_hex: string; leaf_hash: string }>;
    roots: Array<{ tree_size: number; root: string; root_b64: string }>;
    extra: Array<{ input_utf8: string; leaf_hash_b64: string }>;
  };
  inclusion: { cases: Array<InclusionProbe & { file: string }> };
  consistency: { cases: Array<ConsistencyProbe & { file: string }> };
  rfc6962_example_7_leaves: {
    root: string;
    paths: Array<{ leaf_index: number; tree_size: number; path: string[] }>;
    consistency: Array<{ size1: number; size2: number; root1: string; proof: string[] }>;
  };
  signed_notes: Array<{ name: string; skey?: string; vkey: string; note: string; expect: string }>;
  key_ids: {
    cases: Array<{ vkey: string; name: string; type: number; key_id: string }>;
    derived_same_key_as_cosigner: {
      ed25519_vkey: string;
      cosig_v1_key_id_for_same_pubkey: string;
      cosig_vkey: string;
    };
  };
  checkpoints_and_cosignatures: {
    checkpoint_body: string;
    checkpoint_signed_note: string;
    log_vkey: string;
    cosignature_v1: {
      cosigner_vkey: string;
      timestamp: number;
      signed_message: string;
      signature_line: string;
    };
    mldsa44_cosigned_message_hex: {
      cosigner_name: string;
      timestamp: number;
      log_origin: string;
      start: number;
      end: number;
      hash: string;
      message_hex: string;
      message_len: number;
    };
    published_cosignature_decodes: Array<{ b64: string; key_id: string; timestamp: number; length: number }>;
  };
  tiles: {
    paths: Array<{ level?: number; entries?: boolean; n: number | string; width: number; path: string }>;
    entries_path_for_index: Array<{ index: number; tree_size: number; path: string }>;
    tiles_for_tree_size: Array<{ tree_size: number; expect: string }>;
    derived_8_leaf_tree: {
      level0_partial_path: string;
      level0_partial_content_hex: string;
      entry_bundle_path: string;
      entry_bundle_hex: string;
    };
  };
}

/** Parsed `tlog-vectors.json`. */
export function loadTlogVectors(): TlogVectors {
  return JSON.parse(readFileSync(`${VECTORS_DIR}tlog-vectors.json`, 'utf8')) as TlogVectors;
}

/** Every probe file under `transparency-dev-merkle-testdata/<kind>`, as [relative path, parsed JSON]. */
export function loadProbes<T>(kind: 'inclusion' | 'consistency'): Array<[string, T]> {
  const root = `${VECTORS_DIR}transparency-dev-merkle-testdata/`;
  const out: Array<[string, T]> = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(root + rel).sort()) {
      const path = `${rel}/${name}`;
      if (statSync(root + path).isDirectory()) walk(path);
      else if (name.endsWith('.json')) out.push([path, JSON.parse(readFileSync(root + path, 'utf8')) as T]);
    }
  };
  walk(kind);
  return out;
}

/** Hex to bytes. */
export function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** Base64 to bytes (lenient: probe files hold deliberately odd values). */
export function b64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
