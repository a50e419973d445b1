/**
 * Policy test cases (`domicile policy test FILE`): requests with the decision the authors expect,
 * so that stewards and the auditor can pin what a policy set must do before approving it.
 *
 * A case file is JSON or YAML:
 * ```yaml
 * policies: ../policies          # optional, relative to this file
 * cases:
 *   - name: a US steward reads protected data
 *     principal: { type: employee, id: alice, department: us-data-security, country: US }
 *     action: read
 *     resource: { type: record, jurisdiction: US, class: protected, subject: s1 }
 *     expect: allow
 *   - name: nobody approves their own request
 *     principal: { type: employee, id: bob, department: us-data-security, country: US }
 *     action: approveGrant
 *     resource: { type: accessRequest, jurisdiction: US, requester: bob }
 *     expect: deny
 *     determining: [approve-grant-not-requester]
 * ```
 * `jurisdiction` is a configured jurisdiction id, or its facts inline
 * (`{ id, countries, steward, restrictedCountries }`); `now` (epoch seconds) and `grants` are
 * optional.
 */
import { z } from 'zod';
import type { Config } from '../../domain/config.js';
import { DomicileError } from '../../domain/errors.js';
import type { DecisionRequest, JurisdictionFacts, PolicyEngine } from '../../policy/index.js';

const Facts = z.strictObject({
  id: z.string().min(1),
  countries: z.array(z.string()),
  steward: z.string(),
  restrictedCountries: z.array(z.string()).default([]),
});
const JurisdictionRef = z.union([z.string().min(1), Facts]);
const Principal = z.union([
  z.strictObject({ type: z.literal('anonymous') }),
  z.strictObject({
    type: z.enum(['employee', 'service']),
    id: z.string().min(1),
    department: z.string().default(''),
    roles: z.array(z.string()).default([]),
    country: z.string().default(''),
    mfa: z.boolean().default(false),
    jurisdiction: z.string().optional(),
  }),
]);
const RecordAction = z.enum(['read', 'write', 'list', 'delete']);
const DataClass = z.enum(['protected', 'interoperable', 'deidentified']);
const Grant = z.strictObject({
  id: z.string().min(1),
  grantee: z.string().min(1),
  jurisdiction: z.string().min(1),
  class: DataClass,
  actions: z.array(RecordAction),
  subjects: z.union([z.literal('all'), z.array(z.string())]),
  expiresAt: z.number().int(),
});
const Resource = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('record'),
    id: z.string().optional(),
    jurisdiction: JurisdictionRef,
    class: DataClass,
    subject: z.string().min(1),
  }),
  z.strictObject({
    type: z.literal('accessRequest'),
    id: z.string().optional(),
    jurisdiction: JurisdictionRef,
    requester: z.string().min(1),
  }),
  z.strictObject({
    type: z.literal('policyBundle'),
    id: z.string().optional(),
    jurisdiction: JurisdictionRef,
  }),
]);
const Case = z.strictObject({
  name: z.string().min(1),
  principal: Principal,
  action: z.enum(['read', 'write', 'list', 'delete', 'approveGrant', 'approvePolicy']),
  resource: Resource,
  now: z.number().int().optional(),
  grants: z.array(Grant).optional(),
  expect: z.enum(['allow', 'deny']),
  /** When given, the determining policy ids must be exactly these (in any order). */
  determining: z.array(z.string()).optional(),
});
const CaseFile = z.strictObject({
  policies: z.string().optional(),
  cases: z.array(Case).min(1),
});

/** A parsed case file. */
export type PolicyCaseFile = z.infer<typeof CaseFile>;
export type PolicyCase = z.infer<typeof Case>;

/** Validates a case file's parsed content; `DOMICILE_ERR_USAGE` naming the path of each problem. */
export function parsePolicyCases(content: unknown, file: string): PolicyCaseFile {
  const parsed = CaseFile.safeParse(content);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DomicileError('DOMICILE_ERR_USAGE', `${file}: invalid test cases:\n${problems.join('\n')}`);
  }
  return parsed.data;
}

