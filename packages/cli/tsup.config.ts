import { defineConfig } from 'tsup';

// The gaol executable (dist/gaol.js): ESM with code splitting, so each command's handler is its own
// chunk, imported only when that command runs. The client, api-types and TypeBox are bundled (from
// source, tree-shaken): loaded as separate ESM modules they cost ~190 ms per run (TypeBox alone is
// ~150 files), bundled `gaol ping` takes ~130 ms in all. npm dependencies (tar-stream) stay external.
export default defineConfig({
  entry: { gaol: 'src/gaol.ts' },
  format: ['esm'],
  splitting: true,
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'node20',
  noExternal: [/^@garden-ts\//, /^@sinclair\/typebox/],
  esbuildOptions(options) {
    options.conditions = ['@garden-ts/source'];
  },
});
