/** File-system-safe ids of handles and process ids (the depot's directory and cgroup names). */
import { createHash } from 'node:crypto';

const SAFE = /^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/;

/**
 * The directory / cgroup name of a handle or process id: the name itself when short and plain,
 * otherwise `_` followed by a hash (a plain name never starts with `_`, so the two forms cannot
 * collide). Names are checked first (backend-kit's `checkName`).
 */
export function storageId(name: string): string {
  if (SAFE.test(name)) return name;
  return `_${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}
