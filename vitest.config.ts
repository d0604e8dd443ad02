import { defineConfig } from 'vitest/config';

// Two cores: at most two test files at once; integration tests share one real broker and registry.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'services/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
