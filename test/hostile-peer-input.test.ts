/**
 * Peers are outside input too. The two HTTP surfaces that other processes call, a region node's
 * internal API (`buildRegionApp`, behind mutual TLS) and the witness (`buildWitnessApp`, open to
 * any log), get generated hostile requests on every route they list (`printRoutes()`, so a route
 * added later is covered without touching this file) and on routes they do not have. Requests go
 * over real sockets on loopback: the region node's with real client certificates of the deployment
 * CA, since the node reads who is calling from the TLS handshake and from nothing else.
 *
 * A region node, called by a gateway, a region of the jurisdiction or a region abroad:
 * - no 5xx, except 503 `DOMICILE_ERR_REGION_UNAVAILABLE`;
 * - every refusal is exactly `{ "error": { "code": "DOMICILE_ERR_…", "message": "…" } }` with the
 *   status the catalog gives its code;
 * - a marker sent where echoing it would be a leak never comes back, and no marker at all reaches
 *   the operator log; no marker of a refused request reaches the jurisdictions' transparency logs;
 * - a refused request changes no row of any region's store or keyring, nor the subject directory
 *   (the decision the node writes to the log first, L1, is the one change allowed).
 *
 * The witness (C2SP tlog-witness `add-checkpoint`, and what it says in `src/tlog/witness.ts`):
 * - no 5xx; a refusal is 400, 403, 404, 409, 413 or 422 with one line of `text/plain` (409: the
 *   cosigned size, `text/x.tlog.size`); a 200 is a cosignature of the checkpoint sent;
 * - markers in the URL or headers never come back; the body's come back only quoted (in backticks)
 *   in the refusal of the request that carried them — the witness quotes what it refuses, truncated;
 * - a refusal leaves its state files as they were; a cosignature stores exactly the size cosigned.
 *
 * Requests are well framed (one request, a true `content-length`): HTTP framing errors never reach
 * the apps' routes (Node refuses them and each app's `clientErrorHandler` answers, in its own shape),
 * and `describe('malformed HTTP framing')` covers them.
 * More runs: `DOMICILE_HOSTILE_RUNS=500 npx vitest run test/hostile-peer-input.test.ts`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClassId, JurisdictionId, RecordKey, RegionId, SubjectId } from '../src/domain/ids.js';
import { deploymentPaths } from '../src/server/deployment.js';
import {
  createDeploymentCa,
  issueGatewayCertificate,
  issueRegionCertificate,
  type TlsMaterial,
} from '../src/server/pki.js';
import { buildRegionApp } from '../src/server/region-app.js';
import { buildWitnessApp } from '../src/server/witness-app.js';
import type { Principal } from '../src/services/access/principal.js';
import {
  encodeContext,
  encodeReplica,
  REGION_API,
  type WirePrincipal,
} from '../src/services/routing/region-wire.js';
import type { RecordRef, RequestContext } from '../src/services/vault/region-node.js';
import type { StoredRecord } from '../src/store/region-store.js';
import { openSqliteLogStorage } from '../src/store/sqlite/sqlite-log-storage.js';
import type { SqliteRegionStore } from '../src/store/sqlite/sqlite-store.js';
import { signCheckpoint } from '../src/tlog/checkpoint.js';
import { newCosignatureSigner, newCosignatureVerifier } from '../src/tlog/cosignature.js';
import { MemoryTree } from '../src/tlog/merkle.js';
import { generateEd25519Key, newEd25519Signer, openNote, parseNote } from '../src/tlog/note.js';
import {
  FileWitnessStateStore,
  formatAddCheckpointRequest,
  parseAddCheckpointRequest,
  TLOG_SIZE_CONTENT_TYPE,
  Witness,
} from '../src/tlog/witness.js';
import { openTestDeployment, redirectLog } from './support/deployment.js';
import {
  type Endpoint,
  EXTRA_HEADERS,
  encodedString,
  errorCodeOf,
  expectErrorShape,
  expectSafeAnswer,
  FRAMING,
  type FramingCase,
  fillPath,
  HOSTILE_CONTENT_TYPES,
  HOSTILE_SEGMENTS,
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
import { sgOfficer, steward, usApp } from './support/principals.js';

const RUNS = Number(process.env.DOMICILE_HOSTILE_RUNS ?? 40);

/** Every marker sent, with where it was sent (see `MarkerKind`). */
const markers = new Markers();

// ------------------------------------------------------------------------------------ HTTP on the wire

/** One request, framed as a client would: `connection: close` and a true `content-length`. */
interface WireRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer;
}

function frame(request: WireRequest): Buffer {
  // a request-target is visible ASCII: the rest is percent-encoded, as any client would
  const target = request.target.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));
  const lines = [`${request.method} ${target} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value.replace(/[^\x20-\x7e]/g, '')}`);
  if (request.body !== undefined) lines.push(`content-length: ${request.body.length}`);
  return Buffer.concat([
    Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    request.body ?? Buffer.alloc(0),
  ]);
}

/** An app's routes, from its own `printRoutes()` tree: `HEAD` is Fastify's twin of each `GET`. */
function routesOf(app: FastifyInstance): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes().split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    for (const method of (m[3] ?? '').split(', ').filter((x) => x !== '' && x !== 'HEAD')) {
      routes.push({ method, path: stack.join('') });
    }
  }
  return routes;
}

// ------------------------------------------------------------------------------------ the region node

const ASHBURN = 'oci-us-ashburn' as RegionId;
const PHOENIX = 'oci-us-phoenix' as RegionId;
const SINGAPORE = 'sg-singapore' as RegionId;
const US = 'US' as JurisdictionId;
const PROTECTED = 'protected' as ClassId;

const logLines: string[] = [];
const d = await openTestDeployment();
const ca = await createDeploymentCa({ name: 'hostile peers', validityDays: 2 });
const tlsOf = async (issued: Promise<{ cert: string; key: string }>): Promise<TlsMaterial> => ({
  ca: ca.cert,
  ...(await issued),
});

