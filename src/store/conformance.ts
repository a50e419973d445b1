/**
 * The conformance suites every store adapter runs: the contract of `RegionStore`,
 * `SubjectDirectory` and `IndexedLogStorage` as Vitest blocks. An adapter's test file calls them with a function that
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
import { openCheckpoint } from '../tlog/checkpoint.js';
import { type LogState, type StoredTile, TransparencyLog } from '../tlog/log.js';
import { hashLeaf, rootFromLeafHashes, verifyInclusion } from '../tlog/merkle.js';
import { generateEd25519Key, newEd25519Signer, newEd25519Verifier } from '../tlog/note.js';
import type { IndexedLogStorage, RegionStore, StoredRecord, SubjectDirectory } from './region-store.js';

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

/** A freshly opened, empty log storage and how to open it again and dispose of it. */
export interface LogStorageFixture {
  readonly storage: IndexedLogStorage;
  /**
   * Opens the same log again through a new instance (a new connection or file handle), as a
   * restarted node would.
   */
  readonly reopen: () => Promise<IndexedLogStorage>;
  /** Closes everything `open` and `reopen` opened and drops the data. */
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
        expect(await store.listRecords(subject('nobody'), US)).toEqual([]);
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
        const summaries = await store.listRecords(subject('subject-1'), US);
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
        expect(await store.listRecords(first.subjectId, US)).toEqual([
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
        expect(await store.deleteRecord(a.subjectId, a.key, US)).toBe(true);
        expect(await store.getRecord(a.subjectId, a.key)).toBeUndefined();
        expect(plain(await store.getRecord(b.subjectId, b.key))).toEqual(plain(b));
        expect(plain(await store.getRecord(other.subjectId, other.key))).toEqual(plain(other));
      });

      it('returns false when the record does not exist', async () => {
        expect(await store.deleteRecord(subject('nobody'), key('profile'), US)).toBe(false);
        await store.putRecord(makeRecord(), 0);
        await store.deleteRecord(subject('subject-1'), key('profile'), US);
        expect(await store.deleteRecord(subject('subject-1'), key('profile'), US)).toBe(false);
      });

      it("leaves another jurisdiction's row of the same subject and key", async () => {
        const theirs = makeRecord({ jurisdiction: EU });
        await store.putRecord(theirs, 0);
        expect(await store.deleteRecord(theirs.subjectId, theirs.key, US)).toBe(false);
        expect(plain(await store.getRecord(theirs.subjectId, theirs.key))).toEqual(plain(theirs));
      });

      it('lets the key be created again from expectedVersion 0', async () => {
        await store.putRecord(makeRecord(), 0);
        await store.deleteRecord(subject('subject-1'), key('profile'), US);
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
        expect(await store.deleteSubject(subject('subject-1'), US)).toBe(3);
        expect(await store.listRecords(subject('subject-1'), US)).toEqual([]);
        expect(plain(await store.getRecord(other.subjectId, other.key))).toEqual(plain(other));
        expect(await store.deleteSubject(subject('subject-1'), US)).toBe(0);
      });

      it('returns 0 for an unknown subject', async () => {
        await store.putRecord(makeRecord(), 0);
        expect(await store.deleteSubject(subject('nobody'), US)).toBe(0);
        expect(await store.countRecords()).toBe(1);
      });

