import { defineConfig } from 'vitest/config';

// Standalone config for this package (run: `pnpm exec vitest run --config packages/backend-linux/vitest.config.ts`).
// The root config should list project `backend-linux` with the same settings: a root-only global
// setup, no file parallelism (the suites count leftover cgroups/mounts), generous timeouts.
const conditions = ['@garden-ts/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: 'backend-linux',
    root: import.meta.dirname,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    // Run after the light projects, one heavy root-only project at a time.
    sequence: { groupOrder: 2 },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
