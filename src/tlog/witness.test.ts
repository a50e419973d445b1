import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from './checkpoint.js';
import { newCosignatureSigner, newCosignatureVerifier } from './cosignature.js';
import { MemoryTree } from './merkle.js';
import { generateEd25519Key, newEd25519Signer, newEd25519Verifier, openNote } from './note.js';
import {
  FileWitnessStateStore,
  formatAddCheckpointRequest,
  MemoryWitnessStateStore,
  parseAddCheckpointRequest,
  submitCheckpoint,
  Witness,
  type WitnessStateStore,
} from './witness.js';

const ORIGIN = 'audit.example.com/log';
const logKey = generateEd25519Key(ORIGIN);
const logSigner = newEd25519Signer(logKey.privateKey);
const witnessKey = generateEd25519Key('witness.example/w1');
const cosigner = newCosignatureSigner(witnessKey.privateKey);
const entries = Array.from({ length: 100 }, (_, i) => new TextEncoder().encode(`e${i}`));
const tree = MemoryTree.fromEntries(entries);
const forkTree = MemoryTree.fromEntries([
  ...entries.slice(0, 30),
  ...entries.slice(30).map((e) => Uint8Array.of(9, ...e)),
]);

const checkpointAt = (size: number, t: MemoryTree = tree, signer = logSigner): string =>
  signCheckpoint({ origin: ORIGIN, size: BigInt(size), root: t.root(size), extensions: [] }, [signer]);

const request = (old: number, size: number, t: MemoryTree = tree): string =>
  formatAddCheckpointRequest({
    oldSize: BigInt(old),
    proof: t.consistencyProof(old, size),
    checkpoint: checkpointAt(size, t),
  });

function newWitness(store: WitnessStateStore = new MemoryWitnessStateStore()): Witness {
  return new Witness({
    signer: cosigner,
    store,
    logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }],
  });
}

describe('Witness.addCheckpoint', () => {
  it('cosigns a first checkpoint and then consistent ones', async () => {
    const store = new MemoryWitnessStateStore();
    const w = newWitness(store);
    const first = await w.addCheckpoint(request(0, 10));
    expect(first.status).toBe(200);
    const cosigned = `${checkpointAt(10)}${first.body}`;
    const opened = openNote(cosigned, [
      newEd25519Verifier(logKey.verifierKey),
      newCosignatureVerifier(cosigner.verifierKey),
    ]);
    expect(opened.verified).toHaveLength(2);
    expect((await w.addCheckpoint(request(10, 64))).status).toBe(200);
    expect((await w.addCheckpoint(request(64, 64))).status).toBe(200);
    expect((await store.get(ORIGIN))?.size).toBe(64n);
  });

  it('answers 409 with the cosigned size when old is stale', async () => {
    const w = newWitness();
    await w.addCheckpoint(request(0, 10));
    const r = await w.addCheckpoint(request(5, 20));
    expect(r).toEqual({ status: 409, contentType: 'text/x.tlog.size', body: '10\n' });
  });

  describe('when the log rolls back or forks', () => {
    it('refuses a smaller checkpoint and keeps its state', async () => {
      const store = new MemoryWitnessStateStore();
      const w = newWitness(store);
      await w.addCheckpoint(request(0, 50));
      const rollback = formatAddCheckpointRequest({ oldSize: 50n, proof: [], checkpoint: checkpointAt(40) });
      expect((await w.addCheckpoint(rollback)).status).toBe(400);
      expect((await w.addCheckpoint(request(0, 40))).status).toBe(409);
      expect((await store.get(ORIGIN))?.size).toBe(50n);
    });

    it('answers 422 to a fork of equal size and to an inconsistent proof, keeping its state', async () => {
      const store = new MemoryWitnessStateStore();
      const w = newWitness(store);
      await w.addCheckpoint(request(0, 50));
      const sameSizeFork = formatAddCheckpointRequest({
        oldSize: 50n,
        proof: [],
        checkpoint: checkpointAt(50, forkTree),
      });
      expect((await w.addCheckpoint(sameSizeFork)).status).toBe(422);
      const grownFork = formatAddCheckpointRequest({
        oldSize: 50n,
        proof: forkTree.consistencyProof(50, 80),
        checkpoint: checkpointAt(80, forkTree),
      });
      expect((await w.addCheckpoint(grownFork)).status).toBe(422);
      const state = await store.get(ORIGIN);
      expect(state?.size).toBe(50n);
      expect(Buffer.from(state?.root ?? new Uint8Array())).toEqual(Buffer.from(tree.root(50)));
    });

    it('answers 422 to a non-empty proof from size 0 and to a size-0 checkpoint with another root', async () => {
      const w = newWitness();
      const withProof = formatAddCheckpointRequest({
        oldSize: 0n,
        proof: [tree.root(1)],
        checkpoint: checkpointAt(10),
      });
      expect((await w.addCheckpoint(withProof)).status).toBe(422);
      const badEmpty = signCheckpoint({ origin: ORIGIN, size: 0n, root: tree.root(1), extensions: [] }, [
        logSigner,
      ]);
      expect(
        (await w.addCheckpoint(formatAddCheckpointRequest({ oldSize: 0n, proof: [], checkpoint: badEmpty })))
          .status,
      ).toBe(422);
    });
  });

  it('answers 403 to a checkpoint not signed by the log key', async () => {
    const other = newEd25519Signer(generateEd25519Key(ORIGIN).privateKey);
    const body = formatAddCheckpointRequest({
      oldSize: 0n,
      proof: [],
      checkpoint: checkpointAt(10, tree, other),
    });
    expect((await newWitness().addCheckpoint(body)).status).toBe(403);
    const forged = request(0, 10).replace(/\n10\n/, '\n11\n');
    expect((await newWitness().addCheckpoint(forged)).status).toBe(403);
  });

  it('answers 404 to an unknown origin and 400 to garbage', async () => {
    const other = generateEd25519Key('other.example/log');
    const cp = signCheckpoint({ origin: 'other.example/log', size: 1n, root: tree.root(1), extensions: [] }, [
      newEd25519Signer(other.privateKey),
    ]);
    expect(
      (
        await newWitness().addCheckpoint(
          formatAddCheckpointRequest({ oldSize: 0n, proof: [], checkpoint: cp }),
        )
      ).status,
    ).toBe(404);
    for (const junk of [
      '',
      'old x\n\n',
      'old 01\n\nfoo\n',
      `old 0\n${'AAAA\n'.repeat(3)}\n${checkpointAt(3)}`,
    ]) {
      expect((await newWitness().addCheckpoint(junk)).status).toBe(400);
    }
  });

  it('refuses more than 63 proof lines', () => {
    const body = `old 1\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(64)}\n${checkpointAt(3)}`;
    expect(() => parseAddCheckpointRequest(body)).toThrow(
      expect.objectContaining({ code: 'DOMICILE_ERR_TLOG_WITNESS_REQUEST_MALFORMED' }),
    );
  });
});

