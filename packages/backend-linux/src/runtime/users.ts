/** User resolution against the container's /etc/passwd and /etc/group (reference §3.3). */
import { GardenError } from '@garden-ts/api-types';

/** A resolved process user. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
  /** True when the user came from a passwd entry. */
  known: boolean;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2147483647;

function parseId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (n > MAX_ID) throw new GardenError('uids and gids must be in range 0-2147483647');
  return n;
}

/** Parses passwd text, skipping malformed lines. */
export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2] ?? '') || !/^\d+$/.test(f[3] ?? '')) continue;
    out.push({ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' });
  }
  return out;
}

/** Parses group text, skipping malformed lines. */
export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2] ?? '')) continue;
    out.push({ name: f[0] ?? '', gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

/**
 * Resolves a Garden `user` string (`''`, `name`, `uid`, `name:group`, `uid:gid`).
 * @throws GardenError `unable to find user <u>: no matching entries in passwd file` (or group).
 */
export function resolveUser(
  spec: string,
  passwdText: string | undefined,
  groupText: string | undefined,
): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const [userPart = '', groupPart] = spec.split(/:(.*)/s, 2) as [string, string | undefined];
  let entry: PasswdEntry | undefined;
  let uid: number;
  let gid: number;
  if (userPart === '') {
    entry = passwd.find((p) => p.uid === 0);
    uid = 0;
    gid = entry?.gid ?? 0;
  } else {
    const numeric = parseId(userPart);
    entry =
      numeric === undefined ? passwd.find((p) => p.name === userPart) : passwd.find((p) => p.uid === numeric);
    if (!entry && numeric === undefined) {
      if (userPart === 'root' && passwdText === undefined) {
        uid = 0;
        gid = 0;
      } else {
        throw new GardenError(`unable to find user ${userPart}: no matching entries in passwd file`);
      }
    } else {
      uid = entry ? entry.uid : (numeric as number);
      gid = entry ? entry.gid : 0;
    }
  }
  let supplementary: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    const numericGroup = parseId(groupPart);
    if (numericGroup !== undefined) {
      gid = numericGroup;
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new GardenError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (entry) {
    // Every group listing the user's name, plus the primary group (as runc/libcontainer does).
    const name = entry.name;
    supplementary = [...new Set([gid, ...groups.filter((g) => g.members.includes(name)).map((g) => g.gid)])];
  }
  return { uid, gid, groups: supplementary, home: entry?.home || '/', known: entry !== undefined };
}
