// Cold pull + unpack of a 2-layer image (busybox + ~24 MiB of files, gzip) from Debian's
// docker-registry on loopback into an empty layer store, through @garden-ts/images (one pass:
// download → sha256 → gunzip → diff id → unpack in overlay format). Peer: `skopeo copy` of the
// same image into an OCI layout, then `umoci unpack` of it into a bundle (the tools grootfs-era
// setups used). Issue target: ≥ 0.7× the peer's speed, goal ≥ 1.0×.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistryWithImage, which } from './image-support/common.mjs';

export default {
  name: 'image-pull',
  description:
    'cold pull + unpack of a 2-layer image (busybox rootfs + ~24 MiB in ~700 files, gzip) from docker-registry on 127.0.0.1 into an empty @garden-ts/images store; value = ms. Peer: skopeo copy docker:// → oci layout, then umoci unpack (target ≥ 0.7× the peer, goal ≥ 1.0×)',
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  async setup() {
    for (const tool of ['docker-registry', 'skopeo', 'umoci'])
      if (!which(tool)) throw new Error(`${tool} is not installed (scripts/setup.sh)`);
    const { ImageService } = await import('@garden-ts/images');
    const registry = await startRegistryWithImage();
    return { registry, ImageService };
  },
  /** @param {{ registry: Awaited<ReturnType<typeof startRegistryWithImage>>, ImageService: typeof import('@garden-ts/images').ImageService }} ctx */
  async measure(ctx) {
    const root = mkdtempSync(join(tmpdir(), 'bench-image-store-'));
    try {
      const t0 = performance.now();
      const svc = await ctx.ImageService.open({
        root,
        registry: { insecureRegistries: [ctx.registry.host] },
      });
      const p = await svc.prepare({ uri: ctx.registry.uri, owner: 'bench', mapping: null });
      const ms = performance.now() - t0;
      if (p.lowerDirs.length !== 2) throw new Error('expected 2 layers');
      await svc.close();
      return { value: ms, mbPerSecond: ctx.registry.layerBytes / 1e6 / (ms / 1000) };
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
  /** @param {{ registry: Awaited<ReturnType<typeof startRegistryWithImage>> }} ctx */
  async teardown(ctx) {
    await ctx.registry?.stop();
  },
  peer: {
    name: 'skopeo copy + umoci unpack',
    async setup() {
      const registry = await startRegistryWithImage();
      return { registry };
    },
    /** @param {{ registry: Awaited<ReturnType<typeof startRegistryWithImage>> }} ctx */
    async measure(ctx) {
      const dir = mkdtempSync(join(tmpdir(), 'bench-image-peer-'));
      try {
        const t0 = performance.now();
        execFileSync('skopeo', [
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${ctx.registry.image}`,
          `oci:${dir}/layout:v1`,
        ]);
        execFileSync('umoci', ['unpack', '--image', `${dir}/layout:v1`, `${dir}/bundle`], {
          stdio: 'ignore',
        });
        const ms = performance.now() - t0;
        return { value: ms, mbPerSecond: ctx.registry.layerBytes / 1e6 / (ms / 1000) };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    /** @param {{ registry: Awaited<ReturnType<typeof startRegistryWithImage>> }} ctx */
    async teardown(ctx) {
      await ctx.registry?.stop();
    },
  },
};
