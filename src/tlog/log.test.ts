import { describe, expect, it } from 'vitest';
import { openCheckpoint } from './checkpoint.js';
import { cosignerVerifierKey, newCosignatureSigner, newCosignatureVerifier } from './cosignature.js';
import { type IntegrationCommit, MemoryLogStorage, TransparencyLog } from './log.js';
import { MemoryTree, verifyConsistency, verifyInclusion } from './merkle.js';
import { generateEd25519Key, newEd25519Signer, newEd25519Verifier, signNote } from './note.js';
import { encodeEntryBundle, entryBundlePath, readTileFrom, tilePath, tilesForSize } from './tiles.js';

const ORIGIN = 'audit.example.com/log';
const key = generateEd25519Key(ORIGIN);
const signer = newEd25519Signer(key.privateKey);
const verifier = newEd25519Verifier(key.verifierKey);
const entry = (i: number): Uint8Array => new TextEncoder().encode(`record ${i}`);

async function openLog(
  storage = new MemoryLogStorage(),
  extra: Partial<Parameters<typeof TransparencyLog.open>[0]> = {},
) {
  return TransparencyLog.open({ storage, origin: ORIGIN, signer, ...extra });
}

async function appendAll(log: TransparencyLog, from: number, to: number): Promise<void> {
  await Promise.all(Array.from({ length: to - from }, (_, i) => log.append(entry(from + i))));
}

