/**
 * Every input from outside is hostile: fast-check sends generated hostile requests to every
 * operation the app lists in its own `GET /openapi.json` (so a route added later is covered without
 * touching this file), and to the public routes it leaves out of that document. Each request mixes
 * hostile path parameters, query strings, bodies, content types and Authorization headers with
 * well-formed parts, so that some reach the services. Every answer must hold:
 *
 * - no 5xx, except 503 `DOMICILE_ERR_REGION_UNAVAILABLE` (which a healthy deployment never answers);
 * - a 4xx is exactly `{ "error": { "code": "DOMICILE_ERR_…", "message": "…" } }`, with the status
 *   the catalog gives its code;
 * - a marker sent where echoing it would be a leak (a header, the body of a refused request, a query
 *   parameter the route does not know) never comes back, and no marker at all (ids included)
 *   reaches the operator log or `/metrics`;
 * - a refused write changes nothing: sentinel records, subjects, access requests, policy sets and
 *   backups read the same before and after it.
 *
 * Nothing is skipped: no operation streams or upgrades, so every one answers `app.inject`.
 * More runs: `DOMICILE_HOSTILE_RUNS=500 npx vitest run test/hostile-input.test.ts`.
 */
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrincipalClaims } from '../src/services/access/tokens.js';
import {
  type AuthHeaders,
  openTestDeployment,
  putRecord,
  putSubject,
  SG_STEWARD,
  type TestDeployment,
  US_STEWARD,
} from './support/deployment.js';
import {
  EXTRA_HEADERS,
  encodedString,
  expectErrorShape,
  expectSafeAnswer,
  FRAMING,
  fillPath,
  HOSTILE_CONTENT_TYPES,
  hostilePathValue,
  knownArb,
  Markers,
  markedJson,
  nonJsonArb,
  type Part,
  parseAnswer,
  pathPart,
  queryPart,
  requestParts,
  SLOT,
  sendBytes,
} from './support/hostile.js';

const RUNS = Number(process.env.DOMICILE_HOSTILE_RUNS ?? 40);

/** Every marker sent, with where it was sent (see `MarkerKind`). */
const markers = new Markers();

// ------------------------------------------------------------------------------------ the deployment

const logLines: string[] = [];
const d: TestDeployment = await openTestDeployment({ logSink: (line) => logLines.push(line) });
afterAll(async () => {
  await d.cleanup();
});

/** A principal with no department, role or location: the shipped policies give it nothing. */
const NOBODY: Partial<PrincipalClaims> = { sub: 'nobody-1', type: 'employee' };
const AUDITOR: Partial<PrincipalClaims> = {
  sub: 'auditor-1',
  type: 'employee',
  dept: 'audit',
  roles: ['auditor'],
  loc: 'US',
};

/**
 * Records written before the run. The generators hit their ids often. The fuzzed steward is the
 * US one, so the SG record may change in no way at all; the US one may change only by an accepted
 * write of that steward.
 */
const SENTINELS = [
  {
    subject: 'sentinel-us',
    key: 'profile',
    jurisdiction: 'US',
    steward: US_STEWARD,
    fuzzedStewardMayWrite: true,
  },
  {
    subject: 'sentinel-sg',
    key: 'profile',
    jurisdiction: 'SG',
    steward: SG_STEWARD,
    fuzzedStewardMayWrite: false,
  },
] as const;
const sentinelValue = (subject: string) => ({ name: `the ${subject}`, born: 1970, tags: ['a', 'b'] });

// ------------------------------------------------------------------------------------ operations

interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly pattern?: string;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minimum?: number;
  readonly maximum?: number;
}

