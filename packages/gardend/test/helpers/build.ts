/**
 * The gardend executable for tests that run it as a child process: the gardend entry of
 * tsup.config.ts, built the way `pnpm build` builds it but into the package (so npm dependencies
 * resolve from its node_modules), one output dir per test file (files run in parallel).
 */
import { join } from 'node:path';
import { build, type Options } from 'tsup';
import { gardendBin } from '../../tsup.config.js';

const pkg = join(import.meta.dirname, '..', '..');

/** Builds gardend into `node_modules/.cache/<cacheName>`; resolves to the built `gardend.js`. */
export async function buildGardend(cacheName: string): Promise<string> {
  const outDir = join(pkg, 'node_modules', '.cache', cacheName);
  await build({
    ...(gardendBin as Options),
    config: false,
    silent: true,
    sourcemap: false,
    entry: { gardend: join(pkg, 'src/bin/gardend.ts') },
    outDir,
  });
  return join(outDir, 'gardend.js');
}
