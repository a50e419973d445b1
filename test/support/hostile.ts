/**
 * What the hostile-input property tests share (`test/hostile-input.test.ts` for the gateway,
 * `test/hostile-peer-input.test.ts` for region nodes and the witness): markers that trace where
 * each piece of input goes, hostile values that have broken routers and parsers before, and the
 * check of the error shape every refusal of the catalog must have.
 */
import { randomBytes } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ERROR_CATALOG } from '../../src/domain/errors.js';
import type { TlsMaterial } from '../../src/server/pki.js';
import { TLOG_ERRORS } from '../../src/tlog/errors.js';

// ------------------------------------------------------------------------------------ markers

/**
 * Generated requests carry placeholders; each is replaced by a fresh marker when the request is
 * sent (`Markers.fill`), so every marker names the one request and the one position it was sent in.
 */
export const SLOT = { secret: 'zzSECRETzz', body: 'zzBODYzz', id: 'zzIDzz' } as const;
const SLOT_PATTERN = /zz(SECRET|BODY|ID)zz/g;

/**
 * Where a marker was sent, hence where it may come back:
 * - `secret`: a header, a query parameter the route does not know, or the body of a refused
 *   request — nowhere;
 * - `body`: the body of the request in flight — only in its answer, if it succeeds;
 * - `stored`: the body of an accepted write — in a later success (a read of the record);
 * - `id`: an otherwise valid id in the path or a known field — in answers (the API echoes ids),
 *   never in the operator log or the metrics.
 */
export type MarkerKind = 'secret' | 'body' | 'stored' | 'id';

/** The markers of one test file: each is unique to the run, and remembers its kind. */
export class Markers {
  readonly #tag = randomBytes(4).toString('hex');
  readonly #pattern = new RegExp(`mk${this.#tag}n(\\d+)km`, 'g');
  readonly #kinds: MarkerKind[] = [];

  /** How many markers were issued. */
  get size(): number {
    return this.#kinds.length;
  }

  issue(kind: MarkerKind): string {
    this.#kinds.push(kind);
    return `mk${this.#tag}n${this.#kinds.length - 1}km`;
  }

  /** Replaces the placeholders in `text` with fresh markers; `body` ones are also pushed on `ownBody`. */
  fill(text: string, ownBody: string[]): string {
    return text.replace(SLOT_PATTERN, (_, slot: string) => {
      if (slot === 'SECRET') return this.issue('secret');
      if (slot === 'ID') return this.issue('id');
      const marker = this.issue('body');
      ownBody.push(marker);
      return marker;
    });
  }

  /** The markers in `text`, with their kinds. */
  find(text: string): { marker: string; kind: MarkerKind }[] {
    return [...text.matchAll(this.#pattern)].map((m) => ({
      marker: m[0],
      kind: this.#kinds[Number(m[1])] ?? 'secret',
    }));
  }

  /** What a `body` marker became once its request was answered: `stored` if accepted, else `secret`. */
  settle(marker: string, kind: 'stored' | 'secret'): void {
    this.#kinds[Number(/n(\d+)km$/.exec(marker)?.[1])] = kind;
  }
}

// ------------------------------------------------------------------------------------ hostile values

/** Path segments that have broken routers before. */
export const HOSTILE_SEGMENTS = [
  '',
  '.',
  '..',
  '%2e%2e',
  '..%2f..%2fpackage.json',
  '%00',
  'a%00b',
  '%2F',
  '%',
  '%zz',
  '%E0%A4%A',
  '%C0%AE',
  '~',
  '__proto__',
  'constructor',
  'null',
  '-1',
  ' ',
];

export const encodedString = (unit: 'grapheme' | 'binary-ascii') =>
  fc.string({ unit, maxLength: 24 }).map(encodeURIComponent);

/**
 * One of the deployment's names, the first (the US sentinel, its key, `US`, `protected`, …) half the
 * time: requests then often go all the way to an accepted write.
 */
export const knownArb = (names: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(fc.constant(names[0] ?? ''), fc.constantFrom(...names));

/** A part of a request (path, query, auth, body): values the API accepts, and hostile ones. */
export interface Part<T> {
  readonly wellFormed: fc.Arbitrary<T>;
  readonly hostile: fc.Arbitrary<T>;
}

/** A path parameter that is no id: hostile segments, over the id and router limits, odd encodings. */
export const hostilePathValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
  // over the 128-character id limit, and over the router's 512
  { weight: 1, arbitrary: fc.integer({ min: 129, max: 900 }).map((n) => 'x'.repeat(n)) },
  { weight: 2, arbitrary: encodedString('grapheme') },
  { weight: 1, arbitrary: encodedString('binary-ascii') },
);