interface OpenApiOperation {
  readonly parameters?: readonly { in: string; name: string; schema?: JsonSchema }[];
  readonly requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

/** One operation: a method on a path template with `{name}` parameters. */
interface Operation {
  readonly method: string;
  readonly path: string;
  readonly pathParams: readonly { name: string; schema: JsonSchema }[];
  readonly queryParams: readonly string[];
  readonly body: JsonSchema | undefined;
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch']);
/** Path-level keys of an OpenAPI path item that are not operations. */
const PATH_ITEM_FIELDS = new Set(['parameters', 'summary', 'description', 'servers']);

const openapi = (await d.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
  paths: Record<string, Record<string, OpenApiOperation>>;
};
const documented: Operation[] = Object.entries(openapi.paths).flatMap(([path, operations]) =>
  Object.entries(operations)
    .filter(([method]) => METHODS.has(method))
    .map(([method, op]) => {
      const parameters = op.parameters ?? [];
      return {
        method: method.toUpperCase(),
        path,
        pathParams: parameters
          .filter((p) => p.in === 'path')
          .map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => p.name),
        body: op.requestBody?.content?.['application/json']?.schema,
      };
    }),
);

/** Public routes the app hides from its OpenAPI document (`schema.hide`): fuzzed all the same. */
const undocumented: Operation[] = [
  ...['/healthz', '/readyz', '/metrics', '/openapi.json'].map((path) => ({
    method: 'GET',
    path,
    pathParams: [],
    queryParams: [],
    body: undefined,
  })),
  // the console's static files: any path under /console/
  {
    method: 'GET',
    path: '/console/{*}',
    pathParams: [{ name: '*', schema: {} }],
    queryParams: [],
    body: undefined,
  },
];
const operations = [...documented, ...undocumented];
const nameOf = (op: Operation) => `${op.method} ${op.path}`;

// ------------------------------------------------------------------------------------ generators

/** Well-formed values by parameter or field name, so that some requests get past validation. */
const KNOWN: Record<string, string[]> = {
  subjectId: ['sentinel-us', 'sentinel-sg', 'ghost-1'],
  subjects: ['sentinel-us', 'sentinel-sg', 'ghost-1'],
  key: ['profile', 'other'],
  jurisdiction: ['US', 'SG', 'EU', 'XX'],
  class: ['protected', 'interoperable', 'deidentified', 'nonesuch'],
  to: ['oci-us-phoenix', 'oci-us-ashburn', 'us-va-legacy', 'sg-singapore', 'eu-frankfurt', 'mars-1'],
  hash: ['0'.repeat(64)],
  id: ['0', 'ghost-1'],
  '*': ['0/000', '1/000', 'entries/000', '0/000.p/1', 'entries/x001/000.p/255', 'index.html', 'favicon.svg'],
  counterpartyCountry: ['US', 'CN', 'DE'],
  fields: ['email', 'zip', 'born'],
  category: ['health', 'location', 'financial'],
};
KNOWN.destination = KNOWN.to ?? [];
KNOWN.region = KNOWN.to ?? [];

function pathValuePart(param: { name: string; schema: JsonSchema }): Part<string> {
  const wellFormed: fc.WeightedArbitrary<string>[] = [
    { weight: 4, arbitrary: knownArb(KNOWN[param.name] ?? ['x']) },
    // an otherwise valid id: the API may echo it, the operator log may not
    { weight: 1, arbitrary: fc.constant(`id-${SLOT.id}`) },
  ];
  if (param.schema.pattern !== undefined) {
    wellFormed.push({ weight: 1, arbitrary: fc.stringMatching(new RegExp(param.schema.pattern)) });
  }
  return { wellFormed: fc.oneof(...wellFormed), hostile: hostilePathValue };
}

const queryValues = (known: readonly string[]) => ({
  wellFormed: fc.oneof(
    fc.constantFrom(...known.flatMap((name) => KNOWN[name] ?? []), '1'),
    fc.constant(`v-${SLOT.id}`),
  ),
  hostile: fc.oneof(
    fc.constantFrom('0', '1', '-1', '1.5', '99999999999999999999', 'US', 'XX', 'pending', 'true', ''),
    encodedString('grapheme'),
    fc.constant('%zz'),
  ),
  unknownNames: ['__proto__', 'constructor', `k${SLOT.secret}`],
});

/** A value the JSON schema accepts, drawn from the deployment's own names where there are some. */
function validArb(schema: JsonSchema, name: string): fc.Arbitrary<unknown> {
  const alternatives = schema.anyOf ?? schema.oneOf;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  if (alternatives !== undefined) return fc.oneof(...alternatives.map((s) => validArb(s, name)));
  switch (type) {
    case 'object': {
      const properties = Object.entries(schema.properties ?? {});
      const model = Object.fromEntries(properties.map(([key, s]) => [key, validArb(s, key)]));
      return fc.record(model, { requiredKeys: (schema.required ?? []).filter((key) => key in model) });
    }
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.min(schema.maxItems ?? 4, minLength + 2);
      return fc.array(validArb(schema.items ?? {}, name), { minLength, maxLength });
    }
    case 'string':
      return stringArb(schema, name);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? 0, max: Math.min(schema.maximum ?? 100_000, 100_000) });
    case 'boolean':
      return fc.boolean();
    default:
      // no type: any JSON, as a record's value; it is the caller's personal data
      return markedJson(SLOT.body);
  }
}