/** Who calls the node under test (Ashburn, the home of `US`): a client certificate each. */
const PEERS = {
  gateway: await tlsOf(issueGatewayCertificate(ca, 'gateway-1', { validityDays: 1 })),
  /** A region of the jurisdiction: it replicates and purges `US` data. */
  phoenix: await tlsOf(issueRegionCertificate(ca, PHOENIX, { validityDays: 1 })),
  /** A region abroad: it may hold no `US` data, so it may send none. */
  singapore: await tlsOf(issueRegionCertificate(ca, SINGAPORE, { validityDays: 1 })),
};
type PeerName = keyof typeof PEERS;
const PEER_NAMES = Object.keys(PEERS) as PeerName[];

const region = await buildRegionApp({
  node: d.node(ASHBURN),
  regionId: ASHBURN,
  config: d.config,
  tls: await tlsOf(issueRegionCertificate(ca, ASHBURN, { validityDays: 1 })),
  audit: (jurisdiction) => d.audit.sink(jurisdiction),
  // as `domicile region` serves them: the logs of the jurisdictions whose home it is
  logs: new Map([...d.audit.logs].filter(([j]) => d.config.jurisdictions.get(j)?.home === ASHBURN)),
  logger: { level: 'trace' },
});
redirectLog(region, (line) => logLines.push(line));
await region.listen({ host: '127.0.0.1', port: 0 });
const regionPort = (region.server.address() as AddressInfo).port;
const callRegion = (peer: PeerName, request: WireRequest) =>
  sendBytes({ port: regionPort, tls: PEERS[peer] }, frame(request));

const contextOf = (principal: Principal): RequestContext => ({ requestId: 'hostile-peer-seed', principal });
/** The steward as a gateway sends it. */
const STEWARD: WirePrincipal = encodeContext({ requestId: 'steward', principal: steward }).principal;

/** The record no request may change unless accepted; written back after accepted writes change it. */
const SENTINEL: RecordRef = {
  subjectId: 'sentinel-us' as SubjectId,
  jurisdiction: US,
  key: 'profile' as RecordKey,
};
const SENTINEL_VALUE = { name: 'the US sentinel', born: 1970, tags: ['a', 'b'] };

async function restoreSentinel(): Promise<void> {
  const node = d.node(ASHBURN);
  const current = await node.getRecord(contextOf(steward), SENTINEL).catch(() => undefined);
  if (current && isDeepStrictEqual(current.value, SENTINEL_VALUE)) return;
  // gone, or a copy this node cannot open (an accepted replica may bring one): start over
  if (!current) await node.purgeSubject(SENTINEL);
  await node.putRecord(contextOf(steward), SENTINEL, PROTECTED, SENTINEL_VALUE);
}
await restoreSentinel();
// a global-class write makes each region create its key for global classes, once and for good:
// that lazy creation is not what a refused write may not change
await d
  .node(ASHBURN)
  .putRecord(
    contextOf(usApp),
    { ...SENTINEL, key: 'title' as RecordKey },
    'interoperable' as ClassId,
    'title',
  );

/** A sealed replica of the sentinel as Phoenix would send it (the copy Ashburn holds, with its key). */
const sealedSentinel = encodeReplica({
  kind: 'sealed',
  record:
    (await d.stores.get(ASHBURN)?.getRecord(SENTINEL.subjectId, SENTINEL.key)) ?? expect.fail('no sentinel'),
  wrappedKey:
    (await d.keyrings.get(ASHBURN)?.exportSubjectKey(US, SENTINEL.subjectId)) ??
    expect.fail('no sentinel key'),
});

// state: every row of every region's store and keyring, and the directory, read from the files
const paths = deploymentPaths(d.dataDir);
const databases = [
  ...[...d.config.regions.keys()].flatMap((r) => [paths.store(r), paths.keyring(r)]),
  paths.directory,
].map((file) => ({ name: relative(d.dataDir, file), db: new Database(file, { readonly: true }) }));
// the transparency logs are not compared: every decision is written to them first (L1)
const TABLES =
  "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT GLOB 'tlog_*' AND name NOT GLOB 'sqlite_*'";
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

function observeRows(): Map<string, Set<string>> {
  const state = new Map<string, Set<string>>();
  for (const { name, db } of databases) {
    for (const table of db.prepare(TABLES).pluck().all() as string[]) {
      const rows = (db.prepare(`SELECT * FROM "${table}"`).raw().all() as unknown[][]).map((row) =>
        JSON.stringify(row.map((v) => (v instanceof Uint8Array ? `sha256:${sha256(v)}` : v))),
      );
      state.set(`${name}:${table}`, new Set(rows));
    }
  }
  return state;
}

/** Rows added (+) and removed (−) between two observations. */
function rowChanges(before: Map<string, Set<string>>, after: Map<string, Set<string>>): string[] {
  const changes: string[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const was = before.get(table) ?? new Set();
    const is = after.get(table) ?? new Set();
    for (const row of is) if (!was.has(row)) changes.push(`+ ${table} ${row}`);
    for (const row of was) if (!is.has(row)) changes.push(`− ${table} ${row}`);
  }
  return changes;
}

/** Each jurisdiction's log storage, and how far it has been searched for markers. */
const logs = [...d.config.jurisdictions.values()].map((j) => ({
  jurisdiction: j.id,
  storage: openSqliteLogStorage(d.stores.get(j.home) as SqliteRegionStore, j.id),
  searched: 0,
}));

/** The entries appended since the last call, as text. */
async function newLogEntries(): Promise<string> {
  let text = '';
  for (const log of logs) {
    const size = await log.storage.sequencedSize();
    const entries = await log.storage.readEntries(log.searched, size);
    text += entries.map((e) => Buffer.from(e).toString('utf8')).join('\n');
    log.searched = size;
  }
  return text;
}

afterAll(async () => {
  for (const { db } of databases) db.close();
  await region.close();
  await d.cleanup();
});

// ------------------------------------------------------------------------------------ region operations

/** One route of the region node, and which peers it admits (found by asking it). */
interface RegionOperation {
  readonly method: string;
  /** With `{name}` for each path parameter, `{*}` for a wildcard. */
  readonly path: string;
  readonly params: readonly string[];
  readonly admits: readonly PeerName[];
}

const regionRoutes = routesOf(region);
const PLACEHOLDER = /:([A-Za-z]+)|\*/g;

