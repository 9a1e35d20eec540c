/**
 * btrfs subvolumes and qgroups, and loop-backed mounts: what backend-linux's disk store needs to
 * give each container its own writable layer with an enforced size limit. Changes are ioctls in
 * native code (native/btrfs.cc; no `btrfs` process per container), on the thread pool wherever
 * they join a transaction (which may wait for a commit in progress). Usage is read from the
 * kernel's qgroup report in sysfs (`/sys/fs/btrfs/<fsid>/qgroups/`), which, unlike the quota
 * tree, also has the data reserved by writes not yet written back — what the limit is checked
 * against.
 */
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding } from './native.js';

/** The addon's functions behind this module (native/btrfs_binding.cc). */
interface RawBtrfs {
  btrfsFsid(path: string): string;
  btrfsSubvolumeId(path: string): bigint;
  btrfsQuotaEnable(path: string, simple: boolean): Promise<void>;
  btrfsQuotaRescan(path: string, wait: boolean): Promise<void>;
  btrfsSubvolumeCreate(parent: string, name: string, maxReferenced: bigint): Promise<bigint>;
  btrfsSubvolumeCreateSync(parent: string, name: string, maxReferenced: bigint): bigint;
  btrfsSubvolumeDelete(parent: string, name: string): Promise<void>;
  btrfsStartCommit(path: string): Promise<void>;
  btrfsQgroupLimit(path: string, id: bigint, maxReferenced: bigint): Promise<void>;
  btrfsQgroupDestroy(path: string, id: bigint): Promise<void>;
  btrfsCountInodes(path: string, id: bigint): Promise<bigint>;
  loopMount(image: string, target: string, fstype: string, flags: number, data: string): Promise<string>;
}

function raw(): RawBtrfs {
  return loadBinding() as unknown as RawBtrfs;
}

async function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw NativeError.from(e);
  }
}

function callSync<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw NativeError.from(e);
  }
}

/** `statfs` type of btrfs. */
export const BTRFS_SUPER_MAGIC = 0x9123683e;

const U64_MAX = (1n << 64n) - 1n;
/** Subvolume ids (and their level-0 qgroup ids): 256 .. 2^64-256 (btrfs_tree.h). */
const FIRST_SUBVOLUME = 256n;
const LAST_SUBVOLUME = U64_MAX - 255n;

function absolute(field: string, p: unknown): string {
  if (typeof p !== 'string' || !isAbsolute(p) || p.includes('\0'))
    throw new NativeArgumentError(field, 'must be an absolute path');
  return p;
}

function subvolumeName(name: unknown): string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    /[/\0]/.test(name) ||
    Buffer.byteLength(name) > 4039
  )
    throw new NativeArgumentError(
      'name',
      'must be a file name (no "/", not "." or "..", at most 4039 bytes)',
    );
  return name;
}

function subvolumeId(field: string, id: unknown): bigint {
  if (typeof id !== 'bigint' || id < FIRST_SUBVOLUME || id > LAST_SUBVOLUME)
    throw new NativeArgumentError(field, 'must be a subvolume id (a bigint from 256 up)');
  return id;
}

/** Whether `path` is on a btrfs filesystem. */
export function isBtrfs(path: string): boolean {
  return statfsSync(absolute('path', path)).type === BTRFS_SUPER_MAGIC;
}

/**
 * The id of the btrfs filesystem holding `path` (a UUID: its `/sys/fs/btrfs/<fsid>` directory).
 * @throws NativeError (stage `btrfs-fsid`), e.g. `ENOTTY` when `path` is not on btrfs.
 */
export function btrfsFsid(path: string): string {
  const p = absolute('path', path);
  return callSync(() => raw().btrfsFsid(p));
}

/** The id of the subvolume holding `path`. @throws NativeError (stage `btrfs-subvolume`). */
export function btrfsSubvolumeId(path: string): bigint {
  const p = absolute('path', path);
  return callSync(() => raw().btrfsSubvolumeId(p));
}

/** How quotas are on: `qgroup` (full accounting), `squota` (simple quotas) or off. */
export interface QuotaStatus {
  enabled: boolean;
  /** The kernel's word (`qgroup`, `squota`), or undefined when off. */
  mode: string | undefined;
  /** The accounting needs a rescan (usage figures are not trustworthy until then). */
  inconsistent: boolean;
}

