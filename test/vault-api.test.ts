import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openTestDeployment,
  SG_STEWARD,
  type TestDeployment,
  US_APP,
  US_STEWARD,
} from './support/deployment.js';

let d: TestDeployment;
beforeAll(async () => {
  d = await openTestDeployment();
});
afterAll(async () => {
  await d.cleanup();
});

async function register(subject: string, jurisdiction: string, claims = US_STEWARD) {
  return d.app.inject({
    method: 'PUT',
    url: `/v1/subjects/${subject}`,
    headers: await d.auth(claims),
    payload: { jurisdiction },
  });
}

describe('subjects', () => {
  it('registers a subject once and is idempotent', async () => {
    const first = await register('alice', 'US');
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ subjectId: 'alice', jurisdiction: 'US' });
    expect((await register('alice', 'US')).statusCode).toBe(200);
  });

  it('refuses re-registration in another jurisdiction with 409', async () => {
    await register('bob', 'US');
    const res = await register('bob', 'SG', SG_STEWARD);
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('DOMICILE_ERR_JURISDICTION_CONFLICT');
  });

  it('refuses an unknown jurisdiction with 422', async () => {
    const res = await register('carol', 'XX');
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('DOMICILE_ERR_UNKNOWN_JURISDICTION');
  });

  it('shows where a subject lives', async () => {
    await register('dave', 'US');
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/dave',
      headers: await d.auth(US_STEWARD),
    });
    expect(res.json()).toMatchObject({
      subjectId: 'dave',
      jurisdiction: 'US',
      homeRegion: 'oci-us-ashburn',
      records: 0,
    });
  });
});

describe('records', () => {
  it('writes, reads, lists and deletes a protected record in the home region', async () => {
    await register('erin', 'US');
    const headers = await d.auth(US_STEWARD);
    const put = await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/erin/records/profile',
      headers,
      payload: { class: 'protected', value: { name: 'Erin', born: 1990 } },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({
      subjectId: 'erin',
      key: 'profile',
      class: 'protected',
      version: 1,
      region: 'oci-us-ashburn',
    });
    expect(put.headers['x-domicile-region']).toBe('oci-us-ashburn');

    const again = await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/erin/records/profile',
      headers,
      payload: { class: 'protected', value: { name: 'Erin B.', born: 1990 } },
    });
    expect(again.json().version).toBe(2);

    const get = await d.app.inject({ method: 'GET', url: '/v1/subjects/erin/records/profile', headers });
    expect(get.json()).toMatchObject({
      version: 2,
      value: { name: 'Erin B.', born: 1990 },
      region: 'oci-us-ashburn',
    });

    const list = await d.app.inject({ method: 'GET', url: '/v1/subjects/erin/records', headers });
    expect(list.json().records).toMatchObject([{ key: 'profile', class: 'protected', version: 2 }]);

    const del = await d.app.inject({ method: 'DELETE', url: '/v1/subjects/erin/records/profile', headers });
    expect(del.statusCode).toBe(204);
    const gone = await d.app.inject({ method: 'GET', url: '/v1/subjects/erin/records/profile', headers });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('DOMICILE_ERR_RECORD_NOT_FOUND');
  });

  it('answers 404 for an unknown subject', async () => {
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/nobody/records/x',
      headers: await d.auth(US_STEWARD),
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('DOMICILE_ERR_SUBJECT_NOT_FOUND');
  });

  it('denies protected data to a principal located outside the jurisdiction, and says which policy', async () => {
    await register('frank', 'US');
    await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/frank/records/ssn',
      headers: await d.auth(US_STEWARD),
      payload: { class: 'protected', value: '123-45-6789' },
    });
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/frank/records/ssn',
      headers: await d.auth({ ...US_STEWARD, loc: 'SG' }),
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('DOMICILE_ERR_FORBIDDEN');
    expect(res.json().error.policyHash).toBeTypeOf('string');
    expect(res.body).not.toContain('123-45-6789');
  });

  it('lets any authenticated principal read an interoperable record', async () => {
    await register('gina', 'US');
    await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/gina/records/video-1',
      // the shipped policies let only application services write interoperable data
      headers: await d.auth(US_APP),
      payload: { class: 'interoperable', value: { title: 'cats' } },
    });
    const res = await d.app.inject({
      method: 'GET',
      url: '/v1/subjects/gina/records/video-1',
      headers: await d.auth(SG_STEWARD),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().value).toEqual({ title: 'cats' });
  });
});

