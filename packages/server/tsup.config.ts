import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.shared.ts';

export default [
  // The library: ESM + CJS + .d.ts from src/index.ts. Only top-level outputs are cleaned, so the
  // two builds (which run in parallel) never delete each other's files.
  libraryBuild({ clean: ['*.js', '*.cjs', '*.d.ts', '*.d.cts', '*.map'] }),
  // The gardend executable (dist/bin/gardend.js). Workspace packages are bundled from source so
  // the binary runs without building them first; npm dependencies stay external.
  defineConfig({
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
  }),
];