describe('FileWitnessStateStore', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('persists across instances and lets exactly one of many racing requests advance the state', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tlog-witness-'));
    const w = newWitness(new FileWitnessStateStore(dir));
    expect((await w.addCheckpoint(request(0, 10))).status).toBe(200);
    const racing = await Promise.all([20, 30, 40, 50, 60].map((s) => w.addCheckpoint(request(10, s))));
    expect(racing.filter((r) => r.status === 200)).toHaveLength(1);
    expect(racing.filter((r) => r.status === 409)).toHaveLength(4);
    const reopened = new FileWitnessStateStore(dir);
    const winner = racing.findIndex((r) => r.status === 200);
    expect((await reopened.get(ORIGIN))?.size).toBe(BigInt([20, 30, 40, 50, 60][winner] ?? -1));
  });
});

describe('submitCheckpoint', () => {
  it('discovers the witness size through 409 and gets a verified cosignature', async () => {
    const w = newWitness();
    await w.addCheckpoint(request(0, 40));
    const calls: string[] = [];
    const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      const body = String(init?.body ?? '');
      calls.push(body.split('\n', 1)[0] ?? '');
      const r = await w.addCheckpoint(body);
      return new Response(r.body, { status: r.status, headers: { 'content-type': r.contentType } });
    }) as typeof fetch;
    const lines = await submitCheckpoint('http://witness.invalid/add-checkpoint', {
      checkpoint: checkpointAt(90),
      oldSize: 0n,
      proofFrom: async (old) => tree.consistencyProof(Number(old), 90),
      witnessKey: cosigner.verifierKey,
      fetch: fakeFetch,
    });
    expect(calls).toEqual(['old 0', 'old 40']);
    expect(lines).toHaveLength(1);
  });

  it('reports a refusal with a coded error', async () => {
    const w = newWitness();
    await w.addCheckpoint(request(0, 50));
    const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      const r = await w.addCheckpoint(String(init?.body ?? ''));
      return new Response(r.body, { status: r.status, headers: { 'content-type': r.contentType } });
    }) as typeof fetch;
    await expect(
      submitCheckpoint('http://witness.invalid/add-checkpoint', {
        checkpoint: checkpointAt(80, forkTree),
        oldSize: 50n,
        proofFrom: async (old) => forkTree.consistencyProof(Number(old), 80),
        fetch: fakeFetch,
      }),
    ).rejects.toMatchObject({ code: 'DOMICILE_ERR_TLOG_WITNESS_REJECTED' });
  });
});