/** The peers that get past a route's identity check: the others are refused before the body is read. */
async function admittedPeers(method: string, path: string): Promise<PeerName[]> {
  const url = path.replace(PLACEHOLDER, (_, name?: string) => (name === undefined ? 'checkpoint' : 'US'));
  const admitted: PeerName[] = [];
  for (const peer of PEER_NAMES) {
    const answer = parseAnswer(
      await callRegion(peer, {
        method,
        target: url,
        headers: method === 'GET' ? [] : [['content-type', 'application/json']],
        ...(method === 'GET' ? {} : { body: Buffer.from('{}') }),
      }),
    );
    if (errorCodeOf(answer?.body ?? '') !== 'DOMICILE_ERR_PEER_FORBIDDEN') admitted.push(peer);
  }
  return admitted;
}

const regionOperations: RegionOperation[] = [];
for (const { method, path } of regionRoutes) {
  regionOperations.push({
    method,
    path: path.replace(PLACEHOLDER, (_, name?: string) => `{${name ?? '*'}}`),
    params: [...path.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '*'),
    admits: await admittedPeers(method, path),
  });
}
// routes it does not have: every peer gets the same answer, and learns nothing
regionOperations.push(
  { method: 'POST', path: '/internal/v1/{*}', params: ['*'], admits: [] },
  { method: 'GET', path: '/{*}', params: ['*'], admits: [] },
);
const nameOf = (op: { method: string; path: string }) => `${op.method} ${op.path}`;

/** Well-formed values by field or parameter name, so that some requests get past validation. */
const KNOWN: Record<string, readonly string[]> = {
  subjectId: ['sentinel-us', 'ghost-1'],
  key: ['profile', 'other'],
  jurisdiction: ['US', 'SG', 'EU', 'XX'],
  classId: ['protected', 'interoperable', 'deidentified', 'nonesuch'],
  '*': ['0/000', 'entries/000', '0/000.p/1', 'checkpoint', 'records/put'],
  query: ['index', 'size', 'from', 'to'],
};
const known = (name: string) => KNOWN[name] ?? ['x'];

/** A known name, or an otherwise valid id with a marker (which answers may echo, logs may not). */
const idArb = (name: string) =>
  fc.oneof(
    { weight: 4, arbitrary: knownArb(known(name)) },
    { weight: 1, arbitrary: fc.constant(`id-${SLOT.id}`) },
  );

const principalArb: fc.Arbitrary<WirePrincipal> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(STEWARD) },
  {
    weight: 1,
    arbitrary: fc.constant({ id: `id-${SLOT.id}`, type: 'employee' as const, roles: [], mfa: false }),
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      id: 'us-video-app',
      type: 'service' as const,
      roles: ['app'],
      country: 'US',
      mfa: false,
      jurisdiction: 'US',
    }),
  },
);
const contextArb = fc.record({ requestId: fc.constant(`req-${SLOT.id}`), principal: principalArb });
const subjectRefArb = fc.record({
  subjectId: idArb('subjectId'),
  jurisdiction: knownArb(known('jurisdiction')),
});
const recordRefArb = fc.record({
  subjectId: idArb('subjectId'),
  jurisdiction: knownArb(known('jurisdiction')),
  key: idArb('key'),
});
const base64Of = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

/** Keys a replica may carry: the subject's, or one that is malformed or was made for another. */
const wrappedKeyArb = fc.constantFrom<(key: { id: string; kekId: string; wrapped: string }) => object>(
  (key) => key,
  (key) => key,
  (key) => ({ ...key, id: 'dek_0123456789abcdef' }),
  (key) => ({ ...key, id: `id-${SLOT.id}` }),
  (key) => ({ ...key, wrapped: 'AAAA' }),
);
const replicaArb = fc.oneof(
  fc
    .tuple(fc.constantFrom(0, 1, 5), recordRefArb, fc.boolean(), wrappedKeyArb)
    .map(([ahead, ref, moved, keyOf]) =>
      sealedSentinel.kind === 'sealed'
        ? {
            ...sealedSentinel,
            record: {
              ...sealedSentinel.record,
              ...(moved ? ref : {}),
              version: sealedSentinel.record.version + ahead,
            },
            wrappedKey: keyOf(sealedSentinel.wrappedKey),
          }
        : sealedSentinel,
    ),
  fc.record({
    kind: fc.constant('open'),
    ref: recordRefArb,
    classId: knownArb(['interoperable', ...known('classId')]),
    version: fc.integer({ min: 1, max: 1000 }),
    // base64 hides markers: a value the node stores but never reads back to a peer
    value: fc.jsonValue({ maxDepth: 2 }).map(base64Of),
    updatedAt: fc.constant(Date.now()),
  }),
  fc.record({ kind: fc.constant('delete'), ref: recordRefArb }),
);

const auditEventArb = fc.record(
  {
    type: fc.constantFrom('subject.register', 'record.read', 'hostile.peer-test'),
    requestId: fc.constant(`req-${SLOT.id}`),
    principal: fc.constantFrom(null, { id: 'steward-1', type: 'employee', department: null, country: 'US' }),
    jurisdiction: knownArb(['US', 'SG', 'EU']),
    subjectId: idArb('subjectId'),
    decision: fc.constantFrom('allow', 'deny', 'info'),
    reason: fc.constant(`free text ${SLOT.body}`),
    details: fc.constant({ note: `${SLOT.body}` }),
    at: fc.constant('2026-01-02T03:04:05.678Z'),
  },
  { requiredKeys: ['type', 'requestId', 'principal', 'jurisdiction', 'decision', 'reason'] },
);

/** A body each route accepts, built with the wire format its client uses (`region-wire.ts`). */
const WELL_FORMED_BODIES: Record<string, fc.Arbitrary<unknown>> = {
  [REGION_API.putRecord]: fc.record({
    context: contextArb,
    ref: recordRefArb,
    classId: knownArb(known('classId')),
    value: markedJson(SLOT.body),
  }),
  [REGION_API.getRecord]: fc.record({ context: contextArb, ref: recordRefArb }),
  [REGION_API.listRecords]: fc.record({ context: contextArb, ref: subjectRefArb }),
  [REGION_API.deleteRecord]: fc.record({ context: contextArb, ref: recordRefArb }),
  [REGION_API.eraseSubject]: fc.record({ context: contextArb, ref: subjectRefArb }),
  [REGION_API.purgeSubject]: fc.record({ ref: subjectRefArb }),
  [REGION_API.recordVersion]: fc.record({ ref: recordRefArb }),
  [REGION_API.receiveReplica]: fc.record({ replica: replicaArb }),
  [REGION_API.accessLog]: fc.record({ ref: subjectRefArb }),
  [REGION_API.appendAudit]: fc.record({ event: auditEventArb }),
};

