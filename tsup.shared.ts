import { defineConfig, type Options } from 'tsup';

/** One build recipe for every library package: ESM + CJS + .d.ts/.d.cts from src/index.ts. */
export function libraryBuild(extra: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...extra,
  });
}
