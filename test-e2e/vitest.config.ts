import { defineConfig } from 'vitest/config';

// Standalone config for `pnpm --filter @garden-ts/test-e2e test`. Like the root config, workspace
// packages resolve to their TypeScript sources through the "@garden-ts/source" condition.
// (vite's defaultServerConditions, spelled out: vitest 4.1.12 no longer re-exports them.)
const conditions = ['@garden-ts/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: 'test-e2e',
    root: import.meta.dirname,
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    // The Go server is built once per run; allow for a cold Go build cache.
    hookTimeout: 120_000,
  },
});
