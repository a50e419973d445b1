import { describe, expect, it } from 'vitest';
import { TlogError } from './errors.js';
import {
  computeKeyId,
  ed25519KeyFromSeed,
  formatKeyId,
  formatNote,
  generateEd25519Key,
  MAX_NOTE_SIGNATURES,
  newEd25519Signer,
  newEd25519Verifier,
  openNote,
  parseNote,
  parsePrivateKey,
  parseVerifierKey,
  signNote,
} from './note.js';
import { loadTlogVectors } from './test-vectors.js';

const vectors = loadTlogVectors();
const golden = vectors.signed_notes[0];
if (golden?.skey === undefined) throw new Error('vector file lacks the x/mod golden');
const goldenSkey = golden.skey;
const text = golden.note.slice(0, golden.note.lastIndexOf('\n\n') + 1);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof TlogError) return e.code;
    throw e;
  }
  return undefined;
}

describe('signed-note vectors', () => {
  it.each(vectors.signed_notes)('$name → $expect', (v) => {
    const verifier = newEd25519Verifier(v.vkey);
    if (v.expect === 'valid') {
      const opened = openNote(v.note, [verifier]);
      expect(opened.verified.map((s) => s.name)).toEqual([verifier.name]);
      expect(formatNote(opened.note)).toBe(v.note);
    } else {
      expect(codeOf(() => openNote(v.note, [verifier]))).toBe('DOMICILE_ERR_TLOG_SIGNATURE_INVALID');
    }
  });

  it('reproduces the x/mod TestSign golden note byte for byte', () => {
    expect(signNote(text, [newEd25519Signer(goldenSkey)])).toBe(golden.note);
  });

  it('accepts the same note as bytes', () => {
    expect(
      openNote(new TextEncoder().encode(golden.note), [newEd25519Verifier(golden.vkey)]).verified,
    ).toHaveLength(1);
  });
});

