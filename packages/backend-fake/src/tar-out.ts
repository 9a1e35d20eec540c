import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import tar, { type Header } from 'tar-stream';
import { type FileTree, FS_ERROR_TEXT, FsError, type FsNode } from './file-tree.js';
import { groupName, type ResolvedUser, userName } from './users.js';

interface PlannedEntry {
  header: Partial<Header> & { name: string };
  data?: Buffer;
}

function fail(detail: string): GardenError {
  return new GardenError(`error streaming out: ${detail}`);
}

/**
 * Plans the entries of a StreamOut with Guardian's layout (linux-backend-reference §4):
 * `dir` → `dir/`, `dir/file`; `dir/` → `./`, `./file`; a file → its basename. Children are sorted
 * by name so archives are deterministic. Everything is checked before streaming starts, so a
 * missing path or an unreadable entry is an error rather than a short archive.
 * @throws GardenError starting `error streaming out`
 */
export function planTar(tree: FileTree, path: string, user: ResolvedUser, rawPath: string): PlannedEntry[] {
  const who = { uid: user.uid, gid: user.gid };
  const contents = rawPath.endsWith('/');
  let node: FsNode;
  try {
    // `tar -C parent name` does not follow a final symlink; `tar -C dir/ .` does.
    node = tree.lookup(path, contents, who);
  } catch (err) {
    if (err instanceof FsError) {
      throw fail(`stat ${path}: ${FS_ERROR_TEXT[err.code].toLowerCase()}`);
    }
    throw err;
  }
  if (contents && node.kind !== 'dir') throw fail(`stat ${path}: not a directory`);
  const entries: PlannedEntry[] = [];
  const add = (name: string, n: FsNode): void => {
    const base = {
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      uname: userName(tree, n.uid),
      gname: groupName(tree, n.gid),
      mtime: n.mtime,
    };
    if (n.kind === 'dir') {
      if (!tree.can(n, 'r', who) || !tree.can(n, 'x', who)) {
        throw fail(`tar: ${name}: Cannot open: ${FS_ERROR_TEXT.EACCES}`);
      }
      entries.push({ header: { ...base, name: name.endsWith('/') ? name : `${name}/`, type: 'directory' } });
      const prefix = name === './' ? './' : `${name.replace(/\/$/, '')}/`;
      for (const child of [...n.children.keys()].sort()) add(`${prefix}${child}`, n.children.get(child)!);
    } else if (n.kind === 'file') {
      if (!tree.can(n, 'r', who)) throw fail(`tar: ${name}: Cannot open: ${FS_ERROR_TEXT.EACCES}`);
      entries.push({ header: { ...base, name, type: 'file', size: n.data.length }, data: n.data });
    } else {
      entries.push({ header: { ...base, name, type: 'symlink', linkname: n.target } });
    }
  };
  if (contents) add('./', node);
  else add(posix.basename(path) || '.', node);
  return entries;
}

/** Packs planned entries into a tar stream. */
export function packTar(entries: PlannedEntry[]): Readable {
  const pack = tar.pack();
  for (const { header, data } of entries) {
    if (data) pack.entry(header, data);
    else pack.entry(header);
  }
  pack.finalize();
  // tar-stream produces a streamx stream; hand callers a genuine Node Readable.
  return Readable.from(pack, { objectMode: false });
}
