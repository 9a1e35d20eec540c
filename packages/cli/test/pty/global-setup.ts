/**
 * Global setup of the `cli-pty` project (gaol in a real terminal against gardend --backend linux):
 * FAILS, never skips, when not root or without tmux. Builds gardend and gaol (turbo: about a
 * second when up to date), then backend-linux's own setup checks the native build and the rootfs.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import backendLinuxSetup from '../../../backend-linux/test/global-setup.js';

const repo = join(import.meta.dirname, '..', '..', '..', '..');

export default function setup(project: TestProject): void {
  if (process.getuid?.() !== 0) {
    throw new Error('cli-pty tests must run as root: they run gardend --backend linux and real containers');
  }
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error('cli-pty tests need tmux (apt-get install tmux; scripts/setup.sh installs it)');
  }
  execFileSync(
    'pnpm',
    [
      'exec',
      'turbo',
      'run',
      'build',
      '--filter=@garden-ts/gardend...',
      '--filter=@garden-ts/cli...',
      '--output-logs=errors-only',
    ],
    { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  backendLinuxSetup(project);
}
