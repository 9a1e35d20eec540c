/**
 * Users inside a container: the host id of container root, and Garden user strings resolved
 * against the container's own /etc/passwd and /etc/group (backend-kit's rules, §3.3 / §4), read
 * through its root with symlinks resolved inside it.
 */
import { type ResolvedUser, resolveUser } from '@garden-ts/backend-kit';
import { MAX_HOST_ID } from '@garden-ts/native-ns';
import { type CachedRead, readInRoot, readInRootCached } from '../files/safe-path.js';

/** Host uid/gid of container root in an unprivileged container (Guardian's maxuid; native-ns's default map). */
export const MAPPED_ROOT = MAX_HOST_ID;

/** Resolves a process user string against the container mounted at `rootfs`. */
export function userInRoot(rootfs: string, user: string | undefined): ResolvedUser {
  return resolveUser(user, readInRoot(rootfs, '/etc/passwd'), readInRoot(rootfs, '/etc/group'));
}

/**
 * A container's /etc/passwd and /etc/group as last read: {@link UserFiles.resolve} reads them
 * again only when they changed (every Run resolves its user: ten syscalls fewer per Run).
 */
export class UserFiles {
  private passwd: CachedRead | undefined;
  private group: CachedRead | undefined;

  constructor(private readonly rootfs: string) {}

  /** As {@link userInRoot}. */
  resolve(user: string | undefined): ResolvedUser {
    this.passwd = readInRootCached(this.rootfs, '/etc/passwd', this.passwd);
    this.group = readInRootCached(this.rootfs, '/etc/group', this.group);
    return resolveUser(user, this.passwd.text, this.group.text);
  }
}
