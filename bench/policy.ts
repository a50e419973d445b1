/**
 * Policy decisions: compiled closures vs cedar-wasm's stateful authorizer (pre-parsed schema and
 * policy set), on the same requests in the same run, with the 10 shipped policies and with those
 * plus 990 generated jurisdiction-specific policies.
 *
 * `npm run bench -- policy [--seconds N] [--policies DIR]`
 */
import { performance } from 'node:perf_hooks';
import { readPolicyDirectory, SHIPPED_POLICY_DIRECTORY } from '../src/policy/files.js';
import {
  type AuthenticatedPrincipal,
  type DataClass,
  type DecisionRequest,
  type Grant,
  type JurisdictionFacts,
  loadPolicySet,
  type PolicyEngine,
  type RecordAction,
} from '../src/policy/index.js';

const JURISDICTION_COUNT = 50;
const REQUEST_COUNT = 2_000;
const NOW = 1_750_000_000;

/** A small deterministic PRNG (mulberry32), so every run measures the same requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const COUNTRIES = ['US', 'DE', 'FR', 'SG', 'BR', 'JP', 'IN', 'CN', 'RU'];
const CLASSES: DataClass[] = ['protected', 'interoperable', 'deidentified'];
const ACTIONS: RecordAction[] = ['read', 'write', 'list', 'delete'];

function jurisdictions(): JurisdictionFacts[] {
  const out: JurisdictionFacts[] = [];
  for (let i = 0; i < JURISDICTION_COUNT; i++) {
    out.push({
      id: `J${i}`,
      countries: [COUNTRIES[i % 7] as string, COUNTRIES[(i + 3) % 7] as string],
      steward: `steward-${i}`,
      restrictedCountries: ['CN', 'RU'],
    });
  }
  return out;
}

/** 990 policies of the kind an operator adds per jurisdiction, on top of the shipped ones. */
function generatedPolicies(count: number): string {
  const rand = prng(1);
  const parts: string[] = [];
  for (let n = 0; n < count; n++) {
    const j = `Domicile::Jurisdiction::"J${n % JURISDICTION_COUNT}"`;
    const cls = CLASSES[Math.floor(rand() * CLASSES.length)] as string;
    const role = `role-${Math.floor(rand() * 20)}`;
    const dept = `dept-${Math.floor(rand() * 10)}`;
    const action = ACTIONS[Math.floor(rand() * ACTIONS.length)] as string;
    const id = `@id("gen-${n}")`;
    const head = 'principal is Domicile::Principal';
    switch (n % 5) {
      case 0:
        parts.push(
          `${id} permit (${head}, action in [Domicile::Action::"read", Domicile::Action::"list"], resource is Domicile::Record) when { resource.jurisdiction == ${j} && resource.class == "${cls}" && principal.roles.contains("${role}") };`,
        );
        break;
      case 1:
        parts.push(
          `${id} forbid (${head}, action in Domicile::Action::"dataAccess", resource is Domicile::Record) when { resource.jurisdiction == ${j} && resource.class == "${cls}" && !principal.mfa && principal.type == "employee" && principal.department == "${dept}" };`,
        );
        break;
      case 2:
        parts.push(
          `${id} permit (${head}, action == Domicile::Action::"${action}", resource is Domicile::Record) when { resource.jurisdiction == ${j} && resource.class == "${cls}" && principal.department == "${dept}" && resource.jurisdiction.countries.contains(principal.country) };`,
        );
        break;
      case 3:
        parts.push(
          `${id} permit (${head}, action in Domicile::Action::"dataAccess", resource is Domicile::Record) when { resource.jurisdiction == ${j} && resource.class == "${cls}" && principal.type == "service" && principal.roles.containsAny(["${role}", "batch"]) && context.now < ${NOW + Math.floor(rand() * 1000)} };`,
        );
        break;
      default:
        parts.push(
          `${id} forbid (${head}, action == Domicile::Action::"${action}", resource is Domicile::Record) when { resource.jurisdiction == ${j} && resource.class == "${cls}" && principal.roles.contains("suspended") };`,
        );
    }
  }
  return parts.join('\n');
}

