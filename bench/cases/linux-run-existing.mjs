// Run `/bin/true` in an existing container and wait for its exit status, through the TS client
// over the unix socket to a garden-ts server with backend-linux (a child process); the container
// (64 MiB memory limit) is created once in setup. Peer: `crun exec` into an equivalent running
// crun container (same rootfs, namespaces, maps, memory limit; its init is `sleep 3600`).
// Issue target: p50 ≤ 2 ms.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { prepareRootfs } from '../../packages/native-ns/bench/common.mjs';
import {
  crunArgs,
  crunBundle,
  deleteRuntimeContainers,
  MEMORY_LIMIT,
  removeCgroupTree,
  runCmd,
  runtimeContainers,
  startLinuxServer,
  stats,
  stopLinuxServer,
  which,
} from './linux-support/common.mjs';

export default {
  name: 'linux-run-existing',
  description:
    'run /bin/true in an existing container and wait, through @garden-ts/client over a unix socket to a garden-ts server with backend-linux; value = p50 ms of one run (p99 in details; target ≤ 2 ms). Peer: crun exec into an equivalent running crun container',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  /** @param {{ quick?: boolean }} [options] */
  async setup(options = {}) {
    const env = await startLinuxServer('run');
    try {
      const client = /** @type {import('@garden-ts/api-types').Client} */ (env.client);
      const handle = `bench-run-existing-${process.pid}`;
      env.handles.add(handle);
      const container = await client.create({
        handle,
        limits: { memory: { limitInBytes: BigInt(MEMORY_LIMIT) } },
      });
      return { env, container, n: options.quick ? 20 : 200 };
    } catch (err) {
      await stopLinuxServer(env);
      throw err;
    }
  },
  /** @param {{ container: import('@garden-ts/api-types').Container, n: number }} ctx */
  async measure(ctx) {
    const samples = [];
    for (let i = 0; i < ctx.n; i++) {
      const t0 = performance.now();
      const proc = await ctx.container.run({ path: '/bin/true' }, {});
      const status = await proc.wait();
      samples.push(performance.now() - t0);
      if (status !== 0) throw new Error(`/bin/true exited ${status}`);
    }
    return stats(samples);
  },
  /** @param {{ env: import('./linux-support/common.mjs').LinuxServer }} ctx */
  async teardown(ctx) {
    await stopLinuxServer(ctx.env);
  },
  peer: {
    name: 'crun exec',
    /** @param {{ quick?: boolean }} [options] */
    async setup(options = {}) {
      if (!which('crun')) throw new Error('crun is not installed (apt-get install -y crun)');
      const fx = await prepareRootfs();
      const id = `garden-bench-run-existing-${process.pid}`;
      const cgroupRoot = `garden-bench-crun-exec-${process.pid}`;
      const ctx = { fx, id, cgroupRoot, n: options.quick ? 20 : 200 };
      try {
        const bundle = crunBundle(
          join(fx.work, 'bundle'),
          fx.shifted,
          ['/bin/sleep', '3600'],
          `/${cgroupRoot}/c`,
        );
        const [cmd, args] = crunArgs(['run', '--detach', '--bundle', bundle, id]);
        execFileSync(cmd, args, { stdio: 'ignore' });
        return ctx;
      } catch (err) {
        await cleanupCrun(ctx);
        throw err;
      }
    },
    /** @param {{ id: string, n: number }} ctx */
    async measure(ctx) {
      const samples = [];
      for (let i = 0; i < ctx.n; i++) {
        const t0 = performance.now();
        const [cmd, args] = crunArgs(['exec', ctx.id, '/bin/true']);
        await runCmd(cmd, args);
        samples.push(performance.now() - t0);
      }
      return stats(samples);
    },
    teardown: cleanupCrun,
  },
};

/** @param {{ fx: { work: string }, id: string, cgroupRoot: string }} ctx */
async function cleanupCrun(ctx) {
  try {
    deleteRuntimeContainers(crunArgs, runtimeContainers(crunArgs, ctx.id));
  } finally {
    await removeCgroupTree(ctx.cgroupRoot).catch(() => undefined);
    rmSync(ctx.fx.work, { recursive: true, force: true });
  }
}
