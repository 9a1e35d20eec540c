/**
 * Resolution of container paths on the host side, following symlinks *inside* the container root
 * (an absolute link target restarts at the root; `..` never climbs above it). Used only for reads
 * and existence checks; writes into a container happen inside its namespaces (files.ts).
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  type Stats,
} from 'node:fs';
import { join, posix } from 'node:path';
import { GardenError } from '@garden-ts/api-types';

const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, or undefined when a component is missing.
 * @throws GardenError on a symlink loop.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  return resolveWithStat(root, path)?.host;
}

/** resolveInRoot, with the lstat of what the path ends at (its identity, for a cache). */
function resolveWithStat(root: string, path: string): { host: string; st: Stats | undefined } | undefined {
  let st: Stats | undefined;
  const todo = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift() as string;
    // The path may end at a `.` or `..` of a link's target: then no lstat describes where it ends.
    st = undefined;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    try {
      st = lstatSync(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new GardenError(`too many levels of symbolic links: ${path}`);
      const target = readlinkSync(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return { host: join(root, ...done), st };
}

/** Reads a container file through {@link resolveInRoot}; undefined when missing. */
export function readInRoot(root: string, path: string): string | undefined {
  const host = resolveInRoot(root, path);
  return host === undefined ? undefined : readResolved(host);
}

/**
 * Which file `st` describes, and in what state: device, inode, size, mtime and ctime. Equal
 * identities mean a cached read of the file is still what it holds.
 */
export function fileIdentity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** A file read through {@link readInRootCached}: its text and the identity it had. */
export interface CachedRead {
  readonly identity: string;
  readonly text: string | undefined;
}

/**
 * readInRoot, except that the file is not read again when `last` came from it unchanged: the
 * path is resolved as always (symlinks inside the root), and the lstat that ends the resolution
 * says whether it is the same file (device, inode) with the same size, mtime and ctime.
 */
export function readInRootCached(root: string, path: string, last: CachedRead | undefined): CachedRead {
  const r = resolveWithStat(root, path);
  if (r === undefined) return { identity: '', text: undefined };
  const identity = r.st ? fileIdentity(r.st) : '';
  if (identity !== '' && last?.identity === identity) return last;
  return { identity, text: readResolved(r.host) };
}

function readResolved(host: string): string | undefined {
  let fd: number | undefined;
  try {
    // O_NOFOLLOW: a link swapped in after resolution is refused, not followed onto the host.
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 16 * 1024 * 1024) return undefined;
    return readFileSync(fd, 'utf8');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
