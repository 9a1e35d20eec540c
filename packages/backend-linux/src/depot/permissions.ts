/**
 * Who may reach a container's files on the host (issue 10, item 1). A container writes files
 * the host keeps: its overlay upper dir, and the /etc/hosts and /etc/resolv.conf it may rewrite
 * (bind mounts of run-dir files it owns). Container root can make any of them a setuid binary
 * owned by a container uid, which is the same host uid (Guardian's identity map for uids ≥ 1);
 * a host user who can reach the file can run it as that uid. So:
 *
 * **The rule.** Every directory on the host above files a container can write or read (depot
 * entries, run-dir entries, image stores) is owned by root and grants nothing to "others":
 * `0700`, or `0710` with group = the container's mapped root (4294967294, a gid no host user
 * has) where the container's own root must *traverse* it. Only two things traverse: the child
 * that builds the container resolves the sources of its bind mounts as the container's root
 * (a run dir's hosts/resolv.conf, an `origin: Container` source inside the depot's rootfs), and
 * nothing else (the overlay reaches its lower and upper dirs with the mounter's credentials,
 * the rootfs path is resolved while the child still has host uid 0). A new store (images)
 * follows the same rule: `0700` root, or `guardDir(dir, 'traverse')` if containers must pass
 * through it.
 */
import { chmodSync, chownSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { MAPPED_ROOT } from '../runtime/users.js';

/** Who besides root may pass through a guarded directory. */
export type DirAccess = 'root-only' | 'traverse';

const MODES: Record<DirAccess, number> = { 'root-only': 0o700, traverse: 0o710 };

/**
 * Creates `dir` and gives it the rule's owner and mode: root:root 0700, or root:<mapped root>
 * 0710 for `traverse`. Missing parents are made as `mkdir -p` would (they are not ours to
 * restrict: the container's root may have to pass them). Idempotent; also repairs a directory
 * made by an older version (0711).
 */
export function guardDir(dir: string, access: DirAccess): void {
  mkdirSync(dirname(dir), { recursive: true });
  try {
    mkdirSync(dir, { mode: MODES[access] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const gid = access === 'traverse' ? MAPPED_ROOT : 0;
  const st = statSync(dir);
  if (st.uid !== 0 || st.gid !== gid) chownSync(dir, 0, gid);
  if ((st.mode & 0o7777) !== MODES[access]) chmodSync(dir, MODES[access]);
}

/**
 * Makes `dir`, which must not exist yet (its parent must), with the rule's owner and mode as
 * {@link guardDir} gives them, in three syscalls instead of guardDir's checks (a create makes two
 * such directories). @throws the mkdir's error, e.g. EEXIST.
 */
export function makeGuardedDir(dir: string, access: DirAccess): void {
  mkdirSync(dir, { mode: MODES[access] });
  chownSync(dir, 0, access === 'traverse' ? MAPPED_ROOT : 0);
  // The umask may have taken bits away (and a setgid parent does not add any to the mode).
  chmodSync(dir, MODES[access]);
}
