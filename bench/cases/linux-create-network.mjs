// What networking adds to a create: the same server and client as linux-lifecycle, creating
// containers (64 MiB memory limit) one after the other, with networking (A: address, bridge and
// firewall elements alongside the clone, veth after it; in a test-made host namespace) and
// without (peer: the same backend with `network: false`, containers with only `lo`). Issue
// target: networking adds ≤ 3 ms p50, goal ≤ 1 ms. Containers are destroyed after each sample,
// outside the timing; a freed subnet's bridge lingers a few seconds, so a sample after a quick
// destroy reuses some bridges, as a busy server does.
import { MEMORY_LIMIT, startLinuxServer, stats, stopLinuxServer } from './linux-support/common.mjs';

/** @param {import('./linux-support/common.mjs').LinuxServer} env @param {number} n @param {{ seq: number }} counter */
async function sample(env, n, counter) {
  const client = /** @type {import('@garden-ts/api-types').Client} */ (env.client);
  const times = [];
  const handles = [];
  for (let i = 0; i < n; i++) {
    const handle = `bench-createnet-${process.pid}-${counter.seq++}`;
    env.handles.add(handle);
    handles.push(handle);
    const t = performance.now();
    await client.create({ handle, limits: { memory: { limitInBytes: BigInt(MEMORY_LIMIT) } } });
    times.push(performance.now() - t);
  }
  for (const h of handles) {
    await client.destroy(h);
    env.handles.delete(h);
  }
  return stats(times);
}

export default {
  name: 'linux-create-network',
  description:
    'create (64 MiB memory limit) through @garden-ts/client to a garden-ts server with backend-linux, one after the other: with networking (test-made host netns) vs the same server with network: false; value = p50 ms of one create (target: networking adds ≤ 3 ms, goal ≤ 1 ms)',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    return { env: await startLinuxServer('createnet'), counter: { seq: 0 }, n: options.quick ? 5 : 20 };
  },
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer, counter: { seq: number }, n: number }} ctx */
  measure: (ctx) => sample(ctx.env, ctx.n, ctx.counter),
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer }} ctx */
  async teardown(ctx) {
    await stopLinuxServer(ctx.env);
  },
  peer: {
    name: 'the same server without networking (network: false)',
    /** @param {{ quick?: boolean }} [options] */
    async setup(options = {}) {
      return {
        env: await startLinuxServer('createoff', { network: false }),
        counter: { seq: 0 },
        n: options.quick ? 5 : 20,
      };
    },
    /** @param {{ env: import('./linux-support/common.mjs').LinuxServer, counter: { seq: number }, n: number }} ctx */
    measure: (ctx) => sample(ctx.env, ctx.n, ctx.counter),
    /** @param {{ env: import('./linux-support/common.mjs').LinuxServer }} ctx */
    async teardown(ctx) {
      await stopLinuxServer(ctx.env);
    },
  },
};
