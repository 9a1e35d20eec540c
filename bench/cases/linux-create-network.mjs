// What networking adds to a create. Two garden-ts servers with backend-linux run side by side:
// one networks its containers (address, bridge and firewall elements alongside the clone, veth
// after it; in a test-made host namespace), the other is the same backend with `network: false`
// (containers with only `lo`). Creates (64 MiB memory limit) alternate between the two, one by one,
// so both see the same machine at the same moment (this shared VM's load moves within seconds);
// value = the median of the per-pair differences (networked − not), with both p50s in details.
// Issue target: networking adds ≤ 3 ms p50, goal ≤ 1 ms. Containers are destroyed after each
// sample, outside the timing; a freed subnet's bridge lingers a few seconds, so later samples
// reuse bridges, as a busy server does.
import { MEMORY_LIMIT, startLinuxServer, stats, stopLinuxServer } from './linux-support/common.mjs';

/** @param {import('./linux-support/common.mjs').LinuxServer} env @param {string} handle */
async function timedCreate(env, handle) {
  const client = /** @type {import('@garden-ts/api-types').Client} */ (env.client);
  env.handles.add(handle);
  const t = performance.now();
  await client.create({ handle, limits: { memory: { limitInBytes: BigInt(MEMORY_LIMIT) } } });
  return performance.now() - t;
}

/** @param {import('./linux-support/common.mjs').LinuxServer} env */
async function destroyAll(env) {
  const client = /** @type {import('@garden-ts/api-types').Client} */ (env.client);
  for (const h of [...env.handles]) {
    await client.destroy(h);
    env.handles.delete(h);
  }
}

const median = (/** @type {number[]} */ xs) => stats(xs).p50;

export default {
  name: 'linux-create-network',
  description:
    'what networking adds to a create: creates (64 MiB memory limit) alternate between a garden-ts server with backend-linux networking its containers (test-made host netns) and the same server with network: false; value = median per-pair difference in ms (target ≤ 3, goal ≤ 1); netP50 / offP50 = each side alone',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    const net = await startLinuxServer('createnet');
    try {
      const off = await startLinuxServer('createoff', { network: false });
      // 60 pairs per sample: single creates swing by several ms on this shared VM, and the median of
      // the differences needs many pairs to settle.
      return { net, off, seq: 0, n: options.quick ? 5 : 60 };
    } catch (err) {
      await stopLinuxServer(net);
      throw err;
    }
  },
  /** @param {{ net: import('./linux-support/common.mjs').LinuxServer, off: import('./linux-support/common.mjs').LinuxServer, seq: number, n: number }} ctx */
  async measure(ctx) {
    const withNet = [];
    const without = [];
    const added = [];
    for (let i = 0; i < ctx.n; i++) {
      const id = `bench-createnet-${process.pid}-${ctx.seq++}`;
      // Alternate which goes first, so neither always follows the other's work.
      const [a, b] =
        i % 2 === 0
          ? [await timedCreate(ctx.net, `${id}-n`), await timedCreate(ctx.off, `${id}-o`)]
          : [undefined, await timedCreate(ctx.off, `${id}-o`)];
      const n = a ?? (await timedCreate(ctx.net, `${id}-n`));
      withNet.push(n);
      without.push(b);
      added.push(n - b);
    }
    await destroyAll(ctx.net);
    await destroyAll(ctx.off);
    return { value: median(added), netP50: median(withNet), offP50: median(without), n: ctx.n };
  },
  /** @param {{ net: import('./linux-support/common.mjs').LinuxServer, off: import('./linux-support/common.mjs').LinuxServer }} ctx */
  async teardown(ctx) {
    await stopLinuxServer(ctx.net).finally(() => stopLinuxServer(ctx.off));
  },
};