      it('lists and deletes only the rows of the given jurisdiction when an id is held under two', async () => {
        const ours = makeRecord({ key: key('profile') });
        const theirs = makeRecord({ key: key('other'), jurisdiction: EU });
        await store.putRecord(ours, 0);
        await store.putRecord(theirs, 0);
        expect((await store.listRecords(ours.subjectId, US)).map((r) => r.key)).toEqual(['profile']);
        expect((await store.listRecords(ours.subjectId, EU)).map((r) => r.key)).toEqual(['other']);
        expect(await store.deleteSubject(ours.subjectId, US)).toBe(1);
        expect(plain(await store.getRecord(theirs.subjectId, theirs.key))).toEqual(plain(theirs));
        expect(await store.listRecords(ours.subjectId, US)).toEqual([]);
      });
    });

    describe('scanRecords', () => {
      it('pages through every record in (subject, key) order, of one jurisdiction or all', async () => {
        const written: string[] = [];
        for (const s of ['s-b', 's-a', 's-c']) {
          for (const k of ['k2', 'k1', 'K3']) {
            const jurisdiction = s === 's-c' ? EU : US;
            await store.putRecord(makeRecord({ subjectId: subject(s), key: key(k), jurisdiction }), 0);
            written.push(`${s}/${k}`);
          }
        }
        const scanAll = async (jurisdiction?: JurisdictionId, limit = 2): Promise<string[]> => {
          const seen: string[] = [];
          let after: { subjectId: SubjectId; key: RecordKey } | undefined;
          for (;;) {
            const page = await store.scanRecords({
              limit,
              ...(jurisdiction ? { jurisdiction } : {}),
              ...(after ? { after } : {}),
            });
            expect(page.length).toBeLessThanOrEqual(limit);
            for (const r of page) seen.push(`${r.subjectId}/${r.key}`);
            const last = page[page.length - 1];
            if (!last || page.length < limit) return seen;
            after = { subjectId: last.subjectId, key: last.key };
          }
        };
        const all = await scanAll();
        expect(all).toEqual([...written].sort());
        expect(await scanAll(US, 4)).toEqual(written.filter((w) => !w.startsWith('s-c')).sort());
        expect(await scanAll(EU, 100)).toEqual(['s-c/K3', 's-c/k1', 's-c/k2']);
      });

      it('returns whole records, ciphertext included', async () => {
        const record = makeRecord({ version: 3 });
        await store.putRecordIfNewer(record);
        const [scanned] = await store.scanRecords({ limit: 10 });
        expect(scanned).toEqual({ ...record, ciphertext: new Uint8Array(record.ciphertext) });
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
        await store.deleteRecord(subject('eu-1'), key('a'), EU);
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
        const listed = await store.listRecords(subject('subject-7'), EU);
        expect(listed).toHaveLength(perSubject);
        expect(listed.map((summary) => summary.key)).toEqual(
          Array.from({ length: perSubject }, (_, k) => `key-${String(k).padStart(3, '0')}`),
        );
        const sample = await store.getRecord(subject('subject-13'), key('key-042'));
        expect(Array.from(sample?.ciphertext ?? [])).toEqual(Array.from(ciphertextFor('s13k42', 64)));
        expect(await store.deleteSubject(subject('subject-7'), EU)).toBe(perSubject);
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
        await expectStoreUnavailable(store.listRecords(record.subjectId, US));
        await expectStoreUnavailable(store.deleteRecord(record.subjectId, record.key, US));
        await expectStoreUnavailable(store.deleteSubject(record.subjectId, US));
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An entry `subject=<id>;<payload>` (indexed under `<id>`), or `<payload>` alone (not indexed). */
function logEntry(payload: string, subjectId?: string): Uint8Array {
  return encoder.encode(subjectId === undefined ? payload : `subject=${subjectId};${payload}`);
}

/** Appends entries with their lookup keys (the subject a test entry names), as the audit log does. */
function appendKeyed(storage: IndexedLogStorage, entries: readonly Uint8Array[]): Promise<number> {
  return storage.appendEntries(entries, entries.map(entryLookupKey));
}

function entryLookupKey(entry: Uint8Array): string | undefined {
  const text = decoder.decode(entry);
  const match = /^subject=([^;]*);/.exec(text);
  return match?.[1];
}

/** `count` hashes of 32 bytes, each byte `fill + i`: a recognisable tile of `count` hashes. */
function tileBytes(count: number, fill: number): Uint8Array {
  const bytes = new Uint8Array(count * 32);
  for (let i = 0; i < count; i++) bytes.fill((fill + i) % 256, i * 32, (i + 1) * 32);
  return bytes;
}

function tile(level: number, index: number, hashes: Uint8Array): StoredTile {
  return { level, index, hashes };
}

async function settle(promise: Promise<unknown>): Promise<{ ok: true } | { ok: false; error: unknown }> {
  return promise.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/**
 * Registers the `IndexedLogStorage` contract tests for one adapter, and a `TransparencyLog`
 * run over it. `open` must return a new, empty log each time.
 */
export function describeLogStorageConformance(name: string, open: () => Promise<LogStorageFixture>): void {
  describe(`IndexedLogStorage conformance: ${name}`, () => {
    let fixture: LogStorageFixture;
    let storage: IndexedLogStorage;

    beforeEach(async () => {
      fixture = await open();
      storage = fixture.storage;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('when the log is new', () => {
      it('is empty, with no checkpoint and no tiles', async () => {
        expect(await storage.sequencedSize()).toBe(0);
        expect(await storage.readState()).toEqual<LogState>({ integratedSize: 0, checkpoint: undefined });
        expect(await storage.readTile(0, 0)).toBeUndefined();
        expect(await storage.readEntries(0, 0)).toEqual([]);
        expect(await storage.lookup('anyone')).toEqual([]);
      });
    });

    describe('appendEntries', () => {
      it('returns consecutive first indices and keeps every entry readable at its index', async () => {
        const batches = [
          [logEntry('a0'), logEntry('a1'), logEntry('a2')],
          [logEntry('b0')],
          [logEntry('c0'), logEntry('c1')],
        ];
        const firsts: number[] = [];
        for (const batch of batches) firsts.push(await appendKeyed(storage, batch));
        expect(firsts).toEqual([0, 3, 4]);
        expect(await storage.sequencedSize()).toBe(6);
        const read = await storage.readEntries(0, 6);
        expect(read.map((e) => decoder.decode(e))).toEqual(['a0', 'a1', 'a2', 'b0', 'c0', 'c1']);
        expect((await storage.readEntries(3, 5)).map((e) => decoder.decode(e))).toEqual(['b0', 'c0']);
      });

      it('keeps bytes exactly: every byte value, an empty entry, the largest entry, a subarray view', async () => {
        const allBytes = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
        const largest = Uint8Array.from({ length: 65_535 }, (_, i) => (i * 13) % 256);
        const backing = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
        const view = backing.subarray(10, 20);
        const entries = [allBytes, new Uint8Array(0), largest, view];
        expect(await appendKeyed(storage, entries)).toBe(0);
        backing.fill(0);
        const read = await storage.readEntries(0, entries.length);
        expect(read.map((e) => e instanceof Uint8Array)).toEqual([true, true, true, true]);
        expect(read.map((e) => Buffer.from(e).toString('hex'))).toEqual([
          Buffer.from(allBytes).toString('hex'),
          '',
          Buffer.from(largest).toString('hex'),
          Buffer.from(Uint8Array.from({ length: 10 }, (_, i) => 245 - i)).toString('hex'),
        ]);
      });

      describe('when appends race', () => {
        it('gives each batch its own consecutive indices, with no gap and no overlap', async () => {
          const batches = Array.from({ length: 12 }, (_, b) =>
            Array.from({ length: (b % 3) + 1 }, (_, i) => logEntry(`${b}.${i}`)),
          );
          const firsts = await Promise.all(batches.map((batch) => appendKeyed(storage, batch)));
          const total = batches.reduce((n, batch) => n + batch.length, 0);
          expect(await storage.sequencedSize()).toBe(total);
          const read = (await storage.readEntries(0, total)).map((e) => decoder.decode(e));
          const expected = new Array<string>(total);
          batches.forEach((batch, b) => {
            batch.forEach((entry, i) => {
              expected[(firsts[b] ?? -1) + i] = decoder.decode(entry);
            });
          });
          expect(read).toEqual(expected);
        });
      });

      it('refuses to read entries that are not all sequenced', async () => {
        await appendKeyed(storage, [logEntry('only')]);
        expect((await settle(storage.readEntries(0, 2))).ok).toBe(false);
        expect((await settle(storage.readEntries(1, 2))).ok).toBe(false);
      });
    });

    describe('lookup', () => {
      it("finds every entry of a key, ascending across batches, and nothing of others' keys", async () => {
        await appendKeyed(storage, [logEntry('x', 's1'), logEntry('unindexed'), logEntry('y', 's2')]);
        await appendKeyed(storage, [logEntry('z', 's1')]);
        await appendKeyed(storage, [logEntry('w', 'S1'), logEntry('v', 's1')]);
        expect(await storage.lookup('s1')).toEqual([0, 3, 5]);
        expect(await storage.lookup('s2')).toEqual([2]);
        expect(await storage.lookup('S1')).toEqual([4]);
        expect(await storage.lookup('s3')).toEqual([]);
        expect(await storage.lookup('unindexed')).toEqual([]);
      });

      it('finds entries indexed by racing appends', async () => {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            appendKeyed(storage, [logEntry(`${i}`, i % 2 ? 'odd' : 'even')]),
          ),
        );
        const odd = await storage.lookup('odd');
        const even = await storage.lookup('even');
        expect(odd).toHaveLength(5);
        expect(even).toHaveLength(5);
        expect([...odd, ...even].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        for (const index of odd) {
          const [entry] = await storage.readEntries(index, index + 1);
          expect(entryLookupKey(entry ?? new Uint8Array())).toBe('odd');
        }
        expect([...odd].sort((a, b) => a - b)).toEqual(odd);
      });

      it('finds the same entries before, across and after integrations', async () => {
        await appendKeyed(storage, [logEntry('a', 's1'), logEntry('b', 's2'), logEntry('c', 's1')]);
        expect(await storage.lookup('s1')).toEqual([0, 2]);
        await storage.commitIntegration({
          fromSize: 0,
          toSize: 2,
          tiles: [tile(0, 0, tileBytes(2, 1))],
          checkpoint: 'checkpoint 2\n',
        });
        await appendKeyed(storage, [logEntry('d', 's1'), logEntry('e')]);
        expect(await storage.lookup('s1')).toEqual([0, 2, 3]);
        expect(await storage.lookup('s2')).toEqual([1]);
        await storage.commitIntegration({
          fromSize: 2,
          toSize: 5,
          tiles: [tile(0, 0, tileBytes(5, 1))],
          checkpoint: 'checkpoint 5\n',
        });
        expect(await storage.lookup('s1')).toEqual([0, 2, 3]);
        expect(await storage.lookup('s2')).toEqual([1]);
        expect(await storage.lookup('e')).toEqual([]);
      });

      it('finds nothing new through a stale integration', async () => {
        await appendKeyed(storage, [logEntry('a', 's1'), logEntry('b', 's1')]);
        const stale = { fromSize: 1, toSize: 2, tiles: [], checkpoint: 'stale\n' };
        expect((await settle(storage.commitIntegration(stale))).ok).toBe(false);
        expect(await storage.lookup('s1')).toEqual([0, 1]);
      });
    });

    describe('commitIntegration', () => {
      it('writes tiles, size and checkpoint together, and replaces a tile by its grown version', async () => {
        await appendKeyed(
          storage,
          Array.from({ length: 5 }, (_, i) => logEntry(`${i}`)),
        );
        await storage.commitIntegration({
          fromSize: 0,
          toSize: 2,
          tiles: [tile(0, 0, tileBytes(2, 1))],
          checkpoint: 'checkpoint 2\n',
        });
        expect(await storage.readState()).toEqual<LogState>({
          integratedSize: 2,
          checkpoint: 'checkpoint 2\n',
        });
        expect(Array.from((await storage.readTile(0, 0)) ?? [])).toEqual(Array.from(tileBytes(2, 1)));

        await storage.commitIntegration({
          fromSize: 2,
          toSize: 5,
          tiles: [tile(0, 0, tileBytes(5, 1)), tile(1, 0, tileBytes(1, 99))],
          checkpoint: 'checkpoint 5\n',
        });
        expect(await storage.readState()).toEqual<LogState>({
          integratedSize: 5,
          checkpoint: 'checkpoint 5\n',
        });
        expect(Array.from((await storage.readTile(0, 0)) ?? [])).toEqual(Array.from(tileBytes(5, 1)));
        expect(Array.from((await storage.readTile(1, 0)) ?? [])).toEqual(Array.from(tileBytes(1, 99)));
        expect(await storage.readTile(0, 1)).toBeUndefined();
        expect(await storage.readTile(2, 0)).toBeUndefined();
      });

      describe('when fromSize is stale', () => {
        it('rejects and changes nothing: no tile, no size, no checkpoint', async () => {
          await appendKeyed(
            storage,
            Array.from({ length: 6 }, (_, i) => logEntry(`${i}`)),
          );
          await storage.commitIntegration({
            fromSize: 0,
            toSize: 3,
            tiles: [tile(0, 0, tileBytes(3, 10))],
            checkpoint: 'checkpoint 3\n',
          });
          for (const fromSize of [0, 2, 4]) {
            const outcome = await settle(
              storage.commitIntegration({
                fromSize,
                toSize: 6,
                tiles: [
                  tile(0, 0, tileBytes(6, 50)),
                  tile(0, 1, tileBytes(1, 60)),
                  tile(1, 0, tileBytes(1, 70)),
                ],
                checkpoint: 'stale checkpoint\n',
              }),
            );
            expect(outcome.ok).toBe(false);
          }
          expect(await storage.readState()).toEqual<LogState>({
            integratedSize: 3,
            checkpoint: 'checkpoint 3\n',
          });
          expect(Array.from((await storage.readTile(0, 0)) ?? [])).toEqual(Array.from(tileBytes(3, 10)));
          expect(await storage.readTile(0, 1)).toBeUndefined();
          expect(await storage.readTile(1, 0)).toBeUndefined();
        });
      });

      describe('when two integrations race from the same size', () => {
        it('commits exactly one of them, whole', async () => {
          await appendKeyed(
            storage,
            Array.from({ length: 4 }, (_, i) => logEntry(`${i}`)),
          );
          const commits = [1, 2].map((n) => ({
            fromSize: 0,
            toSize: 4,
            tiles: [tile(0, 0, tileBytes(4, n * 40))],
            checkpoint: `checkpoint ${n}\n`,
          }));
          const outcomes = await Promise.all(commits.map((c) => settle(storage.commitIntegration(c))));
          expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
          const winner = commits[outcomes.findIndex((o) => o.ok)];
          expect(await storage.readState()).toEqual<LogState>({
            integratedSize: 4,
            checkpoint: winner?.checkpoint,
          });
          expect(Array.from((await storage.readTile(0, 0)) ?? [])).toEqual(
            Array.from(winner?.tiles[0]?.hashes ?? []),
          );
        });
      });
    });

    describe('writeCheckpoint', () => {
      it('replaces the checkpoint of the current size, and is a no-op once the size moved', async () => {
        await appendKeyed(
          storage,
          Array.from({ length: 4 }, (_, i) => logEntry(`${i}`)),
        );
        await storage.commitIntegration({
          fromSize: 0,
          toSize: 2,
          tiles: [tile(0, 0, tileBytes(2, 0))],
          checkpoint: 'checkpoint 2\n',
        });
        await storage.writeCheckpoint(2, 'checkpoint 2\n— witness cosig\n');
        expect(await storage.readState()).toEqual<LogState>({
          integratedSize: 2,
          checkpoint: 'checkpoint 2\n— witness cosig\n',
        });

        await storage.commitIntegration({
          fromSize: 2,
          toSize: 4,
          tiles: [tile(0, 0, tileBytes(4, 0))],
          checkpoint: 'checkpoint 4\n',
        });
        await storage.writeCheckpoint(2, 'late cosignature of size 2\n');
        await storage.writeCheckpoint(5, 'size 5 was never integrated\n');
        expect(await storage.readState()).toEqual<LogState>({
          integratedSize: 4,
          checkpoint: 'checkpoint 4\n',
        });
      });
    });

    describe('under a TransparencyLog', () => {
      const origin = 'conformance.example.com/log';
      const key = generateEd25519Key(origin);
      const verifier = newEd25519Verifier(key.verifierKey);

      const openLog = (over: IndexedLogStorage) =>
        TransparencyLog.open({
          storage: over,
          origin,
          signer: newEd25519Signer(key.privateKey),
          integrateIntervalMs: 60_000,
        });

      /** Opens the checkpoint with the log's key and checks its root against every entry. */
      async function expectTreeOf(log: TransparencyLog, entries: readonly Uint8Array[]): Promise<void> {
        const { checkpoint } = openCheckpoint(await log.checkpoint(), [verifier], { origin });
        expect(checkpoint.size).toBe(BigInt(entries.length));
        // independent oracle: the root recomputed from the entries, not from the stored tiles
        expect(Buffer.from(checkpoint.root).toString('hex')).toBe(
          Buffer.from(rootFromLeafHashes(entries.map(hashLeaf))).toString('hex'),
        );
        for (const index of [0, Math.floor(entries.length / 2), entries.length - 1]) {
          const leaf = entries[index];
          if (leaf === undefined) continue;
          const proof = await log.inclusionProof(index, entries.length);
          expect(() =>
            verifyInclusion(index, entries.length, hashLeaf(leaf), proof, checkpoint.root),
          ).not.toThrow();
        }
      }

      it('appends, integrates past a full tile, and serves a checkpoint and proofs that verify', async () => {
        const log = await openLog(storage);
        const entries = Array.from({ length: 300 }, (_, i) => logEntry(`event ${i}`, `s${i % 7}`));
        const indices = await Promise.all(entries.map((entry) => log.append(entry, entryLookupKey(entry))));
        const inOrder = new Array<Uint8Array>(entries.length);
        indices.forEach(({ index }, i) => {
          inOrder[index] = entries[i] ?? new Uint8Array();
        });
        expect(indices.map(({ index }) => index).sort((a, b) => a - b)).toEqual(entries.map((_, i) => i));
        const result = await log.integrate();
        expect(result.size).toBe(300);
        await expectTreeOf(log, inOrder);
        expect(await storage.lookup('s3')).toEqual(
          inOrder.flatMap((entry, i) => (entryLookupKey(entry) === 's3' ? [i] : [])),
        );
        await log.close();
      });

      it('reopens over a new instance with the same tree, and grows it', async () => {
        const first = await openLog(storage);
        const entries = Array.from({ length: 20 }, (_, i) => logEntry(`event ${i}`));
        for (const entry of entries) await first.append(entry, entryLookupKey(entry));
        await first.integrate();
        const checkpoint = await first.checkpoint();
        await first.close();

        const reopened = await openLog(await fixture.reopen());
        expect(await reopened.checkpoint()).toBe(checkpoint);
        const more = Array.from({ length: 5 }, (_, i) => logEntry(`later ${i}`));
        for (const entry of more) await reopened.append(entry, entryLookupKey(entry));
        await reopened.integrate();
        await expectTreeOf(reopened, [...entries, ...more]);
        await reopened.close();
      });

      it('integrates on open what was sequenced but not integrated (crash recovery)', async () => {
        const log = await openLog(storage);
        const integrated = Array.from({ length: 10 }, (_, i) => logEntry(`event ${i}`, 'crash'));
        for (const entry of integrated) await log.append(entry, entryLookupKey(entry));
        await log.integrate();
        await log.close();
        // the node sequenced these, then died before integrating them
        const orphans = Array.from({ length: 7 }, (_, i) => logEntry(`orphan ${i}`, 'crash'));
        expect(await appendKeyed(storage, orphans)).toBe(10);
        expect((await storage.readState()).integratedSize).toBe(10);

        const recovered = await openLog(await fixture.reopen());
        expect(await recovered.size()).toBe(17);
        await expectTreeOf(recovered, [...integrated, ...orphans]);
        expect(await storage.lookup('crash')).toEqual(Array.from({ length: 17 }, (_, i) => i));
        await recovered.close();
      });
    });
  });
}
