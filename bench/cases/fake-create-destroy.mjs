/**
 * Container create + destroy round trips per second on the in-memory fake backend: the cost of
 * garden-ts's own bookkeeping (handle generation, spec validation, container state) with no
 * kernel work, HTTP or peer involved.
 *
 * Imports @garden-ts/backend-fake from its dist/ build (plain node cannot load the TS sources):
 * run `pnpm --filter @garden-ts/backend-fake... build` (or `pnpm build`) first.
 */

/** Time budget of one sample; a sample is as many create+destroy rounds as fit in it. */
const SAMPLE_MS = 1000;
const QUICK_SAMPLE_MS = 100;

async function loadFakeBackend() {
  try {
    return await import('@garden-ts/backend-fake');
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(
        '@garden-ts/backend-fake is not built: run `pnpm --filter @garden-ts/backend-fake... build` first',
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * @param {number[]} sortedNs ascending latencies in ns
 * @param {number} q
 */
function percentileMs(sortedNs, q) {
  const index = Math.min(sortedNs.length - 1, Math.ceil(q * sortedNs.length) - 1);
  return sortedNs[Math.max(0, index)] / 1e6;
}

export default {
  name: 'fake-create-destroy',
  description:
    'backend-fake in-process: `create({})` then `destroy(handle)` back to back; value = rounds/s, p50/p99 = latency of one round in ms.',
  unit: 'ops/s',
  better: 'higher',
  pairs: 5,

  async setup({ quick } = { quick: false }) {
    const { createFakeBackend } = await loadFakeBackend();
    const backend = await createFakeBackend();
    await backend.start?.();
    return { backend, sampleMs: quick ? QUICK_SAMPLE_MS : SAMPLE_MS };
  },

  async measure({ backend, sampleMs }) {
    const latencies = [];
    const budget = BigInt(sampleMs) * 1_000_000n;
    const start = process.hrtime.bigint();
    let now = start;
    while (now - start < budget) {
      const before = now;
      const container = await backend.create({});
      await backend.destroy(container.handle);
      now = process.hrtime.bigint();
      latencies.push(Number(now - before));
    }
    // A leak would make later samples slower and hide behind "the fake is slow": catch it here.
    const left = await backend.containers();
    if (left.length !== 0) throw new Error(`${left.length} containers survived destroy`);
    latencies.sort((x, y) => x - y);
    const seconds = Number(now - start) / 1e9;
    return {
      value: latencies.length / seconds,
      p50: percentileMs(latencies, 0.5),
      p99: percentileMs(latencies, 0.99),
    };
  },

  async teardown({ backend }) {
    await backend.stop?.();
  },
};