function requests(js: readonly JurisdictionFacts[]): DecisionRequest[] {
  const rand = prng(2);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const out: DecisionRequest[] = [];
  for (let i = 0; i < REQUEST_COUNT; i++) {
    const j = pick(js);
    const n = Number(j.id.slice(1));
    const principal: AuthenticatedPrincipal = {
      type: rand() < 0.7 ? 'employee' : 'service',
      id: `p-${Math.floor(rand() * 100)}`,
      department: rand() < 0.3 ? j.steward : `dept-${Math.floor(rand() * 10)}`,
      roles: [`role-${Math.floor(rand() * 20)}`, ...(rand() < 0.3 ? ['app'] : [])],
      country: rand() < 0.6 ? (j.countries[0] as string) : pick(COUNTRIES),
      mfa: rand() < 0.8,
      ...(rand() < 0.5 ? { jurisdiction: `J${n}` } : {}),
    };
    const grants: Grant[] =
      rand() < 0.2
        ? [
            {
              id: `g-${i}`,
              grantee: principal.id,
              jurisdiction: j.id,
              class: 'protected',
              actions: ['read'],
              subjects: 'all',
              expiresAt: NOW + 60,
            },
          ]
        : [];
    out.push({
      principal,
      action: pick(ACTIONS),
      resource: {
        type: 'record',
        id: `r-${i}`,
        jurisdiction: j,
        class: pick(CLASSES),
        subject: `s-${Math.floor(rand() * 1000)}`,
      },
      context: { now: NOW, grants },
    });
  }
  return out;
}

interface Measurement {
  p50: number;
  p99: number;
  perSecond: number;
}

/** Times each decision alone (for percentiles) and the loop as a whole (for throughput). */
function measure(
  decide: (r: DecisionRequest) => unknown,
  reqs: readonly DecisionRequest[],
  seconds: number,
): Measurement {
  for (let i = 0; i < Math.min(reqs.length, 500); i++) decide(reqs[i] as DecisionRequest); // warm-up
  const samples: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let elapsed = 0;
  for (let i = 0; performance.now() < deadline || samples.length < 200; i++) {
    const r = reqs[i % reqs.length] as DecisionRequest;
    const t0 = process.hrtime.bigint();
    decide(r);
    const dt = Number(process.hrtime.bigint() - t0);
    samples.push(dt);
    elapsed += dt;
  }
  samples.sort((a, b) => a - b);
  const at = (q: number): number =>
    samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  return { p50: at(0.5) / 1000, p99: at(0.99) / 1000, perSecond: samples.length / (elapsed / 1e9) };
}

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

export async function run(args: string[]): Promise<void> {
  const seconds = Number(option(args, '--seconds') ?? '2');
  const shipped = await readPolicyDirectory(option(args, '--policies') ?? SHIPPED_POLICY_DIRECTORY);
  const js = jurisdictions();
  const sets: { name: string; engine: PolicyEngine }[] = [
    { name: `${shipped.policies.length} files, 10 policies`, engine: loadPolicySet(shipped) },
    {
      name: '1,000 policies',
      engine: loadPolicySet({
        schemaText: shipped.schemaText,
        policies: [...shipped.policies, { file: 'generated.cedar', text: generatedPolicies(990) }],
      }),
    },
  ];
  const reqs = requests(js);
  console.log(
    `${reqs.length} distinct requests (20% carry a grant), ${JURISDICTION_COUNT} jurisdictions, ${seconds}s per cell, node ${process.version}\n`,
  );
  console.log(
    '| policies | evaluator | p50 µs | p99 µs | decisions/s | allowed | throughput ratio | p99 ratio |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const { engine } of sets) {
    const count = engine.policies.length;
    // the same requests must get the same answers from both, or the comparison is void
    let allowed = 0;
    for (const r of reqs) {
      const d = engine.decide(r);
      if (d.allowed !== engine.decideWithCedar(r).allowed) {
        throw new Error(`compiled and cedar-wasm disagree on a request with ${count} policies`);
      }
      if (d.allowed) allowed++;
    }
    const share = `${((100 * allowed) / reqs.length).toFixed(0)}%`;
    const cedar = measure((r) => engine.decideWithCedar(r), reqs, seconds);
    const compiled = measure((r) => engine.decide(r), reqs, seconds);
    console.log(
      `| ${count} | cedar-wasm stateful | ${fmt(cedar.p50)} | ${fmt(cedar.p99)} | ${fmt(cedar.perSecond)} | ${share} | 1× | 1× |`,
    );
    console.log(
      `| ${count} | compiled | ${fmt(compiled.p50)} | ${fmt(compiled.p99)} | ${fmt(compiled.perSecond)} | ${share} | **${fmt(compiled.perSecond / cedar.perSecond)}×** | **${fmt(cedar.p99 / compiled.p99)}×** |`,
    );
  }
}
