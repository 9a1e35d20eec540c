#!/usr/bin/env node
/**
 * gardend: serves the Garden API over the chosen backend (`fake`, or `linux`: real containers,
 * loaded lazily from the optional @garden-ts/backend-linux package), configured from flags,
 * `GARDEND_*` environment variables and a config file (see src/options/schema.ts).
 * Exit codes: 0 after a clean shutdown, 1 on a runtime or startup failure (e.g. not root for
 * `--backend linux`), 2 on a usage error.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkg from '../../package.json' with { type: 'json' };
import { runGardend } from '../run.js';

runGardend({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  moduleDir: dirname(fileURLToPath(import.meta.url)),
  version: pkg.version,
}).then(
  (code) => {
    process.exitCode = code;
    // Normally nothing is left and Node exits now; if a backend left a handle open, do not hang.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err) => {
    process.stderr.write(`gardend: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
