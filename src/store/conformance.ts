/**
 * The conformance suites every store adapter runs: the contract of `RegionStore` and
 * `SubjectDirectory` as Vitest blocks. An adapter's test file calls them with a function that
 * opens a fresh, empty instance; each test gets its own.
 *
 * @example
 * describeRegionStoreConformance('sqlite', async () => {
 *   const store = openSqliteRegionStore({ regionId, file: path.join(tempDir(), 'store.sqlite') });
 *   return { store, cleanup: () => store.close() };
 * });
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomicileError } from '../domain/errors.js';
import type { ClassId, JurisdictionId, RecordKey, SubjectId } from '../domain/ids.js';
import type { RegionStore, StoredRecord, SubjectDirectory } from './region-store.js';

/** A freshly opened, empty store and how to dispose of it (close, drop files or schema). */
export interface RegionStoreFixture {
  readonly store: RegionStore;
  readonly cleanup: () => Promise<void>;
}

/** A freshly opened, empty directory and how to dispose of it. */
export interface SubjectDirectoryFixture {
  readonly directory: SubjectDirectory;
  readonly cleanup: () => Promise<void>;
}

const US = 'US' as JurisdictionId;
const EU = 'EU' as JurisdictionId;
const PROTECTED = 'protected' as ClassId;
const INTEROPERABLE = 'interoperable' as ClassId;

const subject = (id: string) => id as SubjectId;
const key = (id: string) => id as RecordKey;

/**
 * Bytes that start with `label` and continue with a sequence seeded by it: every byte value
 * occurs in any 256 consecutive positions, and no two labels give the same bytes.
 */
function ciphertextFor(label: string, size = 300): Uint8Array {
  const tag = new TextEncoder().encode(label);
  let seed = 0;
  for (const byte of tag) seed = (seed * 31 + byte) % 251;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + seed) % 256;
  bytes.set(tag.subarray(0, Math.floor(size / 2)));
  return bytes;
}

