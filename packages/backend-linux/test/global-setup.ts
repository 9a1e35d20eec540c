/**
 * Root-only suite: fails (never skips) without root, without the native-ns build or without a
 * busybox rootfs it cannot build. Provides the rootfs path to the tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(pkg, '..', '..');

declare module 'vitest' {
  export interface ProvidedContext {
    rootfs: string;
  }
}

export default function setup(project: TestProject): void {
  if (process.getuid?.() !== 0)
    throw new Error('backend-linux tests must run as root (they create namespaces, cgroups and mounts)');
  const native = join(repo, 'packages', 'native-ns', 'build', 'Release');
  for (const f of ['garden_ns.node', 'garden-init', 'garden-shim']) {
    if (!existsSync(join(native, f)))
      throw new Error(
        `native-ns: ${native}/${f} missing: run pnpm --filter @garden-ts/native-ns build:native`,
      );
  }
  const rootfs = process.env.GARDEN_TEST_ROOTFS ?? join(repo, '.rootfs', 'busybox');
  if (!existsSync(join(rootfs, 'bin', 'busybox'))) {
    execFileSync('bash', [join(repo, 'scripts', 'build-rootfs.sh'), rootfs], { stdio: 'inherit' });
  }
  if (!existsSync(join(rootfs, 'bin', 'busybox'))) throw new Error(`no rootfs at ${rootfs}`);
  project.provide('rootfs', rootfs);
}
