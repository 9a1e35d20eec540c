// Write throughput inside a container whose disk is limited (A: exclusive 4 GiB quota on its
// volume in the disk store) vs a container without a disk store (peer: `diskStore: false`, the
// overlay's upper dir on the host's filesystem). One sample: `dd if=/dev/zero bs=1M count=256
// conv=fsync` inside the container (data reaches the disk), then the file is removed; value =
// MB/s. A's details also give the same write in a store volume without a limit (`unlimitedMBps`),
// separating what btrfs on a loop device costs from what the qgroup limit costs.
import { startBackend, stopBackend } from './linux-support/in-process.mjs';

const MiB = 1024 * 1024;
const GiB = 1024n * 1024n * 1024n;

/**
 * MB/s of one fsync'd write of `mib` MiB in `container`.
 * @param {import('@garden-ts/api-types').Container} container
 * @param {number} mib
 */
async function writeRate(container, mib) {
  const t0 = performance.now();
  const p = await container.run(
    {
      path: 'sh',
      args: ['-c', `dd if=/dev/zero of=/bench bs=1M count=${mib} conv=fsync 2>/dev/null && rm /bench`],
    },
    {},
  );
  const status = await p.wait();
  if (status !== 0) throw new Error(`dd exited ${status}`);
  return (mib * MiB) / 1e6 / ((performance.now() - t0) / 1000);
}

export default {
  name: 'linux-disk-write',
  description:
    'dd 256 MiB conv=fsync inside a container with an exclusive 4 GiB disk limit (A: btrfs volume on the loop-mounted disk store) vs a container without a disk store (peer: overlay upper on the host filesystem); value = MB/s; unlimitedMBps = the same write in a store volume without a limit',
  unit: 'MB/s',
  better: 'higher',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    const env = await startBackend('disk-write');
    const limited = await env.backend.create({ limits: { disk: { byteHard: 4n * GiB, scope: 1 } } });
    const unlimited = await env.backend.create({});
    return { env, limited, unlimited, mib: options.quick ? 32 : 256 };
  },
  /**
   * @param {{ limited: import('@garden-ts/api-types').Container, unlimited: import('@garden-ts/api-types').Container, mib: number }} ctx
   */
  async measure(ctx) {
    const value = await writeRate(ctx.limited, ctx.mib);
    return { value, unlimitedMBps: await writeRate(ctx.unlimited, ctx.mib) };
  },
  /** @param {{ env: import('./linux-support/in-process.mjs').InProcessBackend }} ctx */
  async teardown(ctx) {
    await stopBackend(ctx.env);
  },
  peer: {
    name: 'no disk store',
    /** @param {{ quick?: boolean }} [options] */
    async setup(options = {}) {
      const env = await startBackend('disk-write-plain', { diskStore: false });
      return { env, container: await env.backend.create({}), mib: options.quick ? 32 : 256 };
    },
    /** @param {{ container: import('@garden-ts/api-types').Container, mib: number }} ctx */
    async measure(ctx) {
      return writeRate(ctx.container, ctx.mib);
    },
    /** @param {{ env: import('./linux-support/in-process.mjs').InProcessBackend }} ctx */
    async teardown(ctx) {
      await stopBackend(ctx.env);
    },
  },
};
