/**
 * Users inside a container: the host id of container root, and Garden user strings resolved
 * against the container's own /etc/passwd and /etc/group (backend-kit's rules, §3.3 / §4), read
 * through its root with symlinks resolved inside it.
 */
import { type ResolvedUser, resolveUser } from '@garden-ts/backend-kit';
import { MAX_HOST_ID } from '@garden-ts/native-ns';
import { readInRoot } from '../files/safe-path.js';

/** Host uid/gid of container root in an unprivileged container (Guardian's maxuid; native-ns's default map). */
export const MAPPED_ROOT = MAX_HOST_ID;

/** Resolves a process user string against the container mounted at `rootfs`. */
export function userInRoot(rootfs: string, user: string | undefined): ResolvedUser {
  return resolveUser(user, readInRoot(rootfs, '/etc/passwd'), readInRoot(rootfs, '/etc/group'));
}