/** All of a route's path parameters; hostile: exactly one of them. Undefined for a route with none. */
export function pathPart(values: readonly Part<string>[]): Part<string[]> | undefined {
  if (values.length === 0) return undefined;
  return {
    wellFormed: fc.tuple(...values.map((p) => p.wellFormed)),
    hostile: fc
      .nat(values.length - 1)
      .chain((bad) => fc.tuple(...values.map((p, i) => (i === bad ? p.hostile : p.wellFormed)))),
  };
}

/**
 * A query string over the parameters `names`: well-formed, up to two of them with `wellFormedValue`s;
 * hostile, one to four pairs of `hostileValue`s, among them parameters the route does not know
 * (`unknownNames`, encoded strings), whose echo would be a leak.
 */
export function queryPart(
  names: readonly string[],
  values: {
    readonly wellFormed: fc.Arbitrary<string>;
    readonly hostile: fc.Arbitrary<string>;
    readonly unknownNames: readonly string[];
  },
): Part<string> {
  const join = (pairs: (readonly [string, string])[]) => pairs.map(([k, v]) => `${k}=${v}`).join('&');
  const unknownPair = fc.tuple(
    fc.oneof(encodedString('grapheme'), fc.constantFrom(...values.unknownNames)),
    fc.oneof(values.hostile, fc.constant(SLOT.secret)),
  );
  return {
    wellFormed:
      names.length === 0
        ? fc.constant('')
        : fc
            .uniqueArray(fc.tuple(fc.constantFrom(...names), values.wellFormed), {
              maxLength: 2,
              selector: ([name]) => name,
            })
            .map(join),
    hostile: fc
      .array(fc.oneof(fc.tuple(fc.constantFrom(...names, 'none'), values.hostile), unknownPair), {
        minLength: 1,
        maxLength: 4,
      })
      .map(join),
  };
}

/**
 * A request's parts, of two kinds half and half: loose (each part well-formed three times in four,
 * so most requests are hostile in one or two parts and get past the others) and near misses (every
 * part well-formed but exactly one, where a check made after a write would leave it half-done).
 * `nearMiss` gives the parts near misses are made of, where they differ from the loose ones.
 */
export function requestParts<P extends Record<string, Part<unknown> | undefined>>(
  loose: P,
  nearMiss: Partial<P> = {},
): fc.Arbitrary<{ [K in keyof P]: P[K] extends Part<infer T> ? T : undefined }> {
  const absent = fc.constant(undefined);
  const names = Object.keys(loose) as (keyof P & string)[];
  const mixed = (p: Part<unknown> | undefined) =>
    p === undefined
      ? absent
      : fc.oneof({ weight: 3, arbitrary: p.wellFormed }, { weight: 1, arbitrary: p.hostile });
  const looseArb = fc.record(Object.fromEntries(names.map((k) => [k, mixed(loose[k])])));
  const near = { ...loose, ...nearMiss };
  const breakable = names.filter((k) => near[k] !== undefined);
  const nearArb = fc.constantFrom(...breakable).chain((broken) =>
    fc.record(
      Object.fromEntries(
        names.map((k) => {
          const p = near[k];
          return [k, p === undefined ? absent : k === broken ? p.hostile : p.wellFormed];
        }),
      ),
    ),
  );
  return fc.oneof(looseArb, nearArb) as fc.Arbitrary<{
    [K in keyof P]: P[K] extends Part<infer T> ? T : undefined;
  }>;
}

/** A route's path with its `{name}` placeholders filled in order, and the query if any. */
export function fillPath(template: string, values: readonly string[] | undefined, query: string): string {
  let i = 0;
  const filled = template.replace(/\{[^}]+\}/g, () => values?.[i++] ?? '');
  return query === '' ? filled : `${filled}?${query}`;
}

/** Any JSON value with a marker somewhere in it. */
export const markedJson = (slot: string): fc.Arbitrary<unknown> =>
  fc
    .tuple(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom<(v: unknown) => unknown>(
        (v) => ({ note: slot, data: v }),
        (v) => [v, slot],
        (v) => ({ [slot]: v }),
        () => slot,
        (v) => ({ data: v, nested: { deeper: [`name ${slot}`] } }),
      ),
    )
    .map(([v, wrap]) => wrap(v));

/** Bodies that are not JSON, or only nearly, each with a body marker. */
export const nonJsonArb = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => `${s}${SLOT.body}`),
  fc.constantFrom(
    `{"a":"${SLOT.body}"`,
    `\uFEFF{"a":"${SLOT.body}"}`,
    `{"__proto__":{"x":"${SLOT.body}"}}`,
    `{"constructor":{"prototype":{"x":"${SLOT.body}"}}}`,
    `a=${SLOT.body}&b=1`,
    `<x>${SLOT.body}</x>`,
    '',
  ),
);