describe('hostile input', () => {
  it.each([
    ['malformed JSON', '{"class":', 'application/json', 400, 'DOMICILE_ERR_BAD_REQUEST'],
    [
      'a value of the wrong type',
      '{"class":7,"value":1}',
      'application/json',
      400,
      'DOMICILE_ERR_BAD_REQUEST',
    ],
    ['a missing value', '{"class":"protected"}', 'application/json', 400, 'DOMICILE_ERR_BAD_REQUEST'],
    [
      'an unknown class',
      '{"class":"secret","value":1}',
      'application/json',
      400,
      'DOMICILE_ERR_UNKNOWN_CLASS',
    ],
    ['a body that is not JSON', 'hello', 'text/plain', 415, 'DOMICILE_ERR_UNSUPPORTED_MEDIA_TYPE'],
  ])('refuses %s', async (_name, payload, type, status, code) => {
    await register('hank', 'US');
    const res = await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/hank/records/k',
      headers: { ...(await d.auth(US_STEWARD)), 'content-type': type },
      payload,
    });
    expect(res.statusCode).toBe(status);
    expect(res.json().error.code).toBe(code);
  });

  it.each(['a b', 'x'.repeat(129), 'semi;colon', '%C3%A9'])('refuses the id `%s`', async (id) => {
    const res = await d.app.inject({
      method: 'GET',
      url: `/v1/subjects/${encodeURIComponent(id)}/records/k`,
      headers: await d.auth(US_STEWARD),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('DOMICILE_ERR_INVALID_ID');
  });

  it('refuses a body over the configured limit with 413 and writes nothing', async () => {
    await register('ivan', 'US');
    const headers = await d.auth(US_STEWARD);
    const res = await d.app.inject({
      method: 'PUT',
      url: '/v1/subjects/ivan/records/big',
      headers,
      payload: { class: 'protected', value: 'x'.repeat(1024 * 1024 + 1) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('DOMICILE_ERR_PAYLOAD_TOO_LARGE');
    expect(
      (await d.app.inject({ method: 'GET', url: '/v1/subjects/ivan/records', headers })).json().records,
    ).toEqual([]);
  });
});

describe('authentication', () => {
  const url = '/v1/subjects/alice/records';

  it('refuses a request without a token', async () => {
    const res = await d.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('DOMICILE_ERR_UNAUTHENTICATED');
  });

  it('refuses an expired token', async () => {
    const token = await d.token(US_STEWARD, -120);
    const res = await d.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.message).toContain('expired');
  });

  it('refuses a token signed by another key', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const forged = await new SignJWT({ ptype: 'employee', dept: 'us-data-security', loc: 'US' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('mallory')
      .setIssuer(d.config.auth.issuer)
      .setAudience(d.config.auth.audience)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const res = await d.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${forged}` } });
    expect(res.statusCode).toBe(401);
  });

  it('refuses an unsigned token (alg none)', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none' })}.${b64({ sub: 'mallory', ptype: 'employee', loc: 'US', iss: d.config.auth.issuer, aud: d.config.auth.audience, iat: now, exp: now + 60 })}.`;
    const res = await d.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a token whose signature was changed', async () => {
    const token = await d.token(US_STEWARD);
    const tampered = `${token.slice(0, -4)}${token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const res = await d.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tampered}` } });
    expect(res.statusCode).toBe(401);
  });
});

describe('operations endpoints', () => {
  it('serves an OpenAPI document describing the API', async () => {
    const res = await d.app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/subjects/{subjectId}',
        '/v1/subjects/{subjectId}/records/{key}',
        '/v1/subjects/{subjectId}/records',
        '/v1/routing',
      ]),
    );
    // like /metrics, the routing figures need no token, and neither does the transparency log
    expect(doc.paths['/v1/routing'].get.security).toEqual([]);
    const logPaths = Object.keys(doc.paths).filter((path) => path.startsWith('/v1/logs/'));
    expect(logPaths.length).toBeGreaterThanOrEqual(4);
    for (const path of logPaths) expect(doc.paths[path].get.security, path).toEqual([]);
    expect(doc.paths['/v1/subjects/{subjectId}/records/{key}'].get.security).toBeUndefined();
    expect(doc.security).toEqual([{ bearer: [] }]);
    const routing = doc.paths['/v1/routing'].get.responses['200'].content['application/json'].schema;
    expect(routing.properties.jurisdictions.items.required).toEqual([
      'jurisdiction',
      'total',
      'home',
      'byRegion',
      'recentHomeShare',
    ]);
  });

  it('reports health, readiness and Prometheus metrics by jurisdiction and serving region', async () => {
    expect((await d.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await d.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json().regions['oci-us-ashburn']).toBe('up');
    expect(ready.json().jurisdictions.US).toEqual({
      home: 'oci-us-ashburn',
      serving: ['oci-us-ashburn', 'oci-us-phoenix'],
      draining: ['us-va-legacy'],
      servedBy: 'oci-us-ashburn',
      status: 'home',
    });
    const metrics = (await d.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /domicile_requests_total\{jurisdiction="US",region="oci-us-ashburn",outcome="200"\} \d+/,
    );
    expect(metrics).toContain('domicile_request_duration_seconds_bucket');
    expect(metrics).not.toContain('alice');
  });
});
