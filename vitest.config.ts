import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'console/src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // one throwaway PostgreSQL server for the run (its URL reaches tests through `inject`)
    globalSetup: ['test/global-setup.ts'],
  },
});
