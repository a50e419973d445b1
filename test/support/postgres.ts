/**
 * PostgreSQL in the tests: the run's throwaway server (`postgres-server.ts`, started once by
 * `test/global-setup.ts`) reaches each test through Vitest's `inject`; each test keeps to its
 * own schemas on it.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export { type StartPostgresOptions, startPostgres, type TestPostgres } from './postgres-server.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** URL of the run's PostgreSQL test database (see `test/global-setup.ts`). */
    postgresUrl: string;
  }
}

/**
 * The URL of the run's server, provided by `test/global-setup.ts`. Throws when the run has no
 * server, so a test that needs PostgreSQL fails instead of being skipped.
 */
export function postgresUrl(): string {
  const url = inject('postgresUrl');
  if (typeof url !== 'string' || url === '') {
    throw new Error('no PostgreSQL server: run the tests with vitest.config.ts (its globalSetup starts one)');
  }
  return url;
}

/** A schema name no other test uses, for one region's tables. */
export function newSchemaName(prefix = 'test'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}
