import { describe, expect, it } from 'vitest';
import { newCosignatureSigner } from './cosignature.js';
import { TlogError, type TlogErrorCode } from './errors.js';
import { MemoryLogStorage, TransparencyLog } from './log.js';
import { generateEd25519Key, newEd25519Signer, signNote } from './note.js';
import { type LogFetcher, verifyLog } from './verify-log.js';

const ORIGIN = 'audit.example.com/log';
const key = generateEd25519Key(ORIGIN);
const witnessKey = generateEd25519Key('witness.example/w1');
const witness = newCosignatureSigner(witnessKey.privateKey);
const entry = (i: number, tag = 'record'): Uint8Array => new TextEncoder().encode(`${tag} ${i}`);

async function buildLog(
  size: number,
  storage = new MemoryLogStorage(),
  cosign = false,
): Promise<TransparencyLog> {
  const log = await TransparencyLog.open({
    storage,
    origin: ORIGIN,
    signer: newEd25519Signer(key.privateKey),
    ...(cosign
      ? {
          cosign: async (signed: string) => {
            const s = signNote(signed.slice(0, signed.lastIndexOf('\n\n') + 1), [witness]);
            return [s.slice(s.lastIndexOf('\n\n') + 2, -1)];
          },
        }
      : {}),
  });
  const current = await log.size();
  await Promise.all(Array.from({ length: size - current }, (_, i) => log.append(entry(current + i))));
  await log.integrate();
  return log;
}

function fetcherOf(
  log: TransparencyLog,
  tamper?: (path: string, bytes: Uint8Array) => Uint8Array | undefined,
): LogFetcher {
  return async (path) => {
    let bytes: Uint8Array;
    try {
      bytes = await log.read(path);
    } catch (e) {
      if (e instanceof TlogError && e.code === 'DOMICILE_ERR_TLOG_NOT_FOUND') return undefined;
      throw e;
    }
    return tamper ? tamper(path, bytes.slice()) : bytes;
  };
}

async function expectFailure(
  p: Promise<unknown>,
  code: TlogErrorCode,
  details: { index?: bigint; path?: string } = {},
) {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TlogError);
    expect((e as TlogError).code).toBe(code);
    expect((e as TlogError).details).toMatchObject(details);
    return e as TlogError;
  }
  throw new Error(`expected ${code}`);
}

const flip = (bytes: Uint8Array, at: number): Uint8Array => {
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return bytes;
};

