/**
 * How every baseline server of the benchmarks runs: on a free loopback port, printing
 * `listening <url>` when ready, and on SIGTERM or SIGINT (the benchmark stops it with SIGTERM)
 * closing the app, then running its own cleanup (leave no database behind), then exiting.
 */
import type { FastifyInstance } from 'fastify';

export async function serveUntilStopped(
  app: FastifyInstance,
  cleanup: () => Promise<void> | void,
): Promise<void> {
  const shutdown = async (): Promise<void> => {
    await app.close();
    await cleanup();
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`listening ${url}\n`);
}
