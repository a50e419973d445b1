/** Loopback ports for test and benchmark servers. No Vitest import: benchmarks use it too. */
import { createServer } from 'node:net';

/**
 * A free loopback port: asked of the kernel, then released (nothing listens on it afterwards,
 * which also makes it a port where a connection is refused).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}
