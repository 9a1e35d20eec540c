// Container start against `crun run` of an equivalent OCI bundle (same rootfs, namespaces, user
// ns maps, masked paths). crun's time includes running /bin/true to its exit and deleting the
// container, which garden's number does not (it stops once init runs): crun is favoured only
// by what it skips (cgroup creation per run is included on both sides).
import { join } from 'node:path';
import {
  cleanupDir,
  crunArgs,
  ociBundle,
  prepareRootfs,
  runCmd,
  stats,
  timeMany,
  which,
} from '../../packages/native-ns/bench/common.mjs';
import base from './native-container-start.mjs';

export default {
  ...base,
  name: 'native-container-start-vs-crun',
  peer: {
    name: 'crun run',
    async setup(options = {}) {
      if (!which('crun')) throw new Error('crun is not installed (apt-get install -y crun)');
      const fx = await prepareRootfs();
      const bundle = ociBundle(join(fx.work, 'bundle'), fx.shifted, ['/bin/true']);
      return { fx, bundle, seq: 0, n: options.quick ? 5 : 30 };
    },
    async measure(ctx) {
      return stats(
        await timeMany(ctx.n, () => {
          const [cmd, args] = crunArgs([
            'run',
            '--bundle',
            ctx.bundle,
            `garden-bench-${process.pid}-${ctx.seq++}`,
          ]);
          return runCmd(cmd, args);
        }),
      );
    },
    async teardown(ctx) {
      cleanupDir(ctx.fx.work);
    },
  },
};
