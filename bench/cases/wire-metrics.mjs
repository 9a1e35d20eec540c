/**
 * The cost of the Prometheus metrics on the hot paths: `GET /ping` and `GET /containers/:h/info`
 * (one fresh unix-socket connection per request, like the Go client; 8 loops) against gardend
 * with the debug server on (A: every request counted and timed) and off (B: the default, no
 * metrics code on the request path). Ratio > 1 would mean metrics made it faster: ≈ 1 is the goal.
 * One sample = 3000 pings then 3000 infos; value = req/s over both; cpuUsPerReq = server CPU
 * (user + system) per request in µs, the steadier figure on a shared machine.
 */
import { readFileSync } from 'node:fs';
import {
  closedLoop,
  goClientGet,
  goClientPostJson,
  rawExchange,
  startGardend,
} from '../../test-e2e/go-conformance/bench-support.mjs';

const TOTAL = 3000;
const QUICK_TOTAL = 200;
const CONCURRENCY = 8;
const HANDLE = 'bench-metrics';

/** @param {string[]} flags @param {{ quick: boolean }} options */
async function setup(flags, { quick }) {
  const server = await startGardend(flags);
  const spec = { handle: HANDLE, properties: { app: 'bench', zone: 'z1' } };
  const created = await rawExchange(server.socketPath, goClientPostJson('/containers', spec));
  if (created.status !== 200) throw new Error(`create failed: ${created.raw.toString('latin1')}`);
  return { server, socketPath: server.socketPath, total: quick ? QUICK_TOTAL : TOTAL };
}

/** Server CPU time (user + system) in µs, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuMicros(/** @type {number} */ pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** @param {{ socketPath: string, total: number, server: { pid: number } }} ctx */
async function measure(ctx) {
  const cpu0 = cpuMicros(ctx.server.pid);
  const started = performance.now();
  const ping = await closedLoop({
    socketPath: ctx.socketPath,
    request: goClientGet('/ping'),
    total: ctx.total,
    concurrency: CONCURRENCY,
  });
  const info = await closedLoop({
    socketPath: ctx.socketPath,
    request: goClientGet(`/containers/${HANDLE}/info`),
    total: ctx.total,
    concurrency: CONCURRENCY,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpuUsPerReq = (cpuMicros(ctx.server.pid) - cpu0) / (2 * ctx.total);
  return {
    value: (2 * ctx.total) / seconds,
    cpuUsPerReq,
    pingReqPerS: ping.value,
    infoReqPerS: info.value,
    pingP50: ping.p50,
    infoP50: info.p50,
  };
}

/** @param {{ server: { stop(): Promise<void> } }} ctx */
async function teardown(ctx) {
  await ctx.server.stop();
}

export default {
  name: 'wire-metrics',
  description:
    'GET /ping then GET /containers/:h/info, 3000 each per sample, fresh unix-socket connection per request, 8 loops: gardend --backend fake with the debug server and metrics on (A) vs off (B); value = req/s over both.',
  unit: 'req/s',
  better: 'higher',
  pairs: 5,
  setup: (/** @type {{ quick: boolean }} */ o = { quick: false }) =>
    setup(['--debug-bind-ip', '127.0.0.1', '--debug-bind-port', '0'], o),
  measure,
  teardown,
  peer: {
    name: 'metrics off',
    setup: (/** @type {{ quick: boolean }} */ o = { quick: false }) => setup([], o),
    measure,
    teardown,
  },
};
