/**
 * Starts the canonical Go Garden server (cmd/gogarden: code.cloudfoundry.org/garden/server over
 * the in-memory Go fakebackend) on a temporary unix socket, for tests and benchmarks that compare
 * garden-ts against the Go implementation.
 *
 * Plain ESM with JSDoc (types in go-server.d.mts) so that both vitest and the bench harness,
 * which runs under plain node, can import it.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The Go module directory (this file lives in it). */
export const GO_CONFORMANCE_DIR = dirname(fileURLToPath(import.meta.url));

/** Where `cmd/gogarden` is built (gitignored). */
export const GOGARDEN_BINARY = join(GO_CONFORMANCE_DIR, 'bin', 'gogarden');

/**
 * The `go` executable: `$GO`, else `go` on PATH, else the standard install location.
 * @returns {string}
 */
export function goExecutable() {
  if (process.env.GO) return process.env.GO;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  }
  return '/usr/local/go/bin/go';
}

/**
 * The capability manifest of cmd/gogarden's backend (the Go fakebackend), for the backend
 * contract suite: it simulates what backend-fake does, CPU limits read back as cgroup v1 shares.
 * @type {import('@garden-ts/api-types').BackendCapabilities}
 */
export const GO_FAKE_BACKEND_CAPABILITIES = Object.freeze({
  limits: true,
  networking: true,
  tty: true,
  privileged: true,
  diskLimits: true,
  metrics: true,
  cpuLimitsReadBack: 'shares',
});

/** @type {Promise<string> | undefined} */
let buildOnce;

/**
 * Builds `cmd/gogarden` into `bin/` once per process. The binary is written to a temporary name
 * and renamed, so concurrent builders (parallel test workers) never see a half-written file.
 * @returns {Promise<string>} the binary's path
 */
export function buildGoGarden() {
  buildOnce ??= (async () => {
    const tmp = `${GOGARDEN_BINARY}.${process.pid}.tmp`;
    try {
      await execFileAsync(goExecutable(), ['build', '-o', tmp, './cmd/gogarden'], {
        cwd: GO_CONFORMANCE_DIR,
        maxBuffer: 16 << 20,
      });
    } catch (err) {
      const e = /** @type {{ stderr?: string, message: string }} */ (err);
      throw new Error(`go build ./cmd/gogarden failed: ${e.stderr || e.message}`);
    }
    await rename(tmp, GOGARDEN_BINARY);
    return GOGARDEN_BINARY;
  })();
  // A failed build is retried by the next caller instead of being cached.
  buildOnce.catch(() => {
    buildOnce = undefined;
  });
  return buildOnce;
}

/**
 * Resolves once the child prints its "listening" line; rejects if it exits first or times out.
 * @param {import('node:child_process').ChildProcess} child
 * @param {number} timeoutMs
 * @returns {Promise<void>}
 */
function waitForListening(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let stderr = '';
    /** @param {Buffer} chunk */
    const onData = (chunk) => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('gogarden listening')) finish();
    };
    /** @param {number | null} code @param {NodeJS.Signals | null} signal */
    const onExit = (code, signal) =>
      finish(new Error(`gogarden exited early (code ${code}, signal ${signal}): ${stderr}`));
    /** @param {Error} [err] */
    const finish = (err) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining stderr so the child never blocks on a full pipe.
      child.stderr?.resume();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`gogarden did not start within ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Builds (once) and starts `cmd/gogarden` on a fresh temporary unix socket.
 * @param {import('./go-server.d.mts').GoGardenServerOptions} [opts]
 * @returns {Promise<import('./go-server.d.mts').GoGardenServer>}
 * @throws {Error} when the build fails or the server does not come up
 */
export async function startGoGardenServer(opts = {}) {
  const binary = await buildGoGarden();
  const dir = await mkdtemp(join(tmpdir(), 'gogarden-'));
  const socketPath = join(dir, 'garden.sock');
  const child = spawn(binary, ['-socket', socketPath, '-grace-time', opts.graceTime ?? '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', () => resolve(undefined)));
  const running = () => child.exitCode === null && child.signalCode === null;
  try {
    await waitForListening(child, opts.startTimeoutMs ?? 30_000);
  } catch (err) {
    if (running() && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = /** @type {number} */ (child.pid);
  /** @type {Promise<void> | undefined} */
  let stopping;
  return {
    socketPath,
    pid,
    stop() {
      stopping ??= (async () => {
        if (running()) {
          process.kill(pid, 'SIGTERM');
          const timer = setTimeout(() => {
            if (running()) process.kill(pid, 'SIGKILL');
          }, 5000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
