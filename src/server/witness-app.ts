/**
 * A witness over HTTP: C2SP tlog-witness `POST /add-checkpoint`. The logic (and its persisted,
 * atomic check-and-update) is `Witness` in `src/tlog`; this only carries bytes.
 *
 * Every answer is plain text, as the spec's are: what the spec leaves open is answered the same
 * way (404 for an unknown route, 413 for a body over 64 KiB, 400 for any other malformed request,
 * an opaque 500 for anything unexpected), never with Fastify's JSON bodies, which quote the URL;
 * so is what Node refuses before Fastify sees a request (400, 408, 431: bad framing, a timeout,
 * headers over the limit).
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Witness } from '../tlog/witness.js';
import { clientErrorHandler, lacksHost, PLAIN_TEXT_ERRORS, refuseExpectations } from './errors.js';

/** Builds the witness app (no listen). */
export function buildWitnessApp(witness: Witness, options: { logger?: boolean } = {}): FastifyInstance {
  const refuse = (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
    if (status === 413) {
      sendText(reply, 413, 'request body exceeds 64 KiB');
    } else if (typeof status === 'number' && status >= 400 && status < 500) {
      sendText(reply, 400, 'malformed request');
    } else {
      request.log.error({ err: error }, 'unexpected error');
      sendText(reply, 500, 'internal error');
    }
  };
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 64 * 1024,
    frameworkErrors: refuse,
    // what Node refuses before Fastify sees a request: its own answers are not plain text
    clientErrorHandler: clientErrorHandler(PLAIN_TEXT_ERRORS),
    http: { requireHostHeader: false },
  });
  app.setErrorHandler(refuse);
  app.setNotFoundHandler((_request, reply) => sendText(reply, 404, 'not found'));
  refuseExpectations(app, PLAIN_TEXT_ERRORS);
  // Node's own refusal of a request without `Host` has no body (`requireHostHeader` above)
  app.addHook('onRequest', async (request, reply) => {
    if (!lacksHost(request)) return;
    sendText(reply, 400, 'malformed request: no host header');
    return reply;
  });
  // the body is a text note, whatever content type the client sends
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/add-checkpoint', async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const answer = await witness.addCheckpoint(body);
    return reply.status(answer.status).type(answer.contentType).send(answer.body);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}

function sendText(reply: FastifyReply, status: number, message: string): void {
  void reply.status(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}
