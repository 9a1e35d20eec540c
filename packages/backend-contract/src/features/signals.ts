import { type Container, Signal } from '@garden-ts/api-types';
import { beforeAll, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { Collector, controlledStdin, delay } from '../support/streams.js';

/** Signals: terminate gives 128+15, kill gives 128+9. */
export function signals(h: Harness): void {
  let container: Container;
  beforeAll(async () => {
    container = await h.create();
  });

  it('terminate ends `sleep 100` with status 143', async () => {
    const process = await container.run({ path: 'sleep', args: ['100'] }, {});
    await process.signal(Signal.Terminate);
    expect(await process.wait()).toBe(143);
  });

  it('kill ends `sleep 100` with status 137', async () => {
    const process = await container.run({ path: 'sleep', args: ['100'] }, {});
    await process.signal(Signal.Kill);
    expect(await process.wait()).toBe(137);
  });

  it('a signal sent after the process has run a while is delivered', async () => {
    const process = await container.run({ path: 'sleep', args: ['100'] }, {});
    await delay(100);
    await process.signal(Signal.Kill);
    expect(await process.wait()).toBe(137);
  });

  it('terminate ends `cat` waiting on stdin with 143 and keeps its earlier output', async () => {
    const stdin = controlledStdin();
    const stdout = new Collector();
    const process = await container.run({ path: 'cat' }, { stdin, stdout });
    stdin.write('before the signal\n');
    // Give the echo a chance to come back before the signal races it.
    for (let i = 0; i < 50 && stdout.text() === ''; i++) await delay(10);
    await process.signal(Signal.Terminate);
    expect(await process.wait()).toBe(143);
    expect(stdout.text()).toBe('before the signal\n');
  });

  it('a signal reaches only its own process', async () => {
    const victim = await container.run({ path: 'sleep', args: ['100'] }, {});
    const bystander = await container.run({ path: 'sleep', args: ['0.2'] }, {});
    await victim.signal(Signal.Kill);
    expect(await victim.wait()).toBe(137);
    expect(await bystander.wait()).toBe(0);
  });

  it('terminate and kill sent to two processes give each its own status', async () => {
    const [a, b] = await Promise.all([
      container.run({ path: 'sleep', args: ['100'] }, {}),
      container.run({ path: 'sleep', args: ['100'] }, {}),
    ]);
    await Promise.all([a.signal(Signal.Terminate), b.signal(Signal.Kill)]);
    expect(await Promise.all([a.wait(), b.wait()])).toEqual([143, 137]);
  });
}
