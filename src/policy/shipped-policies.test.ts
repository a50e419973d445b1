import { beforeAll, describe, expect, it } from 'vitest';
import { readPolicyDirectory, SHIPPED_POLICY_DIRECTORY } from './files.js';
import {
  type AuthenticatedPrincipal,
  type DecisionRequest,
  type Grant,
  type JurisdictionFacts,
  loadPolicySet,
  loadShippedPolicySet,
  POLICY_ERROR_CODES,
  type PolicyEngine,
  PolicyError,
  type RecordResource,
} from './index.js';

const US: JurisdictionFacts = {
  id: 'US',
  countries: ['US'],
  steward: 'us-stewardship',
  restrictedCountries: ['CN', 'RU'],
};
const EU: JurisdictionFacts = {
  id: 'EU',
  countries: ['DE', 'FR', 'IE'],
  steward: 'eu-stewardship',
  restrictedCountries: ['CN'],
};
const NOW = 1_700_000_000;

const steward: AuthenticatedPrincipal = {
  type: 'employee',
  id: 'alice',
  department: 'us-stewardship',
  roles: ['engineer'],
  country: 'US',
  mfa: true,
};
const usApp: AuthenticatedPrincipal = {
  type: 'service',
  id: 'svc-us',
  department: 'platform',
  roles: ['app'],
  country: 'US',
  mfa: false,
  jurisdiction: 'US',
};
const record = (over: Partial<RecordResource> = {}): RecordResource => ({
  type: 'record',
  id: 'rec-1',
  jurisdiction: US,
  class: 'protected',
  subject: 'subj-1',
  ...over,
});
const grant = (over: Partial<Grant> = {}): Grant => ({
  id: 'g-1',
  grantee: 'bob',
  jurisdiction: 'US',
  class: 'protected',
  actions: ['read'],
  subjects: ['subj-1'],
  expiresAt: NOW + 3600,
  ...over,
});
const bob: AuthenticatedPrincipal = {
  type: 'employee',
  id: 'bob',
  department: 'support',
  roles: [],
  country: 'US',
  mfa: true,
};

let engine: PolicyEngine;
beforeAll(async () => {
  engine = await loadShippedPolicySet();
});

/** Decides with the compiled engine and checks cedar-wasm agrees, so each case tests both. */
function decide(request: DecisionRequest) {
  const compiled = engine.decide(request);
  expect(engine.decideWithCedar(request)).toEqual(compiled);
  return compiled;
}

type RecordRequest = Extract<DecisionRequest, { resource: RecordResource }>;
const read = (
  principal: DecisionRequest['principal'],
  resource = record(),
  grants: Grant[] = [],
): RecordRequest => ({
  principal,
  action: 'read',
  resource,
  context: { now: NOW, grants },
});

