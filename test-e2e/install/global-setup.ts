/**
 * Global setup of the `e2e-install` project (every package packed and installed with npm, then a
 * real container through the installed gardend, client and gaol): FAILS, never skips, when not
 * root. Builds every package (turbo: about a second when up to date) so the tarballs hold
 * current builds; backend-linux's setup checks the native build and the rootfs tools.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import backendLinuxSetup from '../../packages/backend-linux/test/global-setup.js';

const repo = join(import.meta.dirname, '..', '..');

export default function setup(project: TestProject): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'e2e-install tests must run as root: the installed gardend --backend linux runs real containers',
    );
  }
  execFileSync('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  backendLinuxSetup(project);
}
