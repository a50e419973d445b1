import { describe, expect, it } from 'vitest';
import {
  COSIGNATURE_V1_SIZE,
  cosignatureMessage,
  cosignatureTimestamp,
  cosignerVerifierKey,
  decodeCosignatureBase64,
  mldsa44CosignedMessage,
  newCosignatureSigner,
  newCosignatureVerifier,
  newNoteVerifier,
} from './cosignature.js';
import { TlogError } from './errors.js';
import {
  formatKeyId,
  formatVerifierKey,
  newEd25519Verifier,
  openNote,
  parseSignatureLine,
  parseVerifierKey,
  signNote,
} from './note.js';
import { hex, loadTlogVectors } from './test-vectors.js';

const vectors = loadTlogVectors();
const cp = vectors.checkpoints_and_cosignatures;
const skey = vectors.signed_notes[0]?.skey ?? '';
const cosig = cp.cosignature_v1;
const fixedClock = (): number => cosig.timestamp * 1000;

describe('cosignature/v1 vectors', () => {
  it('builds the signed message', () => {
    expect(cosignatureMessage(cp.checkpoint_body, cosig.timestamp)).toBe(cosig.signed_message);
  });

  it('derives the type 0x04 vkey and key id from the same seed', () => {
    expect(cosignerVerifierKey(skey)).toBe(cosig.cosigner_vkey);
    const d = vectors.key_ids.derived_same_key_as_cosigner;
    const ed = parseVerifierKey(d.ed25519_vkey);
    const co = parseVerifierKey(d.cosig_vkey);
    expect(Buffer.from(co.publicKey)).toEqual(Buffer.from(ed.publicKey));
    expect(formatKeyId(co.keyId)).toBe(d.cosig_v1_key_id_for_same_pubkey);
  });

  it('reproduces the cosignature line byte for byte and verifies it', () => {
    const signer = newCosignatureSigner(skey, { now: fixedClock });
    const signed = signNote(cp.checkpoint_body, [signer]);
    const line = signed.slice(signed.lastIndexOf('\n\n') + 2, -1);
    expect(line).toBe(cosig.signature_line);
    const opened = openNote(signed, [newCosignatureVerifier(cosig.cosigner_vkey)]);
    expect(cosignatureTimestamp(opened.verified[0] ?? parseSignatureLine(line))).toBe(
      BigInt(cosig.timestamp),
    );
  });

  it('verifies log signature and cosignature together', () => {
    const withCosig = `${cp.checkpoint_signed_note}${cosig.signature_line}\n`;
    const opened = openNote(withCosig, [
      newEd25519Verifier(cp.log_vkey),
      newNoteVerifier(cosig.cosigner_vkey),
    ]);
    expect(opened.verified).toHaveLength(2);
  });

  it('rejects a cosignature whose timestamp was changed', () => {
    const sig = parseSignatureLine(cosig.signature_line);
    const bytes = sig.signature.slice();
    bytes[7] = (bytes[7] as number) ^ 1;
    const v = newCosignatureVerifier(cosig.cosigner_vkey);
    expect(v.verify(new TextEncoder().encode(cp.checkpoint_body), bytes)).toBe(false);
    expect(v.verify(new TextEncoder().encode(cp.checkpoint_body), sig.signature)).toBe(true);
  });

  it.each(cp.published_cosignature_decodes)('decodes the published cosignature with key id $key_id', (c) => {
    expect(Buffer.from(c.b64, 'base64')).toHaveLength(COSIGNATURE_V1_SIZE);
    const d = decodeCosignatureBase64(c.b64);
    expect(formatKeyId(d.keyId)).toBe(c.key_id);
    expect(d.timestamp).toBe(BigInt(c.timestamp));
    expect(d.signature).toHaveLength(64);
  });

  it('refuses a cosignature of the wrong length with a coded error', () => {
    expect(() => decodeCosignatureBase64('AAAAAAAAAAAA')).toThrow(TlogError);
  });
});

describe('ML-DSA-44 (type 0x06)', () => {
  it('encodes the subtree/v1 cosigned message of the vector', () => {
    const m = cp.mldsa44_cosigned_message_hex;
    const msg = mldsa44CosignedMessage({
      cosignerName: m.cosigner_name,
      timestamp: m.timestamp,
      origin: m.log_origin,
      start: m.start,
      end: m.end,
      hash: hex(m.hash),
    });
    expect(msg).toHaveLength(m.message_len);
    expect(Buffer.from(msg).toString('hex')).toBe(m.message_hex);
  });

  it('parses a type 0x06 key but refuses to pretend it can verify it', () => {
    const vkey = formatVerifierKey('witness.example/w1', 0x06, new Uint8Array(1312).fill(7));
    expect(parseVerifierKey(vkey).type).toBe(0x06);
    expect(() => newNoteVerifier(vkey)).toThrow(
      expect.objectContaining({ code: 'DOMICILE_ERR_TLOG_UNSUPPORTED_ALGORITHM' }),
    );
  });
});
