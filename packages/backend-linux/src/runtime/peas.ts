/**
 * Peas (reference §3.12): a process run with its own image in a container. It gets its own root
 * filesystem (an overlay of the image, its writable layer in the container's volume, so it counts
 * against the container's disk quota) and mount namespace, and shares the container's pid,
 * network, IPC, UTS, cgroup and (unprivileged) user namespaces, with the container's
 * `/etc/hosts` and `/etc/resolv.conf` and the spec's bind mounts. native-ns makes the mount
 * namespace with a short-lived init in the container's namespaces (`createContainer({ join })`);
 * the process is spawned into it like any other (shim, rings, restart survival), then that init
 * goes. Without `limits` the pea is in the container's cgroup (its limits, pids included); with
 * them, in a cgroup of its own beside the container's (`<cgroupParent>/<id>_pea_<process>`) with
 * those memory/CPU limits, as Guardian gives it one of its own.
 *
 * What a pea holds (its rootfs mount under `<depot>/peas/<container id>/<process>/`, its upper
 * dir, its cgroup, its image references) is released when it exits, when its container is
 * destroyed, and at startup for peas that exited or vanished while the server was down; the
 * process's metadata in the run dir says what it holds, so a restarted server can do it.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GardenError, InvalidRequestError, type ProcessSpec } from '@garden-ts/api-types';
import { errorFields, type ResolvedUser } from '@garden-ts/backend-kit';
import type { ImageRecord } from '@garden-ts/images';
import {
  cgroupChildren,
  cgroupDirs,
  createContainer,
  type Container as NativeContainer,
  removeTree,
  unmountAsync,
} from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import { storageId } from '../depot/names.js';
import { guardDir } from '../depot/permissions.js';
import { listProcessDirs } from '../depot/run-dir.js';
import { resolveInRoot } from '../files/safe-path.js';
import type { BackendLogger } from '../options.js';
import type { DestroyContext, Part } from '../part.js';
import { mountOverlay } from '../rootfs/overlay.js';
import type { RootfsPart } from '../rootfs/rootfs-part.js';
import type { StorePart } from '../store/store-part.js';
import { cgroupOf, createContainerCgroup, killCgroup, removeContainerCgroup } from './cgroups.js';
import { userInRoot } from './users.js';

/** What a pea holds, kept in its process's metadata so a restarted server can release it. */
export interface PeaMeta {
  /** Owner of its image references in the image store. */
  owner: string;
  /** `<depot>/peas/<container id>/<process>`: the rootfs mount point is `rootfs` below it. */
  dir: string;
  /** Its writable layer's directory in the container's volume, when the container has one. */
  upper?: string;
  /** Its own cgroup (relative path) when it has limits of its own. */
  cgroup?: string;
  /** Its image's references, taken again after a restart. */
  image?: ImageRecord;
}

/** A pea ready for its process: spawn into `init` (its cgroups are the process's), then destroy `init`. */
export interface PreparedPea {
  /** A short-lived init holding the pea's mount namespace in the container's other namespaces. */
  init: NativeContainer;
  /** The pea's rootfs on the host (users and directories resolve there). */
  rootfs: string;
  user: ResolvedUser;
  /** The image config's env (heads the process env instead of the container's). */
  env: string[];
  meta: PeaMeta;
}

/** Separator of a pea's cgroup name: `<container id>_pea_<process>` (storage ids have no `_` inside). */
const PEA_CGROUP = '_pea_';

/** Whether a cgroup name below the parent is a pea of one of `known` containers. */
export function isPeaCgroupOf(name: string, known: ReadonlySet<string>): boolean {
  const at = name.indexOf(PEA_CGROUP, 1);
  return at > 0 && known.has(name.slice(0, at));
}

export class PeaPart implements Part {
  readonly name = 'peas';
  /** Pea dirs of restored containers whose process was found again (reconcile keeps those). */
  private readonly live = new Set<string>();
  /** Releases in progress, by pea dir. */
  private readonly releasing = new Map<string, Promise<void>>();

  constructor(
    private readonly depot: string,
    private readonly cgroupParent: string,
    private readonly rootfsPart: RootfsPart,
    private readonly storePart: StorePart | undefined,
    private readonly log: BackendLogger,
  ) {}

