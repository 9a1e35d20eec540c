/**
 * The disk store: a btrfs filesystem with quotas on, holding one subvolume per container
 * (`<store>/volumes/<id>`: the overlay's `upper/` and `work/`) whose qgroup limit enforces the
 * container's disk limit for every writer in it (reference §6.4). XFS and ext4 project quotas are
 * not available on the kernels garden-ts targets; btrfs qgroups are.
 *
 * Where it lives: `path` (default `<depot>/store`). When that directory is on btrfs already (a
 * btrfs depot, or a filesystem the operator mounted there) it is used as is, with quotas turned
 * on. Otherwise gardend makes a sparse image `<path>.img` (mkfs.btrfs, once) and mounts it at
 * `path` through a loop device of its own (autoclear: the device goes with the mount). The mount
 * outlives the server (containers keep running across a restart); `close()` unmounts it only
 * when no container is left. Crash safety: the image is made under a temp name and renamed, and a
 * mount found at `path` is reused, never stacked.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statfsSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { GardenError } from '@garden-ts/api-types';
import { errorFields } from '@garden-ts/backend-kit';
import {
  btrfsFsid,
  btrfsHasSimpleQuotas,
  btrfsQuotaStatus,
  btrfsSubvolumeId,
  countSubvolumeInodes,
  createSubvolume,
  createSubvolumeSync,
  deleteSubvolume,
  destroyQgroup,
  enableBtrfsQuota,
  isBtrfs,
  listQgroups,
  loopMount,
  type NativeError,
  qgroupUsage,
  rescanBtrfsQuota,
  setQgroupLimit,
  unmount,
  unmountAsync,
} from '@garden-ts/native-ns';
import { guardDir } from '../depot/permissions.js';
import type { BackendLogger } from '../options.js';

const run = promisify(execFile);

const GiB = 1024n ** 3n;
/** What the default store size leaves of the depot's filesystem for everything else (grootfs's BOSH default). */
const RESERVED_FOR_OTHERS = 15n * GiB;
const MIN_SIZE = 1n * GiB;

/** Options of the disk store (`LinuxBackendOptions.diskStore`). */
export interface DiskStoreOptions {
  /** Where the store is mounted (or, on a btrfs filesystem, the directory used). Default `<depot>/store`. */
  path?: string;
  /**
   * Bytes of the image made at `<path>.img` when `path` is not on btrfs (sparse: it takes only
   * what is written). Default: the depot filesystem's size minus 15 GiB, at least 1 GiB. An
   * existing image keeps its size.
   */
  size?: bigint;
  /**
   * Which btrfs quotas to turn on when the store has none (a store with quotas keeps its kind):
   * `simple` (kernel ≥ 6.7: each extent charged to the subvolume that wrote it, accounted when it
   * is allocated; the filesystem then needs a 6.7+ kernel and btrfs-progs to mount and check),
   * `full` (qgroups: accounted at each commit; **no limit holds while the accounting is
   * inconsistent** — during the rescan that turning them on starts, which the store waits for, and
   * after dropping a deep subvolume, which makes it start a rescan), or `auto` (default): simple
   * for an image of its own when the kernel has them, else full.
   */
  quotas?: 'auto' | 'simple' | 'full';
}

/** A container's volume: its subvolume (and qgroup) id and directory. */
export interface Volume {
  id: bigint;
  dir: string;
}

