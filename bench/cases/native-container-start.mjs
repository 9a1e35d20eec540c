// Start a container (pid, mount, uts, ipc, net, cgroup and user namespaces, prepared rootfs,
// cgroups) until its init runs (target <= 4 ms), against `unshare ... /bin/true`.
import {
  benchCgroup,
  cleanupDir,
  ns,
  prepareRootfs,
  removeBenchCgroup,
  runCmd,
  stats,
  timeMany,
} from '../../packages/native-ns/bench/common.mjs';

export default {
  name: 'native-container-start',
  description:
    'create a container (all namespaces + user ns, busybox rootfs, cgroups) until garden-init runs',
  unit: 'ms',
  better: 'lower',
  target: 4,
  pairs: 3,
  requires: ['root', 'linux'],
  async setup(options = {}) {
    return { fx: await prepareRootfs(), cgroup: benchCgroup('start'), n: options.quick ? 10 : 50 };
  },
  async measure(ctx) {
    const samples = [];
    for (let i = 0; i < ctx.n; i++) {
      const t = performance.now();
      const c = await ns.createContainer({
        rootfs: ctx.fx.shifted,
        hostname: 'bench',
        cgroups: ns.cgroupDirs(ctx.cgroup),
      });
      samples.push(performance.now() - t);
      await c.destroy(); // not timed
    }
    return stats(samples);
  },
  async teardown(ctx) {
    await removeBenchCgroup(ctx.cgroup);
    cleanupDir(ctx.fx.work);
  },
  peer: {
    name: 'unshare --fork --pid --mount --uts --ipc --net --mount-proc /bin/true',
    async setup(options = {}) {
      return { n: options.quick ? 10 : 50 };
    },
    async measure(ctx) {
      const args = ['--fork', '--pid', '--mount', '--uts', '--ipc', '--net', '--mount-proc', '/bin/true'];
      return stats(await timeMany(ctx.n, () => runCmd('unshare', args)));
    },
    async teardown() {},
  },
};
