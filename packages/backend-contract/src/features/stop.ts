import { expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { runToExit } from '../support/streams.js';
import { entryContent, makeTar, readTar, tarStream } from '../support/tar.js';

/** Stop: processes end, the container is `stopped` and its files stay streamable. */
export function stop(h: Harness): void {
  it('stop(false) terminates running processes (status 143)', async () => {
    const container = await h.create();
    const process = await container.run({ path: 'sleep', args: ['100'] }, {});
    await container.stop(false);
    expect(await process.wait()).toBe(143);
  });

  it('stop(true) kills running processes (status 137)', async () => {
    const container = await h.create();
    const process = await container.run({ path: 'sleep', args: ['100'] }, {});
    await container.stop(true);
    expect(await process.wait()).toBe(137);
  });

  it('stop ends every process, not just one', async () => {
    const container = await h.create();
    const procs = await Promise.all([
      container.run({ path: 'sleep', args: ['100'] }, {}),
      container.run({ path: 'sleep', args: ['100'] }, {}),
      container.run({ path: 'cat' }, {}),
    ]);
    await container.stop(true);
    expect(await Promise.all(procs.map((p) => p.wait()))).toEqual([137, 137, 137]);
  });

  it.each([false, true])('after stop(%s) the state is `stopped`', async (kill) => {
    const container = await h.create();
    await container.run({ path: 'sleep', args: ['100'] }, {});
    await container.stop(kill);
    expect((await container.info()).state).toBe('stopped');
  });

  it('stop of a container without processes succeeds and marks it stopped', async () => {
    const container = await h.create();
    await container.stop(false);
    expect((await container.info()).state).toBe('stopped');
  });

  it('stop is idempotent', async () => {
    const container = await h.create();
    await container.stop(true);
    await container.stop(false);
    expect((await container.info()).state).toBe('stopped');
  });

  it('files streamed in before stop can be streamed out after it', async () => {
    const container = await h.create();
    await container.streamIn({
      path: '/tmp/keep',
      tarStream: tarStream(await makeTar([{ name: 'kept.txt', content: 'survives stop' }])),
    });
    await container.stop(false);
    const entries = await readTar(await container.streamOut({ path: '/tmp/keep/kept.txt' }));
    expect(entryContent(entries, 'kept.txt')).toBe('survives stop');
  });

  it('files can be streamed in after stop', async () => {
    const container = await h.create();
    await container.stop(true);
    await container.streamIn({
      path: '/tmp/after',
      tarStream: tarStream(await makeTar([{ name: 'late.txt', content: 'written after stop' }])),
    });
    const entries = await readTar(await container.streamOut({ path: '/tmp/after/late.txt' }));
    expect(entryContent(entries, 'late.txt')).toBe('written after stop');
  });

  it('a stopped container keeps its properties and stays listed', async () => {
    const container = await h.create({ properties: { 'contract.stopped': 'still-here' } });
    await container.stop(true);
    expect(await container.property('contract.stopped')).toBe('still-here');
    const handles = (await h.client.containers({ 'contract.stopped': 'still-here' })).map((c) => c.handle);
    expect(handles).toContain(container.handle);
  });

  it('stop leaves other containers running', async () => {
    const stopped = await h.create();
    const running = await h.create();
    const survivor = await running.run({ path: 'sleep', args: ['0.2'] }, {});
    await stopped.stop(true);
    expect(await survivor.wait()).toBe(0);
    expect((await running.info()).state).toBe('active');
    expect((await runToExit(running, { path: 'echo', args: ['alive'] })).stdout).toBe('alive\n');
  });

  it('a stopped container can be destroyed', async () => {
    const container = await h.create();
    await container.stop(false);
    await h.client.destroy(container.handle);
    expect((await h.client.containers()).map((c) => c.handle)).not.toContain(container.handle);
  });
}