function stringArb(schema: JsonSchema, name: string): fc.Arbitrary<string> {
  const known = KNOWN[name] ?? policyTexts.get(name);
  if (known !== undefined) return knownArb(known);
  if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern));
  // free text (a purpose, a counterparty): may come back in a success, never in a refusal
  return fc.oneof(fc.constant(`free text ${SLOT.body}`), fc.string({ minLength: 1, maxLength: 16 }));
}

/** A value the JSON schema refuses, in one of the usual ways. */
function invalidArb(schema: JsonSchema): fc.Arbitrary<unknown> {
  const properties = Object.keys(schema.properties ?? {});
  if (properties.length === 0) return fc.jsonValue({ maxDepth: 2 });
  const valid = validArb(schema, 'body') as fc.Arbitrary<Record<string, unknown>>;
  const strings = properties.filter((key) => schema.properties?.[key]?.maxLength !== undefined);
  return fc.oneof(
    // a field the schema does not know
    valid.map((o) => ({ ...o, [`x${SLOT.body}`]: SLOT.body })),
    // a required field missing
    fc
      .tuple(valid, fc.constantFrom(...(schema.required ?? properties)))
      .map(([o, drop]) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== drop))),
    // a field of the wrong type or shape (or any JSON where a record's value goes); never a bare
    // string, which a string field would accept as a name and may quote back, as messages do
    fc
      .tuple(valid, fc.constantFrom(...properties), fc.jsonValue({ maxDepth: 2 }))
      .map(([o, key, v]) => ({ ...o, [key]: { data: v, note: SLOT.body } })),
    // a string one character over its limit
    ...(strings.length === 0
      ? []
      : [
          fc
            .tuple(valid, fc.constantFrom(...strings))
            .map(([o, key]) => ({ ...o, [key]: 'x'.repeat((schema.properties?.[key]?.maxLength ?? 0) + 1) })),
        ]),
    // not an object at all
    fc.jsonValue({ maxDepth: 2 }),
  );
}

/** The active policy set's texts (filled before the run): proposals that parse reach governance. */
const policyTexts = new Map<string, string[]>();

type Auth =
  | { readonly kind: 'none' }
  | { readonly kind: 'raw'; readonly header: string }
  | { readonly kind: 'forged'; readonly header: object; readonly claims: object; readonly signature: string }
  | { readonly kind: 'token'; readonly who: 'nobody' | 'steward' };

const STEWARD: Auth = { kind: 'token', who: 'steward' };
const NO_RIGHTS: Auth = { kind: 'token', who: 'nobody' };

