/**
 * Interoperability: the US log of a running deployment, as fetched over HTTP, verifies with
 * golang.org/x/mod alone (`sumdb/note` for the signed checkpoints, `sumdb/tlog` for the RFC 6962
 * inclusion and consistency proofs), through the small Go program in `test/interop/go`. So an
 * auditor needs no Domicile code. The Go toolchain is installed with apt when missing (see
 * `test/support/go.ts`); this test never skips.
 *
 * Empty trees differ: RFC 6962 and C2SP give the empty tree the root SHA-256("") (e3b0c442…),
 * while x/mod's `tlog.TreeHash(0)` is the all-zero hash and `tlog.CheckTree` refuses sizes below 1.
 * So no size-0 checkpoint or proof is given to Go here; Domicile's own tests cover size 0.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JurisdictionId } from '../src/domain/ids.js';
import { loadLogKeys } from '../src/server/audit-logs.js';
import type { TransparencyLog } from '../src/tlog/log.js';
import { loadTlogVectors } from '../src/tlog/test-vectors.js';
import { decodeEntryBundle, entryBundlePath, TILE_WIDTH } from '../src/tlog/tiles.js';
import { openTestDeployment, repoRoot, type TestDeployment, US_STEWARD } from './support/deployment.js';
import { type GoRun, goProgram } from './support/go.js';

/** An entry with its inclusion proof, base64. */
interface GoEntry {
  readonly index: number;
  readonly entry: string;
  readonly proof: readonly string[];
}

/** The job the Go program reads (see `test/interop/go/main.go`). */
interface GoJob {
  readonly verifierKey: string;
  readonly checkpoint: string;
  readonly origin?: string;
  readonly entries?: readonly GoEntry[];
  readonly consistency?: {
    readonly oldCheckpoint?: string;
    readonly oldSize?: number;
    readonly oldRoot?: string;
    readonly proof: readonly string[];
  };
}

/** What the Go program prints on success. */
interface GoResult {
  origin: string;
  size: number;
  root: string;
  signedBy: string[];
  unverifiedSignatures: number;
  entriesVerified: number[];
  consistency: { from: number; to: number } | null;
}

const US = 'US' as JurisdictionId;
const ORIGIN = 'domicile.local/log/US';
/** Sizes at which a checkpoint is kept: one full level-0 tile (and a level-1 partial), then more. */
const SIZE_AT_TILE = TILE_WIDTH;
const FINAL_SIZE = TILE_WIDTH + 44;

let d: TestDeployment;
let log: TransparencyLog;
let usKey: string;
let sgKey: string;
let goVerify: (job: GoJob) => Promise<GoRun>;
/** Signed checkpoints kept as the log grew, by tree size. */
const checkpoints = new Map<number, string>();
/** Every entry of the final tree, read from the entry bundles. */
let entries: Uint8Array[] = [];

