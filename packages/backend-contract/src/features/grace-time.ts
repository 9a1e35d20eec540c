import { seconds } from '@garden-ts/api-types';
import { expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { delay, runToExit } from '../support/streams.js';

/**
 * Grace time. What a backend stores is internal; a client can only observe that the calls are
 * accepted and that a long grace time does not reap the container.
 */
export function graceTime(h: Harness): void {
  it('setGraceTime with a long duration is accepted and the container stays usable', async () => {
    const container = await h.create();
    await expect(container.setGraceTime(seconds(3600))).resolves.toBeUndefined();
    await delay(50);
    expect((await h.client.lookup(container.handle)).handle).toBe(container.handle);
    expect((await runToExit(container, { path: 'echo', args: ['still', 'here'] })).stdout).toBe(
      'still here\n',
    );
  });

  it('setGraceTime may be called repeatedly', async () => {
    const container = await h.create();
    await container.setGraceTime(seconds(600));
    await container.setGraceTime(seconds(1200));
    expect((await container.info()).state).toBe('active');
  });

  it('a container created with a long grace time is listed and usable', async () => {
    const container = await h.create({ graceTime: seconds(3600) });
    await delay(50);
    expect((await h.client.containers()).map((c) => c.handle)).toContain(container.handle);
    expect((await container.info()).state).toBe('active');
  });
}
