import { describe, expect, it } from 'vitest';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.js';
import { cosignerVerifierKey, newCosignatureSigner, newCosignatureVerifier } from './cosignature.js';
import { TlogError } from './errors.js';
import { MemoryTree } from './merkle.js';
import { generateEd25519Key, newEd25519Signer, newEd25519Verifier, signNote } from './note.js';
import { hex, loadTlogVectors } from './test-vectors.js';

const vectors = loadTlogVectors();
const cp = vectors.checkpoints_and_cosignatures;
const skey = vectors.signed_notes[0]?.skey ?? '';
const logVerifier = newEd25519Verifier(cp.log_vkey);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof TlogError) return e.code;
    throw e;
  }
  return undefined;
}

describe('checkpoint vectors', () => {
  it('signs the 8-leaf checkpoint byte for byte', () => {
    const tree = MemoryTree.fromEntries(vectors.hashing.leaves.map((l) => hex(l.input_hex)));
    const signed = signCheckpoint(
      { origin: 'example.com/audit-log', size: 8n, root: tree.root(), extensions: [] },
      [newEd25519Signer(skey)],
    );
    expect(signed).toBe(cp.checkpoint_signed_note);
  });

  it('opens it and parses the body', () => {
    const { checkpoint, logSignatures } = openCheckpoint(cp.checkpoint_signed_note, [logVerifier], {
      origin: 'example.com/audit-log',
    });
    expect(checkpoint.size).toBe(8n);
    expect(Buffer.from(checkpoint.root).toString('hex')).toBe(vectors.hashing.roots[8]?.root);
    expect(logSignatures).toHaveLength(1);
    expect(formatCheckpoint(checkpoint)).toBe(cp.checkpoint_body);
  });

  it('opens the real sum.golang.org checkpoint', () => {
    const real = vectors.signed_notes[3];
    if (real === undefined) throw new Error('missing vector');
    const { checkpoint } = openCheckpoint(real.note, [newEd25519Verifier(real.vkey)]);
    expect(checkpoint.origin).toBe('go.sum database tree');
    expect(checkpoint.size).toBe(65664258n);
  });
});

describe('openCheckpoint', () => {
  it('refuses another origin', () => {
    expect(
      codeOf(() => openCheckpoint(cp.checkpoint_signed_note, [logVerifier], { origin: 'other.example' })),
    ).toBe('DOMICILE_ERR_TLOG_ORIGIN_MISMATCH');
  });

  it('refuses a checkpoint only a witness signed', () => {
    const witness = newCosignatureSigner(skey, { now: () => 1_700_000_000_000 });
    const onlyWitness = signNote(cp.checkpoint_body, [witness]);
    const w = newCosignatureVerifier(cosignerVerifierKey(skey));
    const other = newEd25519Verifier(generateEd25519Key('other.example/log').verifierKey);
    expect(codeOf(() => openCheckpoint(onlyWitness, [other], { witnesses: [w] }))).toBe(
      'DOMICILE_ERR_TLOG_NOTE_UNVERIFIED',
    );
  });

  it('separates log signatures from cosignatures', () => {
    const witness = newCosignatureSigner(skey, { now: () => 1_700_000_000_000 });
    const signed = signNote(cp.checkpoint_body, [newEd25519Signer(skey), witness]);
    const opened = openCheckpoint(signed, [logVerifier], {
      witnesses: [newCosignatureVerifier(witness.verifierKey)],
    });
    expect(opened.logSignatures).toHaveLength(1);
    expect(opened.cosignatures).toHaveLength(1);
  });
});

describe('parseCheckpoint', () => {
  const root = 'XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=';
  it('keeps extension lines', () => {
    expect(parseCheckpoint(`o\n8\n${root}\next one\n`).extensions).toEqual(['ext one']);
  });
  it.each([
    ['two lines', `o\n8\n`],
    ['an empty origin', `\n8\n${root}\n`],
    ['a leading zero', `o\n08\n${root}\n`],
    ['a negative size', `o\n-8\n${root}\n`],
    ['a size over uint64', `o\n18446744073709551616\n${root}\n`],
    ['a short root', 'o\n8\nXcnaeacG\n'],
    ['URL-safe base64', `o\n8\n${root.replace('+', '-')}\n`],
    ['no final newline', `o\n8\n${root}`],
    ['an empty extension line', `o\n8\n${root}\n\n`],
  ])('rejects %s', (_what, text) => {
    expect(codeOf(() => parseCheckpoint(text))).toBe('DOMICILE_ERR_TLOG_CHECKPOINT_MALFORMED');
  });
  it('accepts size 0 and the largest uint64', () => {
    expect(parseCheckpoint(`o\n0\n${root}\n`).size).toBe(0n);
    expect(parseCheckpoint(`o\n18446744073709551615\n${root}\n`).size).toBe((1n << 64n) - 1n);
  });
});