/** Content types a JSON route must refuse, or parse as JSON only when they say so. */
export const HOSTILE_CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/jsonx',
  'application/json-patch+json',
  'application/json; charset=latin1',
  '*/*',
  '',
];

/** Headers the app should ignore; it must never echo those carrying a marker. */
export const EXTRA_HEADERS: readonly (readonly [string, string])[] = [
  ['user-agent', `agent ${SLOT.secret}`],
  ['x-request-id', SLOT.secret],
  ['x-forwarded-for', SLOT.secret],
  ['cookie', `session=${SLOT.secret}`],
  ['referer', `https://example.test/${SLOT.secret}`],
  ['x-domicile-region', SLOT.secret],
  ['x-http-method-override', 'DELETE'],
  ['accept', 'application/xml'],
  ['accept-version', '9.9.9'],
];

// ------------------------------------------------------------------------------------ the error shape

/** Status of each code: the catalog's, and the transparency log library's. */
export const STATUS_OF: Record<string, number> = Object.fromEntries(
  Object.entries({ ...ERROR_CATALOG, ...TLOG_ERRORS }).map(([code, spec]) => [code, spec.status]),
);
/** Safe details some errors carry next to code and message (policy hash, k-anonymity figures). */
const DETAIL_KEYS = new Set(['policyHash', 'determining', 'k', 'smallestGroup', 'groups', 'issues']);

/** Asserts an answer is exactly `{ "error": { "code": "DOMICILE_ERR_…", "message": "…" } }` with its code's status. */
export function expectErrorShape(context: string, status: number, contentType: unknown, text: string): void {
  expect(String(contentType), `${context}: error content type`).toMatch(/^application\/json/);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${context}: error body is not JSON: ${text.slice(0, 300)}`);
  }
  const shape = `${context}: not the error shape: ${text.slice(0, 300)}`;
  expect(body !== null && typeof body === 'object' && !Array.isArray(body), shape).toBe(true);
  expect(Object.keys(body as object), shape).toEqual(['error']);
  const error = (body as { error: Record<string, unknown> }).error;
  expect(typeof error === 'object' && error !== null, shape).toBe(true);
  expect(error.code, shape).toMatch(/^DOMICILE_ERR_[A-Z_]+$/);
  expect(typeof error.message, shape).toBe('string');
  for (const key of Object.keys(error)) {
    expect(key === 'code' || key === 'message' || DETAIL_KEYS.has(key), `${shape}: field \`${key}\``).toBe(
      true,
    );
  }
  expect(status, `${context}: status of ${String(error.code)}`).toBe(STATUS_OF[String(error.code)]);
}

/** One answer to a hostile request, as the checks of `expectSafeAnswer` see it. */
export interface CheckedAnswer {
  /** The request, for failure messages. */
  readonly context: string;
  readonly status: number;
  readonly contentType: unknown;
  readonly body: string;
  /** Everything the client received (headers included), searched for markers. */
  readonly received: string;
  /** The markers the request's own body carried. */
  readonly ownBody: readonly string[];
  /** The operator log lines written while it was served. */
  readonly log: readonly string[];
}

/**
 * What every answer to a hostile request must hold, for the gateway and for a region node alike:
 * no 5xx but 503 `DOMICILE_ERR_REGION_UNAVAILABLE`; a refusal in the error shape of its status; no
 * marker echoed where that would be a leak (a request's own body's only when it was accepted); and
 * no marker at all in the operator log. Settles the body's markers as stored (accepted) or secret.
 * @returns the error code of a refusal
 */
export function expectSafeAnswer(markers: Markers, answer: CheckedAnswer): unknown {
  const { context, status, body } = answer;
  const ok = status >= 200 && status < 300;
  const code = status >= 400 ? errorCodeOf(body) : undefined;
  if (status >= 500) {
    expect({ status, code }, `${context}: a server error: ${body.slice(0, 300)}`).toEqual({
      status: 503,
      code: 'DOMICILE_ERR_REGION_UNAVAILABLE',
    });
  }
  if (status >= 400) expectErrorShape(context, status, answer.contentType, body);
  // INVARIANT: what is sent where echoing it would be a leak never comes back
  for (const { marker, kind } of markers.find(answer.received)) {
    const allowed = kind === 'id' || (ok && (kind === 'stored' || answer.ownBody.includes(marker)));
    expect(allowed, `${context}: answered ${status} echoing a ${kind} marker: ${body.slice(0, 300)}`).toBe(
      true,
    );
  }
  for (const marker of answer.ownBody) markers.settle(marker, ok ? 'stored' : 'secret');
  // INVARIANT: no input (ids included) reaches the operator log
  for (const line of answer.log) {
    expect(markers.find(line), `${context}: the operator log holds a marker: ${line}`).toEqual([]);
  }
  return code;
}