  private containerDir(id: string): string {
    return join(this.depot, 'peas', id);
  }

  create(): void {}

  /**
   * Makes the pea of process `processId` of `c`: image, overlay, cgroup, and its init in the
   * container's namespaces. Everything made is released again when a step fails.
   * @throws InvalidRequestError for a bad image URI or bind mount; GardenError for image errors,
   *   a missing bind source, an unknown user, a failed mount or init.
   */
  async prepare(c: LinuxContainer, spec: ProcessSpec, processId: string): Promise<PreparedPea> {
    const uri = spec.image?.uri as string;
    const request = this.rootfsPart.peaRequest(uri);
    const binds = (spec.bindMounts ?? []).map((b, i) => {
      if (!b.srcPath || !b.dstPath?.startsWith('/'))
        throw new InvalidRequestError(
          `bind_mounts[${i}]`,
          'bind mounts need src_path and an absolute dst_path',
        );
      // Origin Container: a path in the container's rootfs (not the pea's), symlinks resolved inside it.
      const source = b.origin === 1 ? resolveInRoot(c.rootfs, b.srcPath) : b.srcPath;
      if (source === undefined || !existsSync(source))
        throw new GardenError(`bind mount source ${b.srcPath} does not exist (bind_mounts[${i}])`);
      return { source, destination: b.dstPath, readOnly: b.mode !== 1 };
    });
    const init = c.requireInit();
    const key = storageId(processId);
    const { record } = c;
    const meta: PeaMeta = { owner: `${record.id}/pea/${key}`, dir: join(this.containerDir(record.id), key) };
    const store = record.volume && this.storePart ? await this.storePart.open() : undefined;
    if (store && record.volume) meta.upper = join(store.dirOf(record.volume.name), 'peas', key);
    try {
      // Leftovers of an earlier pea of this id (its release failed): start clean.
      await this.release(meta);
      // The pea's child resolves the rootfs as the container's root (it joined the user
      // namespace first): traverse for it, nothing for host users (depot/permissions.ts).
      guardDir(join(this.depot, 'peas'), 'traverse');
      guardDir(this.containerDir(record.id), 'traverse');
      guardDir(meta.dir, 'traverse');
      if (meta.upper) mkdirSync(meta.upper, { recursive: true, mode: 0o700 });
      const image = await this.rootfsPart.prepareImage(request, {
        owner: meta.owner,
        handle: c.handle,
        privileged: record.privileged,
        ...(spec.image?.username ? { username: spec.image.username } : {}),
        ...(spec.image?.password ? { password: spec.image.password } : {}),
      });
      meta.image = image.record;
      const rootfs = await mountOverlay(meta.dir, image.lowers, record.privileged, meta.upper);
      let cgroups = cgroupDirs(cgroupOf(record.cgroupPath));
      const limits = spec.overrideContainerLimits;
      if (
        (limits?.memory?.limitInBytes ?? 0n) > 0n ||
        (limits?.cpu?.weight || limits?.cpu?.limitInShares || 0n) > 0n
      ) {
        meta.cgroup = `${this.cgroupParent}/${record.id}${PEA_CGROUP}${key}`;
        const own = createContainerCgroup(
          meta.cgroup,
          { memory: limits?.memory, cpu: limits?.cpu },
          record.privileged,
        );
        cgroups = cgroupDirs(own.set);
      }
      const user = userInRoot(rootfs, spec.user);
      let peaInit: NativeContainer;
      try {
        peaInit = await createContainer({
          rootfs,
          privileged: record.privileged,
          join: init,
          cgroups,
          bindMounts: [
            { source: join(c.runDir, 'hosts'), destination: '/etc/hosts' },
            { source: join(c.runDir, 'resolv.conf'), destination: '/etc/resolv.conf' },
            ...binds,
          ],
        });
      } catch (e) {
        throw new GardenError(`creating the pea failed: ${(e as Error).message}`, { cause: e });
      }
      return { init: peaInit, rootfs, user, env: image.env, meta };
    } catch (e) {
      await this.release(meta).catch((err) =>
        this.log.warn({ pea: meta.dir, ...errorFields(err) }, 'pea release'),
      );
      throw e;
    }
  }

