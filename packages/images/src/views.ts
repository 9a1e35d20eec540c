/**
 * How an unprivileged container sees the store's root-owned layers owned by its mapped ids
 * without a copy per container.
 *
 * **idmap** (preferred, Linux ≥ 5.19 for overlayfs on idmapped layers): one idmapped bind mount of
 * the whole store per id map, `<root>/v/<map key>`, made once and kept; a layer's lowerdir is
 * `<root>/v/<map key>/l/<short id>/diff`. Overlayfs takes private clones of its layers at mount
 * time, so containers do not depend on the view staying mounted. A directory rootfs gets its own
 * idmapped mount `<root>/d/<dir key>-<map key>` while a container uses it.
 *
 * **copy** (fallback where the filesystem or kernel cannot idmap): the layer shifted once per map
 * into `<root>/layers/<id>/s-<map key>` (deleted with the layer); a directory rootfs into
 * `<root>/dcopy/<dir key>-<map key>`.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { idmapMount, NativeError, openUserNamespace, removeTree, unmount } from '@garden-ts/native-ns';
import { ImageError, ImageErrorCode } from './errors.js';
import { type IdMapping, shiftedCopy } from './shift.js';
import { type LayerStore, SHORT_ID_LENGTH } from './store.js';

export type ViewMode = 'idmap' | 'copy';

export interface ViewOptions {
  /** `auto` (default): idmap when this host can, else copy. */
  mode?: ViewMode | 'auto';
  logger?: { warn(obj: object, msg?: string): void; info?(obj: object, msg?: string): void };
}

/**
 * Short hashes already computed, by what was hashed: a create asks for its id map's and its
 * directory's again and again (a sha256 through node:crypto costs more than the lookup). A host
 * has few of either; the map is emptied should it ever grow large.
 */
const shortHashes = new Map<string, string>();

/** The first `length` hex digits of `text`'s sha256. */
function shortHash(text: string, length: number): string {
  const key = `${length}\0${text}`;
  let h = shortHashes.get(key);
  if (h === undefined) {
    if (shortHashes.size >= 1024) shortHashes.clear();
    h = createHash('sha256').update(text).digest('hex').slice(0, length);
    shortHashes.set(key, h);
  }
  return h;
}

/** Short key of an id map (names the view directories). */
export function mappingKey(m: IdMapping): string {
  const text = (entries: IdMapping['uidMap']) =>
    entries.map((e) => `${e.containerId} ${e.hostId} ${e.size}`).join(',');
  return shortHash(`${text(m.uidMap)}|${text(m.gidMap)}`, 8);
}

/** Mount points below `prefix` (from /proc/self/mountinfo, octal escapes decoded). */
export function mountPointsUnder(prefix: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const path = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path.startsWith(prefix)) out.add(path);
  }
  return out;
}

export class ViewManager {
  private mode: ViewMode | undefined;
  private readonly mounted: Set<string>;
  private readonly pending = new Map<string, Promise<string>>();
  /** Directory views: mount point → owners using it. */
  private readonly dirOwners = new Map<string, Set<string>>();
  /** User namespace fds by map key. */
  private readonly namespaces = new Map<string, number>();

  constructor(
    private readonly store: LayerStore,
    private readonly options: ViewOptions = {},
  ) {
    this.mounted = mountPointsUnder(`${store.root}/`);
    if (options.mode && options.mode !== 'auto') this.mode = options.mode;
  }

  /** The mode in use (decided by the first unprivileged request in `auto`). */
  get resolvedMode(): ViewMode | undefined {
    return this.mode;
  }