/** Well-formed: a valid token (of the US steward, or of a principal with no rights). */
const authPart: Part<Auth> = {
  wellFormed: fc.constantFrom(STEWARD, NO_RIGHTS),
  hostile: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc
      .oneof(
        fc.string({ maxLength: 40 }).map((s) => `${s}${SLOT.secret}`),
        fc.constantFrom(
          `Bearer ${SLOT.secret}`,
          `Bearer ${SLOT.secret}.${SLOT.secret}.${SLOT.secret}`,
          `Basic ${SLOT.secret}`,
          `bearer a.${SLOT.secret}.c`,
          'Bearer ',
          'Bearer',
        ),
      )
      .map((header) => ({ kind: 'raw' as const, header })),
    // well-formed JWTs that do not verify, with markers in the claims the verifier reads
    fc
      .record({
        header: fc.record({
          alg: fc.constantFrom('EdDSA', 'none', 'HS256', 'RS256', SLOT.secret),
          kid: fc.constantFrom(SLOT.secret, 'k1'),
        }),
        claims: fc.record({
          iss: fc.constantFrom(d.config.auth.issuer, SLOT.secret),
          aud: fc.constantFrom(d.config.auth.audience, SLOT.secret),
          sub: fc.constantFrom(SLOT.secret, 'steward-1'),
          dept: fc.constantFrom('us-data-security', SLOT.secret),
          exp: fc.constant(Math.floor(Date.now() / 1000) + 600),
          iat: fc.constant(Math.floor(Date.now() / 1000)),
        }),
        signature: fc.oneof(fc.constant(''), fc.base64String({ maxLength: 88 }).map(base64url)),
      })
      .map((forged) => ({ kind: 'forged' as const, ...forged })),
  ),
};

interface Body {
  readonly contentType?: string;
  readonly payload?: string;
  /** Added to the real length in a lying `content-length` header. */
  readonly lengthSkew?: number;
}

function bodyPart(schema: JsonSchema | undefined): Part<Body> {
  const json = (v: unknown): Body => ({
    contentType: 'application/json',
    payload: JSON.stringify(v) ?? 'null',
  });
  // without a body schema the route reads no body: well-formed is none, or JSON it ignores
  const wellFormedJson = (schema === undefined ? markedJson(SLOT.body) : validArb(schema, 'body')).map(
    (v) => JSON.stringify(v) ?? 'null',
  );
  const wellFormed = fc.oneof(
    ...(schema === undefined ? [fc.constant<Body>({})] : []),
    wellFormedJson.map((payload): Body => ({ contentType: 'application/json', payload })),
  );
  const hostile: fc.WeightedArbitrary<Body>[] = [
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: markedJson(SLOT.body).map(json) },
    { weight: 1, arbitrary: nonJsonArb.map((payload) => ({ contentType: 'application/json', payload })) },
    {
      weight: 1,
      arbitrary: fc.record({
        contentType: fc.oneof(fc.constantFrom(...HOSTILE_CONTENT_TYPES), fc.string({ maxLength: 30 })),
        // what the route would accept as JSON, or not JSON at all
        payload: fc.oneof(nonJsonArb, wellFormedJson),
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          markedJson(SLOT.body),
          fc.integer({ min: -8, max: 8 }).filter((n) => n !== 0),
        )
        .map(([v, lengthSkew]) => ({ ...json(v), lengthSkew })),
    },
  ];
  if (schema !== undefined) hostile.push({ weight: 3, arbitrary: invalidArb(schema).map(json) });
  return { wellFormed, hostile: fc.oneof(...hostile) };
}

interface HostileRequest {
  readonly method: string;
  readonly url: string;
  readonly auth: Auth;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Body;
}

/**
 * Requests of two kinds (`requestParts`): loose ones, and near misses, the US steward's
 * well-formed request with exactly one part hostile (or its token swapped for one with no rights).
 */