/** Every path into a JSON value (the root included), for mutations anywhere in it. */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => pathsOf(v, [...at, i])));
  if (value !== null && typeof value === 'object') {
    return here.concat(...Object.entries(value).map(([k, v]) => pathsOf(v, [...at, k])));
  }
  return here;
}

type Mutation = 'drop' | 'replace' | 'extra' | 'long' | 'control' | 'number';

/** `value` with one place in it made hostile: gone, of another type, too long, or with a field more. */
function mutate(value: unknown, path: readonly (string | number)[], how: Mutation, junk: unknown): unknown {
  const replacement = {
    drop: undefined,
    replace: { data: junk, note: SLOT.body },
    extra: undefined,
    long: 'x'.repeat(300),
    control: `id-${SLOT.id}\n\u0000`,
    number: -1.5,
  }[how];
  const apply = (v: unknown, i: number): unknown => {
    if (i === path.length) {
      if (how === 'extra') {
        return v !== null && typeof v === 'object' && !Array.isArray(v)
          ? { ...v, [`x${SLOT.body}`]: SLOT.body }
          : v;
      }
      return replacement;
    }
    const step = path[i] as string | number;
    if (Array.isArray(v)) {
      const copy = [...v];
      if (how === 'drop' && i === path.length - 1) copy.splice(step as number, 1);
      else copy[step as number] = apply(v[step as number], i + 1);
      return copy;
    }
    const record = { ...(v as Record<string, unknown>) };
    if (how === 'drop' && i === path.length - 1) delete record[step];
    else record[step] = apply(record[step], i + 1);
    return record;
  };
  return apply(value, 0);
}

interface Body {
  readonly contentType?: string;
  readonly payload?: string;
  /** Sent as latin1, so that characters over 0x7f become bytes that are not UTF-8. */
  readonly latin1?: boolean;
}

const json = (v: unknown): Body => ({
  contentType: 'application/json',
  payload: JSON.stringify(v) ?? 'null',
});

function regionBodyPart(op: RegionOperation): Part<Body> | undefined {
  if (op.method === 'GET') return undefined;
  const valid = WELL_FORMED_BODIES[op.path] ?? markedJson(SLOT.body);
  const mutated = fc
    .tuple(
      valid,
      fc.nat(),
      fc.constantFrom<Mutation>('drop', 'replace', 'extra', 'long', 'control', 'number'),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([v, pick, how, junk]) => {
      const paths = pathsOf(v);
      return mutate(v, paths[pick % paths.length] ?? [], how, junk);
    });
  return {
    wellFormed: valid.map(json),
    hostile: fc.oneof(
      { weight: 4, arbitrary: mutated.map(json) },
      { weight: 1, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: markedJson(SLOT.body).map(json) },
      { weight: 1, arbitrary: nonJsonArb.map((payload) => ({ contentType: 'application/json', payload })) },
      {
        weight: 1,
        arbitrary: fc.record({
          contentType: fc.oneof(fc.constantFrom(...HOSTILE_CONTENT_TYPES), fc.string({ maxLength: 30 })),
          payload: fc.oneof(
            nonJsonArb,
            valid.map((v) => JSON.stringify(v)),
          ),
          latin1: fc.boolean(),
        }),
      },
    ),
  };
}

const pathValuePart = (name: string): Part<string> => ({
  wellFormed: idArb(name),
  hostile: hostilePathValue,
});

const QUERY_VALUES = {
  wellFormed: fc.constantFrom('0', '1', '2'),
  hostile: fc.oneof(
    fc.constantFrom('0', '1', '2', '-1', '1.5', '99999999999999999999', ''),
    encodedString('grapheme'),
    fc.constant('%zz'),
    fc.constant(`v-${SLOT.id}`),
  ),
  unknownNames: ['__proto__', `k${SLOT.secret}`],
};

interface PeerRequest {
  readonly peer: PeerName;
  readonly method: string;
  readonly url: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Body;
}

/**
 * Requests of two kinds, as for the gateway (`requestParts`): loose ones and near misses (a
 * well-formed request of an admitted peer with exactly one part hostile, or sent by a peer of the
 * wrong role or from abroad).
 */
function regionRequestArb(op: RegionOperation): fc.Arbitrary<PeerRequest> {
  const rightful = op.admits.filter((p) => p !== 'singapore');
  const peer: Part<PeerName> = {
    wellFormed: fc.constantFrom(...(rightful.length > 0 ? rightful : PEER_NAMES)),
    hostile: fc.constantFrom(...PEER_NAMES.filter((p) => p === 'singapore' || !rightful.includes(p))),
  };
  const parts = requestParts({
    path: pathPart(op.params.map(pathValuePart)),
    query: queryPart(op.method === 'GET' ? known('query') : [], QUERY_VALUES),
    peer,
    body: regionBodyPart(op),
  });
  return fc
    .tuple(parts, fc.subarray([...EXTRA_HEADERS], { maxLength: 3 }))
    .map(([{ path, query, peer: who, body }, headers]) => ({
      peer: who ?? 'gateway',
      method: op.method,
      url: fillPath(op.path, path, query),
      headers,
      body: body ?? {},
    }));
}

// ------------------------------------------------------------------------------------ what must hold (region)

let lastRows = observeRows();

