import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clientErrorHandler,
  installErrorHandlers,
  JSON_ERRORS,
  PLAIN_TEXT_ERRORS,
  refuseExpectations,
} from './errors.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** An app on loopback that gives up on a request whose headers take over 200 ms. */
async function serve(handler: ReturnType<typeof clientErrorHandler>): Promise<number> {
  const app = Fastify({
    clientErrorHandler: handler,
    requestTimeout: 1000,
    http: { headersTimeout: 200, connectionsCheckingInterval: 50 },
  });
  apps.push(app);
  // a response that starts and never ends
  app.get('/started', (_request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
    reply.raw.write('started\n');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

/**
 * Sends `first`, then `then` once the server has sent anything (if given), and reads until the
 * server closes the connection.
 */
function exchange(port: number, first: string, then?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(first));
    socket.setTimeout(5000, () => socket.destroy(new Error('no close within 5 s')));
    socket.on('data', (chunk: Buffer) => {
      if (received === '' && then !== undefined) socket.write(then);
      received += chunk.toString('latin1');
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(received) : reject(error),
    );
    socket.on('close', () => resolve(received));
  });
}

function split(answer: string): { head: string; body: string } {
  const end = answer.indexOf('\r\n\r\n');
  return { head: answer.slice(0, end), body: answer.slice(end + 4) };
}

describe('clientErrorHandler', () => {
  describe('when a request does not arrive in time', () => {
    it('answers a coded 408 and closes', async () => {
      const port = await serve(clientErrorHandler(JSON_ERRORS));
      const { head, body } = split(await exchange(port, 'GET / HTTP/1.1\r\nhost: x\r\n'));
      expect(head).toMatch(/^HTTP\/1\.1 408 /);
      expect(head).toContain('\r\ncontent-type: application/json; charset=utf-8');
      expect(head).toContain(`\r\ncontent-length: ${Buffer.byteLength(body)}`);
      expect(head).toContain('\r\nconnection: close');
      expect(JSON.parse(body)).toEqual({
        error: { code: 'DOMICILE_ERR_REQUEST_TIMEOUT', message: expect.any(String) },
      });
    });

    it('answers in one line of plain text for an app that speaks it', async () => {
      const port = await serve(clientErrorHandler(PLAIN_TEXT_ERRORS));
      const { head, body } = split(await exchange(port, 'GET / HTTP/1.1\r\nhost: x\r\n'));
      expect(head).toMatch(/^HTTP\/1\.1 408 /);
      expect(head).toContain('\r\ncontent-type: text/plain; charset=utf-8');
      expect(body).toMatch(/^[^\n]+\n$/);
    });
  });

  describe('when a response is already under way on the connection', () => {
    it('writes nothing into it, and closes', async () => {
      const port = await serve(clientErrorHandler(JSON_ERRORS));
      // a second, malformed request pipelined after the first, once its answer has started
      const answer = await exchange(port, 'GET /started HTTP/1.1\r\nhost: x\r\n\r\n', 'NOT HTTP\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer.endsWith('\r\n\r\nstarted\n'), answer).toBe(true);
      expect(answer).not.toContain('DOMICILE_ERR');
    });
  });
});

describe('an Expect header other than 100-continue', () => {
  /** An app with an echo route, its errors installed as the JSON apps or the witness install them. */
  async function serveEcho(kind: 'json' | 'plain text'): Promise<number> {
    const app = Fastify();
    apps.push(app);
    if (kind === 'json') installErrorHandlers(app);
    else refuseExpectations(app, PLAIN_TEXT_ERRORS);
    app.post('/echo', (request) => ({ echoed: request.body }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    return (app.server.address() as AddressInfo).port;
  }

  const post = (expect: string) =>
    'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 7\r\n' +
    `expect: ${expect}\r\nconnection: close\r\n\r\n`;

  it('is refused with a coded 417 before the body is read, and the connection closes', async () => {
    const port = await serveEcho('json');
    const { head, body } = split(await exchange(port, post('x-fancy')));
    expect(head).toMatch(/^HTTP\/1\.1 417 /);
    expect(head).toContain('\r\ncontent-type: application/json; charset=utf-8');
    expect(head.toLowerCase()).toContain('\r\nconnection: close');
    expect(JSON.parse(body)).toEqual({
      error: { code: 'DOMICILE_ERR_EXPECTATION_FAILED', message: expect.any(String) },
    });
  });

  it('is refused in one line of plain text by an app that speaks it', async () => {
    const port = await serveEcho('plain text');
    const { head, body } = split(await exchange(port, post('x-fancy')));
    expect(head).toMatch(/^HTTP\/1\.1 417 /);
    expect(head).toContain('\r\ncontent-type: text/plain; charset=utf-8');
    expect(body).toMatch(/^[^\n]+\n$/);
  });

  it('does not touch 100-continue: the client is told to go on and the request is served', async () => {
    const port = await serveEcho('json');
    const answer = await exchange(port, post('100-continue'), '"hello"');
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(split(answer.slice(answer.indexOf('HTTP/1.1 200'))).body).toBe('{"echoed":"hello"}');
  });
});