describe('verifyLog', () => {
  it('verifies an honest log, with every entry passed to the parser and a witness quorum', async () => {
    const log = await buildLog((70_000 % 1000) + 600, new MemoryLogStorage(), true);
    const seen: number[] = [];
    const result = await verifyLog({
      fetch: fetcherOf(log),
      logKey: key.verifierKey,
      witnessKeys: [witness.verifierKey],
      witnessQuorum: 1,
      parseEntry: (_e, i) => {
        seen.push(i);
      },
    });
    expect(result.checkpoint.size).toBe(600n);
    expect(seen).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });

  it('verifies a log over several tile levels (65,536 + 70 entries)', async () => {
    const log = await buildLog(65_606);
    const result = await verifyLog({ fetch: fetcherOf(log), logKey: key.verifierKey });
    expect(result.entriesVerified).toBe(65_606);
  }, 60_000);

  it('refuses a log without the required cosignatures', async () => {
    const log = await buildLog(10);
    await expectFailure(
      verifyLog({ fetch: fetcherOf(log), logKey: key.verifierKey, witnessKeys: [witness.verifierKey] }),
      'DOMICILE_ERR_TLOG_WITNESS_QUORUM',
    );
  });

  describe('detects tampering', () => {
    it('a flipped byte in an entry', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => (p === 'tile/entries/001' ? flip(b, 2 + 10 * 12 + 3) : b));
      await expectFailure(verifyLog({ fetch, logKey: key.verifierKey }), 'DOMICILE_ERR_TLOG_ENTRY_MISMATCH', {
        path: 'tile/0/001',
      });
    });

    it('a flipped byte in a stored level-0 hash', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => (p === 'tile/0/000' ? flip(b, 32 * 17 + 5) : b));
      await expectFailure(verifyLog({ fetch, logKey: key.verifierKey }), 'DOMICILE_ERR_TLOG_ENTRY_MISMATCH', {
        index: 17n,
        path: 'tile/0/000',
      });
    });

    it('a flipped byte in a stored level-1 hash', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => (p === 'tile/1/000.p/2' ? flip(b, 40) : b));
      await expectFailure(verifyLog({ fetch, logKey: key.verifierKey }), 'DOMICILE_ERR_TLOG_TILE_MISMATCH', {
        index: 1n,
        path: 'tile/1/000.p/2',
      });
    });

    it('a deleted entry', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => (p === 'tile/entries/000' ? b.subarray(12) : b));
      await expectFailure(
        verifyLog({ fetch, logKey: key.verifierKey }),
        'DOMICILE_ERR_TLOG_ENTRY_BUNDLE_MALFORMED',
        {
          path: 'tile/entries/000',
        },
      );
    });

    it('reordered entries', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => {
        if (p !== 'tile/entries/002.p/88') return b;
        const first = 2 + 10; // "record 512" is 10 bytes
        return new Uint8Array([
          ...b.subarray(first, 2 * first),
          ...b.subarray(0, first),
          ...b.subarray(2 * first),
        ]);
      });
      await expectFailure(verifyLog({ fetch, logKey: key.verifierKey }), 'DOMICILE_ERR_TLOG_ENTRY_MISMATCH', {
        index: 512n,
      });
    });

    it('a truncated log (missing tiles)', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => (p.startsWith('tile/0/002') ? undefined : b));
      await expectFailure(verifyLog({ fetch, logKey: key.verifierKey }), 'DOMICILE_ERR_TLOG_NOT_FOUND', {
        path: 'tile/0/002.p/88',
      });
    });

    it('a malformed tile', async () => {
      const log = await buildLog(600);
      const fetch = fetcherOf(log, (p, b) => (p === 'tile/0/001' ? b.subarray(1) : b));
      await expectFailure(verifyLog({ fetch, logKey: key.verifierKey }), 'DOMICILE_ERR_TLOG_TILE_MALFORMED');
    });

    it('a checkpoint whose root does not match the tiles', async () => {
      const log = await buildLog(600);
      const other = await buildLog(600, new MemoryLogStorage());
      await other.append(entry(9999));
      await other.integrate();
      const fetch: LogFetcher = async (p) => (p === 'checkpoint' ? other.read(p) : fetcherOf(log)(p));
      await expect(verifyLog({ fetch, logKey: key.verifierKey })).rejects.toBeInstanceOf(TlogError);
    });

    it('a parser that rejects an entry', async () => {
      const log = await buildLog(20);
      await expectFailure(
        verifyLog({
          fetch: fetcherOf(log),
          logKey: key.verifierKey,
          parseEntry: (e, i) => {
            if (i === 7) throw new Error(`bad ${e.length}`);
          },
        }),
        'DOMICILE_ERR_TLOG_ENTRY_REJECTED',
        { index: 7n },
      );
    });
  });

  describe('against a trusted checkpoint', () => {
    it('verifies incrementally, hashing only the new entries', async () => {
      const storage = new MemoryLogStorage();
      const log = await buildLog(700, storage);
      const trusted = await log.checkpoint();
      // the instance that grew the log serves it (an instance serves what it knows is durable)
      const grown = await buildLog(1500, storage);
      const result = await verifyLog({ fetch: fetcherOf(grown), logKey: key.verifierKey, trusted });
      expect(result.verifiedFrom).toBe(700);
      expect(result.entriesVerified).toBe(800);
      const full = await verifyLog({
        fetch: fetcherOf(grown),
        logKey: key.verifierKey,
        trusted,
        incremental: false,
      });
      expect(full.entriesVerified).toBe(1500);
    });

    it('detects a fork: storage rolled back to an older copy and different entries appended', async () => {
      const storage = new MemoryLogStorage();
      await buildLog(300, storage);
      const snapshot = storage.clone();
      const honest = await buildLog(700, storage);
      const trusted = await honest.checkpoint();
      const forked = await TransparencyLog.open({
        storage: snapshot,
        origin: ORIGIN,
        signer: newEd25519Signer(key.privateKey),
      });
      await Promise.all(Array.from({ length: 500 }, (_, i) => forked.append(entry(300 + i, 'forged'))));
      await forked.integrate();
      for (const incremental of [true, false]) {
        const e = await expectFailure(
          verifyLog({ fetch: fetcherOf(forked), logKey: key.verifierKey, trusted, incremental }),
          'DOMICILE_ERR_TLOG_INCONSISTENT',
        );
        expect(e.message).toContain('forked');
      }
    });

    it('detects a rollback to a smaller size', async () => {
      const storage = new MemoryLogStorage();
      await buildLog(300, storage);
      const snapshot = storage.clone();
      const honest = await buildLog(700, storage);
      const trusted = await honest.checkpoint();
      const rolledBack = await TransparencyLog.open({
        storage: snapshot,
        origin: ORIGIN,
        signer: newEd25519Signer(key.privateKey),
      });
      await expectFailure(
        verifyLog({ fetch: fetcherOf(rolledBack), logKey: key.verifierKey, trusted }),
        'DOMICILE_ERR_TLOG_INCONSISTENT',
      );
    });
  });
});
