// 250 containers created concurrently through the TS client over the unix socket to a garden-ts
// server with backend-linux (a child process), each with a 64 MiB memory limit; value = seconds
// until the last create answered. Any failed create fails the sample (errors must be 0). The
// containers are then destroyed concurrently (timed separately, in details). No peer: crun has no
// server to send 250 concurrent creates to, and a shell loop of `crun run --detach` would measure
// process spawning rather than a daemon's admission and create path.
import { MEMORY_LIMIT, startLinuxServer, stopLinuxServer } from './linux-support/common.mjs';

const COUNT = 250;

export default {
  name: 'linux-create-250',
  description:
    '250 containers (64 MiB memory limit each) created concurrently through @garden-ts/client over a unix socket to a garden-ts server with backend-linux; value = total seconds (errors must be 0, else the sample fails); destroySeconds = destroying them all concurrently. No peer',
  unit: 's',
  better: 'lower',
  // Each sample creates and destroys 250 containers: warm-up + 2 samples stay within ~90 s.
  pairs: 2,
  requires: ['root', 'linux'],
  async setup() {
    return { env: await startLinuxServer('create250'), seq: 0 };
  },
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer, seq: number }} ctx */
  async measure(ctx) {
    const client = /** @type {import('@garden-ts/api-types').Client} */ (ctx.env.client);
    const round = ctx.seq++;
    const handles = Array.from({ length: COUNT }, (_, i) => `bench-250-${process.pid}-${round}-${i}`);
    for (const h of handles) ctx.env.handles.add(h);
    const t0 = performance.now();
    const created = await Promise.allSettled(
      handles.map((handle) =>
        client.create({ handle, limits: { memory: { limitInBytes: BigInt(MEMORY_LIMIT) } } }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    const failed = created.filter((r) => r.status === 'rejected');
    const t1 = performance.now();
    const destroyed = await Promise.allSettled(
      handles.map((h, i) => (created[i]?.status === 'fulfilled' ? client.destroy(h) : Promise.resolve())),
    );
    const destroySeconds = (performance.now() - t1) / 1000;
    destroyed.forEach((r, i) => {
      if (r.status === 'fulfilled') ctx.env.handles.delete(/** @type {string} */ (handles[i]));
    });
    if (failed.length > 0) {
      const first = /** @type {PromiseRejectedResult} */ (failed[0]).reason;
      throw new Error(`${failed.length} of ${COUNT} creates failed; first: ${first?.message ?? first}`);
    }
    const undestroyed = destroyed.filter((r) => r.status === 'rejected');
    if (undestroyed.length > 0) {
      const first = /** @type {PromiseRejectedResult} */ (undestroyed[0]).reason;
      throw new Error(`${undestroyed.length} of ${COUNT} destroys failed; first: ${first?.message ?? first}`);
    }
    return { value: seconds, errors: 0, destroySeconds, perCreateMs: (seconds * 1000) / COUNT };
  },
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer }} ctx */
  async teardown(ctx) {
    await stopLinuxServer(ctx.env);
  },
};
