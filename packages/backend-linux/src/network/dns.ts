import { readFileSync, statSync } from 'node:fs';
import { fileIdentity } from '../files/safe-path.js';

/**
 * A networked container's `/etc/resolv.conf` (linux-backend-reference §8.6) and `/etc/hosts`
 * (§2.3), as pure functions of their inputs.
 */

/** Inputs of {@link resolvConf}. */
export interface ResolvConfInput {
  /** Nameservers a network plugin returned (rule 1). */
  pluginNameservers?: readonly string[];
  /** Search domains a network plugin returned: they replace the host's `search` line. */
  pluginSearchDomains?: readonly string[];
  /** `--dns-server` (rule 2). */
  dnsServers?: readonly string[];
  /** `--additional-dns-server`: after rule 2's servers, or appended to the host's. */
  additionalDnsServers?: readonly string[];
  /** The host's /etc/resolv.conf text (rule 3). */
  hostResolvConf: string;
  /**
   * systemd-resolved's upstream file (`/run/systemd/resolve/resolv.conf`), when it exists: used
   * when the host file would leave no nameserver because its only one is the 127.0.0.53 stub.
   */
  systemdResolvConf?: string;
  /** The container's gateway: the nameserver when the host's only one is a 127.0.0.x resolver. */
  gateway: string;
}

const nameservers = (list: readonly string[]) => list.map((ns) => `nameserver ${ns}\n`).join('');
const isLoopbackNameserver = (line: string) => /^\s*nameserver\s+127\./.test(line);
const isNameserver = (line: string) => /^\s*nameserver\s/.test(line);
const isSearch = (line: string) => /^\s*(search|domain)\s/.test(line);

/**
 * The first rule that applies wins:
 * 1. the plugin's nameservers;
 * 2. `--dns-server`, then `--additional-dns-server`;
 * 3. the host's file: a file that is one `nameserver 127.0.0.x` line becomes `nameserver
 *    <gateway>`; otherwise non-nameserver lines are kept, `nameserver 127.*` dropped, the rest
 *    copied, then `--additional-dns-server` appended. **Beat:** when that leaves no nameserver
 *    and the host runs systemd-resolved (stub 127.0.0.53), its upstream servers are used instead
 *    of Guardian's empty result.
 * Plugin search domains replace the host's `search` line (and are added in rules 1 and 2).
 */
export function resolvConf(i: ResolvConfInput): string {
  const search = i.pluginSearchDomains?.length ? `search ${i.pluginSearchDomains.join(' ')}\n` : '';
  const additional = i.additionalDnsServers ?? [];
  if (i.pluginNameservers?.length) return nameservers(i.pluginNameservers) + search;
  if (i.dnsServers?.length) return nameservers([...i.dnsServers, ...additional]) + search;
  const lines = i.hostResolvConf.split('\n').filter((l) => l.trim() !== '');
  const meaningful = lines.filter((l) => !/^\s*[#;]/.test(l));
  if (meaningful.length === 1 && isLoopbackNameserver(meaningful[0] as string))
    return nameservers([i.gateway, ...additional]) + search;
  let kept = lines.filter((l) => !isLoopbackNameserver(l));
  if (
    !kept.some(isNameserver) &&
    lines.some((l) => /^\s*nameserver\s+127\.0\.0\.53\s*$/.test(l)) &&
    i.systemdResolvConf !== undefined
  ) {
    const upstream = i.systemdResolvConf
      .split('\n')
      .filter((l) => isNameserver(l) && !isLoopbackNameserver(l));
    kept = [...kept, ...upstream.map((l) => l.trim())];
  }
  if (search) kept = kept.filter((l) => !isSearch(l));
  return kept.map((l) => `${l}\n`).join('') + search + nameservers(additional);
}

/**
 * `/etc/hosts`: localhost, then the container's hostname (and its handle when that differs and is
 * a usable name) on the container IP — `127.0.0.1` for a container without a network.
 */
export function hostsFile(hostname: string, containerIp: string, handle?: string): string {
  const names = [hostname];
  if (handle && handle !== hostname && /^[^\s#]+$/.test(handle)) names.push(handle);
  return `127.0.0.1 localhost\n::1 localhost\n${containerIp} ${names.join(' ')}\n`;
}

/** Host files as last read, with the identity they had then (see {@link readHostFile}). */
const hostFiles = new Map<string, { identity: string; text: string }>();

/**
 * A host file's text as it is now, undefined when missing: read again only when a stat says it
 * changed (device, inode, size, mtime, ctime; a symlink's target counts), since every create
 * reads the resolver files.
 */
export function readHostFile(path: string): string | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) {
    hostFiles.delete(path);
    return undefined;
  }
  const identity = fileIdentity(st);
  const known = hostFiles.get(path);
  if (known?.identity === identity) return known.text;
  try {
    const text = readFileSync(path, 'utf8');
    hostFiles.set(path, { identity, text });
    return text;
  } catch {
    return undefined;
  }
}

/** The host's resolver files as they are now: /etc/resolv.conf and systemd-resolved's upstream one. */
export function readHostDns(): Pick<ResolvConfInput, 'hostResolvConf' | 'systemdResolvConf'> {
  const systemd = readHostFile('/run/systemd/resolve/resolv.conf');
  return {
    hostResolvConf: readHostFile('/etc/resolv.conf') ?? '',
    ...(systemd === undefined ? {} : { systemdResolvConf: systemd }),
  };
}