/** Sends one hostile request to the region node and checks every property on its answer. */
async function exchangeWithRegion(request: PeerRequest): Promise<{ status: number; code: unknown }> {
  const ownBody: string[] = [];
  const fill = (text: string) => markers.fill(text, ownBody);
  const headers: [string, string][] = request.headers.map(([name, value]) => [name, fill(value)]);
  const { body } = request;
  if (body.contentType !== undefined) headers.push(['content-type', body.contentType]);
  const payload =
    body.payload === undefined ? undefined : Buffer.from(fill(body.payload), body.latin1 ? 'latin1' : 'utf8');
  const url = fill(request.url);
  const context = `${request.peer}: ${request.method} ${url} ${payload?.toString('utf8').slice(0, 300) ?? ''}`;
  const logFrom = logLines.length;

  const answer = parseAnswer(
    await callRegion(request.peer, {
      method: request.method,
      target: url,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    }),
  );
  if (answer === undefined) throw new Error(`${context}: no answer`);
  const { status } = answer;
  const ok = status >= 200 && status < 300;
  const code = expectSafeAnswer(markers, {
    context,
    status,
    contentType: answer.headers['content-type'],
    body: answer.body,
    received: answer.raw,
    ownBody,
    log: logLines.slice(logFrom),
  });
  // nor does a refused request's body reach a transparency log (its ids may, in the node's decision)
  const secretInLogs = markers.find(await newLogEntries()).filter((m) => m.kind === 'secret');
  expect(secretInLogs, `${context}: answered ${status}, yet its input is in a transparency log`).toEqual([]);

  if (request.method !== 'GET') {
    const before = lastRows;
    if (ok) await restoreSentinel();
    lastRows = observeRows();
    // INVARIANT: a refused request changes nothing
    if (!ok) {
      expect(rowChanges(before, lastRows), `${context}: refused with ${status}, yet changed rows`).toEqual(
        [],
      );
    }
  }
  return { status, code };
}