  /**
   * Releases what a pea holds (nothing when already released): its rootfs mount, writable layer,
   * directory, cgroup (its processes killed first) and image references. Concurrent releases of
   * one pea (its exit and its container's destroy) share one run.
   */
  release(meta: PeaMeta): Promise<void> {
    let running = this.releasing.get(meta.dir);
    if (!running) {
      running = this.releaseNow(meta).finally(() => this.releasing.delete(meta.dir));
      this.releasing.set(meta.dir, running);
    }
    return running;
  }

  private async releaseNow(meta: PeaMeta): Promise<void> {
    await unmountAsync(join(meta.dir, 'rootfs'), { detach: true, all: true });
    if (meta.upper) await removeTree(meta.upper);
    await removeTree(meta.dir);
    if (meta.cgroup) {
      await killCgroup(meta.cgroup);
      await removeContainerCgroup(meta.cgroup).catch(() => undefined);
    }
    // Only after the unmount: a collected layer must not be below a mounted overlay.
    await this.rootfsPart.releaseImage(meta.owner);
  }

  /** Releases `meta` in the background once `exited` settles (logged, never thrown). */
  releaseAfter(exited: Promise<unknown>, meta: PeaMeta): void {
    void exited
      .catch(() => undefined)
      .then(() => this.release(meta))
      .catch((e) => this.log.warn({ pea: meta.dir, ...errorFields(e) }, 'pea release'));
  }

  /** The container's peas die with its pid namespace; what they held goes after the destroy. */
  destroy(ctx: DestroyContext): void {
    const id = ctx.id;
    if (id === undefined) return;
    ctx.later(async () => {
      // Logged, never thrown: the steps of the parts destroyed after this one come next. The
      // sweep releases every pea directory of the container (its mount, cgroup and image
      // references); a pea's writable layer goes with the container's volume.
      try {
        await this.sweep(id, () => false);
      } catch (e) {
        this.log.warn({ id, ...errorFields(e) }, 'releasing the peas of a destroyed container');
      }
    });
  }

  /** After a restart: each pea's image references again, and its release once its process ends. */
  async restore(c: LinuxContainer): Promise<void> {
    for (const { meta } of listProcessDirs(c.runDir)) {
      const pea = meta.pea;
      if (!pea) continue;
      if (pea.image) await this.rootfsPart.adoptImage(pea.owner, pea.image);
      const proc = c.processes.get(meta.id);
      if (proc) {
        this.live.add(pea.dir);
        this.releaseAfter(proc.wait(), pea);
      } else {
        await this.release(pea).catch((e) =>
          this.log.warn({ pea: pea.dir, ...errorFields(e) }, 'pea release'),
        );
      }
    }
  }

  /** Pea dirs and cgroups no running pea of a known container holds. */
  async reconcile(known: ReadonlySet<string>): Promise<void> {
    const root = join(this.depot, 'peas');
    if (existsSync(root))
      for (const id of readdirSync(root))
        await this.sweep(id, (dir) => known.has(id) && this.live.has(dir)).catch((e) =>
          this.log.warn({ id, ...errorFields(e) }, 'pea sweep'),
        );
    for (const name of cgroupChildren(cgroupOf(this.cgroupParent))) {
      const at = name.indexOf(PEA_CGROUP, 1);
      if (at < 0 || !known.has(name.slice(0, at))) continue; // other containers' cgroups: the runtime part's
      if (this.live.has(join(this.containerDir(name.slice(0, at)), name.slice(at + PEA_CGROUP.length))))
        continue;
      const path = `${this.cgroupParent}/${name}`;
      await killCgroup(path);
      await removeContainerCgroup(path).catch(() => undefined);
    }
  }

  /** Unmounts and removes the pea dirs of container `id` that `keep` does not want, their cgroups too. */
  private async sweep(id: string, keep: (dir: string) => boolean): Promise<void> {
    const dir = this.containerDir(id);
    if (!existsSync(dir)) return;
    let left = 0;
    for (const key of readdirSync(dir)) {
      const peaDir = join(dir, key);
      if (keep(peaDir)) {
        left++;
        continue;
      }
      await this.release({
        owner: `${id}/pea/${key}`,
        dir: peaDir,
        cgroup: `${this.cgroupParent}/${id}${PEA_CGROUP}${key}`,
      });
    }
    if (left === 0) await removeTree(dir);
  }
}