describe('shipped policies', () => {
  it('compiles every shipped policy (no cedar-wasm fallback)', () => {
    expect(engine.policies.length).toBe(10);
    expect(engine.policies.filter((p) => p.fallbackReason !== undefined)).toEqual([]);
  });

  it('names the policy-set hash in every decision', () => {
    expect(decide(read(steward)).policyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(decide(read(steward)).policyHash).toBe(engine.policyHash);
  });

  describe('protected data', () => {
    it('allows a steward located in the US to read, write, list and delete', () => {
      for (const action of ['read', 'write', 'list', 'delete'] as const) {
        const d = decide({ principal: steward, action, resource: record(), context: { now: NOW } });
        expect(d).toMatchObject({ allowed: true, determining: ['protected-steward-employee'] });
      }
    });

    it('denies the same steward located abroad', () => {
      expect(decide(read({ ...steward, country: 'DE' })).allowed).toBe(false);
    });

    it('denies an employee of another department', () => {
      expect(decide(read({ ...steward, department: 'marketing' })).allowed).toBe(false);
    });

    it('denies the US steward on EU data', () => {
      expect(decide(read(steward, record({ jurisdiction: EU }))).allowed).toBe(false);
    });

    it('allows a US service with role app, and no other service', () => {
      expect(decide(read(usApp)).allowed).toBe(true);
      expect(decide(read({ ...usApp, jurisdiction: 'EU' })).allowed).toBe(false);
      expect(decide(read({ ...usApp, roles: ['batch'] })).allowed).toBe(false);
      const { jurisdiction: _home, ...homeless } = usApp;
      expect(decide(read(homeless)).allowed).toBe(false);
    });

    it('denies a principal located in a restricted country even with a grant, naming the forbid', () => {
      const d = decide(read({ ...bob, country: 'CN' }, record(), [grant()]));
      expect(d).toMatchObject({ allowed: false, determining: ['protected-restricted-country'] });
    });

    it('denies anonymous callers', () => {
      expect(decide(read({ type: 'anonymous' })).allowed).toBe(false);
    });
  });

  describe('grants', () => {
    it('allows exactly what the grant names', () => {
      expect(decide(read(bob, record(), [grant()]))).toMatchObject({
        allowed: true,
        determining: ['grant-scoped-access'],
      });
    });

    it('denies another action, subject, class or jurisdiction than the grant names', () => {
      expect(decide({ ...read(bob, record(), [grant()]), action: 'write' }).allowed).toBe(false);
      expect(decide(read(bob, record({ subject: 'subj-2' }), [grant()])).allowed).toBe(false);
      expect(decide(read(bob, record({ class: 'deidentified' }), [grant()])).allowed).toBe(false);
      expect(decide(read(bob, record({ jurisdiction: EU }), [grant()])).allowed).toBe(false);
    });

    it('covers every subject with `all`', () => {
      expect(decide(read(bob, record({ subject: 'subj-9' }), [grant({ subjects: 'all' })])).allowed).toBe(
        true,
      );
    });

    it('stops at expiry (exclusive)', () => {
      expect(decide(read(bob, record(), [grant({ expiresAt: NOW + 1 })])).allowed).toBe(true);
      expect(decide(read(bob, record(), [grant({ expiresAt: NOW })])).allowed).toBe(false);
    });

    it('is useless to anyone but its grantee', () => {
      expect(decide(read({ ...bob, id: 'mallory' }, record(), [grant()])).allowed).toBe(false);
    });

    it('tries each active grant in turn', () => {
      const grants = [
        grant({ id: 'g-expired', expiresAt: NOW - 1 }),
        grant({ id: 'g-write', actions: ['write'] }),
        grant(),
      ];
      expect(decide(read(bob, record(), grants)).allowed).toBe(true);
    });

    it('denies a request with a non-integer expiry, as an error', () => {
      const d = decide(read(bob, record(), [grant({ expiresAt: NOW + 0.5 })]));
      expect(d.allowed).toBe(false);
      expect(d.errors[0]).toMatch(/^request: /);
    });
  });

  describe('interoperable data', () => {
    const interop = record({ class: 'interoperable', jurisdiction: EU });

    it('is readable and listable by any authenticated principal', () => {
      expect(decide(read({ ...bob, country: 'BR' }, interop))).toMatchObject({
        allowed: true,
        determining: ['interoperable-read'],
      });
      expect(decide({ ...read(bob, interop), action: 'list' }).allowed).toBe(true);
    });

    it('is not readable anonymously', () => {
      expect(decide(read({ type: 'anonymous' }, interop)).allowed).toBe(false);
    });

    it('is written and deleted only by services with role app', () => {
      for (const action of ['write', 'delete'] as const) {
        expect(decide({ principal: usApp, action, resource: interop, context: { now: NOW } }).allowed).toBe(
          true,
        );
        expect(decide({ principal: bob, action, resource: interop, context: { now: NOW } }).allowed).toBe(
          false,
        );
      }
    });
  });

  describe('approving a grant', () => {
    const accessRequest = (requester: string) =>
      ({ type: 'accessRequest', id: 'ar-1', jurisdiction: US, requester }) as const;
    const approve = (principal: AuthenticatedPrincipal, requester: string): DecisionRequest => ({
      principal,
      action: 'approveGrant',
      resource: accessRequest(requester),
      context: { now: NOW },
    });

    it('is allowed to a local steward', () => {
      expect(decide(approve(steward, 'bob')).allowed).toBe(true);
    });

    it('is denied to the requester, even a steward', () => {
      expect(decide(approve(steward, 'alice'))).toMatchObject({
        allowed: false,
        determining: ['approve-grant-not-requester'],
      });
    });

    it('is denied to a steward located abroad and to other departments', () => {
      expect(decide(approve({ ...steward, country: 'IE' }, 'bob')).allowed).toBe(false);
      expect(decide(approve(bob, 'carol')).allowed).toBe(false);
    });
  });

  describe('approving a policy set', () => {
    const approve = (principal: AuthenticatedPrincipal): DecisionRequest => ({
      principal,
      action: 'approvePolicy',
      resource: { type: 'policyBundle', id: engine.policyHash, jurisdiction: US },
      context: { now: NOW },
    });

    it('is allowed to the steward of the affected jurisdiction and to auditors only', () => {
      expect(decide(approve(steward)).allowed).toBe(true);
      expect(decide(approve({ ...bob, roles: ['auditor'] })).determining).toEqual(['approve-policy-auditor']);
      expect(decide(approve({ ...steward, department: 'eu-stewardship' })).allowed).toBe(false);
      expect(decide(approve(bob)).allowed).toBe(false);
    });
  });
});

describe('loadPolicySet', () => {
  describe('when a policy does not validate', () => {
    it('throws DOMICILE_ERR_POLICY_INVALID with the file, the policy id and Cedar’s message', async () => {
      const { schemaText } = await readPolicyDirectory(SHIPPED_POLICY_DIRECTORY);
      const text =
        '@id("typo") permit(principal, action, resource is Domicile::Record) when { resource.klass == "x" };';
      const thrown = (() => {
        try {
          loadPolicySet({ schemaText, policies: [{ file: 'typo.cedar', text }] });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(thrown).toBeInstanceOf(PolicyError);
      expect((thrown as PolicyError).code).toBe(POLICY_ERROR_CODES.invalid);
      expect((thrown as PolicyError).message).toMatch(/typo\.cedar.*typo.*klass/);
    });
  });

  describe('when a policy does not parse', () => {
    it('throws DOMICILE_ERR_POLICY_INVALID', async () => {
      const { schemaText } = await readPolicyDirectory(SHIPPED_POLICY_DIRECTORY);
      expect(() =>
        loadPolicySet({
          schemaText,
          policies: [{ file: 'bad.cedar', text: '@id("x") permit(principal, action);' }],
        }),
      ).toThrow(expect.objectContaining({ code: POLICY_ERROR_CODES.invalid }));
    });
  });

  describe('when a policy has no id or a duplicate id', () => {
    it('refuses the set', async () => {
      const { schemaText } = await readPolicyDirectory(SHIPPED_POLICY_DIRECTORY);
      const p = 'permit(principal, action, resource);';
      expect(() => loadPolicySet({ schemaText, policies: [{ file: 'a.cedar', text: p }] })).toThrow(
        expect.objectContaining({ code: POLICY_ERROR_CODES.invalid }),
      );
      const q = `@id("x") ${p}`;
      expect(() =>
        loadPolicySet({ schemaText, policies: [{ file: 'a.cedar', text: `${q}\n${q}` }] }),
      ).toThrow(expect.objectContaining({ code: POLICY_ERROR_CODES.duplicateId }));
    });
  });

  describe('the policy-set hash', () => {
    it('ignores layout, comments and file order, and changes with any policy', async () => {
      const options = await readPolicyDirectory(SHIPPED_POLICY_DIRECTORY);
      const reordered = {
        schemaText: options.schemaText,
        policies: [...options.policies]
          .reverse()
          .map((p) => ({ ...p, text: `// moved\n${p.text.replace(/\n/g, '\n\n')}` })),
      };
      expect(loadPolicySet(reordered).policyHash).toBe(engine.policyHash);
      const changed = {
        schemaText: options.schemaText,
        policies: options.policies.map((p) => ({ ...p, text: p.text.replace('"auditor"', '"auditors"') })),
      };
      expect(loadPolicySet(changed).policyHash).not.toBe(engine.policyHash);
    });
  });

  it('has unique, documented error codes', () => {
    const codes = Object.values(POLICY_ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^DOMICILE_ERR_POLICY_[A-Z_]+$/);
  });
});
