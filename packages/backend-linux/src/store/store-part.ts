/**
 * The store part: each container's volume in the disk store (disk-store.ts) — a btrfs subvolume
 * holding its overlay's `upper/` and `work/`, whose qgroup the quota part limits. Placed before
 * the rootfs part, which mounts the overlay with its writable layer there; destroyed after it
 * (the subvolume goes once the overlay is unmounted). Reports `DiskStat` from the kernel's qgroup
 * figures and the store's size for `Capacity`. The store is opened at startup and shared by the
 * backends of one process; the last one to stop unmounts it when no container is left.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Metrics } from '@garden-ts/api-types';
import { errorFields } from '@garden-ts/backend-kit';
import type { LinuxContainer } from '../container.js';
import type { BackendLogger } from '../options.js';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { DiskStore, type DiskStoreOptions, type Volume } from './disk-store.js';
import { exclusiveQuota } from './quota-part.js';

interface Shared {
  key: string;
  store: Promise<DiskStore>;
  users: number;
}

/** Stores opened in this process, by path: backends on one depot share one. */
const shared = new Map<string, Shared>();

export class StorePart implements Part {
  readonly name = 'store';
  private entry: Shared | undefined;
  /** Volume names of the containers restored at startup (reconcile keeps only those). */
  private readonly known = new Set<string>();
  /** Ends the waits of the volume removals in progress (see {@link abandonWaits}). */
  private waits = new AbortController();

  constructor(
    private readonly depot: string,
    private readonly options: DiskStoreOptions,
    private readonly log: BackendLogger,
  ) {}

  /** The store, found or made on first use (startup). */
  open(): Promise<DiskStore> {
    if (!this.entry) {
      const key = this.options.path ?? `${this.depot}/store`;
      let entry = shared.get(key);
      if (!entry) {
        const e: Shared = { key, store: DiskStore.open(this.depot, this.options, this.log), users: 0 };
        e.store.catch(() => {
          if (shared.get(key) === e) shared.delete(key);
        });
        shared.set(key, e);
        entry = e;
      }
      entry.users++;
      this.entry = entry;
    }
    return this.entry.store;
  }

  async create(ctx: CreateContext): Promise<void> {
    const store = await this.open();
    // An exclusive limit does not depend on the image: set with the subvolume, in one ioctl (the
    // quota part sets the others once it knows the image's size).
    const quota = exclusiveQuota(ctx.spec.limits?.disk);
    const volume = await store.create(ctx.record.id, quota);
    ctx.record.volume = {
      name: volume.name,
      id: String(volume.id),
      ...(quota ? { quotaBytes: String(quota) } : {}),
    };
    ctx.volume = volume.dir;
  }

  destroy(ctx: DestroyContext): void {
    const name = ctx.record?.volume?.name;
    // No record (a create that crashed, a trash entry): reconcile finds the volume at startup.
    if (name === undefined) return;
    this.known.delete(name);
    // Taken now: a stop abandons the waits of every destroy queued before it (abandonWaits).
    const { signal } = this.waits;
    ctx.later(async () => {
      try {
        const store = await this.open();
        const volume = ctx.record?.volume;
        if (volume) store.forget(BigInt(volume.id));
        // The rootfs step before this one unmounted the container's overlay (its failure ends the
        // chain before it gets here). Peas' overlays have their upper dirs in the volume too, and a
        // pea whose release failed may keep one: with peas, the mount table is looked at.
        const peas = existsSync(join(store.dirOf(name), 'peas'));
        await store.remove(name, {
          ...(volume ? { id: BigInt(volume.id) } : {}),
          overlaysGone: !peas,
          signal,
        });
      } catch (e) {
        // Logged, not thrown: the depot's own removal comes after this step.
        this.log.warn({ volume: name, ...errorFields(e) }, 'disk store: removing a volume');
      }
    });
  }

  /** The limit is in the filesystem already; it is set again should it have been lost. */
  async restore(c: LinuxContainer): Promise<void> {
    const v = c.record.volume;
    if (!v) return;
    this.known.add(v.name);
    if (!v.quotaBytes) return;
    const store = await this.open();
    const id = BigInt(v.id);
    const want = BigInt(v.quotaBytes);
    if (want > 0n && store.limitOf(id) !== want)
      await store
        .limit(id, want)
        .catch((e) =>
          this.log.warn({ handle: c.handle, ...errorFields(e) }, 'disk store: restoring a limit'),
        );
  }

  /** Volumes no restored container has go (their containers were destroyed or never completed). */
  async reconcile(): Promise<void> {
    await (await this.open()).reconcile(this.known);
  }

  /** `DiskStat` from the volume's qgroup (exclusive) plus the image below it (total). */
  async metrics(c: LinuxContainer, metrics: Metrics): Promise<void> {
    const v = c.record.volume;
    if (!v) return; // no volume (made before the store existed): 0, as Guardian for raw://
    const store = await this.open();
    const volume: Volume = { id: BigInt(v.id), dir: store.dirOf(v.name) };
    const bytes = store.bytesUsed(volume.id);
    const inodes = await store.inodesUsed(volume).catch(() => 0n);
    metrics.diskStat = {
      exclusiveBytesUsed: bytes,
      exclusiveInodesUsed: inodes,
      totalBytesUsed: bytes + BigInt(v.imageBytes ?? '0'),
      totalInodesUsed: inodes + BigInt(v.imageInodes ?? '0'),
    };
  }

  /** The store's size: what Diego may schedule (`Capacity.schedulableDiskInBytes`). */
  async capacity(): Promise<bigint> {
    return (await this.open()).capacity();
  }

  /**
   * The backend is stopping: the volume removals in progress stop waiting for their qgroups to go
   * (the subvolumes are deleted already; the kernel drops them and their qgroups meanwhile, or the
   * next start's reconciliation removes what is left). After a mass destroy the kernel's cleaner
   * can take many seconds to drop hundreds of subvolumes, which a stop must not wait for.
   */
  abandonWaits(): void {
    this.waits.abort();
    this.waits = new AbortController();
  }

  /** The backend stops: the last user in this process closes the store (unmounted when empty). */
  async stop(): Promise<void> {
    const entry = this.entry;
    this.entry = undefined;
    if (!entry || --entry.users > 0) return;
    if (shared.get(entry.key) === entry) shared.delete(entry.key);
    const store = await entry.store.catch(() => undefined);
    store?.close();
  }
}
