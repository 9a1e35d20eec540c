import { defineConfig } from 'vitest/config';

// Standalone config for this package; the root config should list the same settings as project
// `native-ns` (globalSetup, no file parallelism: the suite measures RSS and counts leftovers).
export default defineConfig({
  test: {
    name: 'native-ns',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
