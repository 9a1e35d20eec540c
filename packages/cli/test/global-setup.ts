/**
 * Global setup of the `cli` project: builds dist/gaol.js (the completion tests run the real
 * executable from bash/zsh) through turbo, so an up-to-date build costs about a second.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '..', '..', '..');

export default function setup(): void {
  execFileSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', '--filter=@garden-ts/cli...', '--output-logs=errors-only'],
    {
      cwd: repo,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}