function sysfs(fsid: string): string {
  if (!/^[0-9a-f-]{36}$/.test(fsid))
    throw new NativeArgumentError('fsid', 'must be a btrfs filesystem id (a UUID)');
  return join('/sys/fs/btrfs', fsid);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw NativeError.fromErrno('btrfs-sysfs', `read ${path}`, e);
  }
}

/** Quota state of filesystem `fsid`, from sysfs. */
export function btrfsQuotaStatus(fsid: string): QuotaStatus {
  const dir = join(sysfs(fsid), 'qgroups');
  const enabled = readText(join(dir, 'enabled')) === '1';
  return {
    enabled,
    mode: enabled ? readText(join(dir, 'mode')) : undefined,
    inconsistent: readText(join(dir, 'inconsistent')) === '1',
  };
}

/**
 * Turns quotas on for the filesystem holding `path` (nothing when they are on already).
 * `simple`: simple quotas (kernel ≥ 6.7), which charge each extent to the subvolume that wrote it
 * instead of walking back-references at every commit; an image with them cannot be mounted by
 * older kernels.
 * @throws NativeError (stage `btrfs-quota`).
 */
export async function enableBtrfsQuota(path: string, options: { simple?: boolean } = {}): Promise<void> {
  const p = absolute('path', path);
  await call(() => raw().btrfsQuotaEnable(p, options.simple === true));
}

/** Whether this kernel has btrfs simple quotas (6.7+). */
export function btrfsHasSimpleQuotas(): boolean {
  return existsSync('/sys/fs/btrfs/features/simple_quota');
}

/**
 * Rescans the qgroup accounting of the filesystem holding `path` (full qgroups only; one already
 * running is joined) and, with `wait`, resolves once it is done. **Full qgroups enforce no limit
 * while their accounting is inconsistent** — after quotas are turned on, until the rescan they
 * start ends, and after an event that marks them so (dropping a deep subvolume) — until a rescan
 * ends. Simple quotas are never inconsistent.
 * @throws NativeError (stage `btrfs-quota`), e.g. `EINVAL` with simple quotas.
 */
export async function rescanBtrfsQuota(path: string, options: { wait?: boolean } = {}): Promise<void> {
  const p = absolute('path', path);
  await call(() => raw().btrfsQuotaRescan(p, options.wait === true));
}

/**
 * Creates subvolume `name` in the btrfs directory `parent`; resolves with its id, which is also
 * its qgroup's (`0/<id>`). `maxReferenced` (bytes, quotas on) gives the qgroup that limit in the
 * same ioctl, as {@link setQgroupLimit} would after.
 * @throws NativeArgumentError for a bad path, name or limit; NativeError (stage
 * `btrfs-subvolume`), e.g. `EEXIST`.
 */
export async function createSubvolume(
  parent: string,
  name: string,
  options: { maxReferenced?: bigint } = {},
): Promise<bigint> {
  const [p, n, max] = subvolumeArgs(parent, name, options);
  return call(() => raw().btrfsSubvolumeCreate(p, n, max));
}

/**
 * {@link createSubvolume} on the calling thread. The ioctl is usually ~0.15 ms, less than the
 * thread-pool round trip (~0.3 ms on a VM, where waking the pool thread and then this one are
 * each a VM exit), but it waits whenever a btrfs commit is in its blocking phase: callers on an
 * event loop should fall back to {@link createSubvolume} when it turns slow.
 * @throws as {@link createSubvolume}
 */
export function createSubvolumeSync(
  parent: string,
  name: string,
  options: { maxReferenced?: bigint } = {},
): bigint {
  const [p, n, max] = subvolumeArgs(parent, name, options);
  return callSync(() => raw().btrfsSubvolumeCreateSync(p, n, max));
}

function subvolumeArgs(
  parent: string,
  name: string,
  options: { maxReferenced?: bigint },
): [string, string, bigint] {
  const p = absolute('parent', parent);
  const n = subvolumeName(name);
  const max = options.maxReferenced ?? 0n;
  if (typeof max !== 'bigint' || max < 0n || max >= U64_MAX)
    throw new NativeArgumentError('maxReferenced', 'must be a byte count (bigint, 0n = no limit)');
  return [p, n, max];
}

