import { describe, expect, it } from 'vitest';
import { DomicileError } from '../../domain/errors.js';
import { type RejectedItem, type Spool, SpooledForwarder } from './spooled-forwarder.js';

class MemorySpool<T> implements Spool<T> {
  readonly items: T[] = [];
  get size() {
    return this.items.length;
  }
  peek(max: number) {
    return this.items.slice(0, max);
  }
  append(item: T) {
    this.items.push(item);
  }
  drop(count: number) {
    this.items.splice(0, count);
  }
}

/** A node that is up or down, recording what it received. */
function node() {
  const received: number[] = [];
  const state = { up: true, refuse: false };
  const send = async (n: number) => {
    if (!state.up) throw new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', 'down');
    if (state.refuse) throw new DomicileError('DOMICILE_ERR_PEER_IDENTITY', 'refused');
    received.push(n);
  };
  return { received, state, send };
}

describe('SpooledForwarder', () => {
  it('sends directly while the node is up', async () => {
    const n = node();
    const spool = new MemorySpool<number>();
    const f = new SpooledForwarder({ send: n.send, spool, retryMs: 10 });
    await f.forward(1);
    expect(n.received).toEqual([1]);
    expect(spool.size).toBe(0);
    await f.close();
  });

  it('spools while the node is down and delivers in order once it is back, new items behind old', async () => {
    const n = node();
    const spool = new MemorySpool<number>();
    const f = new SpooledForwarder({ send: n.send, spool, retryMs: 10 });
    n.state.up = false;
    await f.forward(1);
    await f.forward(2);
    expect(spool.items).toEqual([1, 2]);
    n.state.up = true;
    // still queued behind the spooled ones, never ahead of them
    await f.forward(3);
    expect(n.received).toEqual([]);
    await f.drain();
    expect(n.received).toEqual([1, 2, 3]);
    expect(f.pending).toBe(0);
    await f.close();
  });

  it('does not swallow a refusal: the caller gets it and nothing is spooled', async () => {
    const n = node();
    n.state.refuse = true;
    const spool = new MemorySpool<number>();
    const f = new SpooledForwarder({ send: n.send, spool, retryMs: 10 });
    await expect(f.forward(1)).rejects.toMatchObject({ code: 'DOMICILE_ERR_PEER_IDENTITY' });
    expect(spool.size).toBe(0);
    await f.close();
  });

  it.each([
    // e.g. a replica of a subject erased there while it waited
    ['a 4xx', 'DOMICILE_ERR_STATE_CONFLICT'],
    // the node refused the form of the request it came in (a node of another version)
    ['the form of its request', 'DOMICILE_ERR_REGION_REFUSED'],
  ] as const)(
    'sets aside a spooled item the node refuses for good (%s), and delivers the ones behind it',
    async (_, code) => {
      const received: number[] = [];
      const state = { up: false };
      const send = async (n: number) => {
        if (!state.up) throw new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', 'down');
        if (n === 2) throw new DomicileError(code, 'refused for good');
        received.push(n);
      };
      const spool = new MemorySpool<number>();
      const rejected = new MemorySpool<RejectedItem<number>>();
      const errors: unknown[] = [];
      const f = new SpooledForwarder({ send, spool, rejected, retryMs: 10, onError: (e) => errors.push(e) });
      for (const n of [1, 2, 3]) await f.forward(n);
      state.up = true;
      await f.drain();
      expect(received).toEqual([1, 3]);
      // with why: the refusal's code and time, for the operator deciding whether to requeue it
      expect(rejected.items).toEqual([
        { item: 2, refusal: { code, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } },
      ]);
      expect(f.pending).toBe(0);
      expect(errors).toEqual([expect.objectContaining({ code })]);
      await f.close();
    },
  );

  it('keeps an item it cannot deliver for another reason first in the spool (no set-aside)', async () => {
    const state = { up: false };
    const send = async (n: number) => {
      if (!state.up) throw new DomicileError('DOMICILE_ERR_REGION_UNAVAILABLE', 'down');
      if (n === 1) throw new DomicileError('DOMICILE_ERR_INTERNAL', 'a fault, perhaps passing');
    };
    const spool = new MemorySpool<number>();
    const rejected = new MemorySpool<RejectedItem<number>>();
    const f = new SpooledForwarder({ send, spool, rejected, retryMs: 10, onError: () => {} });
    for (const n of [1, 2]) await f.forward(n);
    state.up = true;
    await f.drain();
    expect(spool.items).toEqual([1, 2]);
    expect(rejected.items).toEqual([]);
    await f.close();
  });

  it('retries on its own until the node is back', async () => {
    const n = node();
    n.state.up = false;
    const spool = new MemorySpool<number>();
    const f = new SpooledForwarder({ send: n.send, spool, retryMs: 5 });
    await f.forward(7);
    n.state.up = true;
    await expect.poll(() => n.received, { timeout: 2000 }).toEqual([7]);
    await f.close();
  });
});