describe('a region node’s internal API under hostile peers', () => {
  it('enumerates its routes from the app, and tells gateways from regions', () => {
    // 15 today; far fewer means the enumeration broke, not that the API shrank
    expect(regionRoutes.length).toBeGreaterThanOrEqual(12);
    expect(regionRoutes.map(nameOf)).toEqual(
      expect.arrayContaining([`POST ${REGION_API.receiveReplica}`, `POST ${REGION_API.appendAudit}`]),
    );
    expect(new Set(regionRoutes.map(nameOf)).size).toBe(regionRoutes.length);
    const admits = (path: string) => regionOperations.find((op) => op.path === path)?.admits;
    expect(admits(REGION_API.putRecord)).toEqual(['gateway']);
    expect(admits(REGION_API.receiveReplica)).toEqual(['phoenix', 'singapore']);
    // every route the app lists admits someone (an operation nobody may call is a broken enumeration)
    for (const op of regionOperations.slice(0, regionRoutes.length))
      expect(op.admits, nameOf(op)).not.toEqual([]);
  });

  it('has a well-formed body for every POST route it lists', () => {
    // a route added later is fuzzed with generic JSON; this asks for a body that reaches its service
    const posts = regionRoutes.filter((r) => r.method === 'POST').map((r) => r.path);
    expect(posts.filter((path) => WELL_FORMED_BODIES[path] === undefined)).toEqual([]);
  });

  describe.each(regionOperations.map((op) => [nameOf(op), op] as const))('%s', (_, op) => {
    it('answers hostile requests with coded 4xx, no leak and no half-written state', async () => {
      await fc.assert(
        fc.asyncProperty(regionRequestArb(op), async (request) => {
          await exchangeWithRegion(request);
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('a region abroad', () => {
    // Singapore may hold no `US` data: a compromised node there can neither overwrite nor erase it
    it.each([
      [REGION_API.receiveReplica, { replica: { kind: 'delete', ref: { ...SENTINEL } } }],
      [REGION_API.receiveReplica, { replica: sealedSentinel }],
      [REGION_API.purgeSubject, { ref: { subjectId: SENTINEL.subjectId, jurisdiction: 'US' } }],
      [
        REGION_API.appendAudit,
        {
          event: {
            type: 'record.read',
            requestId: 'r',
            principal: null,
            jurisdiction: 'US',
            decision: 'deny',
            reason: `${SLOT.body}`,
          },
        },
      ],
    ])('is refused %s of US data, changing nothing', async (path, body) => {
      const answer = await exchangeWithRegion({
        peer: 'singapore',
        method: 'POST',
        url: path,
        headers: [],
        body: json(body),
      });
      expect(answer).toEqual({ status: 403, code: 'DOMICILE_ERR_PEER_FORBIDDEN' });
    });
  });

  it('kept every marker out of the operator log', async () => {
    expect(markers.size).toBeGreaterThan(regionOperations.length);
    expect(markers.find(logLines.join('\n'))).toEqual([]);
  });
});

describe('a region node refusing what a peer may not do', () => {
  const replicaFromPhoenix = async (replica: unknown) =>
    parseAnswer(
      await callRegion('phoenix', {
        method: 'POST',
        target: REGION_API.receiveReplica,
        headers: [['content-type', 'application/json']],
        body: Buffer.from(JSON.stringify({ replica })),
      }),
    );

  it('refuses with 400 a replica whose wrapped key is malformed, and stores nothing', async () => {
    if (sealedSentinel.kind !== 'sealed') throw new Error('not sealed');
    const rowsBefore = observeRows();
    const answer = await replicaFromPhoenix({
      ...sealedSentinel,
      wrappedKey: { ...sealedSentinel.wrappedKey, id: 'x' },
    });
    expect(answer?.status).toBe(400);
    expect(errorCodeOf(answer?.body ?? '')).toBe('DOMICILE_ERR_BAD_REQUEST');
    expect(observeRows()).toEqual(rowsBefore);
  });

  // a refusal for good (409), not unavailability (503): a sender retrying it would never succeed
  it('refuses with 409 a replica under a key it destroyed (an erased subject)', async () => {
    const shredded = { ...SENTINEL, subjectId: 'shredded-1' as SubjectId };
    await d.node(ASHBURN).putRecord(contextOf(steward), shredded, PROTECTED, 'to be erased');
    const record = await d.stores.get(ASHBURN)?.getRecord(shredded.subjectId, shredded.key);
    const wrappedKey = await d.keyrings.get(ASHBURN)?.exportSubjectKey(US, shredded.subjectId);
    if (!record || !wrappedKey) throw new Error('no record to replicate');
    await d.node(ASHBURN).purgeSubject(shredded);
    const answer = await replicaFromPhoenix(encodeReplica({ kind: 'sealed', record, wrappedKey }));
    expect(answer?.status).toBe(409);
    expect(errorCodeOf(answer?.body ?? '')).toBe('DOMICILE_ERR_STATE_CONFLICT');
    expect(await d.stores.get(ASHBURN)?.getRecord(shredded.subjectId, shredded.key)).toBeUndefined();
  });

  // A gateway erasing subject `twin-1` of `US` makes every region purge `twin-1` of `US`; the rows of
  // an SG subject of the same id stay (`RegionStore.deleteSubject` takes the jurisdiction). The
  // directory keeps ids unique, so only a compromised or buggy gateway can ask this.
  it('leaves a subject of another jurisdiction with the same id alone when erasing', async () => {
    const twin = {
      subjectId: 'twin-1' as SubjectId,
      jurisdiction: 'SG' as JurisdictionId,
      key: 'profile' as RecordKey,
    };
    await d.node(SINGAPORE).putRecord(contextOf(sgOfficer), twin, PROTECTED, SENTINEL_VALUE);
    const answer = parseAnswer(
      await callRegion('gateway', {
        method: 'POST',
        target: REGION_API.eraseSubject,
        headers: [['content-type', 'application/json']],
        body: Buffer.from(
          JSON.stringify({
            context: { requestId: 'erase-twin', principal: STEWARD },
            ref: { subjectId: twin.subjectId, jurisdiction: 'US' },
          }),
        ),
      }),
    );
    expect(answer?.status).toBe(200);
    expect(await d.stores.get(SINGAPORE)?.getRecord(twin.subjectId, twin.key)).toMatchObject({
      jurisdiction: 'SG',
    });
  });

  it('keeps another jurisdiction’s row when a delete replica names the same id and key', async () => {
    // the replica of an SG subject's interoperable record, as Ashburn holds it
    const row: StoredRecord = {
      subjectId: 'twin-2' as SubjectId,
      key: 'card' as RecordKey,
      jurisdiction: 'SG' as JurisdictionId,
      classId: 'interoperable' as ClassId,
      version: 1,
      ciphertext: new Uint8Array([1, 2, 3]),
      keyId: 'rk_twin',
      updatedAt: 1,
    };
    const ashburn = d.stores.get(ASHBURN);
    expect(await ashburn?.putRecord(row, 0)).toBe('written');
    const answer = await replicaFromPhoenix(
      encodeReplica({ kind: 'delete', ref: { subjectId: row.subjectId, jurisdiction: US, key: row.key } }),
    );
    expect(answer?.status).toBeLessThan(300);
    expect(await ashburn?.getRecord(row.subjectId, row.key)).toMatchObject({
      jurisdiction: 'SG',
      version: 1,
    });
  });
});

// ------------------------------------------------------------------------------------ the witness

const ORIGIN = 'hostile.example/log';
const logKey = generateEd25519Key(ORIGIN);
/** Another key under the same name: its signatures are not the log's. */
const impostorKey = generateEd25519Key(ORIGIN);
const strangerKey = generateEd25519Key('stranger.example/log');
const cosigner = newCosignatureSigner(generateEd25519Key('witness.example/w1').privateKey);
const witnessState = mkdtempSync(join(tmpdir(), 'domicile-witness-'));
const witness = buildWitnessApp(
  new Witness({
    signer: cosigner,
    logs: [{ origin: ORIGIN, verifierKeys: [logKey.verifierKey] }],
    store: new FileWitnessStateStore(witnessState),
  }),
);
await witness.listen({ host: '127.0.0.1', port: 0 });
const witnessEndpoint: Endpoint = { port: (witness.server.address() as AddressInfo).port };
afterAll(async () => {
  await witness.close();
  rmSync(witnessState, { recursive: true, force: true });
});

const TREE_SIZE = 4096;
const entries = Array.from({ length: TREE_SIZE }, (_, i) => Buffer.from(`entry ${i}`));
const honest = MemoryTree.fromEntries(entries);
/** Another history from the first entry on: inconsistent with every size the witness cosigned. */
const fork = MemoryTree.fromEntries([Buffer.from('forged'), ...entries.slice(1)]);

/** The witness's state files: names and contents. */
function observeWitness(): Record<string, string> {
  return Object.fromEntries(
    readdirSync(witnessState).map((f) => [f, readFileSync(join(witnessState, f), 'latin1')]),
  );
}
const cosignedSize = (): number => {
  const [file] = Object.values(observeWitness());
  return file === undefined ? 0 : Number(file.split('\n')[0]);
};

/**
 * What a log sends, decided when generated and built when sent against the witness's size then:
 * how far the checkpoint grows, which `old` it claims, which tree and keys, and one hostile edit.
 */
interface CheckpointIntent {
  readonly grow: number;
  readonly old: 'cosigned' | 'zero' | 'behind' | 'ahead';
  readonly tree: 'honest' | 'fork';
  readonly signers: 'log' | 'impostor' | 'both' | 'stranger' | 'none';
  readonly proof: 'right' | 'short' | 'long' | 'other';
}

type TextEdit =
  | { readonly kind: 'none' }
  | { readonly kind: 'replace-line' | 'insert-line'; readonly line: number; readonly text: string }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'crlf' | 'no-blank-line' | 'bom' | 'latin1' | 'huge' | 'many-proof-lines' };

const intentArb: fc.Arbitrary<CheckpointIntent> = fc.record({
  grow: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 })),
  old: fc.constantFrom('cosigned', 'cosigned', 'cosigned', 'zero', 'behind', 'ahead'),
  tree: fc.constantFrom('honest', 'honest', 'honest', 'fork'),
  signers: fc.constantFrom('log', 'log', 'log', 'impostor', 'both', 'stranger', 'none'),
  proof: fc.constantFrom('right', 'right', 'right', 'short', 'long', 'other'),
});

const editArb: fc.Arbitrary<TextEdit> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('replace-line' as const, 'insert-line' as const),
      line: fc.nat(12),
      text: fc.oneof(
        fc.constantFrom(
          SLOT.body,
          `old ${SLOT.body}`,
          'old -1',
          'old 01',
          'old 18446744073709551616',
          `${SLOT.body}==`,
          Buffer.alloc(31).toString('base64'),
          `— ${ORIGIN} ${SLOT.body}`,
          `— ${ORIGIN} AAAA${SLOT.body}AA==`,
          '',
          ' ',
          '\t',
        ),
        fc.string({ maxLength: 40 }).map((s) => `${s}${SLOT.body}`),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(400) }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      ...(['crlf', 'no-blank-line', 'bom', 'latin1', 'huge', 'many-proof-lines'] as const).map((kind) => ({
        kind,
      })),
    ),
  },
);

