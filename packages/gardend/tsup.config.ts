import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.shared.ts';

/**
 * The gardend executable (dist/bin/gardend.js). Workspace packages are bundled from source so the
 * binary runs without building them first; npm dependencies stay external, and backend-linux is
 * imported at run time from its installed package (see src/backends/linux.ts).
 */
export const gardendBin = defineConfig({
  entry: { 'bin/gardend': 'src/bin/gardend.ts' },
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: false,
  target: 'node20',
  noExternal: [/^@garden-ts\//],
  // Bundled CommonJS dependencies (tar-stream) call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  esbuildOptions(options) {
    options.conditions = ['@garden-ts/source'];
  },
});

export default [
  // The library (option schema, help and docs renderers): ESM + CJS + .d.ts. Only top-level
  // outputs are cleaned, so the two builds (which run in parallel) never delete each other's files.
  libraryBuild({ clean: ['*.js', '*.cjs', '*.d.ts', '*.d.cts', '*.map'] }),
  gardendBin,
];
