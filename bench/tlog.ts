/**
 * `npm run bench -- tlog`: durable appends of 512-byte entries through `TransparencyLog` on the
 * region's SQLite store (group commit, background integration and checkpoint signing running),
 * against batched raw inserts of the same rows into the same SQLite file, measured in the same
 * run; inclusion proofs served from stored tiles; and `verifyLog` over 1,000,000 entries.
 * Targets: ≥ 50,000 durable entries/s and ≥ 50% of the raw insert rate.
 *
 * Options: --entries=N (appends, default 100000), --verify-entries=N (default 1000000),
 * --concurrency=N (default 1000), --memory (the in-memory storage with --fsync-ms=N instead).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegionId } from '../src/domain/ids.js';
import { openSqliteLogStorage } from '../src/store/sqlite/sqlite-log-storage.js';
import { openSqliteRegionStore, type SqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import {
  generateEd25519Key,
  hashLeaf,
  type LogStorage,
  MemoryLogStorage,
  newEd25519Signer,
  TlogError,
  TransparencyLog,
  verifyInclusion,
  verifyLog,
} from '../src/tlog/index.js';

/** Builds the storage under test. */
export type StorageFactory = (options: { fsyncMs: number }) => Promise<LogStorage>;

const memoryStorage: StorageFactory = async ({ fsyncMs }) =>
  new MemoryLogStorage({ writeLatencyMs: fsyncMs });

/** Batched raw inserts of the same rows into the same SQLite file: no hashing, no tiles, no signing. */
function rawInsertRate(store: SqliteRegionStore, payload: readonly Uint8Array[], entries: number): number {
  store.db.exec('CREATE TABLE IF NOT EXISTS bench_raw (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)');
  const insert = store.db.prepare<[number, Uint8Array]>('INSERT INTO bench_raw (idx, data) VALUES (?, ?)');
  const batch = store.db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(i, payload[i % payload.length] as Uint8Array);
  });
  const t = performance.now();
  for (let i = 0; i < entries; i += 256) batch.immediate(i, Math.min(entries, i + 256));
  return entries / ((performance.now() - t) / 1000);
}

function option(args: string[], name: string, fallback: number): number {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : Number(arg.slice(name.length + 3));
}

const ORIGIN = 'bench.example.com/log';

