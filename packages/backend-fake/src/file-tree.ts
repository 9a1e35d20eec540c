import { posix } from 'node:path';

/** Owner and permission bits of a node. */
export interface Ownership {
  uid: number;
  gid: number;
}

interface NodeBase extends Ownership {
  /** Permission bits (0o7777). */
  mode: number;
  mtime: Date;
}

export interface DirNode extends NodeBase {
  kind: 'dir';
  children: Map<string, FsNode>;
}

export interface FileNode extends NodeBase {
  kind: 'file';
  /** Replaced (never mutated) on write, so a reference is a snapshot. */
  data: Buffer;
}

export interface SymlinkNode extends NodeBase {
  kind: 'symlink';
  target: string;
}

export type FsNode = DirNode | FileNode | SymlinkNode;

/** A filesystem failure with an errno-style code, so callers can phrase messages like the tools do. */
export class FsError extends Error {
  constructor(
    readonly code: 'ENOENT' | 'ENOTDIR' | 'EEXIST' | 'EACCES' | 'ELOOP' | 'EISDIR',
    readonly path: string,
  ) {
    super(`${path}: ${FS_ERROR_TEXT[code]}`);
    this.name = 'FsError';
  }
}

/** The strerror texts GNU tools print. */
export const FS_ERROR_TEXT: Record<FsError['code'], string> = {
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  EACCES: 'Permission denied',
  ELOOP: 'Too many levels of symbolic links',
  EISDIR: 'Is a directory',
};

const MAX_SYMLINK_HOPS = 40;

/** Permission classes checked by {@link FileTree.can}. */
export type Access = 'r' | 'w' | 'x';

/**
 * An in-memory POSIX-like tree, rooted like a chroot: `..` at `/` stays at `/` and absolute symlink
 * targets resolve inside the tree, so nothing can ever escape it.
 */
export class FileTree {
  readonly root: DirNode;

  constructor(private readonly now: () => Date = () => new Date()) {
    this.root = { kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: now(), children: new Map() };
  }

  /** Resolves `path` (absolute) to a node; `followLast` also follows a final symlink. */
  lookup(path: string, followLast = true, as?: Ownership): FsNode {
    return this.walk(path, followLast, as).node;
  }

  /** Like {@link lookup} but returns undefined for a missing node. */
  tryLookup(path: string, followLast = true): FsNode | undefined {
    try {
      return this.lookup(path, followLast);
    } catch (err) {
      if (err instanceof FsError) return undefined;
      throw err;
    }
  }

  /**
   * Walks an absolute path. When `as` is given, every traversed directory must grant it search (x).
   * Returns the node and its canonical path.
   */
  walk(path: string, followLast = true, as?: Ownership): { node: FsNode; path: string } {
    const pending = splitPath(path);
    const stack: DirNode[] = [this.root];
    const names: string[] = [];
    let hops = 0;
    let node: FsNode = this.root;
    while (pending.length > 0) {
      const name = pending.shift()!;
      const dir = stack[stack.length - 1]!;
      if (name === '..') {
        if (stack.length > 1) {
          stack.pop();
          names.pop();
        }
        node = stack[stack.length - 1]!;
        continue;
      }
      if (as && !this.can(dir, 'x', as)) throw new FsError('EACCES', `/${names.join('/')}`);
      const child = dir.children.get(name);
      const here = `/${[...names, name].join('/')}`;
      if (!child) throw new FsError('ENOENT', here);
      if (child.kind === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) throw new FsError('ELOOP', here);
        const targetParts = splitPath(child.target);
        if (child.target.startsWith('/')) {
          stack.length = 1;
          names.length = 0;
        }
        pending.unshift(...targetParts);
        node = stack[stack.length - 1]!;
        continue;
      }
      if (pending.length > 0 && child.kind !== 'dir') throw new FsError('ENOTDIR', here);
      node = child;
      names.push(name);
      if (child.kind === 'dir') stack.push(child);
    }
    return { node, path: `/${names.join('/')}` };
  }

  /** The parent directory of `path` (resolved) and the final name. */
  parentOf(path: string, as?: Ownership): { dir: DirNode; name: string; dirPath: string } {
    const normal = posix.normalize(`/${path}`);
    const name = posix.basename(normal);
    const { node, path: dirPath } = this.walk(posix.dirname(normal), true, as);
    if (node.kind !== 'dir') throw new FsError('ENOTDIR', posix.dirname(normal));
    return { dir: node, name, dirPath };
  }

  /**
   * `mkdir -p`: creates missing components with `mode` and `owner`; existing ones (symlinks to
   * directories included) are left untouched.
   */
  mkdirp(path: string, owner: Ownership, mode = 0o755): DirNode {
    let current = '/';
    let dir = this.root;
    for (const name of splitPath(path)) {
      current = posix.join(current, name);
      const existing = this.tryLookup(current);
      if (existing) {
        if (existing.kind !== 'dir') throw new FsError('ENOTDIR', current);
        dir = existing;
        continue;
      }
      const parent = this.lookup(posix.dirname(current));
      if (parent.kind !== 'dir') throw new FsError('ENOTDIR', posix.dirname(current));
      const created: DirNode = { kind: 'dir', mode, ...pick(owner), mtime: this.now(), children: new Map() };
      // A dangling symlink in the way cannot be replaced by mkdir.
      if (parent.children.has(posix.basename(current))) throw new FsError('EEXIST', current);
      parent.children.set(posix.basename(current), created);
      dir = created;
    }
    return dir;
  }

  /** Creates or replaces a regular file (not following a final symlink). */
  writeFile(path: string, data: Buffer, mode: number, owner: Ownership): FileNode {
    const { dir, name } = this.parentOf(path);
    const existing = dir.children.get(name);
    if (existing?.kind === 'dir') throw new FsError('EISDIR', path);
    const file: FileNode = { kind: 'file', data, mode, ...pick(owner), mtime: this.now() };
    dir.children.set(name, file);
    return file;
  }

  /** Creates or replaces a symlink. */
  symlink(path: string, target: string, owner: Ownership): SymlinkNode {
    const { dir, name } = this.parentOf(path);
    if (dir.children.get(name)?.kind === 'dir') throw new FsError('EEXIST', path);
    const link: SymlinkNode = { kind: 'symlink', target, mode: 0o777, ...pick(owner), mtime: this.now() };
    dir.children.set(name, link);
    return link;
  }

  /** Whether `who` has `access` on `node` (uid 0 bypasses everything except x on files without any x bit). */
  can(node: FsNode, access: Access, who: Ownership): boolean {
    const bit = access === 'r' ? 4 : access === 'w' ? 2 : 1;
    if (who.uid === 0) return access !== 'x' || node.kind === 'dir' || (node.mode & 0o111) !== 0;
    const shift = node.uid === who.uid ? 6 : node.gid === who.gid ? 3 : 0;
    return ((node.mode >> shift) & bit) !== 0;
  }

  /** Total bytes and node count, for disk metrics. */
  usage(): { bytes: number; inodes: number } {
    let bytes = 0;
    let inodes = 0;
    const visit = (node: FsNode): void => {
      inodes++;
      if (node.kind === 'file') bytes += node.data.length;
      else if (node.kind === 'dir') for (const child of node.children.values()) visit(child);
    };
    visit(this.root);
    return { bytes, inodes };
  }
}

function pick(owner: Ownership): Ownership {
  return { uid: owner.uid, gid: owner.gid };
}

/** Splits a path into components, dropping empty and `.` ones (`..` is kept for the walker). */
export function splitPath(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}
