import { GardenError } from '@garden-ts/api-types';
import type { FileTree } from './file-tree.js';

/** A resolved process or streaming user. */
export interface ResolvedUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const MAX_ID = 2 ** 31 - 1;

function readLines(tree: FileTree, path: string): string[][] {
  const node = tree.tryLookup(path);
  if (node?.kind !== 'file') return [];
  return node.data
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

function passwd(tree: FileTree): PasswdEntry[] {
  return readLines(tree, '/etc/passwd').flatMap(([name, , uid, gid, , home]) =>
    name !== undefined && uid !== undefined && gid !== undefined
      ? [{ name, uid: Number(uid), gid: Number(gid), home: home || '/' }]
      : [],
  );
}

function groupId(tree: FileTree, group: string): number {
  const entry = readLines(tree, '/etc/group').find(([name]) => name === group);
  if (entry?.[2] !== undefined) return Number(entry[2]);
  if (/^\d+$/.test(group)) return checkId(Number(group));
  throw new GardenError(`unable to find group ${group}: no matching entries in group file`);
}

function checkId(id: number): number {
  if (!Number.isSafeInteger(id) || id < 0 || id > MAX_ID) {
    throw new GardenError(`uids and gids must be in range 0-${MAX_ID}`);
  }
  return id;
}

/**
 * Resolves a Garden `user` string against the container's `/etc/passwd` and `/etc/group`
 * (linux-backend-reference §3.3): empty = uid 0; `name` or `N`; `name:group` / `N:M`.
 * @throws GardenError `unable to find user <u>: no matching entries in passwd file`
 */
export function resolveUser(tree: FileTree, user: string | undefined): ResolvedUser {
  const entries = passwd(tree);
  const spec = user ?? '';
  if (spec === '') {
    const root = entries.find((e) => e.uid === 0);
    return root ? { ...root } : { name: 'root', uid: 0, gid: 0, home: '/' };
  }
  const [userPart = '', groupPart] = spec.split(':', 2);
  let resolved: ResolvedUser;
  const byName = entries.find((e) => e.name === userPart);
  if (byName) resolved = { ...byName };
  else if (/^\d+$/.test(userPart)) {
    const uid = checkId(Number(userPart));
    const byId = entries.find((e) => e.uid === uid);
    resolved = byId ? { ...byId } : { name: userPart, uid, gid: 0, home: '/' };
  } else if (userPart === 'root') resolved = { name: 'root', uid: 0, gid: 0, home: '/' };
  else throw new GardenError(`unable to find user ${userPart}: no matching entries in passwd file`);
  if (groupPart !== undefined) resolved.gid = groupId(tree, groupPart);
  return resolved;
}

/**
 * Resolves a streaming user, which must be a **name** (linux-backend-reference §4); empty = root.
 * @throws GardenError when the name is not in `/etc/passwd`.
 */
export function resolveStreamUser(tree: FileTree, user: string | undefined): ResolvedUser {
  const name = user === undefined || user === '' ? 'root' : user;
  const entry = passwd(tree).find((e) => e.name === name);
  if (entry) return { ...entry };
  if (name === 'root') return { name: 'root', uid: 0, gid: 0, home: '/' };
  throw new GardenError(`unable to find user ${name}: no matching entries in passwd file`);
}

/** The name for a uid/gid in tar headers (empty when unknown, like GNU tar's numeric fallback). */
export function userName(tree: FileTree, uid: number): string {
  return passwd(tree).find((e) => e.uid === uid)?.name ?? '';
}

export function groupName(tree: FileTree, gid: number): string {
  return readLines(tree, '/etc/group').find(([, , id]) => id !== undefined && Number(id) === gid)?.[0] ?? '';
}
