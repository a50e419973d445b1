/**
 * Vitest global setup: one throwaway PostgreSQL server for the whole run, its URL provided to
 * the tests as `inject('postgresUrl')` (see `test/support/postgres.ts`). Tests that need
 * PostgreSQL always run against it; when it cannot start, the run fails with the reason.
 */
import type { TestProject } from 'vitest/node';
import { startPostgres } from './support/postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const server = await startPostgres();
  if (process.env.DOMICILE_TEST_VERBOSE === '1') {
    console.log(`[postgres] test server ready in ${Date.now() - started} ms`);
  }
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
