/**
 * Container networking primitives (native/netlink.cc, native/nft.cc): a container's bridge and
 * veth pair made with rtnetlink in one call, link/address/route dumps with counters, tc bandwidth
 * shaping, per-namespace sysctls, and nftables transactions through libnftables. Every call runs
 * on the thread pool; each names the network namespace it works in (a file such as
 * `/run/netns/x` or `/proc/<pid>/ns/net`; default: this process's own), so a test or a server can
 * treat any namespace as "the host". Policy (names, addresses, rules) is the caller's.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { isAbsolute } from 'node:path';
import { NativeArgumentError, NativeError } from './errors.js';
import { loadBinding } from './native.js';

/** Exactly what the addon's network functions take and return (native/net_addon.cc). */
interface RawNetBinding {
  netSetupContainer(o: {
    hostNetns: string;
    containerPidfd: number;
    bridge: string;
    bridgeIndex: number;
    gateway: string;
    prefixLength: number;
    bridgeMac: Buffer;
    routeLocalnet: boolean;
    hostVeth: string;
    containerVeth: string;
    address: string;
    mtu: number;
    txQueueLength: number;
  }): Promise<{ bridgeIndex: number; bridgeCreated: boolean; containerIndex: number }>;
  netEnsureBridge(o: {
    hostNetns: string;
    bridge: string;
    gateway: string;
    prefixLength: number;
    bridgeMac: Buffer;
    routeLocalnet: boolean;
    mtu: number;
  }): Promise<{ index: number; created: boolean }>;
  netDeleteLinks(netns: string, names: string[]): Promise<void>;
  netListLinks(netns: string): Promise<LinkInfo[]>;
  netListAddrs(netns: string): Promise<AddressInfo[]>;
  netListRoutes(netns: string): Promise<RouteInfo[]>;
  netSetBandwidth(o: {
    netns: string;
    hostVeth: string;
    ifb: string;
    rate: bigint;
    burst: number;
    mtu: number;
  }): Promise<void>;
  netWriteSysctl(netns: string, key: string, value: string): Promise<void>;
  netReadSysctl(netns: string, key: string): Promise<string>;
  nftRun(netns: string, script: string, json: boolean): Promise<string>;
  nftRelease(netns: string): Promise<void>;
}

/** A network interface as rtnetlink reports it. */
export interface LinkInfo {
  index: number;
  name: string;
  /** `bridge`, `veth`, `ifb`, … ("" for plain devices such as `lo`). */
  kind: string;
  /** Index of the bridge it is enslaved to (0: none). */
  master: number;
  mtu: number;
  up: boolean;
  rxBytes: bigint;
  txBytes: bigint;
  rxPackets: bigint;
  txPackets: bigint;
  rxDropped: bigint;
  txDropped: bigint;
}

/** An IPv4 address of a link. */
export interface AddressInfo {
  index: number;
  address: string;
  prefixLength: number;
}

/** An IPv4 unicast route of the main table. */
export interface RouteInfo {
  destination: string;
  prefixLength: number;
  gateway: string | null;
  /** The preferred source address (`src`), when the route has one. */
  source: string | null;
  /** Output interface index. */
  oif: number;
}

/** Where an operation works: a network namespace file, or this process's own namespace. */
export interface NetnsOption {
  /** e.g. `/run/netns/x`, `/proc/<pid>/ns/net`; absent: the namespace this process runs in. */
  netns?: string;
}

/** An nftables transaction was refused; nothing of it was applied. */
export class NftError extends NativeError {
  /** nft's own explanation (with the offending line), as the `nft` command prints it. */
  readonly nftMessage: string;
  constructor(nftMessage: string, errno = 22) {
    super('nft', errno, 'nft', `nft: ${nftMessage.trim() || 'transaction refused'}`);
    this.nftMessage = nftMessage;
  }
}

function raw(): RawNetBinding {
  return loadBinding() as unknown as RawNetBinding;
}

