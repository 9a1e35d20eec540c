/**
 * Resolution of container paths on the host side, following symlinks *inside* the container root
 * (an absolute link target restarts at the root; `..` never climbs above it). Used only for reads
 * and existence checks; writes into a container happen inside its namespaces (files.ts).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import { GardenError } from '@garden-ts/api-types';

const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, or undefined when a component is missing.
 * @throws GardenError on a symlink loop.
 */
export function resolveInRoot(root: string, path: string): string | undefined {
  const todo = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let st: ReturnType<typeof lstatSync>;
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
  return join(root, ...done);
}

/** Reads a container file through {@link resolveInRoot}; undefined when missing. */
export function readInRoot(root: string, path: string): string | undefined {
  const host = resolveInRoot(root, path);
  if (host === undefined) return undefined;
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
