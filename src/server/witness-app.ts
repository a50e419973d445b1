/**
 * A witness over HTTP: C2SP tlog-witness `POST /add-checkpoint`. The logic (and its persisted,
 * atomic check-and-update) is `Witness` in `src/tlog`; this only carries bytes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Witness } from '../tlog/witness.js';

/** Builds the witness app (no listen). */
export function buildWitnessApp(witness: Witness, options: { logger?: boolean } = {}): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 64 * 1024 });
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
