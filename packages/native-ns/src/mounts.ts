/**
 * Host-side mounts the Linux backend needs outside any container: a container's overlay rootfs,
 * the volatile run directory's tmpfs, and their removal. mount(2) directly: no `mount(8)`
 * process per create (2.5–6 ms each) and no option-string parsing by a helper.
 */
import { isAbsolute } from 'node:path';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding } from './native.js';

function overlayPath(field: string, p: unknown): string {
  if (typeof p !== 'string' || !isAbsolute(p) || /[\0,:\\\n]/.test(p))
    throw new NativeArgumentError(field, "must be an absolute path without ',', ':', '\\\\' or newlines");
  return p;
}

/**
 * Makes a container's overlay on the thread pool: creates `<dir>/upper`, `<dir>/work` (in `volume`
 * instead when given: a directory on the filesystem the container's writes go to, such as a
 * quota'd btrfs subvolume) and the mount point `<dir>/rootfs` (0755; upper and rootfs owned by
 * `owner` when given: the merged root takes the upper dir's owner), then mounts `lower` read-only
 * below upper/work at rootfs. Resolves with the rootfs path.
 * @throws NativeArgumentError for a relative path or one with ',', ':', '\\' or a newline (the
 * kernel parses the paths out of one option string); NativeError (rejected, stage `overlay`).
 */
export async function createOverlay(o: {
  /** The image: one directory, or layers top-most first (overlayfs's `lowerdir` order). */
  lower: string | readonly string[];
  dir: string;
  volume?: string;
  owner?: { uid: number; gid: number };
}): Promise<string> {
  const lowers = typeof o.lower === 'string' ? [o.lower] : o.lower;
  if (!Array.isArray(lowers) || lowers.length === 0 || lowers.length > 500)
    throw new NativeArgumentError('lower', 'must be a path or 1..500 paths');
  const lower = lowers.map((l, i) => overlayPath(lowers.length === 1 ? 'lower' : `lower[${i}]`, l)).join(':');
  // The kernel takes the whole option string from one page.
  if (lower.length + (o.volume ?? o.dir).length * 2 + 64 > 4096)
    throw new NativeArgumentError(
      'lower',
      'the layer paths are too long for one overlay mount (4 KiB of options)',
    );
  const dir = overlayPath('dir', o.dir);
  const volume = o.volume === undefined ? undefined : overlayPath('volume', o.volume);
  const uid = o.owner?.uid ?? -1;
  const gid = o.owner?.gid ?? -1;
  for (const [f, v] of [
    ['owner.uid', uid],
    ['owner.gid', gid],
  ] as const) {
    if (!Number.isInteger(v) || v < -1 || v > 0xffff_fffe)
      throw new NativeArgumentError(f, 'must be a uid/gid');
  }
  try {
    return await loadBinding().createOverlay(lower, dir, uid, gid, volume);
  } catch (e) {
    throw NativeError.from(e);
  }
}

/**
 * Mounts a nosuid,nodev,noexec tmpfs at `target`.
 * @param options.mode octal permission bits of its root; `size` as tmpfs takes it ("10%", "64m").
 */
export function mountTmpfs(target: string, options: { mode?: number; size?: string } = {}): void {
  const t = overlayPath('target', target);
  const mode = options.mode ?? 0o755;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new NativeArgumentError('mode', 'must be 0..0o7777');
  const size = options.size ?? '50%';
  if (!/^\d+[kmg%]?$/.test(size)) throw new NativeArgumentError('size', 'must look like 64m or 10%');
  try {
    loadBinding().mountTmpfs(t, `mode=${mode.toString(8).padStart(4, '0')},size=${size}`);
  } catch (e) {
    throw NativeError.from(e);
  }
}

/**
 * Unmounts `target` (not following a final symlink); `detach` = MNT_DETACH (lazy: busy mounts
 * go once their last user does). Returns false when `target` is not a mount point.
 */
export function unmount(target: string, options: { detach?: boolean } = {}): boolean {
  const checked = checkTarget(target);
  try {
    return loadBinding().unmount(checked, options.detach === true);
  } catch (e) {
    throw NativeError.from(e);
  }
}

/**
 * {@link unmount} off the event loop (an overlay's teardown takes about a millisecond). `all`:
 * every mount stacked at `target` (at most 16), in one trip to the thread pool; true when at
 * least one went.
 */
export async function unmountAsync(
  target: string,
  options: { detach?: boolean; all?: boolean } = {},
): Promise<boolean> {
  const checked = checkTarget(target);
  try {
    return await loadBinding().unmountAsync(checked, options.detach === true, options.all === true);
  } catch (e) {
    throw NativeError.from(e);
  }
}

function checkTarget(target: unknown): string {
  if (typeof target !== 'string' || !isAbsolute(target) || target.includes('\0'))
    throw new NativeArgumentError('target', 'must be an absolute path');
  return target;
}

/**
 * {@link removeTree} could not remove an entry: `path` names it (it may be far longer than
 * PATH_MAX), `code`/`errno`/`syscall` say why. `EXDEV` or `EBUSY`: a mount point below the tree.
 */
export class RemoveTreeError extends NativeError {
  /** The entry that could not be opened, listed or removed. */
  readonly path: string;
  constructor(path: string, errno: number, syscall: string) {
    super('remove-tree', errno, syscall);
    this.path = path;
    this.message = `remove-tree: ${syscall} ${path}: ${this.code} (errno ${errno})`;
  }
}

/**
 * Deletes `path` and everything below it on the thread pool (the event loop does no per-entry
 * work): any depth (walked with fds: no path length or recursion limit a container could exceed),
 * symlinks are removed, never followed; a mount point below makes it fail rather than be emptied
 * or crossed. A missing `path` is not an error.
 * @throws NativeArgumentError for a relative path; RemoveTreeError (rejected) naming the entry.
 */
export async function removeTree(path: string): Promise<void> {
  const checked = checkTarget(path);
  try {
    await loadBinding().removeTree(checked);
  } catch (e) {
    const raw = e as Partial<{ errno: number; syscall: string; path: string }>;
    if (typeof raw?.path === 'string' && typeof raw.errno === 'number')
      throw new RemoveTreeError(raw.path, raw.errno, raw.syscall ?? '');
    throw NativeError.from(e);
  }
}
