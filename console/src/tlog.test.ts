/**
 * The browser's log checks against the pinned vectors (`../shared/vectors/tlog-vectors.json`:
 * transparency-dev inclusion probes, x/mod and sum.golang.org signed checkpoints) and against a
 * tree built here; WebCrypto is the same API in Node as in the browser.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  decodeBase64,
  encodeBase64,
  hashChildren,
  hashLeaf,
  parseCheckpoint,
  parseVerifierKey,
  utf8,
  verifyCheckpointSignature,
  verifyInclusion,
} from './tlog.js';

interface Vectors {
  inclusion: {
    cases: {
      file: string;
      leafIdx: number;
      treeSize: number;
      root: string;
      leafHash: string;
      proof: string[] | null;
      wantErr: boolean;
    }[];
  };
  signed_notes: { name: string; vkey: string; note: string; expect: string }[];
  checkpoints_and_cosignatures: { checkpoint_signed_note: string; log_vkey: string };
}

const vectors = JSON.parse(
  readFileSync(new URL('../../../shared/vectors/tlog-vectors.json', import.meta.url), 'utf8'),
) as Vectors;

const b64 = (text: string): Uint8Array => {
  const bytes = decodeBase64(text);
  if (bytes === undefined) throw new Error(`not base64: ${text}`);
  return bytes;
};

describe('verifyInclusion', () => {
  describe.each(vectors.inclusion.cases)('transparency-dev probe $file', (c) => {
    it(c.wantErr ? 'rejects' : 'accepts', async () => {
      const check = await verifyInclusion(
        c.leafIdx,
        c.treeSize,
        b64(c.leafHash),
        (c.proof ?? []).map(b64),
        b64(c.root),
      );
      expect(check.ok).toBe(!c.wantErr);
    });
  });

  describe('on a tree of five entries built here', () => {
    const entries = ['a', 'b', 'c', 'd', 'e'].map((x) => utf8(canonicalJson({ x })));
    const tree = async () => {
      const l = await Promise.all(entries.map(hashLeaf));
      const [l0, l1, l2, l3, l4] = l as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      const n01 = await hashChildren(l0, l1);
      const n23 = await hashChildren(l2, l3);
      const n0123 = await hashChildren(n01, n23);
      return { l, n01, n23, n0123, root: await hashChildren(n0123, l4) };
    };

    it('accepts the proof of the last entry and rejects it for another index', async () => {
      const t = await tree();
      const leaf = t.l[4] as Uint8Array;
      expect(await verifyInclusion(4, 5, leaf, [t.n0123], t.root)).toEqual({ ok: true });
      expect((await verifyInclusion(3, 5, leaf, [t.n0123], t.root)).ok).toBe(false);
    });

    it('rejects a proof with one bit flipped', async () => {
      const t = await tree();
      const proof = [t.l[3] as Uint8Array, t.n01, t.l[4] as Uint8Array].map((h) => h.slice());
      expect((await verifyInclusion(2, 5, t.l[2] as Uint8Array, proof, t.root)).ok).toBe(true);
      const middle = proof[1] as Uint8Array;
      middle[0] = (middle[0] ?? 0) ^ 1;
      const check = await verifyInclusion(2, 5, t.l[2] as Uint8Array, proof, t.root);
      expect(check).toEqual({ ok: false, reason: 'the proof does not lead to the checkpoint root' });
    });

    it('rejects an edited entry', async () => {
      const t = await tree();
      const edited = await hashLeaf(utf8(canonicalJson({ x: 'C' })));
      expect(
        (await verifyInclusion(2, 5, edited, [t.l[3] as Uint8Array, t.n01, t.l[4] as Uint8Array], t.root)).ok,
      ).toBe(false);
    });
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and writes no white space, as the log does', () => {
    const entry = JSON.parse(
      '{"v":1,"type":"record.read","details":{"z":[1,2.5,"é\\u2028"],"a":null},"principal":{"id":"alice","country":"US"}}',
    );
    expect(canonicalJson(entry)).toBe(
      '{"details":{"a":null,"z":[1,2.5,"é\u2028"]},"principal":{"country":"US","id":"alice"},"type":"record.read","v":1}',
    );
  });
});

describe('parseCheckpoint', () => {
  it('reads origin, size, root and signature lines', () => {
    const cp = parseCheckpoint(vectors.checkpoints_and_cosignatures.checkpoint_signed_note);
    if ('error' in cp) throw new Error(cp.error);
    expect(cp.origin).toBe('example.com/audit-log');
    expect(cp.size).toBe(8);
    expect(encodeBase64(cp.root)).toBe('XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=');
    expect(cp.signatures.map((s) => `${s.name}+${s.keyId}`)).toEqual(['PeterNeumann+c74f20a3']);
  });

  it.each([
    ['no signatures block', 'example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n'],
    ['a size with a leading zero', 'o\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— k AAAAAAA=\n'],
    ['a short root', 'o\n8\nXcnaeacG\n\n— k AAAAAAA=\n'],
  ])('refuses %s', (_name, text) => {
    expect('error' in parseCheckpoint(text)).toBe(true);
  });
});

describe('verifyCheckpointSignature', () => {
  const checkpoints = [
    {
      note: vectors.checkpoints_and_cosignatures.checkpoint_signed_note,
      vkey: vectors.checkpoints_and_cosignatures.log_vkey,
      valid: true,
    },
    ...vectors.signed_notes
      .filter((n) => n.name.includes('sum.golang.org'))
      .map((n) => ({ note: n.note, vkey: n.vkey, valid: n.expect === 'valid' })),
  ];

  it.each(checkpoints)('checks $vkey over a checkpoint (valid: $valid)', async ({ note, vkey, valid }) => {
    const cp = parseCheckpoint(note);
    const key = await parseVerifierKey(vkey);
    if ('error' in cp || 'error' in key) throw new Error('vector does not parse');
    expect((await verifyCheckpointSignature(cp, key)).ok).toBe(valid);
  });

  it('refuses a verifier key whose key id does not match', async () => {
    const key = await parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
    expect(key).toEqual({ error: 'the key id does not match the key' });
  });

  it('says so when the checkpoint carries no signature of the key', async () => {
    const cp = parseCheckpoint(vectors.checkpoints_and_cosignatures.checkpoint_signed_note);
    const key = await parseVerifierKey(
      'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8',
    );
    if ('error' in cp || 'error' in key) throw new Error('vector does not parse');
    expect(await verifyCheckpointSignature(cp, key)).toEqual({
      ok: false,
      reason: 'no signature by `sum.golang.org+033de0ae`',
    });
  });
});
