/**
 * The conformance suite every `ControlStore` adapter runs: the contract of the control store as
 * Vitest blocks. An adapter's test file calls it with a function that opens a fresh, empty
 * store; each test gets its own.
 *
 * @example
 * describeControlStoreConformance('sqlite', async () => {
 *   const file = path.join(tempDir(), 'control.db');
 *   const opened: ControlStore[] = [];
 *   const openOne = async () => { const s = openSqliteControlStore({ file }); opened.push(s); return s; };
 *   return {
 *     store: await openOne(),
 *     openAnother: openOne,
 *     cleanup: async () => { for (const s of opened) await s.close(); },
 *   };
 * });
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DomicileError } from '../domain/errors.js';
import type { JurisdictionId } from '../domain/ids.js';
import type { ControlStore, PolicyApproval, StoredAccessRequest, StoredPolicySet } from './control-store.js';

/** A freshly opened, empty control store, how to open it again, and how to dispose of it. */
export interface ControlStoreFixture {
  readonly store: ControlStore;
  /**
   * Opens another instance over the same data, with its own connection or pool, as a second
   * process sharing the store would. May be called after `store` was closed.
   */
  readonly openAnother: () => Promise<ControlStore>;
  /** Closes everything `open` and `openAnother` opened (tolerating closed ones) and drops the data. */
  readonly cleanup: () => Promise<void>;
}

const US = 'US' as JurisdictionId;
const EU = 'EU' as JurisdictionId;

// Times past 2^32 ms, as real epoch milliseconds are: a store that narrows them loses data.
const T0 = 1_700_000_000_000;

/** A pending request of `alice`, with `patch` applied. Shared with the adapters' own tests. */
export function accessRequest(id: string, patch: Partial<StoredAccessRequest> = {}): StoredAccessRequest {
  return {
    id,
    version: 1,
    requester: 'alice',
    requesterDepartment: null,
    requesterCountry: null,
    jurisdiction: US,
    classId: 'protected',
    subjects: ['subject-1'],
    actions: ['read'],
    purpose: 'support ticket',
    durationSeconds: 3_600,
    breakGlass: false,
    status: 'pending',
    createdAt: T0,
    pendingExpiresAt: T0 + 86_400_000,
    decidedAt: null,
    decidedBy: null,
    grantExpiresAt: null,
    revokedAt: null,
    revokedBy: null,
    reviewDueAt: null,
    reviewedAt: null,
    reviewedBy: null,
    reviewOutcome: null,
    reviewOverdueAlerted: false,
    ...patch,
  };
}

/** A request with every optional field set, and values that need escaping in any encoding. */
function fullAccessRequest(id: string): StoredAccessRequest {
  return accessRequest(id, {
    version: 7,
    requester: 'Bob Ünal',
    requesterDepartment: 'fraud, "tier 2"',
    requesterCountry: 'DE',
    jurisdiction: EU,
    classId: 'interoperable',
    subjects: ['subject-2', 'subject,with"odd\\chars', '{braces}', 'NULL'],
    actions: ['read', 'write', 'list', 'delete'],
    purpose: "chargeback 'INC-42'\nsecond line, with ünïcödé and 😀",
    durationSeconds: 604_800,
    breakGlass: true,
    status: 'revoked',
    createdAt: T0 + 1,
    pendingExpiresAt: T0 + 2,
    decidedAt: T0 + 3,
    decidedBy: 'carol',
    grantExpiresAt: 8_640_000_000_000,
    revokedAt: T0 + 5,
    revokedBy: 'dave',
    reviewDueAt: T0 + 6,
    reviewedAt: T0 + 7,
    reviewedBy: 'erin',
    reviewOutcome: 'rejected',
    reviewOverdueAlerted: true,
  });
}

/** The next version of `request` with `patch` applied. */
function nextVersion(request: StoredAccessRequest, patch: Partial<StoredAccessRequest>): StoredAccessRequest {
  return { ...request, ...patch, version: request.version + 1 };
}