describe('TransparencyLog', () => {
  it('starts with a signed empty checkpoint', async () => {
    const log = await openLog();
    const { checkpoint } = openCheckpoint(await log.checkpoint(), [verifier], { origin: ORIGIN });
    expect(checkpoint.size).toBe(0n);
    expect(checkpoint.root).toEqual(new MemoryTree().root());
  });

  describe('when many appends arrive at once', () => {
    it('groups them into few storage transactions and resolves each with a distinct index', async () => {
      const storage = new MemoryLogStorage({ writeLatencyMs: 2 });
      const log = await openLog(storage, { batchMaxEntries: 256, batchMaxDelayMs: 5 });
      const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append(entry(i))));
      expect(new Set(results.map((r) => r.index)).size).toBe(2000);
      expect(Math.max(...results.map((r) => r.index))).toBe(1999);
      expect(storage.appendTransactions).toBeLessThanOrEqual(12);
      expect(await storage.sequencedSize()).toBe(2000);
      // Each append got the index of its own entry.
      const stored = await storage.readEntries(0, 2000);
      results.forEach((r, i) => {
        expect(new TextDecoder().decode(stored[r.index])).toBe(`record ${i}`);
      });
    });
  });

  it('refuses an entry too large for an entry bundle', async () => {
    const log = await openLog();
    await expect(log.append(new Uint8Array(65_536))).rejects.toMatchObject({
      code: 'DOMICILE_ERR_TLOG_ENTRY_TOO_LARGE',
    });
  });

  describe('across integrations of many sizes', () => {
    it('serves tiles, bundles, roots and proofs equal to an independent recomputation', async () => {
      const log = await openLog();
      const reference = new MemoryTree();
      const sizes = [1, 2, 255, 256, 257, 511, 600, 65_536 + 300];
      let prev = 0;
      let prevRoot = reference.root();
      for (const size of sizes) {
        await appendAll(log, prev, size);
        for (let i = prev; i < size; i++) reference.append(entry(i));
        const result = await log.integrate();
        expect(result.size).toBe(size);
        const { checkpoint } = openCheckpoint(await log.checkpoint(), [verifier], { origin: ORIGIN });
        expect(checkpoint.size).toBe(BigInt(size));
        expect(Buffer.from(checkpoint.root)).toEqual(Buffer.from(reference.root()));
        for (const t of tilesForSize(size)) {
          const served = await log.read(tilePath(t.level, t.index, t.width));
          expect(Buffer.from(served)).toEqual(Buffer.from(await readTileFrom(reference, t)));
          if (t.level === 0) {
            const first = Number(t.index) * 256;
            const bundle = await log.read(entryBundlePath(t.index, t.width));
            const expected = Array.from({ length: t.width }, (_, i) => entry(first + i));
            expect(Buffer.from(bundle)).toEqual(Buffer.from(encodeEntryBundle(expected)));
          }
        }
        for (const i of [0, size - 1, Math.floor(size / 2)]) {
          verifyInclusion(i, size, reference.leafHash(i), await log.inclusionProof(i, size), checkpoint.root);
        }
        if (prev > 0)
          verifyConsistency(prev, size, prevRoot, checkpoint.root, await log.consistencyProof(prev, size));
        prev = size;
        prevRoot = checkpoint.root;
      }
      // Proofs for older sizes still come from the current tiles.
      verifyInclusion(3, 257, reference.leafHash(3), await log.inclusionProof(3, 257), reference.root(257));
      verifyConsistency(
        255,
        600,
        reference.root(255),
        reference.root(600),
        await log.consistencyProof(255, 600),
      );
    }, 60_000);
  });

  describe('when a tile beyond the checkpoint is requested', () => {
    it('answers not found', async () => {
      const log = await openLog();
      await appendAll(log, 0, 300);
      await log.integrate();
      await appendAll(log, 300, 600); // sequenced, not integrated
      for (const path of [
        'tile/0/001',
        'tile/0/002.p/1',
        'tile/1/000.p/2',
        'tile/entries/001',
        'tile/entries/001.p/45',
      ]) {
        await expect(log.read(path)).rejects.toMatchObject({ code: 'DOMICILE_ERR_TLOG_NOT_FOUND' });
      }
      expect((await log.read('tile/entries/001.p/44')).length).toBeGreaterThan(0);
      await expect(log.inclusionProof(0, 301)).rejects.toMatchObject({ code: 'DOMICILE_ERR_TLOG_NOT_FOUND' });
      await expect(log.read('tile/0/abc')).rejects.toMatchObject({
        code: 'DOMICILE_ERR_TLOG_TILE_PATH_MALFORMED',
      });
    });
  });

  describe('after a crash between sequencing and integration', () => {
    it('integrates the sequenced entries when it opens again', async () => {
      const storage = new MemoryLogStorage();
      const first = await openLog(storage);
      await appendAll(first, 0, 1000); // durable, never integrated: the process "dies" here
      const second = await openLog(storage);
      const { checkpoint } = openCheckpoint(await second.checkpoint(), [verifier]);
      expect(checkpoint.size).toBe(1000n);
      expect(Buffer.from(checkpoint.root)).toEqual(
        Buffer.from(MemoryTree.fromEntries(Array.from({ length: 1000 }, (_, i) => entry(i))).root()),
      );
    });

    it('loses nothing when the integration transaction itself fails', async () => {
      class FailingOnce extends MemoryLogStorage {
        failNext = true;
        override async commitIntegration(commit: IntegrationCommit): Promise<void> {
          if (this.failNext && commit.toSize > 0) {
            this.failNext = false;
            throw new Error('disk full');
          }
          return super.commitIntegration(commit);
        }
      }
      const storage = new FailingOnce();
      const log = await openLog(storage);
      await appendAll(log, 0, 700);
      await expect(log.integrate()).rejects.toThrow('disk full');
      expect((await storage.readState()).integratedSize).toBe(0);
      const reopened = await openLog(storage);
      expect(await reopened.size()).toBe(700);
      const tree = MemoryTree.fromEntries(Array.from({ length: 700 }, (_, i) => entry(i)));
      expect(Buffer.from(await reopened.root())).toEqual(Buffer.from(tree.root()));
    });
  });

  describe('when appends keep arriving during integration', () => {
    it('returns once what was sequenced is integrated, and every tree equals an independent recomputation', async () => {
      const storage = new MemoryLogStorage({ writeLatencyMs: 1 });
      const log = await openLog(storage);
      let producing = true;
      let appended = 0;
      // a steady stream of batches large enough for the hash worker, never quiet
      const producer = (async () => {
        while (producing) {
          const from = appended;
          appended += 100;
          await appendAll(log, from, appended);
        }
      })();
      const sizes: number[] = [];
      while (sizes.length < 5) {
        await new Promise((r) => setTimeout(r, 5));
        const sequenced = await storage.sequencedSize();
        const result = await log.integrate();
        expect(result.size).toBeGreaterThanOrEqual(sequenced);
        sizes.push(result.size);
      }
      producing = false;
      await producer;
      await log.flush();
      const final = await log.integrate();
      expect(final.size).toBe(appended);
      // appends resolve in order with this storage: entry i is at index i
      const reference = MemoryTree.fromEntries(Array.from({ length: appended }, (_, i) => entry(i)));
      for (const size of [...sizes, appended]) {
        expect(Buffer.from(await log.root(size))).toEqual(Buffer.from(reference.root(size)));
      }
      await log.close();
    });
  });

  it('integrates in the background until stopped', async () => {
    const log = await openLog(new MemoryLogStorage(), { integrateIntervalMs: 10 });
    log.start();
    await appendAll(log, 0, 50);
    for (let i = 0; i < 100 && (await log.size()) < 50; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await log.size()).toBe(50);
    await log.close();
    await expect(log.append(entry(1))).rejects.toMatchObject({ code: 'DOMICILE_ERR_TLOG_CLOSED' });
  });

  it('asks the cosign hook and stores the cosignatures with the checkpoint', async () => {
    const witnessKey = generateEd25519Key('witness.example/w1');
    const witness = newCosignatureSigner(witnessKey.privateKey);
    const log = await openLog(new MemoryLogStorage(), {
      cosign: async (signed) => {
        const text = signed.slice(0, signed.lastIndexOf('\n\n') + 1);
        const cosigned = signNote(text, [witness]);
        return [cosigned.slice(cosigned.lastIndexOf('\n\n') + 2, -1)];
      },
    });
    await appendAll(log, 0, 10);
    await log.integrate();
    const opened = openCheckpoint(await log.checkpoint(), [verifier], {
      witnesses: [newCosignatureVerifier(cosignerVerifierKey(witnessKey.privateKey))],
    });
    expect(opened.checkpoint.size).toBe(10n);
    expect(opened.cosignatures).toHaveLength(1);
  });

  it('reports a corrupted stored tile as a coded error, not a crash', async () => {
    class ShortTiles extends MemoryLogStorage {
      override async readTile(): Promise<Uint8Array | undefined> {
        return new Uint8Array(31);
      }
    }
    const short = new ShortTiles();
    await short.appendEntries([entry(0), entry(1)]);
    await expect(openLog(short).then((l) => l.inclusionProof(0, 2))).rejects.toMatchObject({
      code: 'DOMICILE_ERR_TLOG_STORAGE_CORRUPT',
    });
  });
});
