import { defineConfig } from 'vitest/config';

// Root-only: unpacking layers needs mknod, chown and trusted.* xattrs, the views need idmapped
// mounts, and the tests start Debian's docker-registry on loopback. No file parallelism: the
// registries and mounts of one file at a time keep the 2-core machine responsive.
const conditions = ['@garden-ts/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: 'images',
    root: import.meta.dirname,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    sequence: { groupOrder: 4 },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