function requestArb(op: Operation): fc.Arbitrary<HostileRequest> {
  const parts = requestParts(
    {
      path: pathPart(op.pathParams.map(pathValuePart)),
      query: queryPart(op.queryParams, queryValues(op.queryParams)),
      auth: authPart,
      body: op.method === 'GET' ? undefined : bodyPart(op.body),
    },
    {
      auth: { wellFormed: fc.constant(STEWARD), hostile: fc.oneof(fc.constant(NO_RIGHTS), authPart.hostile) },
    },
  );
  return fc
    .tuple(parts, fc.subarray([...EXTRA_HEADERS], { maxLength: 3 }))
    .map(([{ path, query, auth, body }, headers]) => ({
      method: op.method,
      url: fillPath(op.path, path, query),
      auth,
      headers,
      body: body ?? {},
    }));
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

// ------------------------------------------------------------------------------------ what must hold

/** Tokens minted before the run: the two fuzzed principals, the auditor and each sentinel's steward. */
const tokens = new Map<string, string>();
const bearer = (who: string) => ({ authorization: `Bearer ${tokens.get(who) ?? ''}` });

/** What a refused write must not change, as the API shows it to those who may read it. */
async function observeState(): Promise<unknown> {
  const get = async (url: string, who: string) => {
    const res = await d.app.inject({ method: 'GET', url, headers: bearer(who) });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  const state: Record<string, unknown> = {};
  for (const s of SENTINELS) {
    state[s.subject] = await get(`/v1/subjects/${s.subject}`, s.subject);
    state[`${s.subject}/${s.key}`] = await get(`/v1/subjects/${s.subject}/records/${s.key}`, s.subject);
  }
  const requests = await get('/v1/access-requests', 'auditor');
  state.accessRequests = (requests.body.accessRequests as Record<string, unknown>[]).map((r) => ({
    id: r.id,
    status: r.status,
    decidedBy: r.decidedBy,
    revokedBy: r.revokedBy,
  }));
  state.policy = (await get('/v1/policies/active', 'auditor')).body.hash;
  state.proposals = (await get('/v1/policies/proposals', 'auditor')).body;
  state.backups = (await get('/v1/backups', 'auditor')).body;
  state.keyBackups = (await get('/v1/key-backups', 'auditor')).body;
  return state;
}

let lastState: unknown;

/**
 * Writes the US sentinel back after an accepted write changed it (the fuzzed steward may erase its
 * own subject), so that the requests that follow still aim at a record that exists. Never the SG
 * one: a change to it is a finding, not something to undo.
 */
async function restoreSentinels(): Promise<void> {
  for (const s of SENTINELS.filter((sentinel) => sentinel.fuzzedStewardMayWrite)) {
    const url = `/v1/subjects/${s.subject}/records/${s.key}`;
    const res = await d.app.inject({ method: 'GET', url, headers: bearer(s.subject) });
    const value = sentinelValue(s.subject);
    if (res.statusCode === 200 && isDeepStrictEqual(res.json().value, value)) continue;
    await putSubject(d, bearer(s.subject), s.subject, s.jurisdiction);
    await putRecord(d, bearer(s.subject), s.subject, s.key, { class: 'protected', value });
  }
}

/** Sends one hostile request and checks every property on its answer. */
async function exchange(request: HostileRequest): Promise<{ status: number; code: unknown }> {
  const ownBody: string[] = [];
  const fill = (text: string) => markers.fill(text, ownBody);
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = fill(value);
  const { auth, body } = request;
  if (auth.kind === 'raw') headers.authorization = fill(auth.header);
  if (auth.kind === 'token') headers.authorization = bearer(auth.who).authorization;
  if (auth.kind === 'forged') {
    const parts = [fill(JSON.stringify(auth.header)), fill(JSON.stringify(auth.claims))].map(base64url);
    headers.authorization = `Bearer ${parts.join('.')}.${auth.signature}`;
  }
  const payload = body.payload === undefined ? undefined : fill(body.payload);
  if (body.contentType !== undefined) headers['content-type'] = body.contentType;
  if (payload !== undefined && body.lengthSkew !== undefined) {
    headers['content-length'] = String(Math.max(0, Buffer.byteLength(payload) + body.lengthSkew));
  }
  const url = fill(request.url);
  const context = `${request.method} ${url}`;
  const logFrom = logLines.length;

  const res = await d.app.inject({
    method: request.method as NonNullable<InjectOptions['method']>,
    url,
    headers,
    ...(payload === undefined ? {} : { payload }),
  });
  const status = res.statusCode;
  const ok = status >= 200 && status < 300;
  const code = expectSafeAnswer(markers, {
    context,
    status,
    contentType: res.headers['content-type'],
    body: res.body,
    received: `${JSON.stringify(res.headers)}\n${res.body}`,
    ownBody,
    log: logLines.slice(logFrom),
  });

  if (request.method !== 'GET') {
    const before = lastState;
    if (ok) await restoreSentinels();
    lastState = await observeState();
    // INVARIANT: a refused write changes nothing
    if (status >= 400) {
      expect(lastState, `${context}: refused with ${status}, yet changed state`).toEqual(before);
    }
  }
  return { status, code };
}

// ------------------------------------------------------------------------------------ the run

beforeAll(async () => {
  tokens.set('nobody', await d.token(NOBODY));
  tokens.set('steward', await d.token(US_STEWARD));
  tokens.set('auditor', await d.token(AUDITOR));
  for (const s of SENTINELS) {
    tokens.set(s.subject, await d.token(s.steward));
    const headers: AuthHeaders = bearer(s.subject);
    expect((await putSubject(d, headers, s.subject, s.jurisdiction)).statusCode).toBe(201);
    const value = sentinelValue(s.subject);
    expect((await putRecord(d, headers, s.subject, s.key, { class: 'protected', value })).statusCode).toBe(
      200,
    );
  }
  // real ids, so that approve, deny, verify and restore reach their services
  const steward = bearer('steward');
  const seeded = await Promise.all([
    d.app.inject({
      method: 'POST',
      url: '/v1/access-requests',
      headers: bearer('nobody'),
      payload: {
        jurisdiction: 'US',
        class: 'protected',
        subjects: ['sentinel-us'],
        actions: ['read'],
        purpose: 'hostile-input seed',
        durationSeconds: 3600,
      },
    }),
    d.app.inject({
      method: 'POST',
      url: '/v1/backups',
      headers: steward,
      payload: { jurisdiction: 'US', to: 'oci-us-phoenix' },
    }),
    d.app.inject({
      method: 'POST',
      url: '/v1/key-backups',
      headers: steward,
      payload: { jurisdiction: 'US', to: 'oci-us-phoenix' },
    }),
  ]);
  for (const res of seeded) expect(res.statusCode, res.body).toBe(201);
  KNOWN.id = [...seeded.map((res) => String((res.json() as { id: string }).id)), ...(KNOWN.id ?? [])];
  const active = (
    await d.app.inject({ method: 'GET', url: '/v1/policies/active', headers: steward })
  ).json() as {
    hash: string;
    schema: string;
    policies: { file: string; text: string }[];
  };
  KNOWN.hash = [active.hash, ...(KNOWN.hash ?? [])];
  KNOWN.file = active.policies.map((p) => p.file);
  policyTexts.set('schema', [active.schema, 'entity User;']);
  policyTexts.set('text', [...active.policies.map((p) => p.text), 'permit(principal, action, resource);']);
  lastState = await observeState();
});

describe('the public HTTP API under hostile input', () => {
  it('enumerates its operations from its own OpenAPI document', () => {
    // 35 today; far fewer means the enumeration broke, not that the API shrank
    expect(documented.length).toBeGreaterThanOrEqual(30);
    // no operation left out unseen: every key of every path item is a method fuzzed here
    const keys = Object.values(openapi.paths).flatMap((item) => Object.keys(item));
    expect(keys.filter((key) => !METHODS.has(key) && !PATH_ITEM_FIELDS.has(key))).toEqual([]);
    expect(new Set(operations.map(nameOf)).size).toBe(operations.length);
  });

  it.each(undocumented.map((op) => [nameOf(op), op] as const))(
    '%s exists though undocumented',
    async (_, op) => {
      const res = await d.app.inject({ method: 'GET', url: op.path.replace('{*}', '') });
      expect(res.body).not.toContain('no such route');
    },
  );

  describe.each(operations.map((op) => [nameOf(op), op] as const))('%s', (_, op) => {
    it('answers hostile requests with coded 4xx, no leak and no half-written state', async () => {
      await fc.assert(
        fc.asyncProperty(requestArb(op), async (request) => {
          await exchange(request);
        }),
        { numRuns: RUNS },
      );
    });
  });

  // the router refuses these before any route runs: they once got Fastify's own body, echoing the URL
  it.each([
    ['a malformed percent-encoding', `/v1/subjects/id-${SLOT.id}/records/%zz`, 'DOMICILE_ERR_BAD_REQUEST'],
    ['a path parameter over the router limit', `/v1/subjects/${'x'.repeat(600)}`, 'DOMICILE_ERR_INVALID_ID'],
  ])('answers %s with a coded 400', async (_, url, code) => {
    const answer = await exchange({ method: 'GET', url, auth: STEWARD, headers: [], body: {} });
    expect(answer).toEqual({ status: 400, code });
  });

  it('refuses a body over the configured limit on every operation that takes one, echoing none of it', async () => {
    const filler = 'x'.repeat(d.config.server.bodyLimit);
    for (const op of operations.filter((o) => o.method !== 'GET')) {
      let i = 0;
      const url = op.path.replace(/\{[^}]+\}/g, () => KNOWN[op.pathParams[i++]?.name ?? '']?.[0] ?? 'x');
      const answer = await exchange({
        method: op.method,
        url,
        auth: STEWARD,
        headers: [],
        body: {
          contentType: 'application/json',
          payload: JSON.stringify({ value: `${SLOT.body}${filler}` }),
        },
      });
      expect(answer, `${op.method} ${url}`).toEqual({ status: 413, code: 'DOMICILE_ERR_PAYLOAD_TOO_LARGE' });
    }
  });

  it('left the sentinel no fuzzed principal may change as it was written', async () => {
    const [, sg] = SENTINELS;
    const res = await d.app.inject({
      method: 'GET',
      url: `/v1/subjects/${sg.subject}/records/${sg.key}`,
      headers: bearer(sg.subject),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ version: 1, class: 'protected', value: sentinelValue(sg.subject) });
  });

  it('kept every marker out of the operator log and the metrics', async () => {
    // the log is really captured: refused tokens are logged (without the token)
    expect(logLines.some((line) => line.includes('bearer token refused'))).toBe(true);
    expect(markers.size).toBeGreaterThan(operations.length);
    expect(markers.find(logLines.join('\n'))).toEqual([]);
    const metrics = await d.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(markers.find(metrics.body)).toEqual([]);
  });
});

/**
 * Bytes that are not one well-formed HTTP/1.1 request never reach a route: `app.inject` cannot send
 * them, so they go over a real socket. Node refuses them and the gateway's `clientErrorHandler`
 * answers (or its `Host` check does), in the error shape like every other refusal.
 */
describe('the public HTTP API under malformed HTTP framing', () => {
  let port = 0;
  beforeAll(async () => {
    await d.app.listen({ host: '127.0.0.1', port: 0 });
    port = (d.app.server.address() as AddressInfo).port;
  });

  it.each(FRAMING.map((framing) => [framing.what, framing] as const))(
    'answers %s with a coded 4xx, leaking nothing and changing nothing',
    async (what, { bytes, halfClose, status }) => {
      const logFrom = logLines.length;
      const raw = await sendBytes({ port }, Buffer.from(markers.fill(bytes('/v1/access-requests'), [])), {
        halfClose,
      });
      const answer = parseAnswer(raw) ?? expect.fail(`${what}: no answer`);
      expect(answer.status, answer.raw).toBe(status);
      expect(answer.headers.connection?.toLowerCase(), answer.raw).toBe('close');
      expectErrorShape(what, answer.status, answer.headers['content-type'], answer.body);
      expect(markers.find(answer.raw), answer.raw).toEqual([]);
      const logged = logLines.slice(logFrom).join('\n');
      expect(markers.find(logged), logged).toEqual([]);
      const before = lastState;
      lastState = await observeState();
      expect(lastState, `${what}: changed state`).toEqual(before);
    },
  );
});
