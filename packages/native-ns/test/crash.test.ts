/** Crash safety: the process, its output and its exit status outlive the server that started it. */
import { spawn as spawnChild } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { attach, type Container, ProcessLostError, spawn } from '../src/index.js';
import { cleanup, collect, newContainer, newDir } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url));
let container: Container;

beforeAll(async () => {
  ({ container } = await newContainer());
});
afterAll(cleanup);

function nodeChild(args: string[]) {
  return spawnChild(process.execPath, [fixture, ...args], {
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