/** The body of an `add-checkpoint` request for the witness as it stands. */
function buildRequest(intent: CheckpointIntent, edit: TextEdit): Body & { checkpoint: string } {
  const cosigned = cosignedSize();
  const tree = intent.tree === 'fork' && cosigned > 0 ? fork : honest;
  const size = Math.min(cosigned + intent.grow, TREE_SIZE);
  const old = { cosigned, zero: 0, behind: Math.max(0, cosigned - 1), ahead: cosigned + 1 }[intent.old];
  const keys = {
    log: [logKey],
    impostor: [impostorKey],
    both: [impostorKey, logKey],
    stranger: [strangerKey],
    none: [],
  }[intent.signers];
  const origin = intent.signers === 'stranger' ? 'stranger.example/log' : ORIGIN;
  const note = { origin, size: BigInt(size), root: tree.root(size), extensions: [] };
  const checkpoint =
    keys.length === 0
      ? `${origin}\n${size}\n${Buffer.from(tree.root(size)).toString('base64')}\n\n`
      : signCheckpoint(
          note,
          keys.map((k) => newEd25519Signer(k.privateKey)),
        );
  const right = old <= size ? tree.consistencyProof(old, size) : [];
  const proof = {
    right,
    short: right.slice(1),
    long: [...right, tree.root(1)],
    other: fork.consistencyProof(Math.min(old, size), size),
  }[intent.proof];
  let text = formatAddCheckpointRequest({ oldSize: BigInt(old), proof, checkpoint });
  let latin1 = false;
  const lines = () => text.split('\n');
  switch (edit.kind) {
    case 'none':
      break;
    case 'replace-line':
    case 'insert-line': {
      const all = lines();
      all.splice(edit.line % all.length, edit.kind === 'replace-line' ? 1 : 0, edit.text);
      text = all.join('\n');
      break;
    }
    case 'truncate':
      text = text.slice(0, edit.at);
      break;
    case 'crlf':
      text = text.replaceAll('\n', '\r\n');
      break;
    case 'no-blank-line':
      text = text.replace('\n\n', '\n');
      break;
    case 'bom':
      text = `\uFEFF${text}`;
      break;
    case 'latin1':
      text = text.replace('\n\n', `\n\n\u00ff${SLOT.body}`);
      latin1 = true;
      break;
    case 'huge':
      text = `${text}${SLOT.body}${'x'.repeat(64 * 1024)}`;
      break;
    case 'many-proof-lines':
      text = text.replace('\n', `\n${`${Buffer.from(tree.root(1)).toString('base64')}\n`.repeat(64)}`);
      break;
  }
  return { payload: text, latin1, checkpoint };
}

interface WitnessRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly contentType: string | undefined;
  readonly intent?: CheckpointIntent;
  readonly edit?: TextEdit;
  readonly payload?: string | undefined;
}

const witnessRoutes = routesOf(witness);
const contentTypeArb = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('text/plain; charset=utf-8', 'application/json', ...HOSTILE_CONTENT_TYPES),
  fc.string({ maxLength: 30 }),
);
const hostileUrlArb = fc.oneof(
  fc.constantFrom(...HOSTILE_SEGMENTS).map((s) => `/${s}`),
  fc.constantFrom(
    '/add-checkpoint/',
    '/add-checkpoint/%zz',
    '//add-checkpoint',
    '/ADD-CHECKPOINT',
    `/${SLOT.secret}`,
  ),
  fc
    .tuple(fc.constantFrom('/add-checkpoint', '/healthz'), encodedString('grapheme'))
    .map(([p, q]) => `${p}?${q}=${SLOT.secret}`),
);

function witnessRequestArb(route: { method: string; path: string }): fc.Arbitrary<WitnessRequest> {
  const common = {
    headers: fc.subarray([...EXTRA_HEADERS], { maxLength: 3 }),
    contentType: contentTypeArb,
  };
  if (route.path === '/add-checkpoint' && route.method === 'POST') {
    return fc.record({
      method: fc.constant('POST'),
      url: fc.oneof(
        { weight: 5, arbitrary: fc.constant(route.path) },
        { weight: 1, arbitrary: hostileUrlArb },
      ),
      intent: intentArb,
      edit: editArb,
      ...common,
    });
  }
  return fc.record({
    method: fc.constantFrom(route.method, 'POST', 'PUT', 'DELETE'),
    url: fc.oneof({ weight: 2, arbitrary: fc.constant(route.path) }, { weight: 1, arbitrary: hostileUrlArb }),
    payload: fc.oneof(fc.constant(undefined), nonJsonArb),
    ...common,
  });
}

const WITNESS_REFUSALS = new Set([400, 403, 404, 409, 413, 422]);

