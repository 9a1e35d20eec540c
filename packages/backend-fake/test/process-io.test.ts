import { PassThrough, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { GardenError, InvalidRequestError, ProcessNotFoundError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { createFakeBackend } from '../src/index.js';
import { Collector } from './helpers.js';

async function container(options: Parameters<typeof createFakeBackend>[0] = {}) {
  const backend = createFakeBackend(options);
  return { backend, container: await backend.create({}) };
}

const listenerCounts = (w: Writable) => ['close', 'error', 'drain'].map((e) => w.listenerCount(e));

describe('process I/O', () => {
  it('never ends the caller writables and all callers see one exit code', async () => {
    const { container: c } = await container();
    const stdout = new Collector();
    const p = await c.run({ path: 'sh', args: ['-c', 'echo hi; exit 7'] }, { stdout });
    const [a, b] = await Promise.all([p.wait(), p.wait()]);
    expect([a, b, await p.wait()]).toEqual([7, 7, 7]);
    expect(stdout.text()).toBe('hi\n');
    expect(stdout.writableEnded).toBe(false);
    const attached = await c.attach(p.id, {});
    expect(await attached.wait()).toBe(7);
  });

  it('fans out output to every current attacher', async () => {
    const { container: c } = await container();
    const stdin = new PassThrough();
    const first = new Collector();
    const second = new Collector();
    const p = await c.run({ path: 'cat' }, { stdin, stdout: first });
    stdin.write('one ');
    await delay(5);
    await c.attach(p.id, { stdout: second });
    stdin.end('two');
    expect(await p.wait()).toBe(0);
    expect(first.text()).toBe('one two');
    expect(second.text()).toBe('two');
  });

  it('buffers output nobody receives and hands it to the next attacher, also after exit', async () => {
    const { container: c } = await container();
    const p = await c.run({ path: 'sh', args: ['-c', 'echo out; echo err >&2'] }, {});
    expect(await p.wait()).toBe(0);
    const stdout = new Collector();
    const stderr = new Collector();
    const again = await c.attach(p.id, { stdout, stderr });
    expect(await again.wait()).toBe(0);
    expect([stdout.text(), stderr.text()]).toEqual(['out\n', 'err\n']);
    // Delivered output is not replayed.
    const third = new Collector();
    await (await c.attach(p.id, { stdout: third })).wait();
    expect(third.text()).toBe('');
  });

  it('keeps backlogs per stream: a stdout-only attacher leaves stderr for a stderr attacher', async () => {
    const { container: c } = await container();
    const stdin = new PassThrough();
    const p = await c.run({ path: 'sh', args: ['-c', 'echo early-out; echo early-err >&2; cat'] }, { stdin });
    await delay(5);
    // A stdout-only attacher (one output connection of a server) while the process runs.
    const stdout = new Collector();
    await c.attach(p.id, { stdout });
    expect(stdout.text()).toBe('early-out\n');
    stdin.end('late-out\n');
    expect(await p.wait()).toBe(0);
    expect(stdout.text()).toBe('early-out\nlate-out\n');
    // Attachers without writables (a server's control connection) take nothing either.
    await (await c.attach(p.id, {})).wait();
    const stderr = new Collector();
    const onlyErr = await c.attach(p.id, { stderr });
    expect(await onlyErr.wait()).toBe(0);
    expect(stderr.text()).toBe('early-err\n');
    expect(stdout.writableEnded || stderr.writableEnded).toBe(false);
  });

  it('bounds the backlog and drops the oldest bytes', async () => {
    const { container: c } = await container({ outputBacklogBytes: 8 });
    const p = await c.run({ path: 'echo', args: ['0123456789abcdef'] }, {});
    await p.wait();
    const out = new Collector();
    await (await c.attach(p.id, { stdout: out })).wait();
    expect(out.text()).toBe('9abcdef\n');
  });

  it('detaches an attacher whose stream closes; later output goes to the backlog', async () => {
    const { container: c } = await container();
    const stdin = new PassThrough();
    const gone = new Collector();
    const p = await c.run({ path: 'cat' }, { stdin, stdout: gone });
    stdin.write('before ');
    await delay(5);
    gone.destroy();
    await delay(1);
    stdin.end('after');
    expect(await p.wait()).toBe(0);
    expect(gone.text()).toBe('before ');
    expect(listenerCounts(gone)).toEqual([0, 0, 0]);
    const next = new Collector();
    await (await c.attach(p.id, { stdout: next })).wait();
    expect(next.text()).toBe('after');
  });

  it('removes its listeners from caller streams when the process ends', async () => {
    const { container: c } = await container();
    const stdout = new Collector();
    const stderr = new Collector();
    const stdin = new PassThrough();
    const before = [...listenerCounts(stdout), ...listenerCounts(stderr)];
    const p = await c.run({ path: 'echo', args: ['x'] }, { stdout, stderr, stdin });
    await p.wait();
    expect([...listenerCounts(stdout), ...listenerCounts(stderr)]).toEqual(before);
    expect(['data', 'end', 'error', 'close'].map((e) => stdin.listenerCount(e))).toEqual([0, 0, 0, 0]);
  });

  it('treats a stdin error as EOF', async () => {
    const { container: c } = await container();
    const stdin = new PassThrough();
    const out = new Collector();
    const p = await c.run({ path: 'cat' }, { stdin, stdout: out });
    stdin.write('partial');
    await delay(5);
    stdin.destroy(new Error('client went away'));
    expect(await p.wait()).toBe(0);
    expect(out.text()).toBe('partial');
  });

  it("feeds an attacher's stdin to the process", async () => {
    const { container: c } = await container();
    const out = new Collector();
    const p = await c.run({ path: 'cat' }, { stdout: out });
    const stdin = new PassThrough();
    await c.attach(p.id, { stdin });
    stdin.end('via attach');
    expect(await p.wait()).toBe(0);
    expect(out.text()).toBe('via attach');
  });

  it('waits for drain when a writable applies backpressure', async () => {
    const { container: c } = await container();
    let pending: (() => void) | undefined;
    let received = 0;
    const slow = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        pending = cb;
      },
    });
    const stdin = new PassThrough();
    const p = await c.run({ path: 'cat' }, { stdin, stdout: slow });
    for (let i = 0; i < 4; i++) stdin.write(Buffer.alloc(64, i));
    stdin.end();
    await delay(10);
    // cat wrote one chunk, got `false`, and now waits for drain instead of writing the rest.
    expect(received).toBe(64);
    let exited = false;
    void p.wait().then(() => {
      exited = true;
    });
    for (let i = 0; i < 4 && pending; i++) {
      const cb = pending;
      pending = undefined;
      cb();
      await delay(5);
    }
    expect(await p.wait()).toBe(0);
    expect(exited).toBe(true);
    expect(received).toBe(256);
    expect(slow.listenerCount('drain')).toBe(0);
  });

  it('unknown process ids are ProcessNotFoundError; ids stay in use after exit', async () => {
    const { container: c } = await container();
    await expect(c.attach('nope', {})).rejects.toThrow(ProcessNotFoundError);
    const p = await c.run({ id: 'fixed', path: 'true' }, {});
    expect(p.id).toBe('fixed');
    await p.wait();
    await expect(c.run({ id: 'fixed', path: 'true' }, {})).rejects.toThrow(
      new GardenError("process ID 'fixed' already in use"),
    );
    for (const id of ['a/b', '..']) {
      await expect(c.run({ id, path: 'true' }, {})).rejects.toThrow(InvalidRequestError);
    }
    const generated = await c.run({ path: 'true' }, {});
    expect(generated.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('lists running processes in info and kills them on stop', async () => {
    const { container: c } = await container();
    const sleeper = await c.run({ id: 'sleeper', path: 'sleep', args: ['100'] }, {});
    await (await c.run({ id: 'done', path: 'true' }, {})).wait();
    expect((await c.info()).processIDs).toEqual(['sleeper']);
    await c.stop(false);
    expect(await sleeper.wait()).toBe(143);
    expect((await c.info()).state).toBe('stopped');
    expect((await c.info()).processIDs).toEqual([]);
    const killed = await c.run({ path: 'sleep', args: ['100'] }, {});
    await c.stop(true);
    expect(await killed.wait()).toBe(137);
  });

  it('an aborted wait rejects without affecting the process', async () => {
    const { backend, container: c } = await container();
    const p = await c.run({ path: 'sleep', args: ['100'] }, {});
    const controller = new AbortController();
    const waiting = p.wait({ signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    expect((await c.info()).processIDs).toEqual([p.id]);
    await backend.stop();
    expect(await p.wait()).toBe(137);
  });

  it('destroy kills processes with 137', async () => {
    const { backend, container: c } = await container();
    const p = await c.run({ path: 'cat' }, { stdin: new PassThrough() });
    await backend.destroy(c.handle);
    expect(await p.wait()).toBe(137);
  });
});
