import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from './lru-cache.js';

describe('LruCache', () => {
  it('keeps at most its capacity, always the entry just set, and never a deleted one', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 20 }),
        value: fc.integer(),
      }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const cache = new LruCache<number>(capacity);
        const truth = new Map<string, number>();
        for (const o of ops) {
          const key = String(o.key);
          if (o.kind === 'set') {
            cache.set(key, o.value);
            truth.set(key, o.value);
            expect(cache.get(key)).toBe(o.value);
          } else if (o.kind === 'delete') {
            cache.delete(key);
            truth.delete(key);
            expect(cache.get(key)).toBeUndefined();
          } else {
            const got = cache.get(key);
            // a cache may forget, but never answers with a value that was not the latest
            if (got !== undefined) expect(got).toBe(truth.get(key));
          }
        }
        let kept = 0;
        for (const key of truth.keys()) if (cache.get(key) !== undefined) kept++;
        expect(kept).toBeLessThanOrEqual(Math.max(2, capacity));
      }),
    );
  });

  it('keeps an entry that is used while others come and go', () => {
    const cache = new LruCache<string>(4);
    cache.set('hot', 'h');
    for (let i = 0; i < 100; i++) {
      cache.set(`cold-${i}`, 'c');
      expect(cache.get('hot')).toBe('h');
    }
    expect(cache.get('cold-0')).toBeUndefined();
  });

  it('forgets by predicate and when cleared', () => {
    const cache = new LruCache<number>(10);
    for (let i = 0; i < 8; i++) cache.set(`${i % 2 === 0 ? 'US' : 'EU'}\0${i}`, i);
    cache.deleteWhere((k) => k.startsWith('US\0'));
    expect(cache.get('US\u00000')).toBeUndefined();
    expect(cache.get('EU\u00001')).toBe(1);
    cache.clear();
    expect(cache.get('EU\u00001')).toBeUndefined();
  });
});
