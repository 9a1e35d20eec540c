/**
 * The firewall: what each container has in our nft tables — its elements (port/IP pair, NetOut
 * vmap entry, NetIn DNAT mappings), its `netout-<id>` chain, and the element of its subnet (which
 * lives as long as the subnet's bridge). It owns the tables' lifecycle (`tables`, nft-tables.ts:
 * they exist while it knows a container) and the background removal queue (firewall-removals.ts).
 * Adds are one transaction each, after the tables are in place and after any pending removal of
 * the same address, port or subnet. Restored containers are known here too, so startup can
 * rebuild the tables from them.
 */
import type { NetOutRule } from '@garden-ts/api-types';
import { nft } from '@garden-ts/native-ns';
import { FirewallRemovals } from './firewall-removals.js';
import {
  addContainerScript,
  type ContainerFirewall,
  netInScript,
  netOutScript,
  removeContainerScript,
  removeSubnetScript,
  type SubnetFirewall,
} from './nft-ruleset.js';
import { NftTables, type NftTablesDeps } from './nft-tables.js';
import type { NetnsOption, NetworkRecord } from './types.js';

/** A container's firewall as nft-ruleset.ts takes it. */
export function firewallOf(handle: string, r: NetworkRecord): ContainerFirewall {
  return { id: r.id, handle, ip: r.ip, hostVeth: r.hostVeth, netOut: r.netOut, netIn: r.netIn };
}

export class ContainerFirewalls {
  /** Containers known to the firewall (live or restored), by network id. */
  private readonly known = new Map<string, { fw: ContainerFirewall; subnet: string; bridge: string }>();
  /** Subnets whose firewall element exists: from their first container until the bridge goes. */
  private readonly subnetElements = new Map<string, string>();

  /** Our tables (and IPv4 forwarding with them). */
  readonly tables: NftTables;
  /** Element removals, applied off the request path. */
  private readonly removals: FirewallRemovals;
  private readonly table: string;
  private readonly netns: NetnsOption;

  constructor(o: Omit<NftTablesDeps, 'inUse' | 'removalsSettled' | 'dropped'>) {
    this.table = o.table;
    this.netns = o.netns;
    this.removals = new FirewallRemovals(
      (script) => nft(script, o.netns),
      (err) => o.log.warn({ err: err.message }, 'removing firewall elements'),
    );
    this.tables = new NftTables({
      ...o,
      inUse: () => this.known.size > 0,
      removalsSettled: () => this.removals.settled(),
      // The tables take every element with them.
      dropped: () => this.subnetElements.clear(),
    });
  }

  /** Resolves once no removal is queued or being applied. */
  removalsSettled(): Promise<void> {
    return this.removals.settled();
  }

  /** How many containers the firewall knows. */
  get size(): number {
    return this.known.size;
  }

  has(id: string): boolean {
    return this.known.has(id);
  }

  /**
   * Takes up a new container and starts adding its elements (and its subnet's, when it is the
   * subnet's first container) once the tables are in place. `done` rejects when they were not
   * added; it is awaited by attach or abort, so until then a rejection is not unhandled.
   */
  add(handle: string, record: NetworkRecord): { newSubnet: boolean; done: Promise<void> } {
    // The subnet's firewall element exists from its first container until its bridge goes.
    const newSubnet = !this.subnetElements.has(record.bridge);
    if (newSubnet) this.subnetElements.set(record.bridge, record.subnet);
    const fw = firewallOf(handle, record);
    this.known.set(record.id, { fw, subnet: record.subnet, bridge: record.bridge });
    const subnetFw = newSubnet ? { bridge: record.bridge, subnet: record.subnet } : undefined;
    // Elements of a predecessor with the same address, port or subnet must be gone first.
    const keys = [
      `ip:${record.ip}`,
      ...record.netIn.map((m) => `port:${m.hostPort}`),
      ...(newSubnet ? [`subnet:${record.subnet}`] : []),
    ];
    const done = this.tables
      .ensure()
      .then(() => this.removals.clear(keys))
      .then(() => nft(addContainerScript(this.table, fw, subnetFw), this.netns))
      .then(
        () => undefined,
        (e: unknown) => {
          // Not added: a later container of the subnet adds its element again.
          if (newSubnet && this.subnetElements.get(record.bridge) === record.subnet)
            this.subnetElements.delete(record.bridge);
          throw e;
        },
      );
    done.catch(() => undefined);
    return { newSubnet, done };
  }

  /**
   * Forgets a container and, when its elements were added, queues their removal; resolves once
   * that removal was applied.
   */
  release(handle: string, r: NetworkRecord, added: boolean): Promise<void> {
    this.known.delete(r.id);
    if (!added) return Promise.resolve();
    const keys = [`ip:${r.ip}`, ...r.netIn.map((m) => `port:${m.hostPort}`)];
    return this.removals.remove(removeContainerScript(this.table, firewallOf(handle, r)), keys);
  }

  /** Resolves once the removal of this subnet's element (if one is pending) was applied. */
  subnetGone(subnet: string): Promise<void> {
    return this.removals.clear([`subnet:${subnet}`]);
  }

  /**
   * A bridge was given up: its subnet's element goes with it (a bridge reused before it lingers
   * out keeps it).
   */
  bridgeDropped(bridge: string): void {
    const subnet = this.subnetElements.get(bridge);
    if (subnet === undefined) return;
    this.subnetElements.delete(bridge);
    void this.removals.remove(removeSubnetScript(this.table, { bridge, subnet }), [`subnet:${subnet}`]);
  }

  /** NetIn: the DNAT mapping of one host port, in one transaction. */
  async mapPort(handle: string, r: NetworkRecord, hostPort: number, containerPort: number): Promise<void> {
    await this.removals.clear([`port:${hostPort}`]);
    await nft(netInScript(this.table, firewallOf(handle, r), [{ hostPort, containerPort }]), this.netns);
  }

  /**
   * NetOut / BulkNetOut: the container's chain rewritten whole, new rules on top, in one
   * transaction; `r.netOut` changes only once it is applied.
   */
  async addNetOut(handle: string, r: NetworkRecord, rules: readonly NetOutRule[]): Promise<void> {
    const next = [...r.netOut, ...rules];
    const fw = { ...firewallOf(handle, r), netOut: next };
    await this.removals.clear([`ip:${r.ip}`]);
    await nft(netOutScript(this.table, fw, r.netOut.length > 0), this.netns);
    r.netOut = next;
    const known = this.known.get(r.id);
    if (known) known.fw = firewallOf(handle, r);
  }

  /** A container found in the depot (startup): its elements are part of the rebuilt tables. */
  restore(handle: string, r: NetworkRecord): void {
    this.known.set(r.id, { fw: firewallOf(handle, r), subnet: r.subnet, bridge: r.bridge });
    this.subnetElements.set(r.bridge, r.subnet);
  }

  /** Every known container's and subnet's elements (what startup puts in the tables). */
  all(): { containers: ContainerFirewall[]; subnets: SubnetFirewall[] } {
    const subnets = new Map<string, SubnetFirewall>();
    for (const f of this.known.values()) subnets.set(f.subnet, { bridge: f.bridge, subnet: f.subnet });
    return { containers: [...this.known.values()].map((f) => f.fw), subnets: [...subnets.values()] };
  }

  /** Forgets every container (a stop). */
  reset(): void {
    this.subnetElements.clear();
    this.known.clear();
  }
}
