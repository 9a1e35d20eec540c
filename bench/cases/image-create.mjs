// A warm create from a cached image against a create from a directory rootfs, on the same
// backend-linux in this process (unprivileged containers, 64 MiB memory limit; no HTTP): the
// image is the 2-layer image of image-pull (busybox + ~24 MiB), already in the layer store and
// held by one running container, named by digest (no registry request; `tagP50` in the details
// names it by tag, which asks the registry for the manifest on every create, as Guardian does).
// Issue target: within 10 % of the directory create.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistryWithImage, which } from './image-support/common.mjs';
import {
  busyboxRootfs,
  MEMORY_LIMIT,
  removeCgroupTree,
  stats,
  unmountUnder,
} from './linux-support/common.mjs';

let seq = 0;

/** @param {{ image: boolean }} o */
function side(o) {
  return {
    /** @param {{ quick?: boolean }} [options] */
    async setup(options = {}) {
      if (!which('docker-registry') || !which('skopeo'))
        throw new Error('docker-registry / skopeo missing (scripts/setup.sh)');
      const { createLinuxBackend } = await import('@garden-ts/backend-linux');
      const registry = o.image ? await startRegistryWithImage() : undefined;
      const depot = mkdtempSync(join(tmpdir(), `bench-image-create-${o.image ? 'image' : 'dir'}-`));
      const cgroupParent = `bench-image-create-${process.pid}-${o.image ? 'i' : 'd'}`;
      const backend = createLinuxBackend({
        depot,
        cgroupParent,
        defaultRootfs: busyboxRootfs(),
        // Images only; no container network (network safety: nothing made on this host).
        network: false,
        ...(registry ? { images: { registry: { insecureRegistries: [registry.host] } } } : {}),
      });
      await backend.start();
      // Warm: the image pulled (or the directory's view mounted) and held by a running container.
      const holder = await backend.create({ ...(registry ? { image: { uri: registry.uri } } : {}) });
      return {
        backend,
        registry,
        depot,
        cgroupParent,
        holder,
        digestUri: registry?.digestUri,
        n: options.quick ? 5 : 30,
      };
    },
    /** @param {any} ctx */
    async measure(ctx) {
      /** @param {string | undefined} uri */
      const round = async (uri) => {
        const times = [];
        for (let i = 0; i < ctx.n; i++) {
          const t0 = performance.now();
          const c = await ctx.backend.create({
            handle: `bench-image-create-${process.pid}-${seq++}`,
            limits: { memory: { limitInBytes: BigInt(MEMORY_LIMIT) } },
            ...(uri ? { image: { uri } } : {}),
          });
          times.push(performance.now() - t0);
          await ctx.backend.destroy(c.handle);
        }
        await ctx.backend.settled();
        return stats(times);
      };
      const main = await round(ctx.digestUri);
      if (!ctx.registry) return { value: main.p50, p99: main.p99 };
      const tag = await round(ctx.registry.uri);
      return { value: main.p50, p99: main.p99, tagP50: tag.p50 };
    },
    /** @param {any} ctx */
    async teardown(ctx) {
      if (ctx.backend) {
        for (const h of ctx.backend.handles()) await ctx.backend.destroy(h).catch(() => undefined);
        await ctx.backend.settled();
        await ctx.backend.stop();
      }
      unmountUnder(ctx.depot);
      await removeCgroupTree(ctx.cgroupParent);
      rmSync(ctx.depot, { recursive: true, force: true });
      await ctx.registry?.stop();
    },
  };
}

export default {
  name: 'image-create',
  description:
    'warm create (unprivileged, 64 MiB limit) from a cached 2-layer image named by digest, backend-linux in-process, value = p50 ms (tagP50: named by tag, one manifest request to the loopback registry per create). Peer: the same create from the busybox directory rootfs (target: within 10 %)',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  ...side({ image: true }),
  peer: { name: 'directory rootfs create', ...side({ image: false }) },
};
