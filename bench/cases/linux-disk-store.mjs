// The cost of the disk store itself at create: two backend-linux instances in this process, one
// with a disk store (a subvolume per container on a loop-mounted btrfs, overlay upper/work in it)
// and one without (`diskStore: false`: upper/work in the depot on the host's filesystem); each
// sample creates containers one after the other, alternating between them, no disk limit on
// either. value = the median over pairs of (create with store − create without), in ms; details:
// the p50 of each. Destroys are not timed. No peer (the comparison is inside).
import { pairedCreates, startBackend, stopBackend } from './linux-support/in-process.mjs';

export default {
  name: 'linux-disk-store',
  description:
    'backend-linux in-process: sequential creates alternating between a backend with the disk store (btrfs subvolume per container, no limit) and one without (diskStore false); value = median over 20 pairs of the extra ms the store adds; withStore / withoutStore = create p50 ms of each',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    const store = await startBackend('disk-store');
    const plain = await startBackend('no-store', { diskStore: false }).catch(async (err) => {
      await stopBackend(store);
      throw err;
    });
    return { store, plain, n: options.quick ? 5 : 20 };
  },
  /**
   * @param {{ store: import('./linux-support/in-process.mjs').InProcessBackend, plain: import('./linux-support/in-process.mjs').InProcessBackend, n: number }} ctx
   */
  async measure(ctx) {
    const r = await pairedCreates(ctx.n, { env: ctx.store, spec: {} }, { env: ctx.plain, spec: {} });
    return { value: r.difference, withStore: r.a, withoutStore: r.b };
  },
  /**
   * @param {{ store: import('./linux-support/in-process.mjs').InProcessBackend, plain: import('./linux-support/in-process.mjs').InProcessBackend }} ctx
   */
  async teardown(ctx) {
    try {
      await stopBackend(ctx.store);
    } finally {
      await stopBackend(ctx.plain);
    }
  },
};