/** A mount point as /proc/self/mountinfo shows it (octal escapes decoded). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

interface MountEntry {
  target: string;
  fstype: string;
  source: string;
  options: string;
}

function mounts(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const head = line.slice(0, dash).split(' ');
    const [fstype, source, options] = line.slice(dash + 3).split(' ');
    out.push({
      target: unescapeMount(head[4] ?? ''),
      fstype: fstype ?? '',
      source: unescapeMount(source ?? ''),
      options: options ?? '',
    });
  }
  return out;
}

/** The backing file of a loop device (`/dev/loopN`), or undefined. */
function loopBackingFile(device: string): string | undefined {
  const m = /^\/dev\/(loop\d+)$/.exec(device);
  if (!m) return undefined;
  try {
    return readFileSync(`/sys/block/${m[1]}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Runs `fn` holding an O_EXCL lock file (another process opening the same store waits). */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A holder that died (kill -9 mid-open) leaves the file: take over after a minute.
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * Runs a call on this thread while it is quick, and its thread-pool variant for `pooledForMs`
 * after one took longer than `limitMs`. For calls that are usually shorter than a thread-pool
 * round trip but can wait on the kernel (a btrfs commit), which must not stall the event loop
 * for long.
 */
export class QuickOrPooled<A extends unknown[], R> {
  private pooledUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly quick: (...args: A) => R,
    private readonly pooled: (...args: A) => Promise<R>,
    private readonly onSlow: (ms: number) => void,
    private readonly limitMs = 5,
    private readonly pooledForMs = 30_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async run(...args: A): Promise<R> {
    if (this.now() < this.pooledUntil) return this.pooled(...args);
    const t0 = this.now();
    try {
      return this.quick(...args);
    } finally {
      const took = this.now() - t0;
      if (took > this.limitMs) {
        this.pooledUntil = t0 + took + this.pooledForMs;
        this.onSlow(took);
      }
    }
  }
}

export class DiskStore {
  /** `<path>/volumes`: one subvolume per container. */
  readonly volumes: string;
  /**
   * The subvolume ioctl takes ~0.15 ms, less than a thread-pool round trip on the create's path
   * (~0.3 ms where waking a thread is a VM exit; docs/benchmarks.md): made on this thread while
   * that holds, on the thread pool for a while after one waited (for a btrfs commit).
   */
  private readonly makeSubvolume = new QuickOrPooled(
    (name: string, limit: bigint) => createSubvolumeSync(this.volumes, name, { maxReferenced: limit }),
    (name: string, limit: bigint) => createSubvolume(this.volumes, name, { maxReferenced: limit }),
    (ms) =>
      this.log.info(
        { ms: Math.round(ms) },
        'disk store: slow subvolume create; on the thread pool for a while',
      ),
  );
  /** The last inode count of each volume (by subvolume id) and how long it took. */
  private readonly inodeCounts = new Map<bigint, { at: number; took: number; count: bigint }>();
  private constructor(
    readonly path: string,
    /** The filesystem's id: its `/sys/fs/btrfs/<fsid>`. */
    readonly fsid: string,
    /** Whether this store is our loop-mounted image (unmounted by close), not a given btrfs. */
    readonly loopBacked: boolean,
    private readonly log: BackendLogger,
  ) {
    this.volumes = join(path, 'volumes');
  }

  /**
   * Finds or makes the store at `options.path ?? <depot>/store` and turns quotas on.
   * @throws GardenError `opening the disk store failed: …` (mkfs.btrfs missing, no loop device,
   *   no btrfs in the kernel, a non-empty directory where the image would be mounted, …).
   */
  static async open(depot: string, options: DiskStoreOptions, log: BackendLogger): Promise<DiskStore> {
    const path = options.path ?? join(depot, 'store');
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
      const loopBacked = await withLock(`${path}.lock`, () => DiskStore.mount(depot, path, options, log));
      const fsid = btrfsFsid(path);
      if (!btrfsQuotaStatus(fsid).enabled) {
        const kind = options.quotas ?? 'auto';
        const simple = kind === 'simple' || (kind === 'auto' && loopBacked && btrfsHasSimpleQuotas());
        await enableBtrfsQuota(path, { simple });
        log.info({ store: path, quotas: simple ? 'simple' : 'full' }, 'disk store: quotas turned on');
      }
      const status = btrfsQuotaStatus(fsid);
      if (status.mode !== 'squota' && status.inconsistent) {
        // Full qgroups enforce nothing until their accounting is consistent again.
        log.info({ store: path }, 'disk store: waiting for the qgroup rescan');
        await rescanBtrfsQuota(path, { wait: true });
      }
      // Containers' writable layers are below: no host user but root may reach them (the
      // depot's rule, depot/permissions.ts); the overlay reaches them as the mounter.
      guardDir(path, 'root-only');
      guardDir(join(path, 'volumes'), 'root-only');
      return new DiskStore(path, fsid, loopBacked, log);
    } catch (e) {
      throw new GardenError(`opening the disk store ${path} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Mounts the image at `path` unless it, or another btrfs, is there already. Returns whether the store is our image. */
  private static async mount(
    depot: string,
    path: string,
    options: DiskStoreOptions,
    log: BackendLogger,
  ): Promise<boolean> {
    const image = `${path}.img`;
    const here = mounts().filter((m) => m.target === path);
    const top = here[here.length - 1];
    if (top?.fstype === 'btrfs') {
      const backing = loopBackingFile(top.source);
      return backing !== undefined && existsSync(image) && backing === realpathSync(image);
    }
    if (isBtrfs(path)) return false; // a directory of a btrfs filesystem (e.g. the depot's)
    if (readdirSync(path).length > 0)
      throw new GardenError(`${path} is neither on btrfs nor empty: it cannot take the store's mount`);
    if (!existsSync(image)) {
      const size = options.size ?? defaultSize(depot);
      if (size < 256n * 1024n * 1024n) throw new GardenError('the store size must be at least 256 MiB');
      const tmp = join(dirname(image), `.${basename(image)}.tmp`);
      rmSync(tmp, { force: true });
      closeSync(openSync(tmp, 'w', 0o600));
      try {
        await run('truncate', ['-s', String(size), tmp]);
        // Metadata single: DUP on one image file would only halve the room for metadata.
        await run('mkfs.btrfs', ['-q', '-f', '-K', '-m', 'single', '-L', 'garden-store', tmp]);
      } catch (e) {
        rmSync(tmp, { force: true });
        const err = e as NodeJS.ErrnoException & { stderr?: string };
        if (err.code === 'ENOENT')
          throw new GardenError('mkfs.btrfs is missing: install btrfs-progs (or run without a disk store)', {
            cause: e,
          });
        throw new GardenError(`mkfs.btrfs failed: ${(err.stderr ?? err.message).trim()}`, { cause: e });
      }
      renameSync(tmp, image);
      log.info({ image, size: String(size) }, 'disk store: image made');
    }
    // noatime: reads must not write metadata (charged to the container's quota);
    // discard=async: space freed in the store is given back to the depot's filesystem.
    const device = await loopMount(image, path, {
      fstype: 'btrfs',
      flags: ['noatime'],
      data: 'discard=async',
    });
    log.info({ image, device, store: path }, 'disk store: mounted');
    return true;
  }

  /** The directory of volume `name`. */
  dirOf(name: string): string {
    return join(this.volumes, name);
  }

  /**
   * Makes a volume for container `id`: a subvolume named `<id>-<random>`, so a container made
   * again under the same handle never meets the one still being deleted; `limit` bytes (if any)
   * set in the same ioctl.
   */
  async create(id: string, limit = 0n): Promise<Volume & { name: string }> {
    const name = `${id}-${randomBytes(6).toString('hex')}`;
    return { id: await this.makeSubvolume.run(name, limit), dir: this.dirOf(name), name };
  }

  /** Limits what volume `id` may hold, in bytes (0n: no limit). */
  limit(id: bigint, bytes: bigint): Promise<void> {
    return setQgroupLimit(this.path, id, bytes);
  }

  /**
   * Deletes volume `name` and waits until its qgroup is gone (or `signal` ends the wait). An
   * overlay still using it (a container torn down while the server was down) is detached first,
   * unless the caller knows none is left (`overlaysGone`: a destroy whose rootfs was unmounted just
   * before; no scan of the host's mount table then). `id` spares looking the subvolume's id up.
   * Nothing when missing.
   */
  async remove(
    name: string,
    known: { id?: bigint; overlaysGone?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    const dir = this.dirOf(name);
    if (!existsSync(dir)) return;
    if (!known.overlaysGone)
      for (const m of mounts())
        if (m.fstype === 'overlay' && m.options.includes(`upperdir=${dir}/`))
          await unmountAsync(m.target, { detach: true });
    let qgroup: bigint;
    try {
      qgroup = known.id ?? btrfsSubvolumeId(dir);
    } catch (e) {
      if ((e as NativeError).code === 'ENOENT') return;
      throw e;
    }
    await deleteSubvolume(this.volumes, name, qgroup, known.signal ? { signal: known.signal } : {});
    this.keepAccounting();
  }

  /**
   * Full qgroups marked inconsistent (a deep subvolume dropped) enforce no limit until a rescan
   * ends: start one. Simple quotas never need it.
   */
  keepAccounting(): void {
    const status = btrfsQuotaStatus(this.fsid);
    if (status.mode === 'squota' || !status.inconsistent) return;
    this.log.warn(
      { store: this.path },
      'disk store: qgroup accounting inconsistent, rescanning (limits do not hold meanwhile)',
    );
    rescanBtrfsQuota(this.path).catch((e) =>
      this.log.warn({ store: this.path, ...errorFields(e) }, 'disk store: rescan'),
    );
  }

  /**
   * Bytes volume `id` holds as the kernel charges them against its limit: what was written back
   * plus what writes have reserved meanwhile. 0n when it has no qgroup (quotas off).
   */
  bytesUsed(id: bigint): bigint {
    const q = qgroupUsage(this.fsid, id);
    return q ? q.referenced + q.reservedData : 0n;
  }

  /** The limit volume `id` has, if any. */
  limitOf(id: bigint): bigint | undefined {
    return qgroupUsage(this.fsid, id)?.maxReferenced;
  }

  /**
   * Inodes the container made in its volume (files, directories, links, whiteouts in `upper/`):
   * the subvolume's inodes less `upper` and `work` themselves and the overlay's scratch entries
   * in `work/`. Counting reads the subvolume's metadata (about 0.7 ms per thousand inodes on the
   * thread pool), so a count that took 10 ms or more is reused for 50 times as long: a container
   * with 100,000 files is recounted at most every ~3.5 s, one with a few thousand on every call.
   */
  async inodesUsed(volume: Volume): Promise<bigint> {
    const key = volume.id;
    const hit = this.inodeCounts.get(key);
    if (hit && hit.took >= 10 && Date.now() - hit.at < hit.took * 50) return hit.count;
    const t0 = Date.now();
    const all = await countSubvolumeInodes(this.path, volume.id);
    let scratch = 0n;
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        scratch++;
        if (e.isDirectory()) walk(join(d, e.name));
      }
    };
    try {
      walk(join(volume.dir, 'work'));
    } catch {
      // gone meanwhile
    }
    const own = all - 2n - scratch;
    const count = own > 0n ? own : 0n;
    this.inodeCounts.set(key, { at: Date.now(), took: Date.now() - t0, count });
    return count;
  }

  /** Forgets what is remembered of a volume (its container is gone). */
  forget(id: bigint): void {
    this.inodeCounts.delete(id);
  }

  /** The store's size in bytes. */
  capacity(): bigint {
    const fs = statfsSync(this.path);
    return BigInt(fs.blocks) * BigInt(fs.bsize);
  }

  /** Names of the volumes in the store. */
  entries(): string[] {
    try {
      return readdirSync(this.volumes);
    } catch {
      return [];
    }
  }

  /**
   * At startup: deletes the volumes not in `known` (names: of containers destroyed or never
   * completed) and, in a store of our own, qgroups left without a subvolume (a kernel that does
   * not remove them, and a crash before we did).
   */
  async reconcile(known: ReadonlySet<string>): Promise<void> {
    const live = new Set<bigint>();
    for (const name of this.entries()) {
      if (known.has(name)) {
        try {
          live.add(btrfsSubvolumeId(this.dirOf(name)));
        } catch {
          // not a subvolume: left for the operator
        }
        continue;
      }
      this.log.warn({ volume: name }, 'disk store: removing a volume no container has');
      await this.remove(name).catch((e) =>
        this.log.warn({ volume: name, ...errorFields(e) }, 'disk store: volume removal'),
      );
    }
    if (!this.loopBacked) return;
    for (const q of listQgroups(this.fsid)) {
      if (q.level !== 0 || q.id < 256n || live.has(q.id)) continue;
      // EBUSY: a subvolume still being dropped (its qgroup goes with it) or one we do not know.
      await destroyQgroup(this.path, q.id).catch(() => undefined);
    }
  }

  /**
   * The backend stops: with no volume left, a store of our own is unmounted (its loop device
   * detaches itself). With containers, it stays mounted for the next start.
   */
  close(): void {
    if (!this.loopBacked || this.entries().length > 0) return;
    try {
      unmount(this.path);
      this.log.info({ store: this.path }, 'disk store: unmounted');
    } catch (e) {
      this.log.warn({ store: this.path, ...errorFields(e) }, 'disk store: unmount');
    }
  }
}

/** Default image size: the depot filesystem's size less what other jobs need, at least 1 GiB. */
function defaultSize(depot: string): bigint {
  const fs = statfsSync(depot);
  const total = BigInt(fs.blocks) * BigInt(fs.bsize);
  const size = total - RESERVED_FOR_OTHERS;
  return size > MIN_SIZE ? size : MIN_SIZE;
}
