/**
 * Container addressing exactly as Guardian's (linux-backend-reference §8.1): a dynamic pool carved
 * into /30s (lowest free first; +1 gateway, +2 container), static subnets and static IPs from
 * `ContainerSpec.network`, shared static subnets, every error text of §8.1. Synchronous, so an
 * acquire is atomic in Node; rebuilt from the persisted records at startup (`restore`).
 */
import { GardenError } from '@garden-ts/api-types';
import {
  broadcastOf,
  contains,
  formatIpv4,
  formatNet,
  type Ipv4Net,
  overlaps,
  parseCidr,
  sizeOf,
} from './ipv4.js';

/** One container's address in its subnet. */
export interface Allocation {
  /** `a.b.c.d/n`, the network address form. */
  subnet: string;
  /** The container's IP. */
  ip: string;
  /** The subnet's gateway (network + 1), on the bridge: Info.hostIp. */
  gateway: string;
  prefixLength: number;
  /** The subnet's network address as a number (device names derive from it). */
  network: number;
}

/** Dynamic subnets are /30s. */
const DYNAMIC_PREFIX = 30;

function allocation(net: Ipv4Net, ip: number): Allocation {
  return {
    subnet: formatNet(net),
    ip: formatIpv4(ip),
    gateway: formatIpv4((net.addr + 1) >>> 0),
    prefixLength: net.prefix,
    network: net.addr,
  };
}

/** What a `network` spec asks for (Guardian's selectors). */
export interface NetworkRequest {
  /** Absent: the next free /30 of the dynamic pool. */
  subnet?: Ipv4Net;
  /** Absent: the first free address of the subnet. */
  ip?: number;
}

/**
 * Parses `ContainerSpec.network`: empty → dynamic; `a.b.c.d/n` with the network address → that
 * subnet, any free IP; with a host address → that subnet and that IP; a bare address gets /30.
 * @throws GardenError `invalid CIDR address: …` (Go's text, with the /30 suffix for bare IPs).
 */
export function parseNetworkSpec(spec: string | undefined): NetworkRequest {
  if (!spec) return {};
  const { ip, net } = parseCidr(spec.includes('/') ? spec : `${spec}/${DYNAMIC_PREFIX}`);
  if (net.prefix > DYNAMIC_PREFIX)
    throw new GardenError(
      `the requested subnet (${formatNet(net)}) is too small: a container subnet needs a network, a gateway, a container and a broadcast address (at most /30)`,
    );
  return ip === net.addr ? { subnet: net } : { subnet: net, ip };
}

export class SubnetPool {
  readonly dynamic: Ipv4Net;
  /** Allocated subnets (network-address form) → their containers' IPs. */
  private readonly allocated = new Map<string, { net: Ipv4Net; ips: Set<number> }>();

  /** @throws GardenError for a pool that is not an IPv4 CIDR of at least one /30. */
  constructor(pool = '10.254.0.0/22') {
    const { net } = parseCidr(pool);
    if (net.prefix > DYNAMIC_PREFIX) throw new GardenError(`network pool ${pool} is smaller than one /30`);
    this.dynamic = net;
  }

  /** How many dynamic /30s the pool holds (Capacity.MaxContainers). */
  get capacity(): number {
    return sizeOf(this.dynamic.prefix) / sizeOf(DYNAMIC_PREFIX);
  }

  /** Subnets in use, network-address form. */
  subnets(): string[] {
    return [...this.allocated.keys()];
  }

  /**
   * Allocates an address for `spec` (see {@link parseNetworkSpec}).
   * @throws GardenError with Guardian's texts: `the requested subnet (<s>) overlaps the dynamic
   *   allocation range (<pool>)`, `… overlaps an existing subnet (<e>)`, `a container IP must not
   *   equal the gateway IP`, `… the broadcast IP`, `the requested IP is not within the subnet`,
   *   `the requested IP is already allocated`, `insufficient subnets remaining in the pool`,
   *   `insufficient IPs remaining in the pool`, `invalid CIDR address: …`.
   */
  acquire(spec: string | undefined): Allocation {
    const req = parseNetworkSpec(spec);
    const net = req.subnet ? this.checkStatic(req.subnet) : this.nextDynamic();
    const entry = this.allocated.get(formatNet(net));
    const taken = entry?.ips ?? new Set<number>();
    const ip = req.ip === undefined ? this.firstFree(net, taken) : this.checkIp(net, req.ip, taken);
    this.add(net, ip);
    return allocation(net, ip);
  }

