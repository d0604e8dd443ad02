import { defineConfig } from 'vitest/config';

// Two cores: at most two test files at once; integration tests share one real broker and registry.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'services/**/*.test.ts'],
    // The fault suite restarts PostgreSQL and stops brokers: it runs alone (npm run test:faults, one file at a time), never beside other files.
    exclude: process.env.SWITCHBOARD_FAULTS === 'true' ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/e2e/faults/**'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
