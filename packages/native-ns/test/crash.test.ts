/** Crash safety: the process, its output and its exit status outlive the server that started it. */
import { spawn as spawnChild } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { attach, type Container, NativeArgumentError, ProcessLostError, spawn } from '../src/index.js';
import { cleanup, collect, newContainer, newDir } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url));
let container: Container;

beforeAll(async () => {
  ({ container } = await newContainer());
});
afterAll(cleanup);

/** A child Node "server" running fixture `script` with the bundle and our container's cgroups. */
function nodeChild(args: string[], script = fixture) {
  return spawnChild(process.execPath, [script, ...args], {
    env: {
      ...process.env,
      NATIVE_NS_BUNDLE: inject('bundle'),
      CGROUPS: JSON.stringify(container.cgroups),
      GARDEN_NATIVE_NS_BUILD: join(fileURLToPath(new URL('..', import.meta.url)), 'build', 'Release'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

it('survives SIGKILL of the server: a new server re-attaches, gets all 50 lines in order and exit 7', async () => {
  const dir = newDir();
  const first = nodeChild(['start', dir, String(container.pid)]);
  let err = '';
  let seen = '';
  first.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  first.stdout.on('data', (b: Buffer) => {
    seen += b.toString();
  });
  await waitFor(() => err.includes('STARTED') && seen.split('\n').length > 3);
  const [, pid, shimPid] = (err.match(/STARTED (\d+) (\d+)/) ?? []).map(Number);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  expect(alive(pid as number)).toBe(true);
  expect(alive(shimPid as number)).toBe(true);
  expect(seen.trim().split('\n').length).toBeLessThan(50); // killed mid-run

  const second = nodeChild(['attach', dir]);
  const [out] = await Promise.all([text(second.stdout), new Promise((r) => second.once('exit', r))]);
  const result = JSON.parse(out) as { stdout: string; status: { exitStatus: number } };
  expect(result.stdout).toBe(`${Array.from({ length: 50 }, (_, i) => i + 1).join('\n')}\n`);
  expect(result.status.exitStatus).toBe(7);
  expect(JSON.parse(readFileSync(join(dir, 'exit'), 'utf8'))).toEqual({
    exitStatus: 7,
    code: 7,
    signal: null,
  });
  await waitFor(() => !alive(shimPid as number));
});

const manyFixture = fileURLToPath(new URL('./fixtures/crash-many.mjs', import.meta.url));

/** A crash-many.mjs server: what it wrote to stdout / stderr so far, and its exit. */
function manyServer(args: string[]) {
  const child = nodeChild(args, manyFixture);
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    running: () => child.exitCode === null && child.signalCode === null,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('neither loses nor repeats a byte across repeated server kills, 20 processes printing throughout', async () => {
  const N = 20;
  const LINES = 4000;
  const base = newDir();
  const expected = `${Array.from({ length: LINES }, (_, i) => i + 1).join('\n')}\n`;
  let server = manyServer(['start', base, String(container.pid), String(N)]);
  let kills = 0;
  try {
    await waitFor(() => server.stderr().includes('READY'), 30_000);
    while (kills < 5) {
      await sleep(100 + Math.random() * 200);
      // The server stops processing (stuck in one callback) while every shim goes on sending:
      // output is in flight in its sockets, sent but never handed on, when it is SIGKILLed.
      server.child.kill('SIGUSR1');
      await waitFor(() => server.stderr().includes('BLOCKING') || !server.running());
      if (!server.running()) break; // every process has finished already
      await sleep(100);
      server.child.kill('SIGKILL');
      await server.exited;
      kills++;
      await sleep(Math.random() * 100); // nobody attached for a while: the rings keep everything
      server = manyServer(['attach', base, String(N)]);
      await waitFor(() => server.stderr().includes('READY') || !server.running(), 30_000);
    }
    const code = await Promise.race([
      server.exited,
      sleep(60_000).then(() => `the last server did not finish: ${server.stderr()}`),
    ]);
    expect(code).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(3); // the processes outlived most of the rounds
    for (let i = 0; i < N; i++) {
      // The union of what every server handed on: each line exactly once, in order.
      const got = readFileSync(join(base, `p${i}`, 'received'), 'utf8');
      const lines = got.split('\n').filter(Boolean).map(Number);
      const seen = new Set<number>();
      const repeated = lines.filter((l) => seen.has(l) || !seen.add(l));
      const missing = Array.from({ length: LINES }, (_, k) => k + 1).filter((l) => !seen.has(l));
      expect({ process: i, missing, repeated }).toEqual({ process: i, missing: [], repeated: [] });
      expect(got === expected).toBe(true);
    }
    // and no server saw a gap (what was delivered before it attached is not "lost")
    const result = JSON.parse(server.stdout()) as { statuses: number[]; lost: string[][] };
    expect(result.statuses).toEqual(Array(N).fill(0));
    expect(result.lost.flat()).toEqual(Array(2 * N).fill('0'));
  } finally {
    if (server.running()) server.child.kill('SIGKILL');
  }
}, 120_000);

it('a writer of 10 MiB with nobody attached finishes; the ring keeps the last 1 MiB', async () => {
  const dir = newDir();
  const p = await spawn(
    container,
    { path: '/bin/sh', args: ['sh', '-c', 'head -c 10485760 /dev/zero | tr "\\0" x; echo done >&2'] },
    { dir },
  );
  p.detach();
  await waitFor(() => existsSync(join(dir, 'exit')), 20_000);
  expect(statSync(join(dir, 'stdout.ring')).size).toBe(32 + 1024 * 1024);
  const again = await attach(dir);
  const r = await collect(again);
  expect(r.exitStatus).toBe(0);
  expect(r.stdout.length).toBe(1024 * 1024);
  expect(/^x+$/.test(r.stdout)).toBe(true);
  expect(again.lostBytes[0]).toBe(9n * 1024n * 1024n);
  expect(r.stderr).toBe('done\n');
});

it('re-attaches while running: replays from the start or only what was never delivered', async () => {
  const dir = newDir();
  const p = await spawn(
    container,
    { path: '/bin/sh', args: ['sh', '-c', 'echo one; read x; echo two; exit 3'] },
    { dir },
  );
  const firstLine = await new Promise<string>((resolve) =>
    p.stdout.once('data', (b: Buffer) => resolve(b.toString())),
  );
  expect(firstLine).toBe('one\n');
  p.detach();
  const fromStart = await attach(dir, { from: 'start' });
  const undelivered = await attach(dir, { from: 'undelivered' });
  const a = collect(fromStart);
  const b = collect(undelivered);
  await new Promise((r) => setTimeout(r, 50));
  fromStart.write('go\n');
  const [ra, rb] = await Promise.all([a, b]);
  expect(ra.stdout).toBe('one\ntwo\n');
  expect(rb.stdout).toBe('two\n');
  expect(ra.exitStatus).toBe(3);
  expect(rb.exitStatus).toBe(3);
  // after the shim is gone, both come from disk
  const late = await collect(await attach(dir));
  expect(late).toMatchObject({ stdout: 'one\ntwo\n', exitStatus: 3 });
});

it("with delivery: 'manual' only what the consumer marks counts as delivered", async () => {
  const dir = newDir();
  const p = await spawn(
    container,
    { path: '/bin/sh', args: ['sh', '-c', 'echo one; echo two; read x; echo three'] },
    { dir, delivery: 'manual' },
  );
  let got = '';
  p.stdout.on('data', (b: Buffer) => {
    got += b.toString();
  });
  await waitFor(() => got === 'one\ntwo\n');
  expect(() => p.markDelivered('stdout', -1)).toThrow(NativeArgumentError);
  p.markDelivered('stdout', 4); // "one\n" was handed on; "two\n" was read but never was
  p.detach();
  const again = await attach(dir, { from: 'undelivered' }); // delivery 'read'
  const rest = collect(again);
  await again.write('go\n');
  expect(await rest).toMatchObject({ stdout: 'two\nthree\n', exitStatus: 0 });
  expect(again.lostBytes).toEqual([0n, 0n]);
  expect(() => again.markDelivered('stdout', 1)).toThrow(/delivery/); // 'read' marks by itself
  // Everything has been taken now, also for an attacher reading the finished process from disk.
  expect(await collect(await attach(dir, { from: 'undelivered' }))).toMatchObject({
    stdout: '',
    exitStatus: 0,
  });
  expect((await collect(await attach(dir, { from: 'start' }))).stdout).toBe('one\ntwo\nthree\n');
});

it('a status-only attacher gets the exit without consuming output', async () => {
  const dir = newDir();
  const p = await spawn(
    container,
    { path: '/bin/sh', args: ['sh', '-c', 'read x; echo out; echo err >&2; exit 3'] },
    { dir },
  );
  p.detach(); // before any output exists, so nobody has received a byte
  const status = await attach(dir, { statusOnly: true });
  const seen = collect(status);
  status.write('go\n');
  expect(await seen).toEqual({ stdout: '', stderr: '', exitStatus: 3, code: 3, signal: null });
  // the shim has finished: the delivered marks did not move, so everything is still undelivered
  const rest = await collect(await attach(dir, { from: 'undelivered' }));
  expect(rest).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitStatus: 3 });
  // and from disk, a status-only attach still reads only the exit file
  expect(await collect(await attach(dir, { statusOnly: true }))).toMatchObject({ stdout: '', exitStatus: 3 });
});

it('untrusted input on the control socket only drops that client', async () => {
  const dir = newDir();
  const p = await spawn(container, { path: '/bin/sh', args: ['sh', '-c', 'read x; echo "got $x"'] }, { dir });
  const evil = connect(join(dir, 'sock'));
  await new Promise((r) => evil.once('connect', r));
  const hdr = Buffer.alloc(14);
  hdr.writeUInt8(3, 0);
  hdr.writeUInt32LE(0xffffffff, 2); // absurd length
  evil.write(hdr);
  await new Promise((r) => evil.once('close', r));
  const garbage = connect(join(dir, 'sock'));
  await new Promise((r) => garbage.once('connect', r));
  garbage.write(Buffer.from('\x63\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00')); // unknown type
  await new Promise((r) => garbage.once('close', r));
  p.write('hi\n');
  const r = await collect(p);
  expect(r.stdout).toBe('got hi\n');
});

it('reports a lost process when its shim died without an exit file', async () => {
  const dir = newDir();
  const p = await spawn(container, { path: '/bin/sleep', args: ['sleep', '30'] }, { dir });
  process.kill(p.shimPid, 'SIGKILL');
  await expect(p.wait()).rejects.toBeInstanceOf(ProcessLostError);
  // the orphaned process is still ours to kill through the container
  process.kill(p.pid, 'SIGKILL');
});