/** The `error.code` of an answer's body, if it has one. */
export function errorCodeOf(text: string): unknown {
  try {
    return (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------------------ HTTP on the wire

/** Where requests go: a port on loopback, and the client certificate to present (TLS) if any. */
export interface Endpoint {
  readonly port: number;
  readonly tls?: TlsMaterial;
}

/** One HTTP/1.1 answer as read off the socket. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** All the bytes the server sent, headers included (latin1), for the marker search. */
  readonly raw: string;
}

/** Sends bytes on a fresh connection and reads until the server closes it. */
export function sendBytes(
  endpoint: Endpoint,
  bytes: Buffer,
  options: { halfClose?: boolean } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onConnect = () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    };
    const socket =
      endpoint.tls === undefined
        ? connectTcp({ host: '127.0.0.1', port: endpoint.port }, onConnect)
        : connectTls(
            { host: '127.0.0.1', port: endpoint.port, ...endpoint.tls, checkServerIdentity: () => undefined },
            onConnect,
          );
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // the server may reset a connection it refused after writing its answer
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resolve(Buffer.concat(chunks));
      else reject(error);
    });
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** The one HTTP/1.1 answer in `bytes`, or undefined when the server sent none. */
export function parseAnswer(bytes: Buffer): Answer | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = bytes.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    // INVARIANT: one request, one answer: nothing follows it on the connection
    expect(body.length, `bytes after the answer: ${bytes.toString('latin1').slice(0, 400)}`).toBe(length);
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    body = dechunk(body);
  }
  return {
    status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]),
    headers,
    body: body.toString('utf8'),
    raw: bytes.toString('latin1'),
  };
}

function dechunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    const size = Number.parseInt(bytes.subarray(at, eol).toString('latin1'), 16);
    if (eol < 0 || !(size > 0)) return Buffer.concat(parts);
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Bytes that are not one well-formed HTTP/1.1 request, and what they must be answered with. */
export interface FramingCase {
  readonly what: string;
  /** The bytes, given the path of a route that takes a body; markers where they must not come back. */
  readonly bytes: (path: string) => string;
  /** Whether the client ends its side once sent (else it waits for the server to close). */
  readonly halfClose: boolean;
  /** The status of the answer, in the app's own shape. */
  readonly status: number;
}

/**
 * Bytes that are not one well-formed HTTP/1.1 request never reach an app's routes: Node's parser
 * refuses them (the app's `clientErrorHandler` answers), or the app's `Host` check does. They must
 * be answered in the app's own shape, leak nothing and change nothing.
 */
export const FRAMING: readonly FramingCase[] = [
  {
    what: 'a content-length shorter than the body',
    bytes: (path) =>
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}${SLOT.secret}`,
    halfClose: false,
    status: 400,
  },
  {
    what: 'a content-length longer than the body',
    bytes: (path) =>
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 90\r\n\r\n{"a":"${SLOT.secret}"}`,
    halfClose: true,
    status: 400,
  },
  {
    what: 'both content-length and chunked',
    bytes: (path) =>
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /${SLOT.secret} HTTP/1.1\r\nhost: x\r\n\r\n`,
    halfClose: true,
    status: 400,
  },
  {
    what: 'a space in the path',
    bytes: (path) => `GET ${path}/${SLOT.secret} x HTTP/1.1\r\nhost: x\r\n\r\n`,
    halfClose: false,
    status: 400,
  },
  {
    what: 'a control character in a header',
    bytes: () => `GET / HTTP/1.1\r\nhost: x\r\nx-a: ${SLOT.secret}\u0001\r\n\r\n`,
    halfClose: false,
    status: 400,
  },
  {
    what: 'no host header',
    bytes: (path) => `GET ${path}?${SLOT.secret} HTTP/1.1\r\nconnection: close\r\n\r\n`,
    halfClose: false,
    status: 400,
  },
  {
    // Node answers it before the app sees the request; each app answers it in its own shape
    what: 'an Expect other than 100-continue',
    bytes: (path) =>
      `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nexpect: ${SLOT.secret}\r\n\r\n{}`,
    halfClose: false,
    status: 417,
  },
  {
    what: 'headers over the limit',
    bytes: () => `GET / HTTP/1.1\r\nhost: x\r\nx-a: ${SLOT.secret}${'x'.repeat(20_000)}\r\n\r\n`,
    halfClose: false,
    status: 431,
  },
];
