// What an unprivileged container's view of an image costs, per new id map, for the 2-layer
// image of image-pull (busybox + ~24 MiB in ~700 files): garden-ts's idmapped mounts (one
// idmapped bind of the whole store per map: a user namespace + open_tree + mount_setattr +
// move_mount) against the fallback it uses where idmapped mounts are unavailable, a copy of
// every layer with shifted owners (what grootfs's unprivileged store does). Creates after the
// first with the same map cost neither: the view or copy is kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistryWithImage, which } from './image-support/common.mjs';

let seq = 0;
/** A map like Guardian's with a root id no other sample used (so nothing is cached). */
function freshMapping() {
  const root = 4294967294 - 1 - seq++;
  const m = [
    { containerId: 0, hostId: root, size: 1 },
    { containerId: 1, hostId: 1, size: 65535 },
  ];
  return { uidMap: m, gidMap: m };
}

/** @param {'idmap' | 'copy'} mode */
function side(mode) {
  return {
    async setup() {
      if (!which('docker-registry') || !which('skopeo'))
        throw new Error('docker-registry / skopeo missing (scripts/setup.sh)');
      const { ImageService, ViewManager } = await import('@garden-ts/images');
      const registry = await startRegistryWithImage();
      const root = mkdtempSync(join(tmpdir(), `bench-image-view-${mode}-`));
      const svc = await ImageService.open({ root, registry: { insecureRegistries: [registry.host] } });
      const p = await svc.prepare({ uri: registry.uri, owner: 'bench', mapping: null });
      return { registry, root, svc, layers: p.record.layers, ViewManager };
    },
    /** @param {any} ctx */
    async measure(ctx) {
      const views = new ctx.ViewManager(ctx.svc.store, { mode });
      const mapping = freshMapping();
      const t0 = performance.now();
      for (const id of ctx.layers) await views.layerPath(id, mapping);
      const ms = performance.now() - t0;
      await views.unmountAll();
      if (mode === 'copy')
        for (const id of ctx.layers)
          rmSync(join(ctx.svc.store.dir(id), `s-${mappingKeyOf(mapping)}`), { recursive: true, force: true });
      return { value: ms };
    },
    /** @param {any} ctx */
    async teardown(ctx) {
      await ctx.svc?.close();
      rmSync(ctx.root, { recursive: true, force: true });
      await ctx.registry?.stop();
    },
  };
}

let mappingKeyOf = (/** @type {any} */ _m) => '';

export default {
  name: 'image-view',
  description:
    "first unprivileged view of a pulled 2-layer image (busybox + ~24 MiB, ~1,100 entries) for a new id map: idmapped mount of the store (garden-ts default); value = ms. Peer: the fallback, a copy of both layers with shifted owners (grootfs's unprivileged store)",
  unit: 'ms',
  better: 'lower',
  pairs: 5,
  requires: ['root', 'linux'],
  async setup() {
    const { mappingKey } = await import('@garden-ts/images');
    mappingKeyOf = mappingKey;
    return side('idmap').setup();
  },
  measure: side('idmap').measure,
  teardown: side('idmap').teardown,
  peer: { name: 'shifted copy (fallback)', ...side('copy') },
};