function makeRecord(overrides: Partial<StoredRecord> = {}): StoredRecord {
  const base = {
    subjectId: subject('subject-1'),
    key: key('profile'),
    jurisdiction: US,
    classId: PROTECTED,
    version: 1,
    keyId: 'dek:subject-1:1',
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
  return {
    ...base,
    ciphertext: overrides.ciphertext ?? ciphertextFor(`${base.subjectId}/${base.key}@${base.version}`),
  };
}

/** The next version of `record` with new bytes, key id and time. */
function nextVersion(record: StoredRecord, overrides: Partial<StoredRecord> = {}): StoredRecord {
  const version = record.version + 1;
  return makeRecord({
    subjectId: record.subjectId,
    key: record.key,
    jurisdiction: record.jurisdiction,
    classId: record.classId,
    version,
    keyId: `${record.keyId}+`,
    updatedAt: record.updatedAt + 1_000,
    ciphertext: ciphertextFor(`${record.subjectId}/${record.key}@${version}`),
    ...overrides,
  });
}

/** Compares as plain values: a Buffer and a Uint8Array with the same bytes are equal. */
function plain(record: StoredRecord | undefined) {
  return record === undefined ? undefined : { ...record, ciphertext: Array.from(record.ciphertext) };
}

async function expectStoreUnavailable(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(DomicileError);
  expect(error).toHaveProperty('code', 'DOMICILE_ERR_STORE_UNAVAILABLE');
}

/**
 * Registers the `RegionStore` contract tests for one adapter. `open` must return a new, empty
 * store each time; `cleanup` must tolerate a store the test has already closed.
 */
export function describeRegionStoreConformance(name: string, open: () => Promise<RegionStoreFixture>): void {
  describe(`RegionStore conformance: ${name}`, () => {
    let fixture: RegionStoreFixture;
    let store: RegionStore;

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('putRecord', () => {
      describe('when no record exists and expectedVersion is 0', () => {
        it('writes the record with every field as given', async () => {
          const record = makeRecord();
          expect(await store.putRecord(record, 0)).toBe('written');
          expect(plain(await store.getRecord(record.subjectId, record.key))).toEqual(plain(record));
        });
      });

      describe('when no record exists and expectedVersion is not 0', () => {
        it('returns conflict and writes nothing', async () => {
          const record = makeRecord({ version: 2 });
          expect(await store.putRecord(record, 1)).toBe('conflict');
          expect(await store.getRecord(record.subjectId, record.key)).toBeUndefined();
          expect(await store.countRecords()).toBe(0);
        });
      });

      describe('when the stored version equals expectedVersion', () => {
        it('replaces every field of the record', async () => {
          const first = makeRecord();
          await store.putRecord(first, 0);
          const second = nextVersion(first, { classId: INTEROPERABLE });
          expect(await store.putRecord(second, 1)).toBe('written');
          expect(plain(await store.getRecord(first.subjectId, first.key))).toEqual(plain(second));
          expect(await store.countRecords()).toBe(1);
        });
      });

      describe('when the stored version differs from expectedVersion', () => {
        it.each([
          ['0 (create over an existing record)', 0],
          ['older than stored', 1],
          ['newer than stored', 3],
        ])('returns conflict for %s and changes nothing', async (_label, expectedVersion) => {
          const first = makeRecord();
          const second = nextVersion(first);
          await store.putRecord(first, 0);
          await store.putRecord(second, 1);
          const attempt = makeRecord({
            version: expectedVersion + 1,
            classId: INTEROPERABLE,
            jurisdiction: EU,
            keyId: 'other-key',
            updatedAt: 9,
            ciphertext: ciphertextFor('attempt'),
          });
          expect(await store.putRecord(attempt, expectedVersion)).toBe('conflict');
          expect(plain(await store.getRecord(first.subjectId, first.key))).toEqual(plain(second));
          expect(await store.countRecords(EU)).toBe(0);
        });
      });

      describe('when writers race with the same expectedVersion', () => {
        it('lets exactly one of them write', async () => {
          const writers = Array.from({ length: 8 }, (_, i) =>
            makeRecord({ keyId: `writer-${i}`, ciphertext: ciphertextFor(`writer-${i}`) }),
          );
          const outcomes = await Promise.all(writers.map((record) => store.putRecord(record, 0)));
          expect(outcomes.filter((outcome) => outcome === 'written')).toHaveLength(1);
          const winner = writers[outcomes.indexOf('written')];
          expect(plain(await store.getRecord(subject('subject-1'), key('profile')))).toEqual(plain(winner));
        });
      });

      it('keeps records of other keys and subjects apart', async () => {
        const a = makeRecord({ key: key('a') });
        const b = makeRecord({ key: key('b') });
        const other = makeRecord({ subjectId: subject('subject-2'), key: key('a') });
        for (const record of [a, b, other]) expect(await store.putRecord(record, 0)).toBe('written');
        await store.putRecord(nextVersion(a), 1);
        expect(plain(await store.getRecord(b.subjectId, b.key))).toEqual(plain(b));
        expect(plain(await store.getRecord(other.subjectId, other.key))).toEqual(plain(other));
      });

      it('treats ids that differ only in case as different', async () => {
        await store.putRecord(makeRecord({ subjectId: subject('abc'), key: key('k') }), 0);
        expect(await store.putRecord(makeRecord({ subjectId: subject('ABC'), key: key('k') }), 0)).toBe(
          'written',
        );
        expect(await store.putRecord(makeRecord({ subjectId: subject('abc'), key: key('K') }), 0)).toBe(
          'written',
        );
        expect(await store.countRecords()).toBe(3);
      });
    });

    describe('putRecordIfNewer', () => {
      describe('when no record exists', () => {
        it('writes it, whatever its version', async () => {
          const record = makeRecord({ version: 7 });
          expect(await store.putRecordIfNewer(record)).toBe('written');
          expect(plain(await store.getRecord(record.subjectId, record.key))).toEqual(plain(record));
        });
      });

      describe('when the stored version is older', () => {
        it('overwrites it, also across skipped versions', async () => {
          const stored = makeRecord({ version: 2 });
          await store.putRecordIfNewer(stored);
          const newer = makeRecord({ version: 5, keyId: 'newer', ciphertext: ciphertextFor('newer') });
          expect(await store.putRecordIfNewer(newer)).toBe('written');
          expect(plain(await store.getRecord(stored.subjectId, stored.key))).toEqual(plain(newer));
        });
      });

      describe.each([
        ['equal', 3],
        ['newer', 4],
      ])('when the stored version is %s', (_label, storedVersion) => {
        it('returns conflict and changes nothing', async () => {
          const stored = makeRecord({ version: storedVersion });
          await store.putRecordIfNewer(stored);
          const incoming = makeRecord({
            version: 3,
            classId: INTEROPERABLE,
            jurisdiction: EU,
            keyId: 'incoming',
            updatedAt: stored.updatedAt + 5_000,
            ciphertext: ciphertextFor('incoming'),
          });
          expect(await store.putRecordIfNewer(incoming)).toBe('conflict');
          expect(plain(await store.getRecord(stored.subjectId, stored.key))).toEqual(plain(stored));
          expect(await store.countRecords(EU)).toBe(0);
        });
      });

      it('is followed correctly by putRecord on the version it wrote', async () => {
        const replicated = makeRecord({ version: 4 });
        await store.putRecordIfNewer(replicated);
        expect(await store.putRecord(nextVersion(replicated), 3)).toBe('conflict');
        expect(await store.putRecord(nextVersion(replicated), 4)).toBe('written');
        expect((await store.getRecord(replicated.subjectId, replicated.key))?.version).toBe(5);
      });
    });

    describe('getRecord', () => {
      it('returns undefined for an unknown record', async () => {
        expect(await store.getRecord(subject('nobody'), key('profile'))).toBeUndefined();
      });

      it.each([
        ['every byte value', ciphertextFor('all-bytes', 512)],
        ['zero bytes only', new Uint8Array(64)],
        ['the minimum AES-GCM envelope (nonce and tag)', ciphertextFor('min', 28)],
        ['one MiB', ciphertextFor('large', 1 << 20)],
        ['an empty value', new Uint8Array(0)],
      ])('returns ciphertext bytes exactly as written: %s', async (_label, ciphertext) => {
        await store.putRecord(makeRecord({ ciphertext }), 0);
        const read = await store.getRecord(subject('subject-1'), key('profile'));
        expect(read?.ciphertext).toBeInstanceOf(Uint8Array);
        expect(read?.ciphertext.byteLength).toBe(ciphertext.byteLength);
        expect(Buffer.compare(Buffer.from(read?.ciphertext ?? []), Buffer.from(ciphertext))).toBe(0);
      });

      it('returns ciphertext from a subarray view exactly (no bytes outside the view)', async () => {
        const backing = ciphertextFor('backing', 400);
        const view = backing.subarray(100, 200);
        await store.putRecord(makeRecord({ ciphertext: view }), 0);
        const read = await store.getRecord(subject('subject-1'), key('profile'));
        expect(Array.from(read?.ciphertext ?? [])).toEqual(Array.from(view));
      });

      it('is not affected by later changes to the written or returned arrays', async () => {
        const ciphertext = ciphertextFor('mutable');
        const original = Array.from(ciphertext);
        await store.putRecord(makeRecord({ ciphertext }), 0);
        ciphertext.fill(0xff);
        const first = await store.getRecord(subject('subject-1'), key('profile'));
        first?.ciphertext.fill(0xee);
        const second = await store.getRecord(subject('subject-1'), key('profile'));
        expect(Array.from(second?.ciphertext ?? [])).toEqual(original);
      });
    });

    describe('listRecords', () => {
      it('returns an empty list for an unknown subject', async () => {
        expect(await store.listRecords(subject('nobody'))).toEqual([]);
      });

      it("returns the subject's summaries ordered by key in code-unit order, without ciphertext", async () => {
        // Mixed case, digits and punctuation: a locale collation (e.g. PostgreSQL's default)
        // would order these differently from byte order.
        const keys = ['b', 'B', 'a-1', 'a.1', 'a:1', 'a_1', '10', '9', 'Z', 'a'];
        for (const [i, k] of keys.entries()) {
          await store.putRecord(
            makeRecord({ key: key(k), classId: i % 2 ? INTEROPERABLE : PROTECTED, updatedAt: i }),
            0,
          );
        }
        await store.putRecord(makeRecord({ subjectId: subject('subject-2'), key: key('c') }), 0);
        const sorted = [...keys].sort();
        const summaries = await store.listRecords(subject('subject-1'));
        expect(summaries.map((summary) => summary.key)).toEqual(sorted);
        for (const summary of summaries) {
          const i = keys.indexOf(summary.key);
          expect(summary).toStrictEqual({
            key: summary.key,
            classId: i % 2 ? INTEROPERABLE : PROTECTED,
            version: 1,
            updatedAt: i,
          });
        }
      });

      it('shows the current version after updates', async () => {
        const first = makeRecord();
        await store.putRecord(first, 0);
        const second = nextVersion(first);
        await store.putRecord(second, 1);
        expect(await store.listRecords(first.subjectId)).toEqual([
          { key: first.key, classId: first.classId, version: 2, updatedAt: second.updatedAt },
        ]);
      });
    });

    describe('deleteRecord', () => {
      it('deletes only that record and returns true', async () => {
        const a = makeRecord({ key: key('a') });
        const b = makeRecord({ key: key('b') });
        const other = makeRecord({ subjectId: subject('subject-2'), key: key('a') });
        for (const record of [a, b, other]) await store.putRecord(record, 0);
        expect(await store.deleteRecord(a.subjectId, a.key)).toBe(true);
        expect(await store.getRecord(a.subjectId, a.key)).toBeUndefined();
        expect(plain(await store.getRecord(b.subjectId, b.key))).toEqual(plain(b));
        expect(plain(await store.getRecord(other.subjectId, other.key))).toEqual(plain(other));
      });

      it('returns false when the record does not exist', async () => {
        expect(await store.deleteRecord(subject('nobody'), key('profile'))).toBe(false);
        await store.putRecord(makeRecord(), 0);
        await store.deleteRecord(subject('subject-1'), key('profile'));
        expect(await store.deleteRecord(subject('subject-1'), key('profile'))).toBe(false);
      });

      it('lets the key be created again from expectedVersion 0', async () => {
        await store.putRecord(makeRecord(), 0);
        await store.deleteRecord(subject('subject-1'), key('profile'));
        expect(await store.putRecord(makeRecord({ keyId: 'again' }), 1)).toBe('conflict');
        expect(await store.putRecord(makeRecord({ keyId: 'again' }), 0)).toBe('written');
        expect((await store.getRecord(subject('subject-1'), key('profile')))?.keyId).toBe('again');
      });
    });

    describe('deleteSubject', () => {
      it("deletes every record of the subject, returns how many, and leaves others' records", async () => {
        for (const k of ['a', 'b', 'c']) await store.putRecord(makeRecord({ key: key(k) }), 0);
        const other = makeRecord({ subjectId: subject('subject-2') });
        await store.putRecord(other, 0);
        expect(await store.deleteSubject(subject('subject-1'))).toBe(3);
        expect(await store.listRecords(subject('subject-1'))).toEqual([]);
        expect(plain(await store.getRecord(other.subjectId, other.key))).toEqual(plain(other));
        expect(await store.deleteSubject(subject('subject-1'))).toBe(0);
      });

      it('returns 0 for an unknown subject', async () => {
        await store.putRecord(makeRecord(), 0);
        expect(await store.deleteSubject(subject('nobody'))).toBe(0);
        expect(await store.countRecords()).toBe(1);
      });
    });

    describe('countRecords', () => {
      it('counts per jurisdiction and in total', async () => {
        expect(await store.countRecords()).toBe(0);
        for (const k of ['a', 'b', 'c'])
          await store.putRecord(makeRecord({ key: key(k), jurisdiction: US }), 0);
        for (const k of ['a', 'b']) {
          await store.putRecord(makeRecord({ subjectId: subject('eu-1'), key: key(k), jurisdiction: EU }), 0);
        }
        expect(await store.countRecords(US)).toBe(3);
        expect(await store.countRecords(EU)).toBe(2);
        expect(await store.countRecords('SG' as JurisdictionId)).toBe(0);
        expect(await store.countRecords()).toBe(5);
        await store.deleteRecord(subject('eu-1'), key('a'));
        expect(await store.countRecords(EU)).toBe(1);
        expect(await store.countRecords()).toBe(4);
      });

      it('does not count an update as a new record', async () => {
        const first = makeRecord();
        await store.putRecord(first, 0);
        await store.putRecord(nextVersion(first), 1);
        await store.putRecordIfNewer(makeRecord({ version: 9 }));
        expect(await store.countRecords(US)).toBe(1);
      });
    });

    describe('with many records', () => {
      it('keeps, lists, counts and deletes them all', async () => {
        const subjects = 20;
        const perSubject = 50;
        for (let s = 0; s < subjects; s++) {
          for (let k = 0; k < perSubject; k++) {
            const record = makeRecord({
              subjectId: subject(`subject-${s}`),
              key: key(`key-${String(k).padStart(3, '0')}`),
              jurisdiction: s % 2 ? EU : US,
              ciphertext: ciphertextFor(`s${s}k${k}`, 64),
            });
            expect(await store.putRecord(record, 0)).toBe('written');
          }
        }
        expect(await store.countRecords()).toBe(subjects * perSubject);
        expect(await store.countRecords(US)).toBe((subjects / 2) * perSubject);
        const listed = await store.listRecords(subject('subject-7'));
        expect(listed).toHaveLength(perSubject);
        expect(listed.map((summary) => summary.key)).toEqual(
          Array.from({ length: perSubject }, (_, k) => `key-${String(k).padStart(3, '0')}`),
        );
        const sample = await store.getRecord(subject('subject-13'), key('key-042'));
        expect(Array.from(sample?.ciphertext ?? [])).toEqual(Array.from(ciphertextFor('s13k42', 64)));
        expect(await store.deleteSubject(subject('subject-7'))).toBe(perSubject);
        expect(await store.countRecords(EU)).toBe((subjects / 2 - 1) * perSubject);
      });
    });

    describe('checkHealth', () => {
      it('resolves while the store is open', async () => {
        await expect(store.checkHealth()).resolves.toBeUndefined();
      });
    });

    describe('when the store is closed', () => {
      it('rejects every method with DOMICILE_ERR_STORE_UNAVAILABLE', async () => {
        const record = makeRecord();
        await store.putRecord(record, 0);
        await store.close();
        await expectStoreUnavailable(store.putRecord(nextVersion(record), 1));
        await expectStoreUnavailable(store.putRecordIfNewer(nextVersion(record)));
        await expectStoreUnavailable(store.getRecord(record.subjectId, record.key));
        await expectStoreUnavailable(store.listRecords(record.subjectId));
        await expectStoreUnavailable(store.deleteRecord(record.subjectId, record.key));
        await expectStoreUnavailable(store.deleteSubject(record.subjectId));
        await expectStoreUnavailable(store.countRecords());
        await expectStoreUnavailable(store.countRecords(US));
        await expectStoreUnavailable(store.checkHealth());
      });

      it('accepts a second close', async () => {
        await store.close();
        await expect(store.close()).resolves.toBeUndefined();
      });
    });
  });
}

/**
 * Registers the `SubjectDirectory` contract tests for one adapter. `open` must return a new,
 * empty directory each time; `cleanup` must tolerate a directory the test has already closed.
 */
export function describeSubjectDirectoryConformance(
  name: string,
  open: () => Promise<SubjectDirectoryFixture>,
): void {
  describe(`SubjectDirectory conformance: ${name}`, () => {
    let fixture: SubjectDirectoryFixture;
    let directory: SubjectDirectory;

    beforeEach(async () => {
      fixture = await open();
      directory = fixture.directory;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('lookup', () => {
      it('returns undefined for an unknown subject', async () => {
        expect(await directory.lookup(subject('nobody'))).toBeUndefined();
      });

      it('treats ids that differ only in case as different', async () => {
        await directory.register(subject('abc'), US);
        expect(await directory.lookup(subject('ABC'))).toBeUndefined();
        expect(await directory.register(subject('ABC'), EU)).toBe('created');
        expect(await directory.lookup(subject('abc'))).toBe(US);
        expect(await directory.lookup(subject('ABC'))).toBe(EU);
      });
    });

    describe('register', () => {
      it('creates a new subject in its jurisdiction', async () => {
        expect(await directory.register(subject('s1'), US)).toBe('created');
        expect(await directory.lookup(subject('s1'))).toBe(US);
      });

      it('returns exists for the same jurisdiction again', async () => {
        await directory.register(subject('s1'), US);
        expect(await directory.register(subject('s1'), US)).toBe('exists');
        expect(await directory.lookup(subject('s1'))).toBe(US);
      });

      it('returns conflict for another jurisdiction and keeps the first', async () => {
        await directory.register(subject('s1'), US);
        expect(await directory.register(subject('s1'), EU)).toBe('conflict');
        expect(await directory.lookup(subject('s1'))).toBe(US);
      });

      describe('when registrations race', () => {
        it('creates the subject once and reports the rest as exists or conflict', async () => {
          const jurisdictions = [US, EU, US, EU, US, EU];
          const outcomes = await Promise.all(jurisdictions.map((j) => directory.register(subject('s1'), j)));
          expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(1);
          const home = jurisdictions[outcomes.indexOf('created')];
          expect(await directory.lookup(subject('s1'))).toBe(home);
          outcomes.forEach((outcome, i) => {
            if (outcome !== 'created')
              expect(outcome).toBe(jurisdictions[i] === home ? 'exists' : 'conflict');
          });
        });
      });
    });

    describe('remove', () => {
      it('removes the subject and returns true, then false', async () => {
        await directory.register(subject('s1'), US);
        await directory.register(subject('s2'), US);
        expect(await directory.remove(subject('s1'))).toBe(true);
        expect(await directory.lookup(subject('s1'))).toBeUndefined();
        expect(await directory.lookup(subject('s2'))).toBe(US);
        expect(await directory.remove(subject('s1'))).toBe(false);
      });

      it('returns false for an unknown subject', async () => {
        expect(await directory.remove(subject('nobody'))).toBe(false);
      });

      it('lets the subject be registered again, in any jurisdiction', async () => {
        await directory.register(subject('s1'), US);
        await directory.remove(subject('s1'));
        expect(await directory.register(subject('s1'), EU)).toBe('created');
        expect(await directory.lookup(subject('s1'))).toBe(EU);
      });
    });

    describe('with many subjects', () => {
      it('keeps each one in its jurisdiction', async () => {
        const count = 2_000;
        const home = (i: number) => (i % 3 === 0 ? EU : US);
        for (let i = 0; i < count; i++) {
          expect(await directory.register(subject(`subject-${i}`), home(i))).toBe('created');
        }
        for (const i of [0, 1, 2, 999, 1_500, count - 1]) {
          expect(await directory.lookup(subject(`subject-${i}`))).toBe(home(i));
        }
        expect(await directory.lookup(subject(`subject-${count}`))).toBeUndefined();
      });
    });

    describe('when the directory is closed', () => {
      it('rejects every method with DOMICILE_ERR_STORE_UNAVAILABLE', async () => {
        await directory.register(subject('s1'), US);
        await directory.close();
        await expectStoreUnavailable(directory.lookup(subject('s1')));
        await expectStoreUnavailable(directory.register(subject('s2'), US));
        await expectStoreUnavailable(directory.remove(subject('s1')));
      });

      it('accepts a second close', async () => {
        await directory.close();
        await expect(directory.close()).resolves.toBeUndefined();
      });
    });
  });
}
