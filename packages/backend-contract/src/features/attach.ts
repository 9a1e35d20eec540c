import { type Container, ErrorCode, ProcessNotFoundError, Signal } from '@garden-ts/api-types';
import { beforeAll, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';
import { Collector, controlledStdin, delay } from '../support/streams.js';

/** Attach and Wait: live attach, attach after exit, fan-out, repeated waits. */
export function attach(h: Harness): void {
  let container: Container;
  beforeAll(async () => {
    container = await h.create();
  });

  it('attach to a running process delivers its output and exit status', async () => {
    const stdin = controlledStdin();
    const running = await container.run({ path: 'cat' }, { stdin });
    const stdout = new Collector();
    const attached = await container.attach(running.id, { stdout });
    expect(attached.id).toBe(running.id);
    stdin.end('through attach\n');
    expect(await attached.wait()).toBe(0);
    expect(stdout.text()).toBe('through attach\n');
  });

  it('attach after exit gets the exit status and the undelivered stdout', async () => {
    const id = h.handle('late-out');
    const process = await container.run({ id, path: 'echo', args: ['nobody', 'listened'] }, {});
    expect(await process.wait()).toBe(0);
    const stdout = new Collector();
    const attached = await container.attach(id, { stdout });
    expect(await attached.wait()).toBe(0);
    expect(stdout.text()).toBe('nobody listened\n');
  });

  it('attach after exit gets the undelivered stderr', async () => {
    const id = h.handle('late-err');
    const process = await container.run({ id, path: 'sh', args: ['-c', 'echo late-error >&2'] }, {});
    expect(await process.wait()).toBe(0);
    const stdout = new Collector();
    const stderr = new Collector();
    await (await container.attach(id, { stdout, stderr })).wait();
    expect(stderr.text()).toBe('late-error\n');
    expect(stdout.text()).toBe('');
  });

  it('attach after a non-zero exit reports that status', async () => {
    const id = h.handle('late-status');
    await (await container.run({ id, path: 'sh', args: ['-c', 'exit 7'] }, {})).wait();
    expect(await (await container.attach(id, {})).wait()).toBe(7);
  });

  it('output already delivered to an attacher is not replayed to the next one', async () => {
    const id = h.handle('delivered');
    const first = new Collector();
    await (await container.run({ id, path: 'echo', args: ['once'] }, { stdout: first })).wait();
    expect(first.text()).toBe('once\n');
    const second = new Collector();
    expect(await (await container.attach(id, { stdout: second })).wait()).toBe(0);
    expect(second.text()).toBe('');
  });

  it('several concurrent attachers each receive the output', async () => {
    const stdin = controlledStdin();
    const running = await container.run({ path: 'cat' }, { stdin });
    const outs = [new Collector(), new Collector(), new Collector()];
    const attached = await Promise.all(outs.map((stdout) => container.attach(running.id, { stdout })));
    stdin.end('fan-out\n');
    expect(await Promise.all(attached.map((p) => p.wait()))).toEqual([0, 0, 0]);
    expect(outs.map((o) => o.text())).toEqual(['fan-out\n', 'fan-out\n', 'fan-out\n']);
  });

  it('the runner and an attacher see the same exit status', async () => {
    const running = await container.run({ path: 'sleep', args: ['100'] }, {});
    const attached = await container.attach(running.id, {});
    await running.signal(Signal.Kill);
    expect(await Promise.all([running.wait(), attached.wait()])).toEqual([137, 137]);
  });

  it('a signal sent through an attached process reaches the process', async () => {
    const running = await container.run({ path: 'sleep', args: ['100'] }, {});
    const attached = await container.attach(running.id, {});
    await attached.signal(Signal.Terminate);
    expect(await running.wait()).toBe(143);
  });

  it('wait() may be called many times, sequentially and concurrently, with the same status', async () => {
    const process = await container.run({ path: 'sh', args: ['-c', 'exit 3'] }, {});
    expect(await process.wait()).toBe(3);
    expect(await process.wait()).toBe(3);
    expect(await Promise.all([process.wait(), process.wait(), process.wait()])).toEqual([3, 3, 3]);
  });

  it('wait() called before the process exits resolves when it exits', async () => {
    const process = await container.run({ path: 'sleep', args: ['0.2'] }, {});
    const waits = [process.wait(), process.wait()];
    await delay(50);
    expect(await Promise.all(waits)).toEqual([0, 0]);
  });

  it('attach to an unknown process id fails with ProcessNotFoundError', async () => {
    const id = h.handle('no-such-process');
    const err = await rejectionOf(container.attach(id, {}));
    expect(err).toBeInstanceOf(ProcessNotFoundError);
    expect((err as ProcessNotFoundError).code).toBe(ErrorCode.ProcessNotFound);
    expect((err as ProcessNotFoundError).processId).toBe(id);
    expect((err as Error).message).toBe(`unknown process: ${id}`);
  });

  it('a process id from another container is unknown here', async () => {
    const other = await h.create();
    const id = h.handle('elsewhere');
    await (await other.run({ id, path: 'true' }, {})).wait();
    expect(await rejectionOf(container.attach(id, {}))).toBeInstanceOf(ProcessNotFoundError);
  });
}
