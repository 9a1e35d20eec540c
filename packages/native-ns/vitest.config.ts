import { defineConfig } from 'vitest/config';

// Standalone config for this package; the root config should list the same settings as project
// `native-ns` (globalSetup, no file parallelism: the suite measures RSS and counts leftovers).
export default defineConfig({
  test: {
    name: 'native-ns',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    // Run after the light projects, one heavy root-only project at a time.
    sequence: { groupOrder: 1 },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
