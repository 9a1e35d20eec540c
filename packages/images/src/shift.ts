/**
 * The fallback for hosts without idmapped mounts: a copy of a tree with every owner translated
 * through an id map (what grootfs does for its unprivileged store), keeping modes, times, hard
 * links, symlinks, device nodes, whiteouts and extended attributes (opaque markers and file
 * capabilities included).
 */
import { constants, type Stats } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import { getXattr, type IdMapEntry, listXattrs, mknod, setXattr } from '@garden-ts/native-ns';

/** An id map pair as a user namespace has it (`containerId` inside, `hostId` outside). */
export interface IdMapping {
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
}

/** Linux's overflow id, which unmapped ids show as. */
export const OVERFLOW_ID = 65534;

/** The host id that container id `id` is stored as under `map` (what an idmapped mount shows). */
export function mapId(id: number, map: readonly IdMapEntry[]): number {
  for (const e of map)
    if (id >= e.containerId && id < e.containerId + e.size) return e.hostId + (id - e.containerId);
  return OVERFLOW_ID;
}

function devNumbers(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return {
    major: ((lo >>> 8) & 0xfff) | (hi & ~0xfff),
    minor: (lo & 0xff) | ((lo >>> 12) & ~0xff),
  };
}

async function copyXattrs(src: string, dest: string): Promise<void> {
  for (const name of listXattrs(src)) {
    const v = getXattr(src, name);
    if (v !== null) setXattr(dest, name, v);
  }
}

/**
 * Copies `src` (a directory) to `dest` (must not exist) with owners mapped through `mapping`.
 * Directory times are set after their contents.
 */
export async function shiftedCopy(src: string, dest: string, mapping: IdMapping): Promise<void> {
  const inodes = new Map<string, string>();
  const meta = async (path: string, st: Stats, isLink: boolean) => {
    const uid = mapId(st.uid, mapping.uidMap);
    const gid = mapId(st.gid, mapping.gidMap);
    if (isLink) {
      await lchown(path, uid, gid);
      return;
    }
    await chown(path, uid, gid);
    await chmod(path, st.mode & 0o7777);
  };
  const walk = async (s: string, d: string, st: Stats): Promise<void> => {
    await mkdir(d, st.mode & 0o777);
    for (const e of await readdir(s)) {
      const sp = join(s, e);
      const dp = join(d, e);
      const cst = await lstat(sp);
      if (cst.isDirectory()) {
        await walk(sp, dp, cst);
        continue;
      }
      if (cst.nlink > 1 && !cst.isDirectory()) {
        const key = `${cst.dev}:${cst.ino}`;
        const first = inodes.get(key);
        if (first) {
          await link(first, dp);
          continue;
        }
        inodes.set(key, dp);
      }
      if (cst.isSymbolicLink()) {
        await symlink(await readlink(sp), dp);
        await meta(dp, cst, true);
        await copyXattrs(sp, dp);
        await lutimes(dp, cst.atime, cst.mtime);
        continue;
      }
      if (cst.isFile()) await copyFile(sp, dp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      else if (cst.isCharacterDevice()) mknod(dp, 'char', cst.mode & 0o777, devNumbers(cst.rdev));
      else if (cst.isBlockDevice()) mknod(dp, 'block', cst.mode & 0o777, devNumbers(cst.rdev));
      else if (cst.isFIFO()) mknod(dp, 'fifo', cst.mode & 0o777);
      else continue; // sockets are not image content
      await meta(dp, cst, false);
      await copyXattrs(sp, dp);
      await utimes(dp, cst.atime, cst.mtime);
    }
    await meta(d, st, false);
    await copyXattrs(s, d);
    await utimes(d, st.atime, st.mtime);
  };
  await walk(src, dest, await lstat(src));
}
