/**
 * `GET /ping` requests per second, one new unix-socket connection per request with
 * `Connection: close` — exactly how the Go client talks to a Garden server. A = garden-ts
 * `gardend --backend fake` (built dist, or `$GARDEND`); B = the canonical Go server
 * (code.cloudfoundry.org/garden/server over an in-memory Go backend, cmd/gogarden).
 */

import { closedLoop, goClientGet, startGardend } from '../../test-e2e/go-conformance/bench-support.mjs';
import { startGoGardenServer } from '../../test-e2e/go-conformance/go-server.mjs';

const TOTAL = 6000;
const QUICK_TOTAL = 300;
const CONCURRENCY = 8;

/** @param {{ socketPath: string, total: number }} ctx */
function measure(ctx) {
  return closedLoop({
    socketPath: ctx.socketPath,
    request: goClientGet('/ping'),
    total: ctx.total,
    concurrency: CONCURRENCY,
  });
}

export default {
  name: 'wire-ping',
  description: `GET /ping over a fresh unix-socket connection per request (Connection: close, like the Go client), ${CONCURRENCY} concurrent loops, ${TOTAL} requests per sample; value = req/s, p50/p99 = latency of one request in ms.`,
  unit: 'req/s',
  better: 'higher',
  pairs: 5,

  /** @param {{ quick: boolean }} [options] */
  async setup({ quick } = { quick: false }) {
    const server = await startGardend();
    return { server, socketPath: server.socketPath, total: quick ? QUICK_TOTAL : TOTAL };
  },
  measure,
  /** @param {{ server: { stop(): Promise<void> } }} ctx */
  async teardown(ctx) {
    await ctx.server.stop();
  },

  peer: {
    name: 'go-garden',
    requires: ['go'],
    /** @param {{ quick: boolean }} [options] */
    async setup({ quick } = { quick: false }) {
      const server = await startGoGardenServer();
      return { server, socketPath: server.socketPath, total: quick ? QUICK_TOTAL : TOTAL };
    },
    measure,
    /** @param {{ server: { stop(): Promise<void> } }} ctx */
    async teardown(ctx) {
      await ctx.server.stop();
    },
  },
};
