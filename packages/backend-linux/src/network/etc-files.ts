/**
 * The container's `/etc/hosts` and `/etc/resolv.conf` (linux-backend-reference §2.3, §8.6; their
 * content comes from dns.ts): files in the container's run dir, bind-mounted read-write over the
 * image's, mode 0644, owned by container root (the mapped root when unprivileged), so root can
 * rewrite them in place and nobody can `mv` over them.
 */
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAPPED_ROOT } from '../runtime/users.js';

/** Writes the container's copies of hosts and resolv.conf into `dir`; returns their paths. */
export function writeEtcFiles(
  dir: string,
  content: { hosts: string; resolv: string },
  privileged: boolean,
): { hosts: string; resolv: string } {
  const hosts = join(dir, 'hosts');
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(hosts, content.hosts, { mode: 0o644 });
  writeFileSync(resolv, content.resolv, { mode: 0o644 });
  if (!privileged) {
    chownSync(hosts, MAPPED_ROOT, MAPPED_ROOT);
    chownSync(resolv, MAPPED_ROOT, MAPPED_ROOT);
  }
  return { hosts, resolv };
}

/**
 * Replaces a file's content keeping its inode (open with truncation, never a rename), so the
 * container's bind mount of it sees the new text: resolv.conf once a network plugin named DNS
 * servers after the container started.
 */
export function rewriteInPlace(path: string, text: string): void {
  // 'w' is open(O_TRUNC): the same inode, new content.
  writeFileSync(path, text, { flag: 'w' });
}
