// The cost of a disk limit at create (issue 13: must add ≤ 2 ms, goal ≤ 0.5 ms). One
// backend-linux in this process, with its disk store; each sample creates containers one after
// the other, alternating with an exclusive 1 GiB disk limit and without one (every container gets
// a volume in the store either way; the limit adds the image size, cached, and one qgroup ioctl on
// the thread pool, chained after the overlay mount). Interleaving puts the machine's noise on
// both alike. value = the median over pairs of (create with limit − create without), in ms;
// details: the p50 of each kind. Destroys are not timed. No peer (the comparison is inside).
import { pairedCreates, startBackend, stopBackend } from './linux-support/in-process.mjs';

const GiB = 1024n * 1024n * 1024n;

export default {
  name: 'linux-disk-create',
  description:
    'backend-linux in-process with its disk store: sequential creates alternating with an exclusive 1 GiB disk limit and without; value = median over 20 pairs of the extra ms a limit adds (target ≤ 2, goal ≤ 0.5); withLimit / withoutLimit = create p50 ms of each kind',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    return { env: await startBackend('disk-limit'), n: options.quick ? 5 : 20 };
  },
  /** @param {{ env: import('./linux-support/in-process.mjs').InProcessBackend, n: number }} ctx */
  async measure(ctx) {
    const r = await pairedCreates(
      ctx.n,
      { env: ctx.env, spec: { limits: { disk: { byteHard: GiB, scope: 1 } } } },
      { env: ctx.env, spec: {} },
    );
    return { value: r.difference, withLimit: r.a, withoutLimit: r.b };
  },
  /** @param {{ env: import('./linux-support/in-process.mjs').InProcessBackend }} ctx */
  async teardown(ctx) {
    await stopBackend(ctx.env);
  },
};
