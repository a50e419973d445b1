import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JurisdictionId } from '../../domain/ids.js';
import type { StoredAccessRequest, StoredPolicySet } from '../control-store.js';
import { openSqliteControlStore, type SqliteControlStore } from './sqlite-control-store.js';

let dir: string;
let store: SqliteControlStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'domicile-control-'));
  store = openSqliteControlStore({ file: join(dir, 'control.db') });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const request = (id: string, patch: Partial<StoredAccessRequest> = {}): StoredAccessRequest => ({
  id,
  version: 1,
  requester: 'alice',
  requesterDepartment: null,
  requesterCountry: 'US',
  jurisdiction: 'US' as JurisdictionId,
  classId: 'protected',
  subjects: ['s1'],
  actions: ['read'],
  purpose: 'p',
  durationSeconds: 3600,
  breakGlass: false,
  status: 'pending',
  createdAt: 1000,
  pendingExpiresAt: 2000,
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
});

const set = (hash: string): StoredPolicySet => ({
  hash,
  schemaText: 's',
  policies: [{ file: 'a.cedar', text: 't' }],
  status: 'proposed',
  proposedBy: 'bob',
  proposedAt: 1,
  activatedAt: null,
  affected: ['US' as JurisdictionId],
});

describe('SqliteControlStore', () => {
  it('updates a request only from the version it was read at', async () => {
    await store.insertAccessRequest(request('ar-1'));
    const approved = { ...request('ar-1'), version: 2, status: 'approved' as const, grantExpiresAt: 5000 };
    expect(await store.updateAccessRequest(approved)).toBe('written');
    expect(await store.updateAccessRequest({ ...approved, status: 'denied' })).toBe('conflict');
    expect((await store.getAccessRequest('ar-1'))?.status).toBe('approved');
  });

  it('returns only approved grants of the grantee that have not ended', async () => {
    await store.insertAccessRequest(request('ar-1', { status: 'approved', grantExpiresAt: 5000 }));
    await store.insertAccessRequest(request('ar-2', { status: 'approved', grantExpiresAt: 3000 }));
    await store.insertAccessRequest(request('ar-3', { status: 'revoked', grantExpiresAt: 9000 }));
    await store.insertAccessRequest(
      request('ar-4', { status: 'approved', grantExpiresAt: 9000, requester: 'eve' }),
    );
    expect((await store.activeGrants('alice', 4000)).map((r) => r.id)).toEqual(['ar-1']);
  });

  it('keeps one active policy set; approvals are unique per principal', async () => {
    expect(await store.insertPolicySet(set('h1'))).toBe('written');
    expect(await store.insertPolicySet(set('h1'))).toBe('conflict');
    await store.insertPolicySet(set('h2'));
    await store.activatePolicySet('h1', 10);
    await store.activatePolicySet('h2', 20);
    expect((await store.activePolicySet())?.hash).toBe('h2');
    expect((await store.getPolicySet('h1'))?.status).toBe('superseded');
    const approval = { hash: 'h2', principalId: 'a', capacity: 'auditor' as const, approvedAt: 1 };
    expect(await store.insertPolicyApproval(approval)).toBe('written');
    expect(await store.insertPolicyApproval(approval)).toBe('conflict');
  });
});
