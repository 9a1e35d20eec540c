/**
 * Garden's `user` strings resolved against a container's /etc/passwd and /etc/group
 * (linux-backend-reference §3.3 for processes, §4 for StreamIn/StreamOut). Pure: callers read the
 * two files (through the container's root) and pass their text, `undefined` when a file is missing.
 */
import { GardenError } from '@garden-ts/api-types';

/** A resolved user. */
export interface ResolvedUser {
  /** The passwd name, or the user string when there is no entry (`root` for the default user). */
  name: string;
  uid: number;
  gid: number;
  /** Supplementary groups: the primary group plus every group listing the user (none for an explicit group or an unknown uid). */
  groups: number[];
  /** The passwd home, `/` without an entry. */
  home: string;
  /** True when the user came from a passwd entry. */
  known: boolean;
}

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One /etc/group line. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Largest uid/gid Garden accepts (§3.3). */
export const MAX_ID = 2147483647;

function parseId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (n > MAX_ID) throw new GardenError(`uids and gids must be in range 0-${MAX_ID}`);
  return n;
}

/** Parses passwd text, skipping comments and malformed lines. */
export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2] ?? '') || !/^\d+$/.test(f[3] ?? '')) continue;
    out.push({ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' });
  }
  return out;
}

/** Parses group text, skipping comments and malformed lines. */
export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2] ?? '')) continue;
    out.push({ name: f[0] ?? '', gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

function unknownUser(name: string): GardenError {
  return new GardenError(`unable to find user ${name}: no matching entries in passwd file`);
}

/** Container root when the image has no passwd entry for it. */
function plainRoot(): ResolvedUser {
  return { name: 'root', uid: 0, gid: 0, groups: [], home: '/', known: false };
}

function fromEntry(entry: PasswdEntry, groups: GroupEntry[]): ResolvedUser {
  // Every group listing the user's name, plus the primary group (as runc/libcontainer does).
  const supplementary = [
    ...new Set([entry.gid, ...groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid)]),
  ];
  return { ...entry, groups: supplementary, known: true };
}

/**
 * Resolves a process's `user` (§3.3): `''` (the passwd entry of uid 0, else 0:0), `name`, `uid`
 * (a passwd name first, then a uid; an unknown uid gets gid 0, home `/` and no supplementary
 * groups), each optionally followed by `:group` (a group name first, then a gid; then no
 * supplementary groups). `root` also resolves in an image without /etc/passwd.
 * @throws GardenError `unable to find user <u>: no matching entries in passwd file`, `unable to
 *   find group <g>: no matching entries in group file`, `uids and gids must be in range 0-2147483647`.
 */
export function resolveUser(
  spec: string | undefined,
  passwdText: string | undefined,
  groupText: string | undefined,
): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const [userPart = '', groupPart = ''] = (spec ?? '').split(/:(.*)/s, 2) as [string, string?];
  let user: ResolvedUser;
  if (userPart === '') {
    const entry = passwd.find((p) => p.uid === 0);
    user = entry ? fromEntry(entry, groups) : plainRoot();
  } else {
    const byName = passwd.find((p) => p.name === userPart);
    const uid = byName ? undefined : parseId(userPart);
    const entry = byName ?? (uid === undefined ? undefined : passwd.find((p) => p.uid === uid));
    if (entry) user = fromEntry(entry, groups);
    else if (uid !== undefined) user = { name: userPart, uid, gid: 0, groups: [], home: '/', known: false };
    else if (userPart === 'root' && passwdText === undefined) user = plainRoot();
    else throw unknownUser(userPart);
  }
  if (groupPart !== '') {
    const byName = groups.find((g) => g.name === groupPart);
    const gid = byName?.gid ?? parseId(groupPart);
    if (gid === undefined)
      throw new GardenError(`unable to find group ${groupPart}: no matching entries in group file`);
    user = { ...user, gid, groups: [] };
  }
  return user;
}

/**
 * Resolves a StreamIn/StreamOut user (§4): a passwd **name**, `root` when empty (also without a
 * passwd entry for it).
 * @throws GardenError `unable to find user <u>: no matching entries in passwd file`.
 */
export function resolveStreamUser(
  user: string | undefined,
  passwdText: string | undefined,
  groupText: string | undefined,
): ResolvedUser {
  const name = user || 'root';
  const entry = parsePasswd(passwdText).find((p) => p.name === name);
  if (entry) return fromEntry(entry, parseGroup(groupText));
  if (name === 'root') return plainRoot();
  throw unknownUser(name);
}
