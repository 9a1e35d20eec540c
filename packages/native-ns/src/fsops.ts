/**
 * Filesystem syscalls Node cannot make, for unpacking image layers and presenting them to
 * unprivileged containers: device nodes and FIFOs (`mknod`), extended attributes including
 * `security.capability` and `trusted.overlay.*` (the `l*xattr` family: a final symlink is never
 * followed), a user namespace holding an id map, and idmapped mounts.
 */

import { absPath, type IdMapEntry, mapText } from './container.js';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding } from './native.js';

/** The addon's functions behind this module (see native/fsops.cc). */
export interface RawFsOps {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  openUserNamespace(uidMap: string, gidMap: string): number;
  idmapMount(source: string, target: string, usernsFd: number, recursive: boolean): void;
}

function raw(): RawFsOps {
  return loadBinding() as unknown as RawFsOps;
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw NativeError.from(e);
  }
}

/** The file types {@link mknod} makes. */
export type NodeType = 'char' | 'block' | 'fifo';

const TYPE_BITS: Record<NodeType, number> = { char: 0o020000, block: 0o060000, fifo: 0o010000 };

/**
 * Creates a device node or FIFO at `path` (not following a final symlink; an existing entry is
 * `EEXIST`). The umask applies to `mode` as for any create: chmod afterwards for exact bits.
 * @throws NativeArgumentError for a relative path, a bad type, mode or device number;
 * NativeError (stage `mknod`), e.g. `EPERM` without CAP_MKNOD.
 */
export function mknod(
  path: string,
  type: NodeType,
  mode: number,
  device: { major: number; minor: number } = { major: 0, minor: 0 },
): void {
  const p = absPath('path', path);
  const bits = TYPE_BITS[type];
  if (bits === undefined) throw new NativeArgumentError('type', "must be 'char', 'block' or 'fifo'");
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    throw new NativeArgumentError('mode', 'must be 0..0o7777');
  for (const [f, v, max] of [
    ['device.major', device.major, 0xfff],
    ['device.minor', device.minor, 0xfffff],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new NativeArgumentError(f, `must be 0..${max}`);
  }
  call(() => raw().mknod(p, bits | mode, device.major, device.minor));
}

function xattrName(name: unknown): string {
  if (typeof name !== 'string' || !/^(security|system|trusted|user)\.[^\0]+$/.test(name) || name.length > 255)
    throw new NativeArgumentError(
      'name',
      'must be a namespaced attribute name (security.*, system.*, trusted.*, user.*) of at most 255 bytes',
    );
  return name;
}

/**
 * Sets the extended attribute `name` of `path` itself (a symlink's own, never its target's).
 * @throws NativeArgumentError; NativeError (stage `xattr`): `ENOTSUP` where the filesystem or
 * namespace refuses it, `EPERM` for trusted.* without CAP_SYS_ADMIN.
 */
export function setXattr(path: string, name: string, value: Buffer | Uint8Array | string): void {
  const p = absPath('path', path);
  const n = xattrName(name);
  const v =
    typeof value === 'string'
      ? Buffer.from(value)
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (v.length > 65536) throw new NativeArgumentError('value', 'must be at most 64 KiB');
  call(() => raw().lsetxattr(p, n, v));
}

/** The value of `name` on `path` itself, or `null` when it has none. */
export function getXattr(path: string, name: string): Buffer | null {
  const p = absPath('path', path);
  const n = xattrName(name);
  return call(() => raw().lgetxattr(p, n));
}

/** Names of the extended attributes of `path` itself (those this process may see). */
export function listXattrs(path: string): string[] {
  const p = absPath('path', path);
  return call(() => raw().llistxattr(p));
}

/**
 * A file descriptor of a new user namespace with the given maps (no process stays inside; the
 * fd keeps it alive until closed with `fs.closeSync`). Made by cloning a short-lived child, so
 * call it once per distinct map and keep the fd.
 * @throws NativeArgumentError for an empty or malformed map; NativeError (stage `userns`), e.g.
 * `EINVAL` from the kernel for overlapping ranges.
 */
export function openUserNamespace(uidMap: IdMapEntry[], gidMap: IdMapEntry[] = uidMap): number {
  const u = mapText('uidMap', uidMap);
  const g = mapText('gidMap', gidMap);
  return call(() => raw().openUserNamespace(u, g));
}

/**
 * Attaches an idmapped clone of the mount tree at `source` (only the mount containing it unless
 * `recursive`) on `target` (an existing directory): a file stored with id k is seen as the host
 * id that the namespace `usernsFd` maps container id k to, so a layer store owned by real root
 * reads as owned by an unprivileged container's root without a copy. Linux ≥ 5.12 and a
 * filesystem that supports idmapped mounts (ext4, xfs, btrfs, tmpfs ≥ 6.3, …).
 * @throws NativeArgumentError; NativeError (stage `idmap-mount`, syscall `open_tree`,
 * `mount_setattr` — `EINVAL` where the filesystem cannot be idmapped — or `move_mount`).
 */
export function idmapMount(
  source: string,
  target: string,
  usernsFd: number,
  options: { recursive?: boolean } = {},
): void {
  const s = absPath('source', source);
  const t = absPath('target', target);
  if (!Number.isInteger(usernsFd) || usernsFd < 0)
    throw new NativeArgumentError('usernsFd', 'must be an open file descriptor');
  call(() => raw().idmapMount(s, t, usernsFd, options.recursive === true));
}
