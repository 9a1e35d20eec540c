// Spawn into an existing container against `runc exec` (and, in native-spawn-crun.mjs, `crun
// exec`) of an equivalent container started from an OCI bundle with the same rootfs and maps.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  cleanupDir,
  ociBundle,
  prepareRootfs,
  runCmd,
  stats,
  timeMany,
  which,
} from '../../packages/native-ns/bench/common.mjs';
import base from './native-spawn.mjs';

export function execPeer(runtime, argsFor) {
  return {
    name: `${runtime} exec`,
    async setup(options = {}) {
      if (!which(runtime)) throw new Error(`${runtime} is not installed (apt-get install -y ${runtime})`);
      const fx = await prepareRootfs();
      const bundle = ociBundle(join(fx.work, 'bundle'), fx.shifted, ['/bin/sleep', '3600']);
      const id = `garden-bench-${runtime}-${process.pid}`;
      const [cmd, args] = argsFor(['run', '--detach', '--bundle', bundle, id]);
      execFileSync(cmd, args, { stdio: 'ignore' });
      return { fx, id, n: options.quick ? 20 : 100 };
    },
    async measure(ctx) {
      return stats(
        await timeMany(ctx.n, () => {
          const [cmd, args] = argsFor(['exec', ctx.id, '/bin/true']);
          return runCmd(cmd, args);
        }),
      );
    },
    async teardown(ctx) {
      const [cmd, args] = argsFor(['delete', '--force', ctx.id]);
      try {
        execFileSync(cmd, args, { stdio: 'ignore' });
      } finally {
        cleanupDir(ctx.fx.work);
      }
    },
  };
}

export default {
  ...base,
  name: 'native-spawn-vs-runc',
  peer: execPeer('runc', (args) => ['runc', args]),
};