/**
 * Deletes subvolume `name` (id `id`) of `parent` with all it holds (no walk of its files: the
 * kernel's cleaner drops the tree) and starts a commit so that happens now. By default it then
 * waits until the subvolume is dropped and its qgroup gone (the kernel removes it itself on
 * current kernels, else it is destroyed here), polling with timers: no thread waits meanwhile.
 * `waitMs` bounds that wait (default 60 s; 0 = return once deleted); `signal` ends it early
 * (resolving: the subvolume is deleted, only its qgroup may still be there). A subvolume already
 * gone is not an error.
 * @throws NativeError (stage `btrfs-subvolume`, `EBUSY` for a subvolume something is mounted
 * on; stage `btrfs-qgroup`, `ETIMEDOUT` when the wait ran out).
 */
export async function deleteSubvolume(
  parent: string,
  name: string,
  id: bigint,
  options: { waitMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const p = absolute('parent', parent);
  const n = subvolumeName(name);
  const i = subvolumeId('id', id);
  const waitMs = options.waitMs ?? 60_000;
  if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > 2 ** 31 - 1)
    throw new NativeArgumentError('waitMs', 'must be a whole number of milliseconds');
  await call(() => raw().btrfsSubvolumeDelete(p, n));
  if (waitMs === 0) return;
  // Removing the qgroup fails with EBUSY until the cleaner has dropped the subvolume (a small
  // one goes within a commit: tens of milliseconds). The cleaner runs after commits; one that ran
  // while the subvolume was still in use (a mount namespace of the container still holding its
  // overlay) tries again only after the next, so a commit is started every 250 ms meanwhile
  // (else the periodic one, 30 s later). The first try waits 10 ms: the commit just started
  // has not run the cleaner yet (each try is a trip to the thread pool).
  const deadline = Date.now() + waitMs;
  let kicked = Date.now();
  await new Promise((r) => setTimeout(r, Math.min(10, waitMs)));
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      await call(() => raw().btrfsQgroupDestroy(p, i));
      return;
    } catch (e) {
      if ((e as NativeError).code !== 'EBUSY') throw e;
      // The caller stops waiting (a server stopping): the qgroup goes with the subvolume's drop on
      // current kernels, else at the next start's reconciliation.
      if (options.signal?.aborted) return;
      if (Date.now() >= deadline)
        throw new NativeError('btrfs-qgroup', 110, 'wait for the subvolume to be dropped', undefined, {
          cause: e,
        });
    }
    await new Promise((r) => setTimeout(r, delay));
    if (Date.now() - kicked >= 250) {
      kicked = Date.now();
      await call(() => raw().btrfsStartCommit(p));
    }
  }
}

/**
 * Limits what subvolume `id` may hold (its qgroup's referenced bytes: data and metadata, all
 * writers together); `0n` removes the limit. A write beyond it fails with `EDQUOT`.
 * @throws NativeError (stage `btrfs-qgroup`), e.g. `ENOTCONN` when quotas are off.
 */
export async function setQgroupLimit(path: string, id: bigint, maxReferenced: bigint): Promise<void> {
  const p = absolute('path', path);
  const i = subvolumeId('id', id);
  if (typeof maxReferenced !== 'bigint' || maxReferenced < 0n || maxReferenced >= U64_MAX)
    throw new NativeArgumentError('maxReferenced', 'must be a byte count (bigint, 0n = no limit)');
  await call(() => raw().btrfsQgroupLimit(p, i, maxReferenced));
}

/** Removes qgroup `0/<id>` (nothing when missing). @throws NativeError (stage `btrfs-qgroup`; `EBUSY` while its subvolume exists). */
export async function destroyQgroup(path: string, id: bigint): Promise<void> {
  const p = absolute('path', path);
  const i = subvolumeId('id', id);
  await call(() => raw().btrfsQgroupDestroy(p, i));
}

/**
 * Number of inodes in subvolume `id` (files, directories, links, device nodes; its own root
 * directory not counted), counted from its metadata tree on the thread pool: cost grows with the
 * number of items, about a millisecond per few thousand inodes.
 * @throws NativeError (stage `btrfs-inodes`), e.g. `ENOENT` for a deleted subvolume.
 */
export async function countSubvolumeInodes(path: string, id: bigint): Promise<bigint> {
  const p = absolute('path', path);
  const i = subvolumeId('id', id);
  return call(() => raw().btrfsCountInodes(p, i));
}

