import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // PETSc is initialized once per process and native state is process-global:
    // each test file runs in its own forked process, never in worker threads.
    pool: 'forks',
    // Memory tests collect garbage before reading RSS.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
