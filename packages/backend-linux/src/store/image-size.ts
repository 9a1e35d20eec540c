/**
 * The size of a container's image: what a total-scope disk limit counts besides the container's
 * own writes, and what `DiskStat` adds to them for the totals (reference §6.4, §7.1). grootfs
 * takes the layers' uncompressed size; for the read-only directories below an overlay that is
 * the bytes of their regular files and symlinks (a hard-linked file once) and their inodes.
 *
 * Images are read-only, so each directory is walked once and remembered, keyed by its path and
 * its root's inode and change time (a replaced directory is walked again); concurrent creates
 * of one image share the walk.
 */
import { type Dirent, lstatSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ImageSize {
  bytes: bigint;
  inodes: bigint;
}

interface Cached {
  stamp: string;
  size: Promise<ImageSize>;
}

const cache = new Map<string, Cached>();

function stampOf(dir: string): string {
  const st = lstatSync(dir, { bigint: true });
  return `${st.dev}:${st.ino}:${st.ctimeNs}`;
}

async function walk(root: string): Promise<ImageSize> {
  let bytes = 0n;
  const seen = new Set<bigint>();
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue; // unreadable or gone: it holds nothing we can count
    }
    await Promise.all(
      entries.map(async (e) => {
        const path = join(dir, e.name);
        if (e.isDirectory()) pending.push(path);
        try {
          const st = await lstat(path, { bigint: true });
          if (seen.has(st.ino)) return;
          seen.add(st.ino);
          if (st.isFile() || st.isSymbolicLink()) bytes += st.size;
        } catch {
          // gone meanwhile
        }
      }),
    );
  }
  return { bytes, inodes: BigInt(seen.size) };
}

/** Size of one read-only image directory (walked once, then remembered). */
function sizeOfDir(dir: string): Promise<ImageSize> {
  const stamp = stampOf(dir);
  const hit = cache.get(dir);
  if (hit && hit.stamp === stamp) return hit.size;
  const size = walk(dir);
  cache.set(dir, { stamp, size });
  size.catch(() => cache.delete(dir));
  return size;
}

/** Size of an image given as overlay lower directories (layers add up, as grootfs counts them). */
export async function imageSize(lowerDirs: readonly string[]): Promise<ImageSize> {
  const sizes = await Promise.all(lowerDirs.map(sizeOfDir));
  return sizes.reduce((a, b) => ({ bytes: a.bytes + b.bytes, inodes: a.inodes + b.inodes }), {
    bytes: 0n,
    inodes: 0n,
  });
}
