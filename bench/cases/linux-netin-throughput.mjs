// NetIn TCP throughput: iperf3 from the "outside" test namespace to a container of a garden-ts
// server with backend-linux (networked in a test-made "host" namespace), through the NetIn DNAT
// on the external IP (A) vs straight to the container's IP (peer: the outside namespace gets a
// route to the container subnets via the host). Same bridge, veth and forwarding either way, so
// the ratio is the price of the NAT path. The iperf3 server runs in the container's network
// namespace (entered with nsenter; the busybox image has no iperf3).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNs } from '../../packages/native-ns/bench/common.mjs';
import { HOST_IP, startLinuxServer, stopLinuxServer, which } from './linux-support/common.mjs';

const PORT = 5201;

/** The container's init pid, from its cgroup (the backend names the cgroup after the handle). */
async function initPid(/** @type {string} */ cgroupParent, /** @type {string} */ handle) {
  const ns = await loadNs();
  const layout = ns.detectCgroupLayout();
  const root = layout.v1.memory ?? layout.v2;
  const pids = readFileSync(join(/** @type {string} */ (root), cgroupParent, handle, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
  for (const pid of pids) {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'garden-init') return pid;
  }
  throw new Error(`no garden-init in the cgroup of ${handle}`);
}

/** One iperf3 run (a fresh one-off server in the container each time); Gbit/s received. */
async function iperf(ctx, /** @type {string} */ target, /** @type {number} */ port) {
  const server = spawn(
    'nsenter',
    [`--net=/proc/${ctx.pid}/ns/net`, 'iperf3', '-s', '-1', '-p', String(PORT)],
    {
      stdio: 'ignore',
    },
  );
  try {
    await new Promise((r) => setTimeout(r, 200));
    const out = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        ctx.env.net.outside,
        'iperf3',
        '-c',
        target,
        '-p',
        String(port),
        '-t',
        String(ctx.seconds),
        '-J',
      ],
      { encoding: 'utf8' },
    );
    return { value: JSON.parse(out).end.sum_received.bits_per_second / 1e9 };
  } finally {
    server.kill('SIGKILL');
  }
}

async function setupSide(/** @type {string} */ tag, /** @type {{ quick?: boolean }} */ options = {}) {
  if (!which('iperf3')) throw new Error('iperf3 is not installed (apt-get install -y iperf3)');
  const env = await startLinuxServer(tag);
  try {
    const client = /** @type {import('@garden-ts/api-types').Client} */ (env.client);
    const handle = `bench-netin-${process.pid}`;
    env.handles.add(handle);
    const c = await client.create({ handle, netIn: [{ hostPort: 0, containerPort: PORT }] });
    const info = await c.info();
    const net = /** @type {import('./linux-support/common.mjs').TestNetwork} */ (env.net);
    // The direct path: the outside namespace routes the pool via the host.
    execFileSync('ip', ['-n', net.outside, 'route', 'replace', '10.254.0.0/22', 'via', HOST_IP]);
    return {
      env,
      pid: await initPid(env.cgroupParent, handle),
      hostPort: /** @type {number} */ (info.mappedPorts[0]?.hostPort),
      containerIP: info.containerIP,
      seconds: options.quick ? 1 : 3,
    };
  } catch (err) {
    await stopLinuxServer(env).catch(() => undefined);
    throw err;
  }
}

export default {
  name: 'linux-netin-throughput',
  description:
    'iperf3 TCP from the outside test namespace into a garden-ts container: through the NetIn DNAT on the external IP vs straight to the container IP (test-made host netns); Gbit/s',
  unit: 'Gbit/s',
  better: 'higher',
  pairs: 3,
  requires: ['root', 'linux'],
  setup: (options) => setupSide('netin', options),
  measure: (ctx) => iperf(ctx, HOST_IP, ctx.hostPort),
  async teardown(ctx) {
    await stopLinuxServer(ctx.env);
  },
  peer: {
    name: 'direct to the container IP (no DNAT)',
    setup: (options) => setupSide('netdirect', options),
    measure: (ctx) => iperf(ctx, ctx.containerIP, PORT),
    async teardown(ctx) {
      await stopLinuxServer(ctx.env);
    },
  },
};