/** The outcome of one case. */
export interface PolicyCaseResult {
  readonly name: string;
  readonly expected: 'allow' | 'deny';
  readonly actual: 'allow' | 'deny';
  readonly determining: readonly string[];
  readonly errors: readonly string[];
  readonly passed: boolean;
  /** Why it failed, when it did. */
  readonly mismatch?: string;
}

function factsOf(
  ref: z.infer<typeof JurisdictionRef>,
  config: Config | undefined,
  name: string,
): JurisdictionFacts {
  if (typeof ref !== 'string') return ref;
  const j = config?.jurisdictions.get(ref as never);
  if (!j) {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `case \`${name}\`: jurisdiction \`${ref}\` is not configured: give its facts inline`,
    );
  }
  return j;
}

function requestOf(c: PolicyCase, config: Config | undefined): DecisionRequest {
  const context = {
    now: c.now ?? Math.floor(Date.now() / 1000),
    ...(c.grants === undefined ? {} : { grants: c.grants }),
  };
  const principal =
    c.principal.type === 'anonymous'
      ? { type: 'anonymous' as const }
      : {
          type: c.principal.type,
          id: c.principal.id,
          department: c.principal.department,
          roles: c.principal.roles,
          country: c.principal.country,
          mfa: c.principal.mfa,
          ...(c.principal.jurisdiction === undefined ? {} : { jurisdiction: c.principal.jurisdiction }),
        };
  const r = c.resource;
  const jurisdiction = factsOf(r.jurisdiction, config, c.name);
  if (r.type === 'record') {
    if (c.action === 'approveGrant' || c.action === 'approvePolicy') {
      throw new DomicileError(
        'DOMICILE_ERR_USAGE',
        `case \`${c.name}\`: \`${c.action}\` does not apply to a record`,
      );
    }
    return {
      principal,
      action: c.action,
      resource: {
        type: 'record',
        id: r.id ?? `${jurisdiction.id}/${r.subject}`,
        jurisdiction,
        class: r.class,
        subject: r.subject,
      },
      context,
    };
  }
  if (r.type === 'accessRequest') {
    if (c.action !== 'approveGrant') {
      throw new DomicileError(
        'DOMICILE_ERR_USAGE',
        `case \`${c.name}\`: an access request takes action \`approveGrant\``,
      );
    }
    return {
      principal,
      action: 'approveGrant',
      resource: { type: 'accessRequest', id: r.id ?? 'ar-test', jurisdiction, requester: r.requester },
      context,
    };
  }
  if (c.action !== 'approvePolicy') {
    throw new DomicileError(
      'DOMICILE_ERR_USAGE',
      `case \`${c.name}\`: a policy bundle takes action \`approvePolicy\``,
    );
  }
  return {
    principal,
    action: 'approvePolicy',
    resource: { type: 'policyBundle', id: r.id ?? 'bundle-test', jurisdiction },
    context,
  };
}

/** Runs every case against an engine. */
export function runPolicyCases(
  engine: PolicyEngine,
  cases: readonly PolicyCase[],
  config: Config | undefined,
): PolicyCaseResult[] {
  return cases.map((c) => {
    const d = engine.decide(requestOf(c, config));
    const actual = d.allowed ? 'allow' : 'deny';
    let mismatch: string | undefined;
    if (actual !== c.expect) mismatch = `expected ${c.expect}, got ${actual}`;
    else if (c.determining !== undefined) {
      const want = [...c.determining].sort().join(', ');
      const got = [...d.determining].sort().join(', ');
      if (want !== got) mismatch = `expected determining [${want}], got [${got}]`;
    }
    return {
      name: c.name,
      expected: c.expect,
      actual,
      determining: d.determining,
      errors: d.errors,
      passed: mismatch === undefined,
      ...(mismatch === undefined ? {} : { mismatch }),
    };
  });
}