  /** The lowerdir of layer `id` as seen with `mapping` (`null`: as stored, for privileged containers). */
  async layerPath(id: string, mapping: IdMapping | null): Promise<string> {
    if (!mapping) return join(this.store.shortPath(id), 'diff');
    const key = mappingKey(mapping);
    if ((await this.modeFor(mapping)) === 'idmap') {
      const view = await this.rootView(mapping, key);
      return join(view, 'l', id.slice(0, SHORT_ID_LENGTH), 'diff');
    }
    const shifted = join(this.store.dir(id), `s-${key}`);
    await this.once(shifted, async () => {
      if (existsSync(shifted)) return shifted;
      const tmp = join(
        this.store.root,
        'tmp',
        `shift-${id.slice(0, 12)}-${key}-${process.pid}-${Date.now()}`,
      );
      try {
        await shiftedCopy(this.store.diffPath(id), tmp, mapping);
        await rename(tmp, shifted);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return shifted;
    });
    return join(this.store.shortPath(id), `s-${key}`);
  }

  /**
   * A directory rootfs as seen with `mapping` for `owner` (release with {@link releaseDirs}).
   * `null` mapping: the directory itself.
   */
  async dirPath(dir: string, mapping: IdMapping | null, owner: string): Promise<string> {
    if (!mapping) return dir;
    const key = mappingKey(mapping);
    const dirKey = shortHash(dir, 12);
    if ((await this.modeFor(mapping)) === 'idmap') {
      const target = join(this.store.root, 'd', `${dirKey}-${key}`);
      let owners = this.dirOwners.get(target);
      if (!owners) {
        owners = new Set();
        this.dirOwners.set(target, owners);
      }
      owners.add(owner);
      try {
        await this.once(target, async () => {
          if (this.mounted.has(target)) return target;
          await mkdir(target, { recursive: true, mode: 0o755 });
          this.idmap(dir, target, mapping);
          return target;
        });
      } catch (e) {
        owners.delete(owner);
        throw e;
      }
      return target;
    }
    const st = statSync(dir);
    const copyKey = createHash('sha256')
      .update(`${dir}\0${st.mtimeMs}\0${st.ctimeMs}`)
      .digest('hex')
      .slice(0, 12);
    const target = join(this.store.root, 'dcopy', `${copyKey}-${key}`);
    return this.once(target, async () => {
      if (existsSync(target)) return target;
      await mkdir(join(this.store.root, 'dcopy'), { recursive: true, mode: 0o711 });
      const tmp = join(this.store.root, 'tmp', `dcopy-${copyKey}-${key}-${process.pid}`);
      try {
        await shiftedCopy(dir, tmp, mapping);
        await rename(tmp, target);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return target;
    });
  }

  /**
   * `owner` no longer uses its directory views. They stay mounted (the next create with the same
   * directory and map reuses them); {@link unmountUnused} takes down those nobody uses.
   */
  releaseDirs(owner: string): void {
    for (const owners of this.dirOwners.values()) owners.delete(owner);
  }

  /** Unmounts the directory views no owner uses. */
  unmountUnused(): void {
    for (const [target, owners] of this.dirOwners) {
      if (owners.size > 0) continue;
      this.dirOwners.delete(target);
      for (let i = 0; i < 4 && unmount(target, { detach: true }); i++);
      this.mounted.delete(target);
    }
  }

  /** Re-registers `owner` as a user of a directory view after a restart. */
  adoptDir(target: string, owner: string): void {
    let owners = this.dirOwners.get(target);
    if (!owners) {
      owners = new Set();
      this.dirOwners.set(target, owners);
    }
    owners.add(owner);
  }

  /** Unmounts every view (when no container needs new ones: shutdown with none left, tests). */
  async unmountAll(): Promise<void> {
    for (const mp of mountPointsUnder(`${this.store.root}/`)) {
      if (!mp.startsWith(join(this.store.root, 'v')) && !mp.startsWith(join(this.store.root, 'd'))) continue;
      for (let i = 0; i < 4 && unmount(mp, { detach: true }); i++);
      this.mounted.delete(mp);
    }
    this.dirOwners.clear();
    this.closeNamespaces();
    for (const d of ['v', 'd']) await removeTree(join(this.store.root, d)).catch(() => undefined);
  }

  /** Closes the cached user namespace fds (views already mounted keep their own references). */
  closeNamespaces(): void {
    for (const fd of this.namespaces.values()) closeSync(fd);
    this.namespaces.clear();
  }

  private once(key: string, make: () => Promise<string>): Promise<string> {
    let p = this.pending.get(key);
    if (!p) {
      p = make().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }

  private async rootView(mapping: IdMapping, key: string): Promise<string> {
    const target = join(this.store.root, 'v', key);
    if (this.mounted.has(target)) return target;
    return this.once(target, async () => {
      await mkdir(target, { recursive: true, mode: 0o755 });
      this.idmap(this.store.root, target, mapping);
      return target;
    });
  }

  private idmap(source: string, target: string, mapping: IdMapping): void {
    // One user namespace per map, kept: making one forks this process (milliseconds with a big
    // heap), a mount with an existing one takes microseconds.
    const key = mappingKey(mapping);
    let ns = this.namespaces.get(key);
    if (ns === undefined) {
      ns = openUserNamespace(mapping.uidMap, mapping.gidMap);
      this.namespaces.set(key, ns);
    }
    idmapMount(source, target, ns);
    this.mounted.add(target);
  }

  private async modeFor(mapping: IdMapping): Promise<ViewMode> {
    if (this.mode) return this.mode;
    // Probe once: an idmapped mount of the store's root on a scratch directory.
    const probe = join(this.store.root, 'tmp', `idmap-probe-${process.pid}`);
    await mkdir(probe, { recursive: true });
    try {
      this.idmap(this.store.root, probe, mapping);
      unmount(probe, { detach: true });
      this.mounted.delete(probe);
      this.mode = 'idmap';
    } catch (e) {
      if (!(e instanceof NativeError))
        throw new ImageError(
          ImageErrorCode.Store,
          `probing idmapped mounts failed: ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      this.options.logger?.warn(
        { err: e },
        'idmapped mounts are not available here: unprivileged containers get shifted copies of the layers',
      );
      this.mode = 'copy';
    } finally {
      await rm(probe, { recursive: true, force: true });
    }
    return this.mode;
  }
}
