/**
 * The gardend executable, built with tsup the way `pnpm build` builds it and run as a child
 * process: --help, bad flags, serving on a unix socket, clean SIGTERM shutdown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, goRequest } from './helpers/raw-http.js';

const pkg = join(import.meta.dirname, '..');
const outDir = join(pkg, 'node_modules', '.cache', 'gardend-test');
const bin = join(outDir, 'gardend.js');
let dir: string;

beforeAll(async () => {
  // Same options as the gardend entry of tsup.config.ts; the output stays inside the package so
  // npm dependencies resolve from its node_modules.
  await build({
    config: false,
    silent: true,
    entry: { gardend: join(pkg, 'src/bin/gardend.ts') },
    outDir,
    format: ['esm'],
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
  dir = mkdtempSync(join(tmpdir(), 'gardend-'));
}, 60_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

describe('gardend', () => {
  it('prints help', async () => {
    const { code, stdout } = await run(['--help']).done;
    expect(code).toBe(0);
    expect(stdout).toContain('--backend fake|linux');
    expect(stdout).toContain('--default-grace-time');
  });

  it('rejects bad flags with a message naming them and exit code 2', async () => {
    const unknown = await run(['--backend', 'fake', '--frobnicate']).done;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--frobnicate');
    const badDuration = await run(['--backend', 'fake', '--default-grace-time', 'soon']).done;
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toContain('--default-grace-time');
    const missing = await run([]).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--backend is required');
  });

  it('says the linux backend is not available yet', async () => {
    const { code, stderr } = await run(['--backend', 'linux']).done;
    expect(code).toBe(2);
    expect(stderr).toContain('not available yet');
  });

  it('serves on a unix socket and shuts down cleanly on SIGTERM', async () => {
    const socketPath = join(dir, 'garden.sock');
    const { child, done } = run([
      '--backend',
      'fake',
      '--bind-socket',
      socketPath,
      '--default-grace-time',
      '5m',
    ]);
    await expect.poll(() => existsSync(socketPath), { timeout: 10_000, interval: 50 }).toBe(true);
    // Listening happens right after the socket file appears; retry the first ping briefly.
    let body = '';
    await expect
      .poll(
        async () => {
          try {
            body = (await exchange(socketPath, goRequest('GET', '/ping'))).body.toString();
          } catch {
            body = '';
          }
          return body;
        },
        { timeout: 5000, interval: 50 },
      )
      .toBe('{}\n');
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code).toBe(0);
    const lines = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; reqId?: string });
    expect(lines.some((l) => l.msg === 'garden server listening')).toBe(true);
    expect(lines.some((l) => l.msg === 'request completed' && l.reqId !== undefined)).toBe(true);
    expect(lines.at(-1)?.msg).toBe('stopped');
    expect(existsSync(socketPath)).toBe(false);
  }, 20_000);
});