  /**
   * Records an allocation read back from a container record (startup).
   * @throws GardenError when it is malformed or its IP is already taken (a double allocation).
   */
  restore(subnet: string, ip: string): Allocation {
    const { net } = parseCidr(subnet);
    const { ip: addr } = parseCidr(`${ip}/32`);
    if (!contains(net, addr)) throw new GardenError(`the requested IP is not within the subnet`);
    if (this.allocated.get(formatNet(net))?.ips.has(addr))
      throw new GardenError(`the requested IP is already allocated`);
    for (const e of this.allocated.values())
      if (overlaps(e.net, net) && formatNet(e.net) !== formatNet(net))
        throw new GardenError(
          `the requested subnet (${formatNet(net)}) overlaps an existing subnet (${formatNet(e.net)})`,
        );
    this.add(net, addr);
    return allocation(net, addr);
  }

  /** Returns an address; true when it was its subnet's last (the subnet and its bridge go). */
  release(a: { subnet: string; ip: string }): boolean {
    const entry = this.allocated.get(a.subnet);
    if (!entry) return false;
    const { ip } = parseCidr(`${a.ip}/32`);
    if (!entry.ips.delete(ip)) return false;
    if (entry.ips.size > 0) return false;
    this.allocated.delete(a.subnet);
    return true;
  }

  private add(net: Ipv4Net, ip: number): void {
    const key = formatNet(net);
    let entry = this.allocated.get(key);
    if (!entry) {
      entry = { net, ips: new Set() };
      this.allocated.set(key, entry);
    }
    entry.ips.add(ip);
  }

  private checkStatic(net: Ipv4Net): Ipv4Net {
    if (overlaps(this.dynamic, net))
      throw new GardenError(
        `the requested subnet (${formatNet(net)}) overlaps the dynamic allocation range (${formatNet(this.dynamic)})`,
      );
    for (const e of this.allocated.values()) {
      if (overlaps(e.net, net) && e.net.prefix !== net.prefix)
        throw new GardenError(
          `the requested subnet (${formatNet(net)}) overlaps an existing subnet (${formatNet(e.net)})`,
        );
    }
    return net;
  }

  /** The lowest /30 of the pool overlapping no allocated subnet. */
  private nextDynamic(): Ipv4Net {
    const step = sizeOf(DYNAMIC_PREFIX);
    const end = this.dynamic.addr + sizeOf(this.dynamic.prefix);
    for (let addr = this.dynamic.addr; addr < end; addr += step) {
      const candidate = { addr: addr >>> 0, prefix: DYNAMIC_PREFIX };
      if (this.allocated.has(formatNet(candidate))) continue;
      // A subnet restored from records after the pool flag changed may cover this /30.
      let free = true;
      for (const e of this.allocated.values()) {
        if (overlaps(e.net, candidate)) {
          free = false;
          break;
        }
      }
      if (free) return candidate;
    }
    throw new GardenError('insufficient subnets remaining in the pool');
  }

  /** First free address after network and gateway, never the broadcast. */
  private firstFree(net: Ipv4Net, taken: Set<number>): number {
    const broadcast = broadcastOf(net);
    for (let ip = net.addr + 2; ip < broadcast; ip++) if (!taken.has(ip >>> 0)) return ip >>> 0;
    throw new GardenError('insufficient IPs remaining in the pool');
  }

  private checkIp(net: Ipv4Net, ip: number, taken: Set<number>): number {
    if (!contains(net, ip)) throw new GardenError('the requested IP is not within the subnet');
    if (ip === net.addr + 1) throw new GardenError('a container IP must not equal the gateway IP');
    if (ip === broadcastOf(net)) throw new GardenError('a container IP must not equal the broadcast IP');
    if (taken.has(ip)) throw new GardenError('the requested IP is already allocated');
    return ip;
  }
}
