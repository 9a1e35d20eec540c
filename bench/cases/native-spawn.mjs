// Spawn /bin/true into an existing container and wait for its exit (target p50 <= 1.5 ms),
// against nsenter into the same namespaces.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
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

async function setupContainer(options = {}) {
  const fx = await prepareRootfs();
  const cgroup = benchCgroup('spawn');
  const container = await ns.createContainer({
    rootfs: fx.shifted,
    hostname: 'bench',
    cgroups: ns.cgroupDirs(cgroup),
  });
  // Process dirs (shim rings, socket, exit file) on a tmpfs, as backend-linux keeps them in its
  // run dir: on a disk filesystem each spawn's file creations dominate (docs/benchmarks.md).
  const procs = mkdtempSync('/dev/shm/native-bench-procs-');
  return { fx, cgroup, container, procs, seq: 0, n: options.quick ? 30 : 300 };
}

async function teardownContainer(ctx) {
  await ctx.container.destroy();
  await removeBenchCgroup(ctx.cgroup);
  cleanupDir(ctx.fx.work);
  cleanupDir(ctx.procs);
}

export default {
  name: 'native-spawn',
  description:
    'spawn /bin/true into an existing container (user ns, cgroups) via garden-shim and wait for its exit',
  unit: 'ms',
  better: 'lower',
  target: 1.5,
  pairs: 3,
  requires: ['root', 'linux'],
  setup: setupContainer,
  async measure(ctx) {
    const samples = await timeMany(ctx.n, async () => {
      const dir = join(ctx.procs, `p${ctx.seq++}`);
      mkdirSync(dir);
      const p = await ns.spawn(ctx.container, { path: '/bin/true' }, { dir });
      p.stdout.resume();
      p.stderr.resume();
      const s = await p.wait();
      if (s.exitStatus !== 0) throw new Error(`exit ${s.exitStatus}`);
    });
    return stats(samples);
  },
  teardown: teardownContainer,
  peer: {
    name: 'nsenter',
    setup: setupContainer,
    async measure(ctx) {
      const pid = String(ctx.container.pid);
      return stats(await timeMany(ctx.n, () => runCmd('nsenter', ['-t', pid, '-a', '/bin/true'])));
    },
    teardown: teardownContainer,
  },
};