/** One qgroup as the kernel reports it (bytes). */
export interface QgroupUsage {
  /** `<level>/<id>`; level 0 = the subvolume `id`. */
  level: number;
  id: bigint;
  /** Bytes of all extents the subvolume refers to (data and metadata). */
  referenced: bigint;
  /** Bytes of the extents only it refers to. */
  exclusive: bigint;
  /**
   * Data bytes reserved by writes not yet written back: the kernel counts them against the limit
   * and adds them to `referenced` at the next commit.
   */
  reservedData: bigint;
  /** The limit on `referenced`, when set. */
  maxReferenced: bigint | undefined;
  /** The limit on `exclusive`, when set. */
  maxExclusive: bigint | undefined;
}

const LIMIT_MAX_RFER = 1n;
const LIMIT_MAX_EXCL = 2n;

function readQgroup(dir: string, level: number, id: bigint): QgroupUsage | undefined {
  const values: Record<string, bigint> = {};
  for (const f of ['referenced', 'exclusive', 'rsv_data', 'limit_flags', 'max_referenced', 'max_exclusive']) {
    const t = readText(join(dir, f));
    if (t === undefined) return undefined; // removed meanwhile
    values[f] = BigInt(t);
  }
  const flags = values.limit_flags as bigint;
  return {
    level,
    id,
    referenced: values.referenced as bigint,
    exclusive: values.exclusive as bigint,
    reservedData: values.rsv_data as bigint,
    maxReferenced: flags & LIMIT_MAX_RFER ? values.max_referenced : undefined,
    maxExclusive: flags & LIMIT_MAX_EXCL ? values.max_exclusive : undefined,
  };
}

/**
 * The qgroup of subvolume `id` on filesystem `fsid` (from sysfs: a few small file reads), or
 * undefined when there is none (or quotas are off).
 */
export function qgroupUsage(fsid: string, id: bigint): QgroupUsage | undefined {
  const i = subvolumeId('id', id);
  return readQgroup(join(sysfs(fsid), 'qgroups', `0_${i}`), 0, i);
}

/** Every qgroup of filesystem `fsid` (empty when quotas are off). */
export function listQgroups(fsid: string): QgroupUsage[] {
  const dir = join(sysfs(fsid), 'qgroups');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw NativeError.fromErrno('btrfs-sysfs', `list ${dir}`, e);
  }
  const out: QgroupUsage[] = [];
  for (const name of names) {
    const m = /^(\d+)_(\d+)$/.exec(name);
    if (!m) continue;
    const q = readQgroup(join(dir, name), Number(m[1]), BigInt(m[2] as string));
    if (q) out.push(q);
  }
  return out;
}

/** Mount flags `loopMount` takes (MS_* values). */
const MOUNT_FLAGS = { nosuid: 0x2, nodev: 0x4, noexec: 0x8, noatime: 0x400 } as const;
export type LoopMountFlag = keyof typeof MOUNT_FLAGS;

/**
 * Attaches the filesystem image `image` to a free loop device (autoclear, direct I/O when the
 * backing filesystem allows it; a device taken by another process meanwhile is skipped) and
 * mounts it at `target` (`flags`, and `data`: the filesystem's own options). The device detaches itself when that mount goes, and at once if the
 * mount fails: no loop device is ever left behind. Resolves with the device (`/dev/loopN`).
 * @throws NativeArgumentError for bad paths or options; NativeError (stage `loop-mount`).
 */
export async function loopMount(
  image: string,
  target: string,
  options: { fstype: string; flags?: readonly LoopMountFlag[]; data?: string },
): Promise<string> {
  const i = absolute('image', image);
  const t = absolute('target', target);
  if (!/^[a-z0-9]+$/.test(options.fstype))
    throw new NativeArgumentError('fstype', 'must be a filesystem type name');
  const data = options.data ?? '';
  if (data.includes('\0') || data.length > 4000)
    throw new NativeArgumentError('data', 'must be a mount option string');
  let flags = 0;
  for (const f of options.flags ?? []) {
    const bit = MOUNT_FLAGS[f];
    if (bit === undefined) throw new NativeArgumentError('flags', `unknown mount flag ${JSON.stringify(f)}`);
    flags |= bit;
  }
  return call(() => raw().loopMount(i, t, options.fstype, flags, data));
}
