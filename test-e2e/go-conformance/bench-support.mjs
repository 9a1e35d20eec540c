/**
 * Shared pieces of the wire benchmarks (bench/cases/wire-*.mjs): starting garden-ts's `gardend`
 * (side A), raw one-connection-per-request HTTP/1.1 exchanges as the Go client makes them, and a
 * closed-loop load generator. The peer side (the canonical Go server) comes from go-server.mjs.
 *
 * Plain ESM with JSDoc: the bench harness runs under plain node.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The command line of garden-ts's daemon: `$GARDEND` (split on spaces) or the built dist.
 * @returns {string[]}
 */
export function gardendCommand() {
  const fromEnv = process.env.GARDEND;
  if (fromEnv) return fromEnv.split(/\s+/).filter(Boolean);
  return [process.execPath, join(repoRoot, 'packages/gardend/dist/bin/gardend.js')];
}

/**
 * @typedef {object} RawResponse
 * @property {number} status
 * @property {Buffer} raw  the whole response, head and body, as received
 */

/**
 * One HTTP/1.1 exchange on a fresh unix-socket connection, read until the server closes it (the
 * request must say `Connection: close`, as every plain request of the Go client does).
 * @param {string} socketPath
 * @param {string | Buffer} request the complete request bytes
 * @returns {Promise<RawResponse>}
 */
export function rawExchange(socketPath, request) {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ path: socketPath });
    /** @type {Buffer[]} */
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      const raw = Buffer.concat(chunks);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw.subarray(0, 16).toString('latin1'));
      if (!match) {
        reject(new Error(`malformed response: ${JSON.stringify(raw.subarray(0, 64).toString('latin1'))}`));
        return;
      }
      resolvePromise({ status: Number(match[1]), raw });
    });
    socket.write(request);
  });
}

/**
 * A GET request head exactly as the Go client writes it for a plain exchange (protocol §1.3).
 * @param {string} path
 * @returns {string}
 */
export function goClientGet(path) {
  return `GET ${path} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`;
}

/**
 * A POST request with a JSON body, as the Go client writes it.
 * @param {string} path
 * @param {unknown} body
 * @returns {string}
 */
export function goClientPostJson(path, body) {
  const json = `${JSON.stringify(body)}\n`;
  return `POST ${path} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(json)}\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n${json}`;
}

/**
 * The `q` quantile of ascending latencies in ns, in milliseconds.
 * @param {number[]} sortedNs
 * @param {number} q
 * @returns {number}
 */
export function percentileMs(sortedNs, q) {
  if (sortedNs.length === 0) return Number.NaN;
  const index = Math.min(sortedNs.length - 1, Math.max(0, Math.ceil(q * sortedNs.length) - 1));
  return /** @type {number} */ (sortedNs[index]) / 1e6;
}

/**
 * Sends `total` identical requests from `concurrency` closed loops, each request on its own
 * connection, and checks every status.
 * @param {object} options
 * @param {string} options.socketPath
 * @param {string | Buffer} options.request
 * @param {number} options.total
 * @param {number} options.concurrency
 * @param {number} [options.expectStatus] default 200
 * @returns {Promise<{ value: number, p50: number, p99: number }>} req/s and latencies in ms
 */
export async function closedLoop({ socketPath, request, total, concurrency, expectStatus = 200 }) {
  /** @type {number[]} */
  const latencies = [];
  let issued = 0;
  const loop = async () => {
    while (issued < total) {
      issued++;
      const before = process.hrtime.bigint();
      const { status, raw } = await rawExchange(socketPath, request);
      latencies.push(Number(process.hrtime.bigint() - before));
      if (status !== expectStatus) {
        throw new Error(
          `expected status ${expectStatus}, got ${status}: ${raw.toString('latin1').slice(0, 200)}`,
        );
      }
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  latencies.sort((a, b) => a - b);
  return { value: total / seconds, p50: percentileMs(latencies, 0.5), p99: percentileMs(latencies, 0.99) };
}

/**
 * Polls `GET /ping` until it answers 200.
 * @param {string} socketPath
 * @param {() => string | null} exited returns a reason once the server process has exited
 * @param {number} timeoutMs
 */
async function waitForPing(socketPath, exited, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    const reason = exited();
    if (reason !== null) throw new Error(reason);
    try {
      const { status } = await rawExchange(socketPath, goClientGet('/ping'));
      if (status === 200) return;
      last = `status ${status}`;
    } catch (err) {
      last = /** @type {Error} */ (err).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server not ready after ${timeoutMs} ms: ${last}`);
}

/**
 * Starts `gardend --backend fake` on a temporary unix socket.
 * @returns {Promise<{ socketPath: string, pid: number, stop(): Promise<void> }>}
 * @throws {Error} when it is not built or does not come up (the message says how to build it)
 */
/** @param {string[]} [extraArgs] more gardend flags (e.g. the debug server's) */
export async function startGardend(extraArgs = []) {
  const [command, ...args] = gardendCommand();
  const script = args[0];
  if (!process.env.GARDEND && script !== undefined && !existsSync(script)) {
    throw new Error(`gardend is not built (${script} is missing): run \`pnpm build\` first, or set GARDEND`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'gardend-bench-'));
  const socketPath = join(dir, 'garden.sock');
  const child = spawn(
    /** @type {string} */ (command),
    [...args, '--backend', 'fake', '--bind-socket', socketPath, '--log-level', 'error', ...extraArgs],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  /** @type {string | null} */
  let exitReason = null;
  const exited = new Promise((resolvePromise) => {
    child.once('error', (err) => {
      exitReason = `cannot start ${command}: ${err.message}`;
      resolvePromise(undefined);
    });
    child.once('exit', (code, signal) => {
      exitReason = `gardend exited (code ${code}, signal ${signal}): ${stderr.trim() || 'no output'} — build it with \`pnpm build\` or set GARDEND`;
      resolvePromise(undefined);
    });
  });
  try {
    await waitForPing(socketPath, () => exitReason, 20_000);
  } catch (err) {
    if (exitReason === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = /** @type {number} */ (child.pid);
  return {
    socketPath,
    pid,
    async stop() {
      if (exitReason === null) {
        process.kill(pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (exitReason === null) process.kill(pid, 'SIGKILL');
        }, 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
