/**
 * The fake's side of user resolution: reading /etc/passwd and /etc/group from a container's file
 * tree. The rules themselves (§3.3, §4) are backend-kit's, shared with backend-linux.
 */
import {
  parseGroup,
  parsePasswd,
  type ResolvedUser,
  resolveStreamUser as resolveStreamUserIn,
  resolveUser as resolveUserIn,
} from '@garden-ts/backend-kit';
import type { FileTree } from './file-tree.js';

export type { ResolvedUser };

function readText(tree: FileTree, path: string): string | undefined {
  const node = tree.tryLookup(path);
  return node?.kind === 'file' ? node.data.toString('utf8') : undefined;
}

/**
 * Resolves a process `user` against the container's files (backend-kit's `resolveUser`).
 * @throws GardenError `unable to find user <u>: no matching entries in passwd file`
 */
export function resolveUser(tree: FileTree, user: string | undefined): ResolvedUser {
  return resolveUserIn(user, readText(tree, '/etc/passwd'), readText(tree, '/etc/group'));
}

/**
 * Resolves a streaming user, which must be a **name** (backend-kit's `resolveStreamUser`).
 * @throws GardenError when the name is not in `/etc/passwd`.
 */
export function resolveStreamUser(tree: FileTree, user: string | undefined): ResolvedUser {
  return resolveStreamUserIn(user, readText(tree, '/etc/passwd'), readText(tree, '/etc/group'));
}

/** The name for a uid in tar headers (empty when unknown, like GNU tar's numeric fallback). */
export function userName(tree: FileTree, uid: number): string {
  return parsePasswd(readText(tree, '/etc/passwd')).find((e) => e.uid === uid)?.name ?? '';
}

/** The name for a gid in tar headers (empty when unknown). */
export function groupName(tree: FileTree, gid: number): string {
  return parseGroup(readText(tree, '/etc/group')).find((e) => e.gid === gid)?.name ?? '';
}
