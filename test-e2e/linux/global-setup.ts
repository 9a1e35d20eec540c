/**
 * Global setup of the `e2e-linux` project (real containers): FAILS, never skips, when not root.
 * Builds what the gardend test runs (`packages/gardend/dist/bin/gardend.js` loads backend-linux
 * from its built package, as installed), through turbo so that an up-to-date build costs about a
 * second; then backend-linux's own setup checks the native build and provides the busybox rootfs.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import backendLinuxSetup from '../../packages/backend-linux/test/global-setup.js';

const repo = join(import.meta.dirname, '..', '..');

export default function setup(project: TestProject): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'e2e-linux tests must run as root: they run gardend --backend linux and real containers (namespaces, cgroups, mounts)',
    );
  }
  execFileSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', '--filter=@garden-ts/gardend...', '--output-logs=errors-only'],
    { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  backendLinuxSetup(project);
}
