import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  decodeLogEntry,
  encodeLogEntry,
  type LogEntry,
  Pseudonyms,
  pseudonymize,
} from './entry.js';

const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }));
const textOrNull = fc.option(text, { nil: null });

/** Entries of the shape `toLogEntry` builds, with any text in their fields. */
const entries: fc.Arbitrary<LogEntry> = fc.record({
  v: fc.constant(1),
  time: text,
  type: text,
  requestId: text,
  principal: fc.option(fc.record({ id: text, type: text, department: textOrNull, country: textOrNull }), {
    nil: null,
  }),
  jurisdiction: text,
  subject: textOrNull,
  recordKey: textOrNull,
  class: textOrNull,
  region: textOrNull,
  decision: fc.constantFrom('allow' as const, 'deny' as const, 'info' as const),
  reason: text,
  policyHash: textOrNull,
  determining: fc.array(text, { maxLength: 3 }),
  details: fc.dictionary(
    text,
    fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 })),
    { maxKeys: 4 },
  ),
});

describe('log entry encoding', () => {
  it('writes every entry exactly as its canonical JSON', () => {
    fc.assert(
      fc.property(entries, (entry) => {
        expect(encodeLogEntry(entry).toString('utf8')).toBe(canonicalJson(entry));
      }),
      { numRuns: 500 },
    );
  });

  it('writes an entry of another shape as its canonical JSON too', () => {
    const odd = {
      ...fc.sample(entries, { numRuns: 1, seed: 7 })[0],
      principal: { id: 'p', type: 'employee', department: null, country: 'US', extra: 'x' },
    } as unknown as LogEntry;
    expect(encodeLogEntry(odd).toString('utf8')).toBe(canonicalJson(odd));
    const dropped = { ...odd, principal: null, reason: undefined } as unknown as LogEntry;
    expect(encodeLogEntry(dropped).toString('utf8')).toBe(canonicalJson(dropped));
  });

  it('decodes what it encodes', () => {
    fc.assert(
      fc.property(entries, (entry) => {
        expect(decodeLogEntry(encodeLogEntry(entry))).toEqual(entry);
      }),
      { numRuns: 200 },
    );
  });
});

describe('pseudonyms', () => {
  it('give the pseudonym of the key, from the cache or not', () => {
    const key = randomBytes(32);
    const pseudonyms = new Pseudonyms(key, 2);
    for (const id of ['a', 'b', 'c', 'a', 'b', 'a']) {
      expect(pseudonyms.of('subject', id)).toBe(pseudonymize(key, 'subject', id));
      expect(pseudonyms.of('key', id)).toBe(pseudonymize(key, 'key', id));
    }
    expect(pseudonyms.of('subject', 'a')).not.toBe(pseudonyms.of('key', 'a'));
    expect(new Pseudonyms(randomBytes(32)).of('subject', 'a')).not.toBe(pseudonyms.of('subject', 'a'));
  });
});