/** Runs the benchmark and prints a markdown table. */
export async function run(args: string[]): Promise<void> {
  const entries = option(args, 'entries', 100_000);
  const verifyEntries = option(args, 'verify-entries', 1_000_000);
  const fsyncMs = option(args, 'fsync-ms', 1);
  const concurrency = option(args, 'concurrency', 1000);
  const memory = args.includes('--memory');
  const key = generateEd25519Key(ORIGIN);
  const signer = newEd25519Signer(key.privateKey);
  const payload = Array.from({ length: 1024 }, () => randomBytes(512));
  const dir = mkdtempSync(join(tmpdir(), 'domicile-bench-tlog-'));
  const store = openSqliteRegionStore({ regionId: 'bench' as RegionId, file: join(dir, 'store.db') });
  const storageFactory: StorageFactory = memory
    ? memoryStorage
    : async () => openSqliteLogStorage(store, 'BENCH');

  // Baseline: the same rows inserted raw into the same file, 256 per transaction.
  const rawPerSec = rawInsertRate(store, payload, entries);
  let t = performance.now();
  for (let i = 0; i < entries; i++) hashLeaf(payload[i % payload.length] as Uint8Array);
  const hashPerSec = entries / ((performance.now() - t) / 1000);

  // Durable appends with the integrator running.
  const storage = await storageFactory({ fsyncMs });
  const log = await TransparencyLog.open({ storage, origin: ORIGIN, signer, integrateIntervalMs: 100 });
  log.start();
  t = performance.now();
  let next = 0;
  const payloadOf = new Uint16Array(entries); // entry index → payload id, to check proofs below
  const worker = async (): Promise<void> => {
    while (next < entries) {
      const id = next++ % payload.length;
      const { index } = await log.append(payload[id] as Uint8Array);
      payloadOf[index] = id;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const appendSeconds = (performance.now() - t) / 1000;
  console.error(`appends done in ${appendSeconds.toFixed(2)} s`);
  await log.stop();
  await log.integrate();
  const transactions = storage instanceof MemoryLogStorage ? storage.appendTransactions : Number.NaN;

  // Inclusion proofs served (and, separately, verified) per second.
  const size = await log.size();
  const root = await log.root();
  const proofs = Math.min(20_000, size);
  t = performance.now();
  const served: Array<[number, Uint8Array[]]> = [];
  for (let i = 0; i < proofs; i++) {
    const index = Math.floor(Math.random() * size);
    served.push([index, await log.inclusionProof(index, size)]);
  }
  const proofSeconds = (performance.now() - t) / 1000;
  console.error(`proofs done in ${proofSeconds.toFixed(2)} s`);
  t = performance.now();
  for (const [index, proof] of served) {
    verifyInclusion(index, size, hashLeaf(payload[payloadOf[index] ?? 0] as Uint8Array), proof, root);
  }
  const proofVerifySeconds = (performance.now() - t) / 1000;
  await log.close();

  // verify-log over a large log, built fast: sequenced in big transactions, integrated once.
  t = performance.now();
  const big = new MemoryLogStorage();
  const small = Array.from({ length: 256 }, (_, i) => Uint8Array.from(randomBytes(64), (b) => b ^ i));
  for (let i = 0; i < verifyEntries; i += 65_536) {
    const n = Math.min(65_536, verifyEntries - i);
    await big.appendEntries(Array.from({ length: n }, (_, j) => small[(i + j) % 256] as Uint8Array));
  }
  const bigLog = await TransparencyLog.open({ storage: big, origin: ORIGIN, signer });
  const buildSeconds = (performance.now() - t) / 1000;
  console.error(`build done in ${buildSeconds.toFixed(2)} s`);
  t = performance.now();
  const result = await verifyLog({
    logKey: key.verifierKey,
    fetch: async (path) => {
      try {
        return await bigLog.read(path);
      } catch (e) {
        if (e instanceof TlogError && e.code === 'DOMICILE_ERR_TLOG_NOT_FOUND') return undefined;
        throw e;
      }
    },
  });
  const verifySeconds = (performance.now() - t) / 1000;

  await store.close();
  rmSync(dir, { recursive: true, force: true });

  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const appendPerSec = entries / appendSeconds;
  const where = memory
    ? `in memory, simulated fsync ${fsyncMs} ms`
    : 'SQLite WAL, fdatasync before acknowledging';
  console.log('| measure | value | ratio |');
  console.log('|---|---|---|');
  console.log(
    `| baseline: raw inserts of the same 512 B rows, 256 per transaction / s | ${fmt(rawPerSec)} | 1 |`,
  );
  console.log(
    `| durable appends / s (512 B, ${concurrency} concurrent, ${where}, integrator on) | ${fmt(appendPerSec)} | ${(appendPerSec / rawPerSec).toFixed(2)} of raw |`,
  );
  console.log(`| SHA-256 leaf hashes / s (for scale) | ${fmt(hashPerSec)} | |`);
  if (memory)
    console.log(
      `| append transactions for ${fmt(entries)} appends (group commit) | ${fmt(transactions)} | |`,
    );
  console.log(`| inclusion proofs served / s (tree of ${fmt(size)}) | ${fmt(proofs / proofSeconds)} | |`);
  console.log(`| inclusion proofs verified / s | ${fmt(proofs / proofVerifySeconds)} | |`);
  console.log(`| build + integrate ${fmt(verifyEntries)} entries (64 B) | ${buildSeconds.toFixed(2)} s | |`);
  console.log(
    `| verify-log, ${fmt(Number(result.checkpoint.size))} entries, all tiles and bundles | ${verifySeconds.toFixed(2)} s | ${fmt(verifyEntries / verifySeconds)} entries/s |`,
  );
}
