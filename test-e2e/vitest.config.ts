import { defineConfig } from 'vitest/config';

// Standalone config for `pnpm --filter @garden-ts/test-e2e test`. Like the root config, workspace
// packages resolve to their TypeScript sources through the "@garden-ts/source" condition.
// (vite's defaultServerConditions, spelled out: vitest 4.1.12 no longer re-exports them.)
const conditions = ['@garden-ts/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'test-e2e',
          root: import.meta.dirname,
          include: ['**/*.test.ts'],
          exclude: ['**/node_modules/**', 'linux/**', 'install/**'],
          // The Go server is built once per run; allow for a cold Go build cache.
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // Real containers (root-only: the global setup fails without root), one file at a time.
          name: 'e2e-linux',
          root: import.meta.dirname,
          include: ['linux/**/*.test.ts'],
          globalSetup: ['linux/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 3 },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // Every package packed and installed with npm, then the installed gardend, client and
          // gaol (root-only: the global setup fails without root).
          name: 'e2e-install',
          root: import.meta.dirname,
          include: ['install/**/*.test.ts'],
          globalSetup: ['install/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 6 },
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
