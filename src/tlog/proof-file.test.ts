import { describe, expect, it } from 'vitest';
import { newCosignatureSigner } from './cosignature.js';
import { TlogError } from './errors.js';
import { MemoryLogStorage, TransparencyLog } from './log.js';
import { generateEd25519Key, newEd25519Signer, signNote } from './note.js';
import { formatTlogProof, parseTlogProof, TLOG_PROOF_HEADER, verifyTlogProof } from './proof-file.js';

const ORIGIN = 'audit.example.com/log';
const key = generateEd25519Key(ORIGIN);
const witness = newCosignatureSigner(generateEd25519Key('witness.example/w1').privateKey);
const entry = (i: number): Uint8Array => new TextEncoder().encode(`record ${i}`);

async function proofFor(index: number): Promise<string> {
  const log = await TransparencyLog.open({
    storage: new MemoryLogStorage(),
    origin: ORIGIN,
    signer: newEd25519Signer(key.privateKey),
    cosign: async (signed) => {
      const s = signNote(signed.slice(0, signed.lastIndexOf('\n\n') + 1), [witness]);
      return [s.slice(s.lastIndexOf('\n\n') + 2, -1)];
    },
  });
  await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(entry(i))));
  await log.integrate();
  return formatTlogProof({
    extra: Uint8Array.of(1, 2, 3),
    index: BigInt(index),
    proof: await log.inclusionProof(index),
    checkpoint: await log.checkpoint(),
  });
}

describe('tlog-proof files', () => {
  it('round-trips and verifies with a witness quorum', async () => {
    const file = await proofFor(42);
    expect(file.startsWith(`${TLOG_PROOF_HEADER}\nextra AQID\nindex 42\n`)).toBe(true);
    const parsed = parseTlogProof(file);
    expect(formatTlogProof(parsed)).toBe(file);
    const verified = verifyTlogProof(file, {
      entry: entry(42),
      logKey: key.verifierKey,
      witnessKeys: [witness.verifierKey],
    });
    expect(verified.checkpoint.size).toBe(300n);
  });

  it('rejects another entry, and a missing quorum', async () => {
    const file = await proofFor(42);
    expect(() => verifyTlogProof(file, { entry: entry(43), logKey: key.verifierKey })).toThrow(
      expect.objectContaining({ code: 'DOMICILE_ERR_TLOG_PROOF_INVALID' }),
    );
    const otherWitness = newCosignatureSigner(generateEd25519Key('witness.example/w2').privateKey);
    expect(() =>
      verifyTlogProof(file, {
        entry: entry(42),
        logKey: key.verifierKey,
        witnessKeys: [otherWitness.verifierKey],
      }),
    ).toThrow(expect.objectContaining({ code: 'DOMICILE_ERR_TLOG_WITNESS_QUORUM' }));
  });

  it.each([
    ['a wrong header', (f: string) => f.replace(TLOG_PROOF_HEADER, 'c2sp.org/tlog-proof@v2')],
    ['no index', (f: string) => f.replace('index 42\n', '')],
    ['a short hash', (f: string) => f.replace('index 42\n', 'index 42\nAAAA\n')],
    ['no blank line', (f: string) => f.replaceAll('\n\n', '\n')],
    [
      '65 hashes',
      (f: string) =>
        f.replace('index 42\n', `index 42\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(65)}`),
    ],
  ])('refuses a file with %s', async (_what, edit) => {
    const file = edit(await proofFor(42));
    expect(() => parseTlogProof(file)).toThrow(TlogError);
    try {
      parseTlogProof(file);
    } catch (e) {
      expect((e as TlogError).code).toMatch(/^DOMICILE_ERR_TLOG_(PROOF_FILE_MALFORMED)$/);
    }
  });
});
