/**
 * `GET /containers/:handle/info` requests per second, one new unix-socket connection per request
 * with `Connection: close` (like the Go client), against a container carrying a few properties
 * and a port mapping. A = garden-ts `gardend --backend fake`; B = the canonical Go server
 * (cmd/gogarden). Exercises routing, the backend lookup, grace-time pause/unpause and Go-JSON
 * encoding of ContainerInfo.
 */

import {
  closedLoop,
  goClientGet,
  goClientPostJson,
  rawExchange,
  startGardend,
} from '../../test-e2e/go-conformance/bench-support.mjs';
import { startGoGardenServer } from '../../test-e2e/go-conformance/go-server.mjs';

const TOTAL = 6000;
const QUICK_TOTAL = 300;
const CONCURRENCY = 8;
const HANDLE = 'bench-info';

/** Creates the container every sample reads (raw requests, so both sides see identical bytes). */
async function createContainer(/** @type {string} */ socketPath) {
  const spec = {
    handle: HANDLE,
    properties: { app: 'bench', owner: 'wire-info', zone: 'z1' },
    netin: [{ host_port: 0, container_port: 8080 }],
  };
  const created = await rawExchange(socketPath, goClientPostJson('/containers', spec));
  if (created.status !== 200) throw new Error(`create failed: ${created.raw.toString('latin1')}`);
  const info = await rawExchange(socketPath, goClientGet(`/containers/${HANDLE}/info`));
  const body = info.raw.toString('utf8');
  if (info.status !== 200 || !body.includes('"owner":"wire-info"'))
    throw new Error(`unexpected info: ${body}`);
}

/** @param {{ socketPath: string, total: number }} ctx */
function measure(ctx) {
  return closedLoop({
    socketPath: ctx.socketPath,
    request: goClientGet(`/containers/${HANDLE}/info`),
    total: ctx.total,
    concurrency: CONCURRENCY,
  });
}

/**
 * @param {() => Promise<{ socketPath: string, stop(): Promise<void> }>} start
 * @param {boolean} quick
 */
async function setupWith(start, quick) {
  const server = await start();
  try {
    await createContainer(server.socketPath);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { server, socketPath: server.socketPath, total: quick ? QUICK_TOTAL : TOTAL };
}

/** @param {{ server: { stop(): Promise<void> } }} ctx */
async function teardown(ctx) {
  await ctx.server.stop();
}

export default {
  name: 'wire-info',
  description: `GET /containers/:handle/info over a fresh unix-socket connection per request (Connection: close, like the Go client), ${CONCURRENCY} concurrent loops, ${TOTAL} requests per sample; value = req/s, p50/p99 = latency of one request in ms.`,
  unit: 'req/s',
  better: 'higher',
  pairs: 5,
  /** @param {{ quick: boolean }} [options] */
  setup: ({ quick } = { quick: false }) => setupWith(startGardend, quick),
  measure,
  teardown,
  peer: {
    name: 'go-garden',
    requires: ['go'],
    /** @param {{ quick: boolean }} [options] */
    setup: ({ quick } = { quick: false }) => setupWith(() => startGoGardenServer(), quick),
    measure,
    teardown,
  },
};
