/**
 * Root-only suite: fails (never skips) without root, the native build, the busybox rootfs or the
 * tools the tests drive (Debian's docker-registry, skopeo, umoci, zstd, htpasswd, openssl; all
 * installed by scripts/setup.sh). Bundles src/ for the child processes of the crash tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(pkg, '..', '..');

declare module 'vitest' {
  export interface ProvidedContext {
    rootfs: string;
    bundle: string;
    nativeBuild: string;
  }
}

export default async function setup(project: TestProject) {
  if (process.getuid?.() !== 0)
    throw new Error('images tests must run as root (mknod, chown, trusted.* xattrs, idmapped mounts)');
  const nativeBuild = join(repo, 'packages', 'native-ns', 'build', 'Release');
  if (!existsSync(join(nativeBuild, 'garden_ns.node')))
    throw new Error('native-ns is not built: run pnpm --filter @garden-ts/native-ns build:native');
  for (const tool of ['docker-registry', 'skopeo', 'umoci', 'zstd', 'htpasswd', 'openssl', 'tar']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`images tests need ${tool}: run scripts/setup.sh (it installs the Debian packages)`);
    }
  }
  const rootfs = process.env.GARDEN_TEST_ROOTFS ?? join(repo, '.rootfs', 'busybox');
  if (!existsSync(join(rootfs, 'bin', 'busybox')))
    execFileSync('bash', [join(repo, 'scripts', 'build-rootfs.sh'), rootfs], { stdio: 'inherit' });
  if (!existsSync(join(rootfs, 'bin', 'busybox'))) throw new Error(`no rootfs at ${rootfs}`);

  // Inside the package's node_modules, so that the bundle's imports (undici, fzstd) resolve;
  // workspace packages are bundled from their sources.
  const work = mkdtempSync(join(pkg, 'node_modules', '.images-test-'));
  const { build } = await import('tsup');
  await build({
    entry: { index: join(pkg, 'src', 'index.ts') },
    format: ['esm'],
    outDir: join(work, 'bundle'),
    platform: 'node',
    target: 'node20',
    silent: true,
    config: false,
    dts: false,
    noExternal: [/^@garden-ts\//],
    external: ['undici', 'fzstd'],
    esbuildOptions(o) {
      o.conditions = ['@garden-ts/source', 'module', 'node'];
    },
  });
  project.provide('rootfs', rootfs);
  project.provide('bundle', join(work, 'bundle', 'index.js'));
  project.provide('nativeBuild', nativeBuild);
  return () => rmSync(work, { recursive: true, force: true });
}
