import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Database-backed suites share one PostgreSQL and one Redis; each file isolates itself
    // (own schema, own key prefix), so files may run in parallel within the 2-core budget.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
