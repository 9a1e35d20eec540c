/**
 * The container's `/etc/hosts` and `/etc/resolv.conf` (linux-backend-reference §2.3, §8.6): files
 * in the container's run dir, bind-mounted read-write over the image's, mode 0644, owned by
 * container root (the mapped root when unprivileged), so root can rewrite them in place and
 * nobody can `mv` over them.
 */
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAPPED_ROOT } from '../runtime/users.js';

/** `/etc/hosts` (no container IP yet: the hostname resolves to loopback). */
export function hostsFile(hostname: string): string {
  return `127.0.0.1 localhost\n::1 localhost\n127.0.0.1 ${hostname}\n`;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * `/etc/resolv.conf` from the host's (§8.6 rule 3): loopback nameservers cannot be reached from
 * the container's network namespace and are dropped; behind systemd-resolved's stub
 * (127.0.0.53) the upstream file is used instead (the reference's "beat").
 */
export function resolvConf(hostText?: string): string {
  let text = hostText;
  if (text === undefined) {
    text = readOr('/etc/resolv.conf');
    if (/^nameserver 127\.0\.0\.53$/m.test(text) && existsSync('/run/systemd/resolve/resolv.conf')) {
      text = readOr('/run/systemd/resolve/resolv.conf');
    }
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s*nameserver\s+127\./.test(l))
    .map((l) => `${l}\n`)
    .join('');
}

/** Writes the container's copies of hosts and resolv.conf into `dir`; returns their paths. */
export function writeEtcFiles(
  dir: string,
  hostname: string,
  privileged: boolean,
): { hosts: string; resolv: string } {
  const hosts = join(dir, 'hosts');
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(hosts, hostsFile(hostname), { mode: 0o644 });
  writeFileSync(resolv, resolvConf(), { mode: 0o644 });
  if (!privileged) {
    chownSync(hosts, MAPPED_ROOT, MAPPED_ROOT);
    chownSync(resolv, MAPPED_ROOT, MAPPED_ROOT);
  }
  return { hosts, resolv };
}
