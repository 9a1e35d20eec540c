import { type Container, ContainerNotFoundError, ErrorCode, seconds } from '@garden-ts/api-types';
import { beforeAll, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';
import { makeTar, tarStream } from '../support/tar.js';

type Call = (c: Container) => Promise<unknown>;

/** Every per-container method, called on a container that no longer exists. */
const PER_CONTAINER_CALLS: Array<[string, Call]> = [
  ['stop(false)', (c) => c.stop(false)],
  ['stop(true)', (c) => c.stop(true)],
  ['info', (c) => c.info()],
  [
    'streamIn',
    async (c) =>
      c.streamIn({ path: '/tmp', tarStream: tarStream(await makeTar([{ name: 'f', content: 'x' }])) }),
  ],
  ['streamOut', (c) => c.streamOut({ path: '/tmp' })],
  ['currentBandwidthLimits', (c) => c.currentBandwidthLimits()],
  ['currentCPULimits', (c) => c.currentCPULimits()],
  ['currentDiskLimits', (c) => c.currentDiskLimits()],
  ['currentMemoryLimits', (c) => c.currentMemoryLimits()],
  ['netIn', (c) => c.netIn(0, 0)],
  ['netOut', (c) => c.netOut({})],
  ['bulkNetOut', (c) => c.bulkNetOut([{}])],
  ['run', (c) => c.run({ path: 'echo', args: ['x'] }, {})],
  ['attach', (c) => c.attach('some-process', {})],
  ['metrics', (c) => c.metrics()],
  ['setGraceTime', (c) => c.setGraceTime(seconds(60))],
  ['properties', (c) => c.properties()],
  ['property', (c) => c.property('k')],
  ['setProperty', (c) => c.setProperty('k', 'v')],
  ['removeProperty', (c) => c.removeProperty('k')],
];

function expectNotFound(err: unknown, handle: string): void {
  expect(err).toBeInstanceOf(ContainerNotFoundError);
  expect((err as ContainerNotFoundError).code).toBe(ErrorCode.ContainerNotFound);
  expect((err as ContainerNotFoundError).handle).toBe(handle);
  expect((err as Error).message).toBe(`unknown handle: ${handle}`);
}

/** Unknown handles: every call fails with ContainerNotFoundError naming the handle. */
export function errors(h: Harness): void {
  let gone: Container;
  beforeAll(async () => {
    // A Container object whose container has been destroyed: the client cannot tell, the backend can.
    gone = await h.create();
    await h.client.destroy(gone.handle);
  });

  it.each(PER_CONTAINER_CALLS)(
    '%s on a destroyed container fails with ContainerNotFoundError',
    async (_name, call) => {
      expectNotFound(await rejectionOf(call(gone)), gone.handle);
    },
  );

  it('destroy of an unknown handle fails with ContainerNotFoundError', async () => {
    const handle = h.handle('never');
    expectNotFound(await rejectionOf(h.client.destroy(handle)), handle);
  });

  it('lookup of an unknown handle fails with ContainerNotFoundError', async () => {
    const handle = h.handle('never');
    expectNotFound(await rejectionOf(h.client.lookup(handle)), handle);
  });

  it('a failed call on an unknown handle does not create the container', async () => {
    await rejectionOf(gone.setProperty('orphan', 'leak'));
    expect((await h.client.containers({ orphan: 'leak' })).map((c) => c.handle)).toEqual([]);
    expect(await rejectionOf(h.client.lookup(gone.handle))).toBeInstanceOf(ContainerNotFoundError);
  });
}