describe('key ids and verifier keys', () => {
  it.each(vectors.key_ids.cases)('$vkey has key id $key_id', (c) => {
    const key = parseVerifierKey(c.vkey);
    expect(key.name).toBe(c.name);
    expect(key.type).toBe(c.type);
    expect(formatKeyId(key.keyId)).toBe(c.key_id);
    expect(formatKeyId(computeKeyId(key.name, key.type, key.publicKey))).toBe(c.key_id);
  });

  it('splits on the first two + only (sum.golang.org key holds + in its base64)', () => {
    expect(
      parseVerifierKey('sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8').publicKey,
    ).toHaveLength(32);
  });

  it('derives the vkey from the x/mod private key and round-trips a generated key', () => {
    expect(parsePrivateKey(goldenSkey).keyId).toBe(parseVerifierKey(golden.vkey).keyId);
    const k = generateEd25519Key('audit.example.com/log');
    const signed = signNote('hello\n', [newEd25519Signer(k.privateKey)]);
    expect(openNote(signed, [newEd25519Verifier(k.verifierKey)]).verified).toHaveLength(1);
    const fixed = ed25519KeyFromSeed('PeterNeumann', parsePrivateKey(goldenSkey).seed);
    expect(fixed).toEqual({ privateKey: goldenSkey, verifierKey: golden.vkey });
  });

  it.each([
    ['no plus', 'PeterNeumann'],
    ['a wrong key id', 'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['uppercase hex', 'PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['bad base64', 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T'],
    ['an empty name', '+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
  ])('refuses a verifier key with %s', (_what, vkey) => {
    expect(codeOf(() => newEd25519Verifier(vkey))).toBe('DOMICILE_ERR_TLOG_KEY_MALFORMED');
  });

  it('refuses a private key whose id does not match', () => {
    expect(codeOf(() => parsePrivateKey(goldenSkey.replace('c74f20a3', 'c74f20a4')))).toBe(
      'DOMICILE_ERR_TLOG_KEY_MALFORMED',
    );
  });
});

describe('openNote', () => {
  const verifier = newEd25519Verifier(golden.vkey);
  const enoch = vectors.signed_notes[1];
  if (enoch === undefined) throw new Error('vector file lacks the EnochRoot note');
  const enochLine = enoch.note.slice(enoch.note.lastIndexOf('\n\n') + 2);
  const both = golden.note + enochLine;

  it('ignores signatures by unknown keys', () => {
    const opened = openNote(both, [verifier]);
    expect(opened.verified.map((s) => s.name)).toEqual(['PeterNeumann']);
    expect(opened.unverified.map((s) => s.name)).toEqual(['EnochRoot']);
  });

  it('verifies two known keys', () => {
    expect(openNote(both, [verifier, newEd25519Verifier(enoch.vkey)]).verified).toHaveLength(2);
  });

  it('rejects a note only unknown keys signed', () => {
    expect(codeOf(() => openNote(enoch.note, [verifier]))).toBe('DOMICILE_ERR_TLOG_NOTE_UNVERIFIED');
  });

  it('rejects the whole note when a known key fails, even if another verifies', () => {
    const forged = both.replace('rwz+eBzm', 'rwz+eBzn');
    expect(codeOf(() => openNote(forged, [verifier, newEd25519Verifier(enoch.vkey)]))).toBe(
      'DOMICILE_ERR_TLOG_SIGNATURE_INVALID',
    );
  });

  it('rejects a changed text', () => {
    expect(codeOf(() => openNote(golden.note.replace('cryptography', 'cryptographY'), [verifier]))).toBe(
      'DOMICILE_ERR_TLOG_SIGNATURE_INVALID',
    );
  });

  it('splits at the last blank line, so the text may hold blank lines', () => {
    const signer = newEd25519Signer(goldenSkey);
    const multi = 'a\n\nb\n';
    const signed = signNote(multi, [signer]);
    expect(openNote(signed, [verifier]).note.text).toBe(multi);
  });

  it('de-duplicates identical signature lines', () => {
    const line = golden.note.slice(golden.note.lastIndexOf('\n\n') + 2);
    expect(parseNote(golden.note + line).signatures).toHaveLength(1);
  });
});

describe('parseNote', () => {
  const sigLine = golden.note.slice(golden.note.lastIndexOf('\n\n') + 2);
  const manySigs = (n: number): string => {
    let lines = '';
    for (let i = 0; i < n; i++) {
      const sig = Buffer.alloc(68, i % 256);
      sig.writeUInt32BE(i, 0);
      lines += `\u2014 k${i} ${sig.toString('base64')}\n`;
    }
    return `${text}\n${lines}`;
  };

  it.each([
    ['no blank line', text + sigLine],
    ['a missing final newline', golden.note.slice(0, -1)],
    ['a leading \\x01', `\x01${golden.note}`],
    ['a tab', golden.note.replace('If you', 'If\tyou')],
    ['a name with a space', golden.note.replace('PeterNeumann', 'Peter Neumann')],
    ['a name with a plus', golden.note.replace('PeterNeumann', 'Peter+Neumann')],
    ['an unexpected line after the signatures', `${golden.note}hello\n`],
    ['no signatures', `${text}\n`],
    ['a signature too short for a key id', `${text}\n\u2014 PeterNeumann AAAA\n`],
    ['non-canonical base64', `${text}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFu\n`],
    [`${MAX_NOTE_SIGNATURES + 1} signatures`, manySigs(MAX_NOTE_SIGNATURES + 1)],
  ])('rejects %s', (_what, note) => {
    expect(codeOf(() => parseNote(note))).toBe('DOMICILE_ERR_TLOG_NOTE_MALFORMED');
  });

  it(`accepts ${MAX_NOTE_SIGNATURES} signatures`, () => {
    expect(parseNote(manySigs(MAX_NOTE_SIGNATURES)).signatures).toHaveLength(MAX_NOTE_SIGNATURES);
  });

  it('rejects invalid UTF-8 (a leading \\xff byte)', () => {
    const bytes = Buffer.concat([Buffer.from([0xff]), Buffer.from(golden.note)]);
    expect(codeOf(() => parseNote(new Uint8Array(bytes)))).toBe('DOMICILE_ERR_TLOG_NOTE_MALFORMED');
  });

  it('never throws anything but a coded error on random input', () => {
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(Array.from({ length: i % 200 }, (_, j) => (i * 31 + j * 7) % 256));
      const input =
        i % 2 === 0
          ? new Uint8Array(junk)
          : `${junk.toString('latin1')}\n\n\u2014 a ${junk.toString('base64')}\n`;
      const code = codeOf(() => openNote(input, [newEd25519Verifier(golden.vkey)]));
      expect(code).toMatch(/^DOMICILE_ERR_TLOG_/);
    }
  });
});
