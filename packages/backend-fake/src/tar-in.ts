import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import tar, { type Header } from 'tar-stream';
import { type FileTree, FS_ERROR_TEXT, FsError, type FsNode, splitPath } from './file-tree.js';
import type { ResolvedUser } from './users.js';

/** GNU tar extracting without --same-permissions applies the umask of the helper. */
const UMASK = 0o022;

/** Resolves a streaming path: relative paths are relative to the user's home (§4). */
export function streamPath(path: string, user: ResolvedUser): string {
  return posix.normalize(path.startsWith('/') ? path : posix.join(user.home, path));
}

function fail(detail: string): GardenError {
  return new GardenError(`error streaming in: ${detail}`);
}

/**
 * Rejects entry names that are absolute or climb with `..`, returning the normalised relative name
 * (`''` for the destination itself).
 */
export function safeEntryName(name: string): string {
  if (name.startsWith('/')) throw fail(`tar: ${name}: refusing to extract absolute path`);
  const parts = name.split('/');
  if (parts.includes('..')) throw fail(`tar: ${name}: refusing to extract path containing '..'`);
  return splitPath(name).join('/');
}

/** Whether a link target, seen from `entryDir` (relative to the destination), stays inside it. */
export function linkStaysInside(entryDir: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  let depth = splitPath(entryDir).length;
  for (const part of target.split('/')) {
    if (part === '..') depth--;
    else if (part !== '' && part !== '.') depth++;
    if (depth < 0) return false;
  }
  return true;
}

/**
 * Extracts a tar stream into `dest` of `tree` as `user` (linux-backend-reference §4): the destination
 * is created (`mkdir -p`, new dirs 0755 owned by the user); entries are owned by the user and need
 * write permission in their directory; names with `..`, absolute names and links leaving the
 * destination are rejected. A truncated or corrupt archive is an error.
 * @throws GardenError starting `error streaming in`
 */
export async function extractTar(
  tree: FileTree,
  dest: string,
  user: ResolvedUser,
  source: Readable,
): Promise<void> {
  const owner = { uid: user.uid, gid: user.gid };
  try {
    tree.mkdirp(dest, owner);
  } catch (err) {
    throw fail(err instanceof FsError ? `mkdir ${err.message}` : String(err));
  }
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on('error', (err: unknown) => next(err as Error));
      stream.on('end', () => {
        try {
          applyEntry(tree, dest, owner, header, Buffer.concat(chunks));
          next();
        } catch (err) {
          next(err as Error);
        }
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    source.on('error', reject);
  });
  source.pipe(extract);
  try {
    await done;
  } catch (err) {
    source.unpipe(extract);
    extract.destroy();
    // Drain the rest of the upload so an HTTP body ends and its connection stays usable.
    if (!source.destroyed) source.resume();
    if (err instanceof GardenError) throw err;
    throw fail(`tar: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function applyEntry(
  tree: FileTree,
  dest: string,
  owner: { uid: number; gid: number },
  header: Header,
  data: Buffer,
): void {
  const rel = safeEntryName(header.name);
  const target = posix.join(dest, rel);
  const mode = (header.mode ?? 0o644) & 0o7777 & ~UMASK;
  // GNU tar restores the archived mtime (without --touch).
  const mtime =
    header.mtime instanceof Date && !Number.isNaN(header.mtime.getTime()) ? header.mtime : undefined;
  const write = (fn: () => FsNode): void => {
    try {
      if (rel !== '') createParents(tree, dest, posix.dirname(rel), owner);
      if (rel !== '' && owner.uid !== 0) {
        const { dir } = tree.parentOf(target, owner);
        if (!tree.can(dir, 'w', owner) || !tree.can(dir, 'x', owner)) throw new FsError('EACCES', target);
      }
      const node = fn();
      if (mtime) node.mtime = mtime;
    } catch (err) {
      if (err instanceof FsError) throw fail(`tar: ${header.name}: Cannot open: ${FS_ERROR_TEXT[err.code]}`);
      throw err;
    }
  };
  switch (header.type) {
    case 'directory': {
      const existing = tree.tryLookup(target);
      if (existing?.kind === 'dir') {
        // The destination itself keeps its mode: a `./` entry must not turn /tmp's 1777 into 0755.
        if (rel !== '' && (owner.uid === 0 || existing.uid === owner.uid)) existing.mode = mode;
        return;
      }
      write(() => tree.mkdirp(target, owner, mode));
      return;
    }
    case 'file':
    case 'contiguous-file':
    case null:
    case undefined:
      write(() => tree.writeFile(target, data, mode, owner));
      return;
    case 'symlink': {
      const linkname = header.linkname ?? '';
      if (!linkStaysInside(posix.dirname(rel), linkname)) {
        throw fail(`tar: ${header.name}: refusing to create symlink leaving the destination: ${linkname}`);
      }
      write(() => tree.symlink(target, linkname, owner));
      return;
    }
    case 'link': {
      const linkname = header.linkname ?? '';
      const linked = safeEntryName(linkname);
      const source = tree.tryLookup(posix.join(dest, linked), false);
      if (source?.kind !== 'file') {
        throw fail(`tar: ${header.name}: Cannot hard link to '${linkname}': No such file or directory`);
      }
      write(() => tree.writeFile(target, source.data, source.mode, owner));
      return;
    }
    default:
      // Devices and FIFOs need privileges the extracting user does not have; GNU tar skips them too.
      return;
  }
}

/**
 * GNU tar creates directories missing from the archive (`a/b/c.txt` without `a/`), owned by the
 * extracting user with mode 0755 (umask applied), each needing write permission in its parent.
 */
function createParents(
  tree: FileTree,
  dest: string,
  relDir: string,
  owner: { uid: number; gid: number },
): void {
  let current = dest;
  for (const name of splitPath(relDir)) {
    const parent = current;
    current = posix.join(current, name);
    if (tree.tryLookup(current)) continue;
    if (owner.uid !== 0) {
      const dir = tree.lookup(parent, true, owner);
      if (!tree.can(dir, 'w', owner) || !tree.can(dir, 'x', owner)) throw new FsError('EACCES', current);
    }
    tree.mkdirp(current, owner, 0o755 & ~UMASK);
  }
}
