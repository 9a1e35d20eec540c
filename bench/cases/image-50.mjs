// Layer storage of many containers from one image: after one unprivileged container from the
// 2-layer image of image-pull (busybox + ~24 MiB), 50 more from the same image, on backend-linux
// in-process. Value = KiB the layer store grew by (du of <depot>/image-store, its views
// excluded); details: the store's size, what the 50 containers' depot entries take (their
// overlay upper dirs), create p50 ms. A per-container copy of the image (grootfs without a
// shared store, or a chown copy per container) would add 50 × the image.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistryWithImage, which } from './image-support/common.mjs';
import { busyboxRootfs, removeCgroupTree, stats, unmountUnder } from './linux-support/common.mjs';

/** Bytes on disk below `dir` on its own filesystem, without the given subdirectories. */
function du(/** @type {string} */ dir, /** @type {string[]} */ exclude = []) {
  const out = execFileSync('du', ['-sx', '-B1', ...exclude.map((e) => `--exclude=${e}`), dir], {
    encoding: 'utf8',
  });
  return Number(out.split('\t')[0]);
}

const N = 50;

export default {
  name: 'image-50',
  description: `layer storage added by ${N} more unprivileged containers from one cached 2-layer image (busybox + ~24 MiB), backend-linux in-process; value = KiB the layer store grew by (0 = fully shared); details: store KiB, KiB of the ${N} depot entries (upper dirs), create p50 ms. No peer (a copy per container would add ${N} × the image)`,
  unit: 'KiB',
  better: 'lower',
  pairs: 2,
  requires: ['root', 'linux'],
  async setup() {
    if (!which('docker-registry') || !which('skopeo'))
      throw new Error('docker-registry / skopeo missing (scripts/setup.sh)');
    const { createLinuxBackend } = await import('@garden-ts/backend-linux');
    const registry = await startRegistryWithImage();
    return { createLinuxBackend, registry, seq: 0 };
  },
  /** @param {any} ctx */
  async measure(ctx) {
    const depot = mkdtempSync(join(tmpdir(), 'bench-image-50-'));
    const cgroupParent = `bench-image-50-${process.pid}-${ctx.seq++}`;
    const backend = ctx.createLinuxBackend({
      depot,
      cgroupParent,
      defaultRootfs: busyboxRootfs(),
      // Images only; no container network (network safety: nothing made on this host).
      network: false,
      images: { registry: { insecureRegistries: [ctx.registry.host] } },
    });
    try {
      await backend.start();
      const store = join(depot, 'image-store');
      const views = ['v', 'd'].map((d) => join(store, d));
      await backend.create({ image: { uri: ctx.registry.uri } });
      const storeBefore = du(store, views);
      const containersBefore = du(join(depot, 'containers'));
      const times = [];
      for (let i = 0; i < N; i++) {
        const t0 = performance.now();
        await backend.create({ image: { uri: ctx.registry.uri } });
        times.push(performance.now() - t0);
      }
      const storeAfter = du(store, views);
      const containersAfter = du(join(depot, 'containers'));
      return {
        value: (storeAfter - storeBefore) / 1024,
        storeKiB: storeAfter / 1024,
        depotEntriesKiB: (containersAfter - containersBefore) / 1024,
        createP50: stats(times).p50,
      };
    } finally {
      for (const h of backend.handles()) await backend.destroy(h).catch(() => undefined);
      await backend.settled();
      await backend.stop();
      unmountUnder(depot);
      await removeCgroupTree(cgroupParent);
      rmSync(depot, { recursive: true, force: true });
    }
  },
  /** @param {any} ctx */
  async teardown(ctx) {
    await ctx.registry?.stop();
  },
};
