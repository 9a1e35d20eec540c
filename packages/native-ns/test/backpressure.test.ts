/**
 * Backpressure through garden-shim: an attached client that reads slowly slows the process down
 * instead of losing output, queued stdin slows the sender down instead of dropping it (but never
 * holds up a signal), and a client that goes away never keeps the process blocked.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { attach, type Container, spawn } from '../src/index.js';
import { cleanup, collect, newContainer, newDir } from './helpers.js';

let container: Container;

beforeAll(async () => {
  ({ container } = await newContainer());
});
afterAll(cleanup);

const sh = (script: string) => ({ path: '/bin/sh', args: ['sh', '-c', script] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `seq 1 n` as the process prints it (1,200,000 lines: 8,288,895 bytes, well over the 1 MiB ring). */
const LINES = 1_200_000;
const expectedSeq = (() => {
  const parts: string[] = [];
  for (let i = 1; i <= LINES; i++) parts.push(`${i}\n`);
  return parts.join('');
})();

/** Reads a stream slowly: pauses between chunks, so its producer sees backpressure throughout. */
async function slowText(stream: Readable, pauseEveryBytes: number, pauseMs: number): Promise<string> {
  const parts: Buffer[] = [];
  let sincePause = 0;
  for await (const chunk of stream) {
    parts.push(chunk as Buffer);
    sincePause += (chunk as Buffer).length;
    if (sincePause >= pauseEveryBytes) {
      sincePause = 0;
      await sleep(pauseMs);
    }
  }
  return Buffer.concat(parts).toString();
}

it('a slow attached client gets every byte in order: the process blocks instead of losing output', async () => {
  const dir = newDir();
  const p = await spawn(container, sh(`seq 1 ${LINES}; echo done >&2; exit 5`), { dir });
  // Nobody reads for a while: with backpressure the process cannot have finished meanwhile
  // (without it the shim would have overwritten all but the last 1 MiB and exited).
  await sleep(700);
  expect(existsSync(join(dir, 'exit'))).toBe(false);
  const [stdout, stderr, status] = await Promise.all([
    slowText(p.stdout, 1024 * 1024, 40),
    slowText(p.stderr, 1, 0),
    p.wait(),
  ]);
  expect(stdout.length).toBe(expectedSeq.length);
  expect(createHash('sha256').update(stdout).digest('hex')).toBe(
    createHash('sha256').update(expectedSeq).digest('hex'),
  );
  expect(stderr).toBe('done\n');
  expect(status).toEqual({ exitStatus: 5, code: 5, signal: null });
  expect(p.lostBytes).toEqual([0n, 0n]);
});

it('the slowest of several attached clients sets the pace; both get everything', async () => {
  const dir = newDir();
  const fast = await spawn(container, sh(`read x; seq 1 ${LINES}`), { dir });
  const slow = await attach(dir, { from: 'start' });
  const fastDone = collect(fast);
  const slowDone = Promise.all([slowText(slow.stdout, 2 * 1024 * 1024, 100), slow.wait()]);
  await fast.write('go\n');
  const [f, [s, status]] = await Promise.all([fastDone, slowDone]);
  expect(f.stdout === expectedSeq).toBe(true);
  expect(s === expectedSeq).toBe(true);
  expect(f.exitStatus).toBe(0);
  expect(status.exitStatus).toBe(0);
  expect(slow.lostBytes[0]).toBe(0n);
});

it('a client that stops reading and then disconnects does not keep the process blocked', async () => {
  const dir = newDir();
  const p = await spawn(container, sh(`read x; seq 1 ${LINES}`), { dir });
  p.detach(); // the spawning connection goes away: nobody is attached any more
  const stuck = await attach(dir, { from: 'start' });
  stuck.stdout.pause(); // never read: the process blocks behind this client ...
  await stuck.write('go\n');
  await sleep(500);
  expect(existsSync(join(dir, 'exit'))).toBe(false);
  stuck.detach(); // ... until it disconnects; then the ring overwrites again and the writer ends
  const end = Date.now() + 20_000;
  while (!existsSync(join(dir, 'exit'))) {
    if (Date.now() > end) throw new Error('the process never finished');
    await sleep(20);
  }
  const late = await collect(await attach(dir, { from: 'start' }));
  expect(late.exitStatus).toBe(0);
  expect(late.stdout.length).toBe(1024 * 1024); // the ring's last 1 MiB
  expect(expectedSeq.endsWith(late.stdout)).toBe(true);
});

it('16 MiB of stdin for a process that reads late all arrive: the sender is slowed down, not dropped', async () => {
  const p = await spawn(container, sh('sleep 1; wc -c'), { dir: newDir() });
  const done = collect(p);
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  let waited = 0;
  for (let i = 0; i < 16; i++) {
    const t = Date.now();
    await p.write(chunk);
    waited += Date.now() - t;
  }
  p.end();
  const r = await done;
  expect(r.stdout.trim()).toBe('16777216');
  expect(r.exitStatus).toBe(0);
  expect(waited).toBeGreaterThan(300); // the writes did wait for the sleeping reader
});

it('a signal is delivered at once while stdin is backpressured: it does not queue behind stdin', async () => {
  const p = await spawn(container, sh('sleep 30'), { dir: newDir() });
  const done = collect(p);
  // Nobody reads stdin: the shim queues its bound, then stops reading our socket, so the rest of
  // the 4 MiB waits in our socket and the write does not settle.
  let written = false;
  void p.write(Buffer.alloc(4 * 1024 * 1024, 0x62)).then(() => {
    written = true;
  });
  await sleep(200);
  expect(written).toBe(false);
  await p.signal('SIGKILL');
  // The process is killed by the signal we sent, not by anything else: nothing else kills it here.
  const outcome = await Promise.race([done, sleep(10_000).then(() => 'still running' as const)]);
  expect(outcome).toMatchObject({ exitStatus: 137, signal: 9 });
  // Its end releases the queued stdin: the writer is not left hanging.
  await p.wait();
  const end = Date.now() + 5000;
  while (!written && Date.now() < end) await sleep(10);
  expect(written).toBe(true);
});