async function get(url: string): Promise<{ body: string; raw: Uint8Array }> {
  const res = await d.app.inject({ method: 'GET', url });
  if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${res.body}`);
  return { body: res.body, raw: new Uint8Array(res.rawPayload) };
}

/** Integrates and returns the served checkpoint with its size. */
async function publishedCheckpoint(): Promise<{ size: number; text: string }> {
  await log.integrate();
  const text = (await get('/v1/logs/US/checkpoint')).body;
  const size = Number(text.split('\n')[1]);
  checkpoints.set(size, text);
  return { size, text };
}

/** Appends info events straight to the US audit sink until the log holds `size` entries. */
async function growTo(size: number): Promise<void> {
  const sink = d.audit.sink(US);
  const current = await log.size();
  expect(current).toBeLessThanOrEqual(size);
  await Promise.all(
    Array.from({ length: size - current }, (_, i) =>
      sink.append({
        type: 'interop.filler',
        requestId: `interop-${current + i}`,
        principal: null,
        jurisdiction: US,
        decision: 'info',
        reason: `filler entry ${current + i} for the x/mod interoperability test`,
      }),
    ),
  );
  const { size: published } = await publishedCheckpoint();
  expect(published).toBe(size);
}

async function inclusionProof(index: number, size: number): Promise<string[]> {
  const { body } = await get(`/v1/logs/US/proof/inclusion?index=${index}&size=${size}`);
  const proof = JSON.parse(body) as { index: number; size: number; proof: string[] };
  expect(proof).toMatchObject({ index, size });
  return proof.proof;
}

async function consistencyProof(from: number, to: number): Promise<string[]> {
  const { body } = await get(`/v1/logs/US/proof/consistency?from=${from}&to=${to}`);
  const proof = JSON.parse(body) as { from: number; to: number; proof: string[] };
  expect(proof).toMatchObject({ from, to });
  return proof.proof;
}

/** Entries of the final tree from the C2SP entry bundles (full ones, then the partial). */
async function readEntries(size: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let n = 0; n * TILE_WIDTH < size; n++) {
    const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH);
    const { raw } = await get(`/v1/logs/US/${entryBundlePath(n, width)}`);
    out.push(...decodeEntryBundle(raw, width));
  }
  return out;
}

async function entryJob(size: number, indices: readonly number[]): Promise<GoEntry[]> {
  return Promise.all(
    indices.map(async (index) => {
      const entry = entries[index];
      if (entry === undefined) throw new Error(`no entry ${index}`);
      return {
        index,
        entry: Buffer.from(entry).toString('base64'),
        proof: await inclusionProof(index, size),
      };
    }),
  );
}

function checkpointAt(size: number): string {
  const text = checkpoints.get(size);
  if (text === undefined) throw new Error(`no checkpoint kept at size ${size}`);
  return text;
}

/** Runs the Go verifier and expects success; returns its parsed result. */
async function expectVerified(job: GoJob): Promise<GoResult> {
  const run = await goVerify(job);
  expect(run.stderr, 'Go verifier stderr').toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as GoResult;
}

/** Runs the Go verifier and expects it to refuse, with a reason on stderr matching `reason`. */
async function expectRefused(job: GoJob, reason: RegExp): Promise<void> {
  const run = await goVerify(job);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(reason);
  expect(run.code).toBe(1);
}

/**
 * RFC 6962 MTH over raw entries, on node:crypto alone: leaf SHA-256(0x00 || d), node
 * SHA-256(0x01 || left || right), split at the largest power of two below n. Never called
 * with no entries (the empty tree is where RFC 6962 and x/mod differ).
 */
function mth(list: readonly Uint8Array[]): Buffer {
  const sha = (...parts: Uint8Array[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const first = list[0];
  if (list.length === 1 && first !== undefined) return sha(Uint8Array.of(0), first);
  if (list.length < 2) throw new Error('mth of an empty list');
  let k = 1;
  while (k * 2 < list.length) k *= 2;
  return sha(Uint8Array.of(1), mth(list.slice(0, k)), mth(list.slice(k)));
}

/** Flips one bit of a base64 hash. */
function flipBit(b64: string, byte = 7): string {
  const bytes = Buffer.from(b64, 'base64');
  const at = byte % bytes.length;
  bytes.writeUInt8((bytes[at] ?? 0) ^ 0x10, at);
  return bytes.toString('base64');
}

beforeAll(async () => {
  const started = Date.now();
  // the toolchain (apt-get install when missing) and the build come first, so their time shows
  goVerify = await goProgram(join(repoRoot, 'test/interop/go'));
  const ready = Date.now();
  d = await openTestDeployment();
  const audit = d.audit.logs.get(US);
  if (!audit) throw new Error('no US log');
  log = audit.log;
  const us = d.config.jurisdictions.get(US);
  const sg = d.config.jurisdictions.get('SG' as JurisdictionId);
  if (!us || !sg) throw new Error('the demo configuration has no US or SG jurisdiction');
  usKey = (await loadLogKeys(d.dataDir, us)).verifierKey;
  sgKey = (await loadLogKeys(d.dataDir, sg)).verifierKey;

  // the first checkpoint (the config.load entry; never size 0: see the header)
  const first = await publishedCheckpoint();
  expect(first.size).toBeGreaterThanOrEqual(1);

  // real vault traffic, allowed and denied
  const steward = await d.auth(US_STEWARD);
  const abroad = await d.auth({ ...US_STEWARD, loc: 'SG' });
  for (let i = 0; i < 4; i++) {
    const subject = `/v1/subjects/interop-${i}`;
    await d.app.inject({ method: 'PUT', url: subject, headers: steward, payload: { jurisdiction: 'US' } });
    await d.app.inject({
      method: 'PUT',
      url: `${subject}/records/email`,
      headers: steward,
      payload: { class: 'protected', value: `person-${i}@example.com` },
    });
    await d.app.inject({ method: 'GET', url: `${subject}/records/email`, headers: steward });
    await d.app.inject({ method: 'GET', url: `${subject}/records/email`, headers: abroad });
  }
  const afterTraffic = await publishedCheckpoint();
  expect(afterTraffic.size).toBeGreaterThan(first.size + 8);

  // then filler entries up to exactly one full tile, and past it
  await growTo(SIZE_AT_TILE);
  await growTo(FINAL_SIZE);
  entries = await readEntries(FINAL_SIZE);
  expect(entries).toHaveLength(FINAL_SIZE);
  console.log(
    `[interop] Go verifier ready in ${ready - started} ms; log of ${FINAL_SIZE} entries in ${Date.now() - ready} ms; checkpoints at sizes ${[...checkpoints.keys()].join(', ')}`,
  );
}, 600_000);

afterAll(async () => {
  await d?.cleanup();
});

describe('golang.org/x/mod verifies the log as served over HTTP', () => {
  it('opens the checkpoint with note.Open and checks inclusion of first, middle, last and tile-edge entries with tlog.CheckRecord', async () => {
    const checkpoint = checkpointAt(FINAL_SIZE);
    const indices = [0, 1, 7, 100, FINAL_SIZE >> 1, 255, 256, 257, FINAL_SIZE - 2, FINAL_SIZE - 1];
    const result = await expectVerified({
      verifierKey: usKey,
      checkpoint,
      origin: ORIGIN,
      entries: await entryJob(FINAL_SIZE, indices),
    });
    expect(result).toMatchObject({
      origin: ORIGIN,
      size: FINAL_SIZE,
      root: checkpoint.split('\n')[2],
      signedBy: [`${ORIGIN}+${usKey.split('+')[1]}`],
      entriesVerified: indices,
      consistency: null,
    });
  });

  it('checks every entry of the full-tile checkpoint (size 256: a level-1 partial tile exists)', async () => {
    const indices = Array.from({ length: SIZE_AT_TILE }, (_, i) => i);
    const result = await expectVerified({
      verifierKey: usKey,
      checkpoint: checkpointAt(SIZE_AT_TILE),
      origin: ORIGIN,
      entries: await entryJob(SIZE_AT_TILE, indices),
    });
    expect(result.entriesVerified).toHaveLength(SIZE_AT_TILE);
  });

  it('checks consistency between every pair of kept checkpoints with tlog.CheckTree', async () => {
    const sizes = [...checkpoints.keys()].filter((s) => s >= 1).sort((a, b) => a - b);
    expect(sizes.length).toBeGreaterThanOrEqual(4);
    const pairs: [number, number][] = [];
    for (const from of sizes) for (const to of sizes) if (from <= to) pairs.push([from, to]);
    for (const [from, to] of pairs) {
      const result = await expectVerified({
        verifierKey: usKey,
        checkpoint: checkpointAt(to),
        origin: ORIGIN,
        consistency: { oldCheckpoint: checkpointAt(from), proof: await consistencyProof(from, to) },
      });
      expect(result.consistency, `${from} -> ${to}`).toEqual({ from, to });
    }
  });

  it('checks consistency from sizes 1, 2, 3, 4, 255 and 257 given as size and root', async () => {
    // no checkpoint was signed at these sizes: their roots are computed from the entry bundles
    // (RFC 6962 MTH, below), and Go checks them against the signed latest checkpoint
    for (const from of [1, 2, 3, 4, 255, 257]) {
      const root = mth(entries.slice(0, from)).toString('base64');
      const result = await expectVerified({
        verifierKey: usKey,
        checkpoint: checkpointAt(FINAL_SIZE),
        consistency: { oldSize: from, oldRoot: root, proof: await consistencyProof(from, FINAL_SIZE) },
      });
      expect(result.consistency).toEqual({ from, to: FINAL_SIZE });
    }
  });
});

describe('golang.org/x/mod refuses what it must', () => {
  it('note.Open refuses a checkpoint with one byte of its root line changed', async () => {
    const checkpoint = checkpointAt(FINAL_SIZE);
    const lines = checkpoint.split('\n');
    const root = lines[2] ?? '';
    lines[2] = `${root[0] === 'A' ? 'B' : 'A'}${root.slice(1)}`;
    const tampered = lines.join('\n');
    expect(tampered).not.toBe(checkpoint);
    expect(tampered).toHaveLength(checkpoint.length);
    await expectRefused(
      { verifierKey: usKey, checkpoint: tampered },
      /^note\.Open: invalid signature for key/,
    );
    // the untampered one still opens
    await expectVerified({ verifierKey: usKey, checkpoint });
  });

  it('note.Open refuses the checkpoint under another log’s key (no verifiable signature)', async () => {
    await expectRefused(
      { verifierKey: sgKey, checkpoint: checkpointAt(FINAL_SIZE) },
      /^note\.Open: note has no verifiable signatures/,
    );
  });

  it('tlog.CheckRecord refuses a wrong inclusion proof, another entry, and a proof for another index', async () => {
    const checkpoint = checkpointAt(FINAL_SIZE);
    const [good] = await entryJob(FINAL_SIZE, [100]);
    if (!good) throw new Error('no entry job');
    const refused = /^tlog\.CheckRecord\(entry \d+ in tree \d+\): /;
    const flipped = good.proof.map((h, i) => (i === 1 ? flipBit(h) : h));
    await expectRefused({ verifierKey: usKey, checkpoint, entries: [{ ...good, proof: flipped }] }, refused);
    const other = Buffer.from(entries[101] ?? []).toString('base64');
    await expectRefused({ verifierKey: usKey, checkpoint, entries: [{ ...good, entry: other }] }, refused);
    await expectRefused({ verifierKey: usKey, checkpoint, entries: [{ ...good, index: 101 }] }, refused);
    await expectRefused(
      { verifierKey: usKey, checkpoint, entries: [{ ...good, proof: good.proof.slice(0, -1) }] },
      refused,
    );
  });

  it('tlog.CheckTree refuses a wrong consistency proof and a wrong old root', async () => {
    const proof = await consistencyProof(SIZE_AT_TILE, FINAL_SIZE);
    const checkpoint = checkpointAt(FINAL_SIZE);
    const refused = new RegExp(`^tlog\\.CheckTree\\(${SIZE_AT_TILE} -> ${FINAL_SIZE}\\): `);
    await expectRefused(
      {
        verifierKey: usKey,
        checkpoint,
        consistency: { oldCheckpoint: checkpointAt(SIZE_AT_TILE), proof: proof.map((h) => flipBit(h)) },
      },
      refused,
    );
    const oldRoot = flipBit(checkpointAt(SIZE_AT_TILE).split('\n')[2] ?? '');
    await expectRefused(
      { verifierKey: usKey, checkpoint, consistency: { oldSize: SIZE_AT_TILE, oldRoot, proof } },
      refused,
    );
  });
});

describe('golang.org/x/mod on the published vectors (control)', () => {
  const v = loadTlogVectors();
  const cp = v.checkpoints_and_cosignatures;
  const leaf = (i: number): string =>
    Buffer.from(v.hashing.leaves.find((l) => l.index === i)?.input_hex ?? 'missing', 'hex').toString(
      'base64',
    );
  const inclusion = (desc: string, leafIdx: number): string[] => {
    const c = v.inclusion.cases.find((x) => x.treeSize === 8 && x.leafIdx === leafIdx && x.desc === desc);
    if (!c?.proof) throw new Error(`no inclusion vector ${leafIdx}/8 ${desc}`);
    return c.proof;
  };
  const consistency = (desc: string, size1: number) => {
    const c = v.consistency.cases.find((x) => x.size2 === 8 && x.size1 === size1 && x.desc === desc);
    if (!c?.proof) throw new Error(`no consistency vector ${size1}/8 ${desc}`);
    return { oldSize: c.size1, oldRoot: c.root1, proof: c.proof };
  };

  it('verifies the derived 8-leaf checkpoint signed by PeterNeumann, with the published proofs', async () => {
    const result = await expectVerified({
      verifierKey: cp.log_vkey,
      checkpoint: cp.checkpoint_signed_note,
      origin: 'example.com/audit-log',
      entries: [
        { index: 0, entry: leaf(0), proof: inclusion('happy path', 0) },
        { index: 5, entry: leaf(5), proof: inclusion('happy path', 5) },
      ],
      consistency: consistency('happy path', 6),
    });
    expect(result).toMatchObject({
      size: 8,
      root: v.hashing.roots.find((r) => r.tree_size === 8)?.root_b64,
      signedBy: ['PeterNeumann+c74f20a3'],
      entriesVerified: [0, 5],
      consistency: { from: 6, to: 8 },
    });
    await expectVerified({
      verifierKey: cp.log_vkey,
      checkpoint: cp.checkpoint_signed_note,
      consistency: consistency('happy path', 1),
    });
  });

  it('refuses the published bad proofs', async () => {
    const base = { verifierKey: cp.log_vkey, checkpoint: cp.checkpoint_signed_note };
    await expectRefused(
      { ...base, entries: [{ index: 5, entry: leaf(5), proof: inclusion('modified proof[1] bit @3', 5) }] },
      /^tlog\.CheckRecord/,
    );
    await expectRefused({ ...base, consistency: consistency('truncated proof', 6) }, /^tlog\.CheckTree/);
  });
});