/** A proposed policy set, with `patch` applied. */
function policySet(hash: string, patch: Partial<StoredPolicySet> = {}): StoredPolicySet {
  return {
    hash,
    schemaText: 'entity User;',
    policies: [
      { file: 'b-stewards.cedar', text: 'permit (principal, action, resource);' },
      { file: 'a-auditor.cedar', text: 'forbid (principal, action, resource)\nwhen { "\\"quoted\\"" };' },
    ],
    status: 'proposed',
    proposedBy: 'bob',
    proposedAt: T0,
    activatedAt: null,
    affected: [US, EU],
    ...patch,
  };
}

function approval(hash: string, principalId: string, patch: Partial<PolicyApproval> = {}): PolicyApproval {
  return { hash, principalId, capacity: 'auditor', approvedAt: T0, ...patch };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

function expectCode(error: unknown, code: string): void {
  expect(error).toBeInstanceOf(DomicileError);
  expect(error).toHaveProperty('code', code);
}

/**
 * Registers the `ControlStore` contract tests for one adapter. `open` must return a new, empty
 * store each time; `cleanup` must tolerate stores the test has already closed.
 */
export function describeControlStoreConformance(
  name: string,
  open: () => Promise<ControlStoreFixture>,
): void {
  describe(`ControlStore conformance: ${name}`, () => {
    let fixture: ControlStoreFixture;
    let store: ControlStore;

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('insertAccessRequest', () => {
      it('keeps every field of the request as given', async () => {
        const full = fullAccessRequest('ar-full');
        const sparse = accessRequest('ar-sparse', { subjects: 'all' });
        await store.insertAccessRequest(full);
        await store.insertAccessRequest(sparse);
        expect(await store.getAccessRequest('ar-full')).toEqual(full);
        expect(await store.getAccessRequest('ar-sparse')).toEqual(sparse);
      });

      describe('when the id is already stored', () => {
        it('rejects with DOMICILE_ERR_STORE_UNAVAILABLE and keeps the first request', async () => {
          const first = accessRequest('ar-1');
          await store.insertAccessRequest(first);
          const error = await rejection(
            store.insertAccessRequest(accessRequest('ar-1', { requester: 'mallory', status: 'approved' })),
          );
          expectCode(error, 'DOMICILE_ERR_STORE_UNAVAILABLE');
          expect((error as Error).message).not.toContain('mallory');
          expect(await store.listAccessRequests()).toEqual([first]);
        });
      });
    });

    describe('getAccessRequest', () => {
      it('returns undefined for an unknown id', async () => {
        await store.insertAccessRequest(accessRequest('ar-1'));
        expect(await store.getAccessRequest('ar-2')).toBeUndefined();
        expect(await store.getAccessRequest('AR-1')).toBeUndefined();
      });
    });

    describe('listAccessRequests', () => {
      it('returns nothing for an empty store', async () => {
        expect(await store.listAccessRequests()).toEqual([]);
      });

      it('lists newest first, requests created at the same time in byte order of their ids', async () => {
        await store.insertAccessRequest(accessRequest('ar-old', { createdAt: T0 - 1 }));
        await store.insertAccessRequest(accessRequest('ar-b', { createdAt: T0 }));
        await store.insertAccessRequest(accessRequest('ar-new', { createdAt: T0 + 2 ** 33 }));
        await store.insertAccessRequest(accessRequest('ar-B', { createdAt: T0 }));
        await store.insertAccessRequest(accessRequest('ar-a', { createdAt: T0 }));
        expect((await store.listAccessRequests()).map((r) => r.id)).toEqual([
          'ar-new',
          'ar-B',
          'ar-a',
          'ar-b',
          'ar-old',
        ]);
      });
    });

    describe('activeGrants', () => {
      it('returns only approved grants of the grantee that have not ended, in byte order of their ids', async () => {
        const now = T0 + 10_000;
        const grant = (id: string, patch: Partial<StoredAccessRequest>) =>
          accessRequest(id, { status: 'approved', grantExpiresAt: now + 1, ...patch });
        const active = [
          grant('ar-b', {}),
          grant('ar-B', { grantExpiresAt: now + 2 ** 33 }),
          grant('ar-a', {}),
        ];
        for (const r of active) await store.insertAccessRequest(r);
        await store.insertAccessRequest(grant('ar-ended', { grantExpiresAt: now - 1 }));
        await store.insertAccessRequest(grant('ar-ends-now', { grantExpiresAt: now }));
        await store.insertAccessRequest(grant('ar-revoked', { status: 'revoked', revokedAt: now - 5 }));
        await store.insertAccessRequest(grant('ar-expired', { status: 'expired' }));
        await store.insertAccessRequest(grant('ar-pending', { status: 'pending', grantExpiresAt: null }));
        await store.insertAccessRequest(grant('ar-eve', { requester: 'eve' }));
        await store.insertAccessRequest(grant('ar-case', { requester: 'Alice' }));

        expect(await store.activeGrants('alice', now)).toEqual([active[1], active[2], active[0]]);
        expect((await store.activeGrants('eve', now)).map((r) => r.id)).toEqual(['ar-eve']);
        expect(await store.activeGrants('nobody', now)).toEqual([]);
      });

      it('follows updates: a revoked grant is no longer active, an approved request is', async () => {
        const now = T0 + 10_000;
        const granted = accessRequest('ar-1', { status: 'approved', grantExpiresAt: now + 60_000 });
        const pending = accessRequest('ar-2');
        await store.insertAccessRequest(granted);
        await store.insertAccessRequest(pending);
        expect((await store.activeGrants('alice', now)).map((r) => r.id)).toEqual(['ar-1']);

        await store.updateAccessRequest(nextVersion(granted, { status: 'revoked', revokedAt: now }));
        await store.updateAccessRequest(
          nextVersion(pending, { status: 'approved', decidedAt: now, grantExpiresAt: now + 1_000 }),
        );
        expect((await store.activeGrants('alice', now)).map((r) => r.id)).toEqual(['ar-2']);
      });
    });

    describe('updateAccessRequest', () => {
      describe('when the stored version is the one before', () => {
        it('replaces every field of the request', async () => {
          const first = accessRequest('ar-1');
          await store.insertAccessRequest(first);
          const next = { ...fullAccessRequest('ar-1'), version: 2 };
          expect(await store.updateAccessRequest(next)).toBe('written');
          expect(await store.getAccessRequest('ar-1')).toEqual(next);

          const back = { ...first, version: 3, subjects: 'all' as const };
          expect(await store.updateAccessRequest(back)).toBe('written');
          expect(await store.getAccessRequest('ar-1')).toEqual(back);
        });
      });

      describe('when the stored version differs', () => {
        it.each([
          ['the same version again', 0],
          ['a version skipped', 2],
          ['an older version', -1],
        ])('returns conflict for %s and changes nothing', async (_label, offset) => {
          const first = accessRequest('ar-1');
          await store.insertAccessRequest(first);
          const approved = nextVersion(first, { status: 'approved', grantExpiresAt: T0 + 5_000 });
          expect(await store.updateAccessRequest(approved)).toBe('written');

          const attempt = { ...approved, status: 'denied' as const, version: approved.version + offset };
          expect(await store.updateAccessRequest(attempt)).toBe('conflict');
          expect(await store.getAccessRequest('ar-1')).toEqual(approved);
        });
      });

      describe('when the id is unknown', () => {
        it('returns conflict and stores nothing', async () => {
          expect(await store.updateAccessRequest(accessRequest('ar-1', { version: 2 }))).toBe('conflict');
          expect(await store.updateAccessRequest(accessRequest('ar-1', { version: 1 }))).toBe('conflict');
          expect(await store.listAccessRequests()).toEqual([]);
        });
      });

      describe('when writers race from the same version', () => {
        it('lets exactly one of them write', async () => {
          const first = accessRequest('ar-1');
          await store.insertAccessRequest(first);
          const attempts = Array.from({ length: 8 }, (_, i) =>
            nextVersion(first, { status: 'approved', decidedBy: `approver-${i}` }),
          );
          const outcomes = await Promise.all(attempts.map((r) => store.updateAccessRequest(r)));
          expect(outcomes.filter((o) => o === 'written')).toHaveLength(1);
          expect(await store.getAccessRequest('ar-1')).toEqual(attempts[outcomes.indexOf('written')]);
        });
      });
    });

    describe('insertPolicySet', () => {
      it('keeps every field of the set, policy files in their order', async () => {
        const set = policySet('h1');
        expect(await store.insertPolicySet(set)).toBe('written');
        expect(await store.getPolicySet('h1')).toEqual(set);
      });

      describe('when the hash is known', () => {
        it('returns conflict and keeps the first set', async () => {
          const first = policySet('h1');
          await store.insertPolicySet(first);
          const again = policySet('h1', { proposedBy: 'mallory', proposedAt: T0 + 1, affected: [EU] });
          expect(await store.insertPolicySet(again)).toBe('conflict');
          expect(await store.listPolicySets()).toEqual([first]);
        });
      });
    });

    describe('getPolicySet', () => {
      it('returns undefined for an unknown hash', async () => {
        await store.insertPolicySet(policySet('h1'));
        expect(await store.getPolicySet('h2')).toBeUndefined();
        expect(await store.getPolicySet('H1')).toBeUndefined();
      });
    });

    describe('listPolicySets', () => {
      it('returns nothing for an empty store', async () => {
        expect(await store.listPolicySets()).toEqual([]);
      });

      it('lists newest first, sets proposed at the same time in byte order of their hashes', async () => {
        await store.insertPolicySet(policySet('h-old', { proposedAt: T0 - 1 }));
        await store.insertPolicySet(policySet('h-b'));
        await store.insertPolicySet(policySet('h-new', { proposedAt: T0 + 2 ** 33 }));
        await store.insertPolicySet(policySet('h-B'));
        await store.insertPolicySet(policySet('h-a'));
        expect((await store.listPolicySets()).map((s) => s.hash)).toEqual([
          'h-new',
          'h-B',
          'h-a',
          'h-b',
          'h-old',
        ]);
      });
    });

    describe('activatePolicySet', () => {
      it('has no active set before the first activation', async () => {
        await store.insertPolicySet(policySet('h1'));
        expect(await store.activePolicySet()).toBeUndefined();
      });

      it('makes the set the only active one and supersedes the previous one', async () => {
        const [h1, h2, h3] = [policySet('h1'), policySet('h2', { proposedAt: T0 + 1 }), policySet('h3')];
        for (const set of [h1, h2, h3]) await store.insertPolicySet(set);

        await store.activatePolicySet('h1', T0 + 10);
        expect(await store.activePolicySet()).toEqual({ ...h1, status: 'active', activatedAt: T0 + 10 });

        await store.activatePolicySet('h2', T0 + 20);
        const active = { ...h2, status: 'active', activatedAt: T0 + 20 };
        expect(await store.activePolicySet()).toEqual(active);
        expect(await store.getPolicySet('h1')).toEqual({ ...h1, status: 'superseded', activatedAt: T0 + 10 });
        expect(await store.getPolicySet('h3')).toEqual(h3);
        expect((await store.listPolicySets()).map((s) => [s.hash, s.status])).toEqual([
          ['h2', 'active'],
          ['h1', 'superseded'],
          ['h3', 'proposed'],
        ]);
      });

      it('activates a superseded set again, with the new time', async () => {
        for (const hash of ['h1', 'h2']) await store.insertPolicySet(policySet(hash));
        await store.activatePolicySet('h1', T0 + 10);
        await store.activatePolicySet('h2', T0 + 20);
        await store.activatePolicySet('h1', T0 + 30);
        expect(await store.activePolicySet()).toMatchObject({ hash: 'h1', activatedAt: T0 + 30 });
        expect(await store.getPolicySet('h2')).toMatchObject({ status: 'superseded', activatedAt: T0 + 20 });
      });

      describe('when no set has the hash', () => {
        it('rejects with DOMICILE_ERR_NOT_FOUND and changes nothing', async () => {
          for (const hash of ['h1', 'h2']) await store.insertPolicySet(policySet(hash));
          await store.activatePolicySet('h1', T0 + 10);
          const before = await store.listPolicySets();

          expectCode(await rejection(store.activatePolicySet('h3', T0 + 20)), 'DOMICILE_ERR_NOT_FOUND');
          expect(await store.listPolicySets()).toEqual(before);
          expect((await store.activePolicySet())?.hash).toBe('h1');
        });
      });

      describe('when activations race', () => {
        it('completes each of them and leaves exactly one active set', async () => {
          const hashes = Array.from({ length: 6 }, (_, i) => `h${i}`);
          for (const hash of hashes) await store.insertPolicySet(policySet(hash));
          await store.activatePolicySet('h0', T0);

          await Promise.all(hashes.map((hash, i) => store.activatePolicySet(hash, T0 + i + 1)));
          const sets = await store.listPolicySets();
          expect(sets.filter((s) => s.status === 'active')).toHaveLength(1);
          expect(sets.filter((s) => s.status === 'superseded')).toHaveLength(hashes.length - 1);
          const active = await store.activePolicySet();
          expect(sets.find((s) => s.status === 'active')).toEqual(active);
        });
      });
    });

    describe('insertPolicyApproval', () => {
      it('keeps approvals in either capacity, oldest first, then in byte order of principal ids', async () => {
        await store.insertPolicySet(policySet('h1'));
        await store.insertPolicySet(policySet('h2'));
        const approvals = [
          approval('h1', 'zed', { approvedAt: T0 - 1 }),
          approval('h1', 'Steward', { capacity: { stewardOf: [US, EU] } }),
          approval('h1', 'auditor'),
          approval('h1', 'steward', { capacity: { stewardOf: [EU] }, approvedAt: T0 + 2 ** 33 }),
        ];
        for (const a of approvals) expect(await store.insertPolicyApproval(a)).toBe('written');
        await store.insertPolicyApproval(approval('h2', 'zed'));

        expect(await store.policyApprovals('h1')).toEqual([
          approvals[0],
          approvals[1],
          approvals[2],
          approvals[3],
        ]);
        expect(await store.policyApprovals('h2')).toEqual([approval('h2', 'zed')]);
        expect(await store.policyApprovals('h3')).toEqual([]);
      });

      describe('when the principal already approved the set', () => {
        it('returns conflict and keeps the first approval', async () => {
          await store.insertPolicySet(policySet('h1'));
          const first = approval('h1', 'carol', { capacity: { stewardOf: [US] } });
          expect(await store.insertPolicyApproval(first)).toBe('written');
          expect(await store.insertPolicyApproval(approval('h1', 'carol', { approvedAt: T0 + 1 }))).toBe(
            'conflict',
          );
          expect(await store.policyApprovals('h1')).toEqual([first]);
        });
      });

      describe('when no set has the hash', () => {
        it('rejects with DOMICILE_ERR_STORE_UNAVAILABLE and records nothing', async () => {
          const error = await rejection(store.insertPolicyApproval(approval('h-unknown', 'carol')));
          expectCode(error, 'DOMICILE_ERR_STORE_UNAVAILABLE');
          expect(await store.policyApprovals('h-unknown')).toEqual([]);
        });
      });
    });

    describe('close', () => {
      it('makes every operation reject with DOMICILE_ERR_STORE_UNAVAILABLE; a second close is a no-op', async () => {
        await store.insertPolicySet(policySet('h1'));
        await store.close();
        await store.close();
        const request = accessRequest('ar-1');
        const operations: [string, () => Promise<unknown>][] = [
          ['insertAccessRequest', () => store.insertAccessRequest(request)],
          ['getAccessRequest', () => store.getAccessRequest('ar-1')],
          ['listAccessRequests', () => store.listAccessRequests()],
          ['activeGrants', () => store.activeGrants('alice', T0)],
          ['updateAccessRequest', () => store.updateAccessRequest(nextVersion(request, {}))],
          ['insertPolicySet', () => store.insertPolicySet(policySet('h2'))],
          ['getPolicySet', () => store.getPolicySet('h1')],
          ['listPolicySets', () => store.listPolicySets()],
          ['activePolicySet', () => store.activePolicySet()],
          ['activatePolicySet', () => store.activatePolicySet('h1', T0)],
          ['insertPolicyApproval', () => store.insertPolicyApproval(approval('h1', 'carol'))],
          ['policyApprovals', () => store.policyApprovals('h1')],
        ];
        for (const [operation, run] of operations) {
          const error = await rejection(run());
          expect({ operation, code: (error as { code?: unknown }).code }).toEqual({
            operation,
            code: 'DOMICILE_ERR_STORE_UNAVAILABLE',
          });
        }
      });

      it('keeps everything for the next instance opened over the same data', async () => {
        const request = fullAccessRequest('ar-1');
        await store.insertAccessRequest(request);
        await store.insertPolicySet(policySet('h1'));
        await store.activatePolicySet('h1', T0 + 10);
        await store.insertPolicyApproval(approval('h1', 'carol'));
        await store.close();

        const reopened = await fixture.openAnother();
        expect(await reopened.listAccessRequests()).toEqual([request]);
        expect(await reopened.activePolicySet()).toEqual({
          ...policySet('h1'),
          status: 'active',
          activatedAt: T0 + 10,
        });
        expect(await reopened.policyApprovals('h1')).toEqual([approval('h1', 'carol')]);
      });
    });

    describe('when another process shares the store', () => {
      let other: ControlStore;
      beforeEach(async () => {
        other = await fixture.openAnother();
      });

      it("sees each of the other's writes at once", async () => {
        const first = accessRequest('ar-1');
        // read first, so that an instance that caches has something to serve stale
        expect(await other.getAccessRequest('ar-1')).toBeUndefined();
        expect(await other.activePolicySet()).toBeUndefined();
        await store.insertAccessRequest(first);
        expect(await other.getAccessRequest('ar-1')).toEqual(first);

        const approved = nextVersion(first, { status: 'approved', grantExpiresAt: T0 + 60_000 });
        expect(await other.updateAccessRequest(approved)).toBe('written');
        expect(await store.getAccessRequest('ar-1')).toEqual(approved);
        expect(await store.activeGrants('alice', T0)).toEqual([approved]);
        const revoked = nextVersion(approved, { status: 'revoked', revokedAt: T0 + 1 });
        expect(await store.updateAccessRequest(revoked)).toBe('written');
        expect(await other.activeGrants('alice', T0)).toEqual([]);

        await store.insertPolicySet(policySet('h1'));
        await other.insertPolicySet(policySet('h2'));
        await store.activatePolicySet('h1', T0 + 10);
        expect((await other.activePolicySet())?.hash).toBe('h1');
        await other.activatePolicySet('h2', T0 + 20);
        expect((await store.activePolicySet())?.hash).toBe('h2');
        expect((await store.getPolicySet('h1'))?.status).toBe('superseded');

        await other.insertPolicyApproval(approval('h2', 'carol'));
        expect(await store.policyApprovals('h2')).toEqual([approval('h2', 'carol')]);
      });

      it('lets exactly one of two instances update a request from the same version', async () => {
        const first = accessRequest('ar-1');
        await store.insertAccessRequest(first);
        const approve = nextVersion(first, { status: 'approved', decidedBy: 'carol' });
        const deny = nextVersion(first, { status: 'denied', decidedBy: 'dave' });
        const outcomes = await Promise.all([
          store.updateAccessRequest(approve),
          other.updateAccessRequest(deny),
        ]);
        expect([...outcomes].sort()).toEqual(['conflict', 'written']);
        expect(await other.getAccessRequest('ar-1')).toEqual(outcomes[0] === 'written' ? approve : deny);
      });

      it('keeps one set per hash, one approval per principal and one active set across instances', async () => {
        const outcomes = await Promise.all([
          store.insertPolicySet(policySet('h1')),
          other.insertPolicySet(policySet('h1', { proposedBy: 'other' })),
        ]);
        expect([...outcomes].sort()).toEqual(['conflict', 'written']);
        await store.insertPolicySet(policySet('h2'));
        const approvals = await Promise.all([
          store.insertPolicyApproval(approval('h1', 'carol')),
          other.insertPolicyApproval(approval('h1', 'carol', { approvedAt: T0 + 1 })),
        ]);
        expect([...approvals].sort()).toEqual(['conflict', 'written']);

        await Promise.all([
          store.activatePolicySet('h1', T0 + 10),
          other.activatePolicySet('h2', T0 + 20),
          store.activatePolicySet('h2', T0 + 30),
          other.activatePolicySet('h1', T0 + 40),
        ]);
        const sets = await other.listPolicySets();
        expect(sets.map((s) => s.status).sort()).toEqual(['active', 'superseded']);
        expect(await store.activePolicySet()).toEqual(sets.find((s) => s.status === 'active'));
      });
    });
  });
}
