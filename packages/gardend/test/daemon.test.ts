/**
 * gardend as a daemon, run as a child process: the debug server (scraped and parsed strictly),
 * SIGHUP (re-reads the config file, applies the log level, names what needs a restart),
 * SIGTERM (graceful), a second SIGTERM and --shutdown-timeout (forced exit 1), and a backend
 * module (--backend module).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusText, seriesValue } from '../../server/test/helpers/prometheus-text.js';
import { buildGardend } from './helpers/build.js';
import { call, ping } from './helpers/http.js';

const slowStop = join(import.meta.dirname, 'fixtures', 'slow-stop-backend.mjs');
let dir: string;
let bin: string;
let n = 0;

beforeAll(async () => {
  bin = await buildGardend('gardend-daemon-test');
  dir = mkdtempSync(join(tmpdir(), 'gardend-daemon-'));
}, 60_000);
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface LogLine {
  msg: string;
  level: number;
  [k: string]: unknown;
}

/** Starts gardend; resolves once it serves, with its log lines as they come. */
async function start(args: string[]) {
  const socketPath = join(dir, `g${n++}.sock`);
  const child = spawn(process.execPath, [bin, '--bind-socket', socketPath, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const lines: LogLine[] = [];
  let partial = '';
  child.stderr!.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) lines.push(JSON.parse(p) as LogLine);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  await expect.poll(() => existsSync(socketPath), { timeout: 10_000, interval: 50 }).toBe(true);
  await expect.poll(() => ping(socketPath).catch(() => ''), { timeout: 5000, interval: 50 }).toBe('{}\n');
  return { child, socketPath, lines, exited };
}

describe('the debug server', () => {
  it('is off by default, and serves /metrics and /debug/vars on --debug-bind-ip', async () => {
    const off = await start(['--backend', 'fake']);
    expect(off.lines.some((l) => l.msg === 'debug server listening')).toBe(false);
    off.child.kill('SIGTERM');
    expect(await off.exited).toBe(0);

    const g = await start(['--backend', 'fake', '--debug-bind-ip', '127.0.0.1', '--debug-bind-port', '0']);
    const listening = g.lines.find((l) => l.msg === 'debug server listening') as
      | { address: { port: number } }
      | undefined;
    const base = `http://127.0.0.1:${listening!.address.port}`;
    expect((await call(g.socketPath, 'POST', '/containers', '{"handle":"d1"}')).status).toBe(200);
    const m = parsePrometheusText(await (await fetch(`${base}/metrics`)).text());
    expect(seriesValue(m, 'garden_requests_total', { route: 'Create', transport: 'fast', code: '200' })).toBe(
      1,
    );
    expect(seriesValue(m, 'garden_containers', { state: 'active' })).toBe(1);
    expect(m.has('garden_container_memory_usage_bytes')).toBe(false); // opt-in
    const vars = (await (await fetch(`${base}/debug/vars`)).json()) as {
      cmdline: string[];
      memstats: { Alloc: number };
    };
    expect(vars.cmdline).toContain('--debug-bind-ip');
    expect(vars.memstats.Alloc).toBeGreaterThan(0);
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
    await expect(fetch(`${base}/metrics`)).rejects.toThrow();
  }, 30_000);
});

describe('signals', () => {
  it('SIGHUP re-reads the config file: the log level applies, other changes are named', async () => {
    const file = join(dir, 'hup.json');
    writeFileSync(file, JSON.stringify({ backend: 'fake', 'log-level': 'info', 'max-containers': 5 }));
    const g = await start(['--config', file]);
    await call(g.socketPath, 'GET', '/ping');
    expect(g.lines.some((l) => l.msg === 'request completed')).toBe(false); // debug level
    writeFileSync(file, JSON.stringify({ backend: 'fake', 'log-level': 'debug', 'max-containers': 7 }));
    g.child.kill('SIGHUP');
    await expect.poll(() => g.lines.find((l) => l.msg.startsWith('SIGHUP'))).toBeDefined();
    expect(g.lines.find((l) => l.msg.startsWith('SIGHUP'))).toMatchObject({
      logLevel: 'debug',
      needRestart: ['maxContainers'],
    });
    await call(g.socketPath, 'GET', '/ping');
    await expect.poll(() => g.lines.some((l) => l.msg === 'request completed')).toBe(true);
    // A broken file is reported and the running configuration kept.
    writeFileSync(file, '{oops');
    g.child.kill('SIGHUP');
    await expect.poll(() => g.lines.some((l) => l.msg.includes('cannot be read'))).toBe(true);
    expect(await ping(g.socketPath)).toBe('{}\n');
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 30_000);

  it('SIGTERM waits for the stop; a second SIGTERM exits at once with status 1', async () => {
    const g = await start([
      '--backend',
      'module',
      '--backend-module',
      slowStop,
      '--backend-options',
      '{"stopDelayMs":20000}',
    ]);
    g.child.kill('SIGTERM');
    await expect.poll(() => g.lines.some((l) => l.msg === 'slow stop')).toBe(true);
    const started = Date.now();
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(g.lines.some((l) => l.msg.startsWith('second stop request'))).toBe(true);
  }, 30_000);

  it('--shutdown-timeout bounds the graceful stop (exit status 1)', async () => {
    const g = await start([
      '--backend',
      'module',
      '--backend-module',
      slowStop,
      '--backend-options',
      '{"stopDelayMs":20000}',
      '--shutdown-timeout',
      '500ms',
    ]);
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(1);
    expect(g.lines.some((l) => l.msg.includes('--shutdown-timeout'))).toBe(true);
  }, 30_000);

  it('a stop within the timeout exits 0 after the backend stopped', async () => {
    const g = await start([
      '--backend',
      'module',
      '--backend-module',
      slowStop,
      '--backend-options',
      '{"stopDelayMs":300}',
    ]);
    g.child.kill('SIGINT');
    expect(await g.exited).toBe(0);
    expect(g.lines.at(-1)?.msg).toBe('stopped');
  }, 30_000);
});

describe('--backend module', () => {
  it('refuses a module without createBackend, and a missing one, naming the flag', async () => {
    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, 'export const x = 1;\n');
    for (const [mod, want] of [
      [empty, /exports no createBackend/],
      [join(dir, 'missing.mjs'), /cannot be found/],
      ['no-such-garden-backend-pkg', /cannot be found/],
    ] as const) {
      const child = spawn(process.execPath, [bin, '--backend', 'module', '--backend-module', mod], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect(code).toBe(1);
      expect(err).toMatch(/^gardend: --backend-module /);
      expect(err).toMatch(want);
    }
  }, 30_000);
});