function netnsPath(field: string, p: string | undefined): string {
  if (p === undefined) return '';
  if (typeof p !== 'string' || !isAbsolute(p) || p.includes('\0'))
    throw new NativeArgumentError(field, 'must be an absolute path of a network namespace file');
  return p;
}

/** A valid interface name: 1–15 bytes, no '/', ':', whitespace or NUL, not '.' or '..'. */
export function checkInterfaceName(field: string, name: unknown): string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    Buffer.byteLength(name) > 15 ||
    /[/:\s\0]/.test(name)
  ) {
    throw new NativeArgumentError(
      field,
      `must be an interface name of 1-15 bytes without '/', ':' or whitespace, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

function ipv4(field: string, v: unknown): string {
  if (typeof v !== 'string' || !isIPv4(v))
    throw new NativeArgumentError(field, `must be an IPv4 address, got ${String(v)}`);
  return v;
}

function int(field: string, v: unknown, min: number, max: number): number {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
    throw new NativeArgumentError(field, `must be an integer in ${min}-${max}, got ${String(v)}`);
  return v as number;
}

async function call<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw NativeError.from(e);
  }
}

/** A random locally administered unicast MAC (as Guardian gives its bridges). */
export function randomMac(): Buffer {
  const mac = randomBytes(6);
  mac[0] = ((mac[0] as number) & 0xfe) | 0x02;
  return mac;
}

/** Options of {@link createContainerLink}. */
export interface ContainerLinkOptions {
  /** Namespace of the bridge and the host end (default: this process's own). */
  hostNetns?: string;
  /**
   * The container's network namespace: its init's pidfd (kept open by the caller until settled),
   * or a namespace file such as `/run/netns/x`.
   */
  container: { pidfd: number } | { netns: string };
  /** The subnet's bridge: created when missing (gateway address, up, multicast snooping off). */
  bridge: string;
  /** The bridge's index from {@link ensureBridge}: the bridge is ready, nothing to check. */
  bridgeIndex?: number;
  /** MAC of a bridge this call creates (default: random, locally administered). */
  bridgeMac?: Buffer;
  /** Gateway address, on the bridge. */
  gateway: string;
  /** The container's address. */
  address: string;
  /** Subnet prefix length of gateway and address (e.g. 30). */
  prefixLength: number;
  /** Host end of the pair (enslaved to the bridge, up). */
  hostVeth: string;
  /** Container end, created inside the container's namespace (default `eth0`). */
  containerVeth?: string;
  /** MTU of the bridge and both ends (default 1500). */
  mtu?: number;
  /** The host end's txqueuelen (default: the kernel's). */
  txQueueLength?: number;
  /** route_localnet on the bridge so a DNAT of 127.0.0.1 can reach the container (default true). */
  routeLocalnet?: boolean;
}

/**
 * Gives a container its network in one native call: the subnet's bridge (created if missing), a
 * veth pair whose container end is created directly inside the container's namespace (no move),
 * both ends up with the MTU, the host end enslaved, the container end addressed with a default
 * route via the gateway. On failure nothing this call created is left.
 * @throws NativeArgumentError for a bad name/address; NativeError (stage `network`, `syscall`
 * naming the step, `detail` the kernel's explanation), e.g. `EEXIST` for a taken veth name.
 */
export async function createContainerLink(o: ContainerLinkOptions): Promise<{ bridgeCreated: boolean }> {
  const target = o.container as { pidfd?: number; netns?: string } | undefined;
  const nsFile = target?.netns === undefined ? undefined : netnsPath('container.netns', target.netns);
  const args = {
    ...containerLinkArgs(o),
    containerPidfd: nsFile === undefined ? int('container.pidfd', target?.pidfd, 0, 0x7fffffff) : -1,
  };
  let fd: number | undefined;
  try {
    if (nsFile !== undefined) {
      try {
        fd = openSync(nsFile, 'r');
      } catch (e) {
        throw new NativeError('network', -(e as { errno: number }).errno, `open ${nsFile}`);
      }
      args.containerPidfd = fd;
    }
    const r = await call(() => raw().netSetupContainer(args));
    return { bridgeCreated: r.bridgeCreated };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A container's link without the container: `createContainer`'s `network` option. */
export type ContainerNetworkOptions = Omit<ContainerLinkOptions, 'container'>;

/**
 * The checked native arguments of a link ({@link createContainerLink}, `createContainer`'s
 * `network`), all but the container's namespace.
 * @throws NativeArgumentError naming the bad field.
 */
export function containerLinkArgs(o: ContainerNetworkOptions) {
  return {
    ...bridgeArgs(o),
    bridgeIndex: int('bridgeIndex', o.bridgeIndex ?? 0, 0, 0x7fffffff),
    hostVeth: checkInterfaceName('hostVeth', o.hostVeth),
    containerVeth: checkInterfaceName('containerVeth', o.containerVeth ?? 'eth0'),
    address: ipv4('address', o.address),
    txQueueLength: int('txQueueLength', o.txQueueLength ?? 0, 0, 0xffffffff),
  };
}

/** Options of {@link ensureBridge}: the bridge half of {@link ContainerLinkOptions}. */
export type BridgeOptions = Pick<
  ContainerLinkOptions,
  'hostNetns' | 'bridge' | 'bridgeMac' | 'gateway' | 'prefixLength' | 'mtu' | 'routeLocalnet'
>;

function bridgeArgs(o: BridgeOptions) {
  const mac = o.bridgeMac ?? randomMac();
  if (!Buffer.isBuffer(mac) || mac.length !== 6)
    throw new NativeArgumentError('bridgeMac', 'must be 6 bytes');
  return {
    hostNetns: netnsPath('hostNetns', o.hostNetns),
    bridge: checkInterfaceName('bridge', o.bridge),
    gateway: ipv4('gateway', o.gateway),
    prefixLength: int('prefixLength', o.prefixLength, 1, 32),
    bridgeMac: mac,
    routeLocalnet: o.routeLocalnet !== false,
    mtu: int('mtu', o.mtu ?? 1500, 68, 65535),
  };
}

/**
 * Makes a subnet's bridge ready ahead of its containers (it can run while a container is still
 * being cloned): created with the gateway address, up, multicast snooping off, route_localnet;
 * an existing bridge of that name is checked and configured instead. Resolves with its index
 * (pass it as `bridgeIndex` to {@link createContainerLink}).
 * @throws NativeError `EEXIST` when a link of that name exists and is not a bridge.
 */
export async function ensureBridge(o: BridgeOptions): Promise<{ index: number; created: boolean }> {
  const args = bridgeArgs(o);
  return call(() => raw().netEnsureBridge(args));
}

/** Deletes links by name (a veth takes its peer along); missing ones are skipped. */
export async function deleteLinks(names: string[], o: NetnsOption = {}): Promise<void> {
  const ns = netnsPath('netns', o.netns);
  const checked = names.map((n, i) => checkInterfaceName(`names[${i}]`, n));
  if (checked.length === 0) return;
  await call(() => raw().netDeleteLinks(ns, checked));
}

/** Every link of the namespace, with its kind, master, MTU and 64-bit counters. */
export async function listLinks(o: NetnsOption = {}): Promise<LinkInfo[]> {
  const ns = netnsPath('netns', o.netns);
  return call(() => raw().netListLinks(ns));
}

/** Every IPv4 address of the namespace. */
export async function listAddresses(o: NetnsOption = {}): Promise<AddressInfo[]> {
  const ns = netnsPath('netns', o.netns);
  return call(() => raw().netListAddrs(ns));
}

/** The IPv4 unicast routes of the namespace's main table. */
export async function listRoutes(o: NetnsOption = {}): Promise<RouteInfo[]> {
  const ns = netnsPath('netns', o.netns);
  return call(() => raw().netListRoutes(ns));
}

/** Options of {@link setBandwidth}. */
export interface BandwidthOptions extends NetnsOption {
  /** The container's host-side veth. */
  hostVeth: string;
  /** The ifb device shaping what the container sends (created when needed, deleted with rate 0). */
  ifb: string;
  /** Bytes per second; 0 removes every limit (and the ifb). */
  rate: bigint;
  /** Token bucket size in bytes (at least one frame: MTU + 14). */
  burst: number;
  /** MTU of the ifb (default 1500). */
  mtu?: number;
}

/**
 * Limits a container's traffic in both directions to `rate` bytes/s with a `burst`-byte bucket: a
 * tbf on the host end shapes what the container receives; what it sends is redirected (u32 +
 * mirred) to an ifb whose tbf shapes it. Replaces earlier limits; rate 0 removes them.
 */
export async function setBandwidth(o: BandwidthOptions): Promise<void> {
  const mtu = int('mtu', o.mtu ?? 1500, 68, 65535);
  if (typeof o.rate !== 'bigint' || o.rate < 0n || o.rate >= 1n << 64n)
    throw new NativeArgumentError('rate', 'must be a bigint in 0..2^64-1');
  const args = {
    netns: netnsPath('netns', o.netns),
    hostVeth: checkInterfaceName('hostVeth', o.hostVeth),
    ifb: checkInterfaceName('ifb', o.ifb),
    rate: o.rate,
    burst: o.rate === 0n ? 0 : int('burst', o.burst, mtu + 14, 0xffffffff),
    mtu,
  };
  await call(() => raw().netSetBandwidth(args));
}

function sysctlKey(key: unknown): string {
  if (typeof key !== 'string' || !/^net\/[A-Za-z0-9_./-]+$/.test(key) || key.includes('..'))
    throw new NativeArgumentError('key', `must be a path below /proc/sys/net, got ${JSON.stringify(key)}`);
  return key;
}

/** Reads a network sysctl as seen from the namespace (its text, trimmed). */
export async function readNetSysctl(key: string, o: NetnsOption = {}): Promise<string> {
  const k = sysctlKey(key);
  const ns = netnsPath('netns', o.netns);
  return (await call(() => raw().netReadSysctl(ns, k))).trim();
}

/** Writes a network sysctl (`net/ipv4/ip_forward`, …) as seen from the namespace. */
export async function writeNetSysctl(key: string, value: string, o: NetnsOption = {}): Promise<void> {
  sysctlKey(key);
  if (typeof value !== 'string' || value.includes('\0'))
    throw new NativeArgumentError('value', 'must be a string');
  const ns = netnsPath('netns', o.netns);
  await call(() => raw().netWriteSysctl(ns, key, value));
}

/**
 * Runs an nft script (`nft -f` syntax) as **one transaction** in the namespace: all of it applies
 * or none. Resolves with nft's output (listings; JSON with `json: true`). The namespace's
 * nftables connection stays open for the next call (closing one right after a commit stalls the
 * namespace's device creation for an RCU grace period) until it has been idle for 5 s or
 * {@link releaseNft}; while open it keeps the namespace alive.
 * @throws NftError with nft's message when the kernel or the parser refuses it.
 */
export async function nft(script: string, o: NetnsOption & { json?: boolean } = {}): Promise<string> {
  if (typeof script !== 'string' || script.includes('\0'))
    throw new NativeArgumentError('script', 'must be a string');
  const ns = netnsPath('netns', o.netns);
  try {
    return await raw().nftRun(ns, script, o.json === true);
  } catch (e) {
    const m = (e as { nftMessage?: unknown }).nftMessage;
    if (typeof m === 'string') throw new NftError(m, (e as { errno?: number }).errno ?? 22);
    throw NativeError.from(e);
  }
}

/** Closes the nftables connection {@link nft} keeps open for the namespace (if any). */
export async function releaseNft(o: NetnsOption = {}): Promise<void> {
  const ns = netnsPath('netns', o.netns);
  await call(() => raw().nftRelease(ns));
}