/** Sends one hostile request to the witness and checks every property on its answer. */
async function exchangeWithWitness(request: WitnessRequest): Promise<{ status: number; body: string }> {
  const ownBody: string[] = [];
  const fill = (text: string) => markers.fill(text, ownBody);
  const built =
    request.intent === undefined ? undefined : buildRequest(request.intent, request.edit ?? { kind: 'none' });
  const text = built?.payload ?? request.payload;
  const payload = text === undefined ? undefined : Buffer.from(fill(text), built?.latin1 ? 'latin1' : 'utf8');
  const headers: [string, string][] = request.headers.map(([name, value]) => [name, fill(value)]);
  if (request.contentType !== undefined) headers.push(['content-type', request.contentType]);
  const url = fill(request.url);
  const context = `witness: ${request.method} ${url} ${payload?.toString('utf8').slice(0, 600) ?? ''}`;
  const before = observeWitness();

  const answer = parseAnswer(
    await sendBytes(
      witnessEndpoint,
      frame({
        method: request.method,
        target: url,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
      }),
    ),
  );
  if (answer === undefined) throw new Error(`${context}: no answer`);
  const { status, body } = answer;
  const after = observeWitness();
  const contentType = answer.headers['content-type'] ?? '';
  const route = `${request.method} ${url.split('?')[0]}`;

  if (status === 200 && route === 'POST /add-checkpoint') {
    // a cosignature of exactly the checkpoint sent, and the size it stores is that checkpoint's
    const sent = parseAddCheckpointRequest(payload ?? Buffer.alloc(0)).checkpoint;
    const cosigned = openNote(`${sent}${body}`, [newCosignatureVerifier(cosigner.verifierKey)]);
    expect(
      cosigned.verified.map((s) => s.name),
      `${context}: no valid cosignature`,
    ).toEqual([cosigner.name]);
    expect(cosignedSize(), `${context}: stored another size than it cosigned`).toBe(
      Number(parseNote(sent).text.split('\n')[1]),
    );
  } else if (status === 200) {
    expect(route, context).toBe('GET /healthz');
  } else {
    expect(WITNESS_REFUSALS.has(status), `${context}: status ${status}: ${body.slice(0, 300)}`).toBe(true);
    if (status === 409) {
      expect(contentType, context).toBe(TLOG_SIZE_CONTENT_TYPE);
      expect(body, `${context}: 409 must give the cosigned size`).toBe(`${cosignedSize()}\n`);
    } else {
      expect(contentType, `${context}: ${body.slice(0, 300)}`).toBe('text/plain; charset=utf-8');
      expect(body, `${context}: not one line of text`).toMatch(/^[^\n]{1,400}\n$/u);
    }
    // INVARIANT: a refusal changes nothing
    expect(after, `${context}: refused with ${status}, yet changed its state`).toEqual(before);
  }

  // INVARIANT: the URL and headers never come back; the body only quoted, in its own refusal
  const head = answer.raw.slice(0, answer.raw.indexOf('\r\n\r\n'));
  expect(markers.find(head), `${context}: answered ${status} echoing a marker in a header`).toEqual([]);
  for (const { marker, kind } of markers.find(body)) {
    const quoted = body.slice(0, body.indexOf(marker)).includes('`');
    const own = ownBody.includes(marker) && status >= 400 && quoted;
    expect(own, `${context}: answered ${status} echoing a ${kind} marker: ${body.slice(0, 300)}`).toBe(true);
  }
  for (const marker of ownBody) markers.settle(marker, 'secret');
  return { status, body };
}

describe('the witness under hostile logs', () => {
  it('enumerates its routes from the app', () => {
    expect(witnessRoutes.map(nameOf)).toEqual(
      expect.arrayContaining(['POST /add-checkpoint', 'GET /healthz']),
    );
  });

  describe.each(witnessRoutes.map((route) => [nameOf(route), route] as const))('%s', (name, route) => {
    it('answers every request as the spec says, echoing nothing it should not, changing nothing it refuses', async () => {
      await fc.assert(
        fc.asyncProperty(witnessRequestArb(route), async (request) => {
          await exchangeWithWitness(request);
        }),
        { numRuns: name === 'POST /add-checkpoint' ? RUNS * 5 : RUNS },
      );
    });
  });

  it('cosigned its way up the honest tree meanwhile (the run reached the state it guards)', () => {
    expect(cosignedSize()).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------------------------ malformed HTTP framing

const targets = [
  { app: 'region node', endpoint: { port: regionPort, tls: PEERS.gateway }, path: REGION_API.appendAudit },
  { app: 'witness', endpoint: witnessEndpoint, path: '/add-checkpoint' },
] as const;

describe('malformed HTTP framing', () => {
  describe.each(targets.map((t) => [t.app, t] as const))('sent to the %s', (_, target) => {
    const send = async ({ bytes, halfClose }: FramingCase) => {
      const raw = await sendBytes(target.endpoint, Buffer.from(markers.fill(bytes(target.path), [])), {
        halfClose,
      });
      return raw.length === 0 ? undefined : parseAnswer(raw);
    };

    it.each(FRAMING.map((framing) => [framing.what, framing] as const))(
      'answers %s with a 4xx or nothing, leaking nothing and changing nothing',
      async (_what, framing) => {
        const rows = observeRows();
        const witnessFiles = observeWitness();
        const logFrom = logLines.length;
        const answer = await send(framing);
        if (answer !== undefined) {
          expect(answer.status, answer.raw).toBeGreaterThanOrEqual(400);
          expect(answer.status, answer.raw).toBeLessThan(500);
          expect(markers.find(answer.raw), answer.raw).toEqual([]);
        }
        // Node hands the request's bytes to the `clientError` handler as `rawPacket`
        const logged = logLines.slice(logFrom);
        expect(markers.find(logged.join('\n')), logged.join('\n')).toEqual([]);
        for (const line of logged) {
          const { err } = JSON.parse(line) as { err?: { rawPacket?: unknown } };
          expect(err?.rawPacket ?? '[redacted]', line).toBe('[redacted]');
        }
        expect(rowChanges(rows, observeRows())).toEqual([]);
        expect(observeWitness()).toEqual(witnessFiles);
      },
    );

    // Node's and Fastify's own answers (`{"error":"Bad Request","message":"Client Error",…}`, or
    // an empty 400 for a missing `Host`) were not the app's: its `clientErrorHandler` writes these
    it.each(FRAMING.map((framing) => [framing.what, framing] as const))(
      'answers %s in the app’s own shape, then closes',
      async (what, framing) => {
        const answer = await send(framing);
        if (answer === undefined) throw new Error(`${what}: no answer`);
        expect(answer.status, answer.raw).toBe(framing.status);
        expect(answer.headers.connection?.toLowerCase(), answer.raw).toBe('close');
        if (target.app === 'witness') {
          expect(answer.headers['content-type'], answer.raw).toBe('text/plain; charset=utf-8');
          expect(answer.body, answer.raw).toMatch(/^[^\n]+\n$/);
        } else {
          expectErrorShape(what, answer.status, answer.headers['content-type'], answer.body);
        }
      },
    );
  });
});
