import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the "@garden-ts/source"
// export condition, so tests need no build step.
const conditions = ['@garden-ts/source', 'module', 'node', 'development|production'];
const packages = [
  'api-types',
  'backend-kit',
  'backend-fake',
  'backend-contract',
  'client',
  'server',
  'gardend',
];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects: [
      ...packages.map((name) => ({
        extends: true as const,
        test: { name, root: `packages/${name}`, include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
      })),
      {
        extends: true as const,
        test: {
          name: 'test-e2e',
          root: 'test-e2e',
          include: ['**/*.test.ts'],
          // Part (a) of the Go conformance runs as `go test` from scripts/test.sh (one count per Go test).
          // linux/ is the root-only project below.
          exclude: ['**/node_modules/**', 'go-conformance/go-client-vs-ts.test.ts', 'linux/**', 'install/**'],
          hookTimeout: 120_000,
        },
      },
      {
        extends: true as const,
        test: {
          // Real containers through gardend and the wire (root-only; the global setup fails, never
          // skips, without root). Heavy: no file parallelism, after the light projects.
          name: 'e2e-linux',
          root: 'test-e2e',
          include: ['linux/**/*.test.ts'],
          globalSetup: ['linux/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 3 },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      // Root-only tests of namespaces/cgroups; its own config (globalSetup builds the rootfs, no file parallelism).
      'packages/native-ns/vitest.config.ts',
      // Real containers (root-only); runs after native-ns (sequence.groupOrder) because both are heavy.
      'packages/backend-linux/vitest.config.ts',
      {
        extends: true as const,
        test: {
          // gaol in-process against server + backend-fake and the canonical Go server; completion
          // scripts in real bash/zsh (the global setup builds dist/gaol.js).
          name: 'cli',
          root: 'packages/cli',
          include: ['test/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'test/pty/**'],
          globalSetup: ['test/global-setup.ts'],
          hookTimeout: 120_000,
        },
      },
      {
        extends: true as const,
        test: {
          // gaol typed into a real terminal (tmux) against gardend --backend linux (root-only; the
          // global setup fails, never skips, without root). Heavy: after the Linux projects.
          name: 'cli-pty',
          root: 'packages/cli',
          include: ['test/pty/**/*.test.ts'],
          globalSetup: ['test/pty/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 5 },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true as const,
        test: {
          // Every package packed and installed with npm into a fresh directory, then a real
          // container through the installed gardend --backend linux, client and gaol (root-only;
          // fails, never skips, without root). Last: it packs the builds the others used.
          name: 'e2e-install',
          root: 'test-e2e',
          include: ['install/**/*.test.ts'],
          globalSetup: ['install/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 6 },
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      // Images: a real registry on loopback, layer unpacking, idmapped mounts (root-only).
      'packages/images/vitest.config.ts',
      { extends: true as const, test: { name: 'bench', root: 'bench', include: ['test/**/*.test.ts'] } },
      { extends: true as const, test: { name: 'examples', root: 'examples', include: ['**/*.test.ts'] } },
    ],
  },
});
