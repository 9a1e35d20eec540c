// Give a running container its network, as the Linux backend's network part does at create: a
// new /30's bridge (gateway, up, no multicast snooping), a veth pair whose container end is
// created inside the container's namespace, its address, up, the default route, and its
// anti-spoofing nft element. garden-ts: one native-ns call + one libnftables transaction; peer:
// the same devices made with `ip` (and `nft`) commands. Everything happens in a test-made "host"
// namespace (network safety); containers are destroyed and bridges deleted outside the timing.
import { execFileSync } from 'node:child_process';
import {
  benchCgroup,
  cleanupDir,
  loadNs,
  ns,
  prepareRootfs,
  removeBenchCgroup,
  runCmd,
  stats,
} from '../../packages/native-ns/bench/common.mjs';

const TABLE = 'garden_bench';
const ruleset = `add table bridge ${TABLE}
add set bridge ${TABLE} ports { type ifname . ipv4_addr; }
`;

async function hostNamespace(tag) {
  const name = `gtbench-${tag}-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  await ns.nft(ruleset, { netns: `/run/netns/${name}` });
  return name;
}

/** The i-th /30 of 10.254.0.0/16: network, gateway, container, and names. */
function slot(i) {
  const net = (10 << 24) | (254 << 16) | (i * 4);
  const fmt = (v) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  const hex = (net >>> 0).toString(16).padStart(8, '0');
  return { gateway: fmt(net + 1), ip: fmt(net + 2), bridge: `gtb-${hex}`, veth: `gtv-${hex}` };
}

async function sample(ctx, connect) {
  const containers = [];
  for (let i = 0; i < ctx.n; i++) {
    containers.push(
      await ns.createContainer({
        rootfs: ctx.fx.shifted,
        hostname: 'bench',
        cgroups: ns.cgroupDirs(ctx.cgroup),
      }),
    );
  }
  const samples = [];
  for (let i = 0; i < ctx.n; i++) {
    const t = performance.now();
    await connect(containers[i], slot(i));
    samples.push(performance.now() - t);
  }
  for (const c of containers) await c.destroy();
  await ns.deleteLinks(
    containers.map((_, i) => slot(i).bridge),
    { netns: `/run/netns/${ctx.host}` },
  );
  await ns.nft(`flush set bridge ${TABLE} ports\n`, { netns: `/run/netns/${ctx.host}` });
  return stats(samples);
}

async function setupSide(tag, options = {}) {
  await loadNs();
  return {
    fx: await prepareRootfs(),
    cgroup: benchCgroup(`net-${tag}`),
    host: await hostNamespace(tag),
    n: options.quick ? 5 : 30,
  };
}

async function teardownSide(ctx) {
  execFileSync('ip', ['netns', 'del', ctx.host]);
  await removeBenchCgroup(ctx.cgroup);
  cleanupDir(ctx.fx.work);
}

export default {
  name: 'native-container-network',
  description:
    "a running container's network: new /30 bridge, veth made inside its netns, address, route, nft element (test-made host netns)",
  unit: 'ms',
  better: 'lower',
  pairs: 3,
  requires: ['root', 'linux'],
  setup: (options) => setupSide('a', options),
  async measure(ctx) {
    const netns = `/run/netns/${ctx.host}`;
    return sample(ctx, async (c, s) => {
      await ns.createContainerLink({
        hostNetns: netns,
        container: c,
        bridge: s.bridge,
        gateway: s.gateway,
        address: s.ip,
        prefixLength: 30,
        hostVeth: s.veth,
      });
      await ns.nft(`add element bridge ${TABLE} ports { "${s.veth}" . ${s.ip} }\n`, { netns });
    });
  },
  teardown: teardownSide,
  peer: {
    name: 'ip + nft commands (bridge, veth peer netns, addr, up, route, element)',
    setup: (options) => setupSide('b', options),
    async measure(ctx) {
      return sample(ctx, async (c, s) => {
        const h = ['-n', ctx.host];
        const inC = (args) => runCmd('nsenter', [`--net=/proc/${c.pid}/ns/net`, 'ip', ...args]);
        await runCmd('ip', [...h, 'link', 'add', s.bridge, 'type', 'bridge', 'mcast_snooping', '0']);
        await runCmd('ip', [...h, 'addr', 'add', `${s.gateway}/30`, 'dev', s.bridge]);
        await runCmd('ip', [...h, 'link', 'set', s.bridge, 'up']);
        await runCmd('ip', [
          ...h,
          'link',
          'add',
          s.veth,
          'master',
          s.bridge,
          'up',
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          `/proc/${c.pid}/ns/net`,
        ]);
        await inC(['addr', 'add', `${s.ip}/30`, 'dev', 'eth0']);
        await inC(['link', 'set', 'eth0', 'up']);
        await inC(['route', 'add', 'default', 'via', s.gateway]);
        await runCmd('ip', [
          'netns',
          'exec',
          ctx.host,
          'nft',
          'add',
          'element',
          'bridge',
          TABLE,
          'ports',
          `{ "${s.veth}" . ${s.ip} }`,
        ]);
      });
    },
    teardown: teardownSide,
  },
};
