/**
 * The networker: everything the network part does for containers, behind an interface the part
 * sequences (prepare before the clone → link, made with it → attach after it → destroy; restore +
 * reconcile at
 * startup). It allocates (addresses: subnet-pool.ts; NetIn ports: net-in.ts) and sequences the
 * modules that own the rest: bridge-mode.ts or plugin-mode.ts (one container's devices or its
 * plugin), bridges.ts, nft-tables.ts (our tables, IPv4 forwarding), container-firewalls.ts (each
 * container's elements), traffic.ts (bandwidth, counters), network-state.ts, reconcile.ts; shapes
 * in types.ts. State lives in each container's record ({@link NetworkRecord}), written by the
 * caller, so a restart rebuilds pools and firewall from the depot alone.
 */

import {
  type BandwidthLimits,
  GardenError,
  InvalidRequestError,
  type NetInRule,
  type NetOutRule,
} from '@garden-ts/api-types';
import { validateNetOutRule } from '@garden-ts/backend-kit';
import { type ContainerNetworkOptions, listLinks, randomMac } from '@garden-ts/native-ns';
import { attachBridge, bridgeLink, bridgeProperties, bridgeRecord } from './bridge-mode.js';
import { LinkReaper, SubnetBridges } from './bridges.js';
import { ContainerFirewalls } from './container-firewalls.js';
import { ifbName, isNetworkId, newNetworkId } from './device-names.js';
import { hostsFile, readHostDns, resolvConf } from './dns.js';
import { readHostFacts } from './host-addresses.js';
import { checkNetInRules, NetInPorts } from './net-in.js';
import { NetworkStateFile } from './network-state.js';
import { type NftTables, rulesetConfig } from './nft-tables.js';
import { PluginNetwork, pluginProperties, pluginRecord } from './plugin-mode.js';
import { knownDevices, NO_DEVICES, staleLinks } from './reconcile.js';
import { SubnetPool } from './subnet-pool.js';
import { TrafficCounters } from './traffic.js';
import {
  checkNetworkOptions,
  type NetnsOption,
  type NetworkerDeps,
  type NetworkOptions,
  type NetworkRecord,
  type PreparedNetwork,
} from './types.js';

export class Networker {
  /** Addresses (rebuilt from the records at every start). */
  private pool: SubnetPool;
  /** NetIn host ports (rebuilt from the records at every start). */
  private readonly ports: NetInPorts;
  private readonly netnsOpt: NetnsOption;
  private readonly reaper: LinkReaper;
  private readonly bridges: SubnetBridges;
  /** Our nft tables (the firewall's). */
  private readonly tables: NftTables;
  private readonly firewalls: ContainerFirewalls;
  private readonly plugin: PluginNetwork | undefined;
  private readonly state: NetworkStateFile;
  private readonly counters: TrafficCounters;
  private externalIp = '';
  private mtu = 1500;

  constructor(
    private readonly options: NetworkOptions,
    private readonly deps: NetworkerDeps,
  ) {
    const { log } = deps;
    this.pool = newSubnetPool(options);
    this.ports = new NetInPorts(options.portPoolStart ?? 61001, options.portPoolSize ?? 4534, () =>
      this.state.save(),
    );
    const checked = checkNetworkOptions(options);
    const netns: NetnsOption = options.hostNetns === undefined ? {} : { netns: options.hostNetns };
    this.netnsOpt = netns;
    this.state = new NetworkStateFile(
      options.stateFile,
      () => ({ portPoolNext: this.ports.next, forwardingSwitchedOn: this.tables.forwardingSwitchedOn }),
      log,
    );
    this.reaper = new LinkReaper(options.hostNetns, (names, err) =>
      log.warn({ links: names, err: err.message }, 'deleting network links'),
    );
    this.firewalls = new ContainerFirewalls({
      table: checked.table,
      netns,
      lingerMs: options.bridgeLingerMs ?? 5000,
      log,
      config: () => rulesetConfig(options, checked, this.externalIp),
      forwardingChanged: () => this.state.save(),
    });
    this.tables = this.firewalls.tables;
    // The subnet's element lives as long as its bridge: a bridge reused before it lingers out keeps
    // it, and its deletion queues the element's.
    this.bridges = new SubnetBridges(this.reaper, options.bridgeLingerMs ?? 5000, (bridge) =>
      this.firewalls.bridgeDropped(bridge),
    );
    this.counters = new TrafficCounters(netns);
    this.plugin = options.plugin
      ? new PluginNetwork(options.plugin, {
          log,
          ports: this.ports,
          externalIp: () => this.externalIp,
          resolvConf: (r) => this.resolvConfText(r),
        })
      : undefined;
  }

  /** Plugin mode: no pool, bridge or firewall of our own. */
  get pluginMode(): boolean {
    return this.plugin !== undefined;
  }

  /** The maximum number of containers the network allows (pool /30s; unlimited in plugin mode). */
  get capacity(): number | undefined {
    return this.plugin ? undefined : this.pool.capacity;
  }

  /** The external IP (after start). */
  get external(): string {
    return this.externalIp;
  }

  /** Forgets every container (a stop: the next start restores them from the records again). */
  private reset(): void {
    this.tables.forget();
    this.pool = newSubnetPool(this.options);
    this.ports.reset();
    this.firewalls.reset();
    this.bridges.forget();
  }

  /**
   * Learns the host facts (external IP, MTU) and reads the saved state (NetIn port rotation,
   * forwarding); runs after the restores.
   * @throws GardenError when there is no external IP to publish NetIn ports on.
   */
  async start(): Promise<void> {
    // After the restores reserved the records' ports.
    const saved = this.state.load();
    if (saved) {
      if (saved.portPoolNext !== undefined) this.ports.resumeAt(saved.portPoolNext);
      this.tables.forwardingSwitchedOn = saved.forwardingSwitchedOn;
    }
    const host = await readHostFacts(this.netnsOpt, this.options);
    if (this.plugin) {
      // The plugin networks the containers; the external IP is still reported (§8.7).
      this.externalIp = host.externalIp ?? '';
      return;
    }
    if (!host.externalIp)
      throw new GardenError(
        'cannot determine the external IP: the host has no default route; pass --external-ip',
      );
    this.externalIp = host.externalIp;
    this.mtu = host.mtu;
  }

  // ---- create ---------------------------------------------------------------------------------

  /**
   * Allocates a new container's network synchronously (address, network id, NetIn ports: atomic
   * with respect to other creates) and starts, without waiting, what does not need the container
   * yet: its subnet's bridge and its firewall elements. Bad input throws before anything is held.
   * @throws GardenError / InvalidRequestError (§8.1, §8.4, §8.5 texts)
   */
  prepare(
    handle: string,
    spec: {
      network?: string;
      netIn?: NetInRule[];
      netOut?: NetOutRule[];
      properties?: Record<string, string>;
      bandwidth?: BandwidthLimits;
    },
  ): PreparedNetwork {
    const netOut = spec.netOut ?? [];
    for (const rule of netOut) validateNetOutRule(rule);
    checkNetInRules(spec.netIn ?? []);
    const rate = spec.bandwidth?.rateInBytesPerSecond ?? 0n;
    const burst = spec.bandwidth?.burstRateInBytesPerSecond ?? 0n;
    let id = newNetworkId();
    while (this.firewalls.has(id)) id = newNetworkId();
    const base = {
      handle,
      netOut,
      properties: spec.properties ?? {},
      netIn: spec.netIn ?? [],
      ...(rate > 0n ? { bandwidth: { rate, burst } } : {}),
    };
    if (this.plugin)
      return { ...base, record: pluginRecord(id, this.externalIp, this.mtu), newSubnet: false };
    const alloc = this.pool.acquire(spec.network);
    let netIn: NetInRule[];
    try {
      netIn = this.ports.takeAll(spec.netIn ?? []);
    } catch (e) {
      this.pool.release(alloc);
      throw e;
    }
    const record = bridgeRecord(id, alloc, { externalIp: this.externalIp, mtu: this.mtu }, netIn, netOut);
    // Both are awaited by attach or abort; until then a rejection is not unhandled.
    const { newSubnet, done: firewall } = this.firewalls.add(handle, record);
    const bridge = this.bridges.acquire({
      ...(this.options.hostNetns === undefined ? {} : { hostNetns: this.options.hostNetns }),
      bridge: record.bridge,
      bridgeMac: randomMac(),
      gateway: record.gateway,
      prefixLength: record.prefixLength,
      mtu: record.mtu,
    });
    bridge.catch(() => undefined);
    return { ...base, record, bridge, firewall, newSubnet };
  }

  /**
   * A prepared bridge-mode container's veth pair, for the runtime's clone of init to make (its
   * end in the new network namespace) once the subnet's bridge is ready; undefined in plugin mode
   * (the plugin's `up` makes the devices after the clone).
   */
  link(p: PreparedNetwork): Promise<ContainerNetworkOptions> | undefined {
    return p.record.mode === 'plugin' ? undefined : bridgeLink(this.options.hostNetns, p);
  }

  /**
   * Finishes a prepared network once the container's init exists (with its veth pair, in bridge
   * mode): the firewall elements, bandwidth limits; in plugin mode, `up`. Returns the properties
   * to add to the container and, in plugin mode with DNS from the plugin, the new resolv.conf text.
   */
  async attach(
    p: PreparedNetwork,
    init: { pid: number; pidfd: number },
  ): Promise<{ properties: Record<string, string>; resolvConf?: string }> {
    const r = p.record;
    if (r.mode === 'plugin') return (this.plugin as PluginNetwork).up(p, init.pid);
    await attachBridge(this.options.hostNetns, p);
    return { properties: this.properties(r) };
  }

  /**
   * Undoes a prepared network after a failed create (anything may or may not have happened).
   * Never throws; the container's namespace (and its veth) goes with its init.
   */
  async abort(p: PreparedNetwork): Promise<void> {
    const r = p.record;
    if (r.mode === 'plugin') {
      if (r.pluginProperties) await (this.plugin as PluginNetwork).down(p.handle, r);
      return;
    }
    const [bridge, firewall] = await Promise.allSettled([p.bridge, p.firewall]);
    // A failed create gives everything back before it answers: nothing half-applied is visible.
    await this.release(p.handle, r, firewall.status === 'fulfilled', bridge.status === 'fulfilled', true);
  }

  /** Releases a container's network (destroy). Never throws for what is already gone. */
  async destroy(handle: string, r: NetworkRecord): Promise<void> {
    if (r.mode === 'plugin') return (this.plugin as PluginNetwork).down(handle, r);
    await this.release(handle, r, this.firewalls.has(r.id), true, false);
  }

  /**
   * Gives a container's network back. Its firewall elements are removed in the background
   * (`wait`: before returning) — see firewall-removals.ts for why that is safe.
   */
  private async release(
    handle: string,
    r: NetworkRecord,
    firewallAdded: boolean,
    bridgeHeld: boolean,
    wait: boolean,
  ): Promise<void> {
    const removed = this.firewalls.release(handle, r, firewallAdded);
    this.pool.release({ subnet: r.subnet, ip: r.ip });
    if (wait) await removed;
    this.ports.releaseAll(r.netIn);
    if (r.bandwidth) this.reaper.delete([ifbName(r.id)]);
    // A failed create (wait) leaves no lingering bridge: its subnet's element goes at once too.
    if (bridgeHeld) this.bridges.release(r.bridge, wait);
    if (wait) await this.firewalls.subnetGone(r.subnet);
    this.tables.dropWhenIdle();
  }

  // ---- operations on a live container ---------------------------------------------------------

  /**
   * Maps a host port to a container port (TCP DNAT on the external IP, 127.0.0.1 and the bind IP).
   * Mutates `r.netIn` only once the mapping is in place; the caller saves the record.
   * @throws GardenError `port pool is exhausted`, `port N is already in use`
   */
  netIn(handle: string, r: NetworkRecord, hostPort: number, containerPort: number): Promise<NetInRule> {
    return this.ports.map(r, hostPort, containerPort, async (host, container) => {
      if (r.mode === 'plugin') return (this.plugin as PluginNetwork).netIn(handle, r, host, container);
      await this.firewalls.mapPort(handle, r, host, container);
      return undefined;
    });
  }

  /**
   * Adds NetOut rules as one atomic batch (NetOut is a batch of one): every rule is validated
   * first, then the container's chain is rewritten in one transaction; on any failure nothing is
   * applied and `r.netOut` is unchanged.
   */
  async netOut(handle: string, r: NetworkRecord, rules: readonly NetOutRule[], bulk: boolean): Promise<void> {
    for (const rule of rules) validateNetOutRule(rule);
    if (rules.length === 0) return;
    if (r.mode === 'plugin') return (this.plugin as PluginNetwork).netOut(handle, r, rules, bulk);
    await this.firewalls.addNetOut(handle, r, rules);
  }

  /** `garden.network.*` (and Guardian's `kawasaki.*`) properties of a container. */
  properties(r: NetworkRecord): Record<string, string> {
    return r.mode === 'plugin' ? pluginProperties(r) : bridgeProperties(r);
  }

  /** The container's `/etc/hosts`. */
  hostsText(r: NetworkRecord | undefined, hostname: string, handle: string): string {
    return hostsFile(hostname, r?.ip || '127.0.0.1', handle);
  }

  /** The container's `/etc/resolv.conf` (§8.6), from the host's files at this moment. */
  resolvConfText(r: NetworkRecord | undefined): string {
    return resolvConf({
      pluginNameservers: r?.pluginDns?.servers ?? [],
      pluginSearchDomains: r?.pluginDns?.search ?? [],
      dnsServers: this.options.dnsServers ?? [],
      additionalDnsServers: this.options.additionalDnsServers ?? [],
      ...readHostDns(),
      gateway: r?.gateway || '127.0.0.1',
    });
  }

  /** The container's traffic, from its side (traffic.ts); undefined in plugin mode. */
  stats(r: NetworkRecord): Promise<{ rxBytes: bigint; txBytes: bigint } | undefined> {
    return this.counters.of(r);
  }

  // ---- startup and shutdown -------------------------------------------------------------------

  /**
   * Takes up a container found in the depot: its address, ports and subnet bridge are held again.
   * @throws GardenError when the record collides with one restored before (double allocation).
   */
  restore(handle: string, r: NetworkRecord): void {
    if (!isNetworkId(r.id)) throw new GardenError(`bad network id in the record of ${handle}`);
    for (const m of r.netIn) this.ports.reserve(m.hostPort);
    if (r.mode === 'plugin') return;
    this.pool.restore(r.subnet, r.ip);
    this.firewalls.restore(handle, r);
    // Index 0: unknown; the next container on the subnet has native-ns check the bridge again.
    this.bridges.adopt(r.bridge, 0);
  }

  /**
   * After every restore: replaces the nft tables with the static ruleset and the restored
   * containers' elements in one transaction (dropping stale ones, re-reading deny networks), or
   * removes them when no container is left, and deletes our links that no container accounts for.
   */
  async reconcile(): Promise<void> {
    if (this.plugin) return;
    const { containers, subnets } = this.firewalls.all();
    await this.tables.replace(containers, subnets);
    const links = await listLinks(this.netnsOpt);
    const stale = staleLinks(links, knownDevices(containers, subnets));
    if (stale.length) {
      this.deps.log.info({ links: stale }, 'removing network links of no container');
      this.reaper.delete(stale);
    }
  }

  /** Deletes lingering bridges (and the tables, with no container) now; waits for all of it. */
  async settled(): Promise<void> {
    this.bridges.flush();
    this.tables.dropWhenIdle(true);
    await Promise.all([this.reaper.settled(), this.firewalls.removalsSettled(), this.tables.settled()]);
  }

  /**
   * Server stop. Without containers left, nothing of ours stays on the host: both nft tables and
   * every bridge go. With containers, their state stays for the next start.
   */
  async stop(containersLeft: boolean): Promise<void> {
    if (this.plugin) {
      this.reset();
      return;
    }
    this.bridges.flush();
    this.tables.cancelLinger();
    await this.firewalls.removalsSettled();
    await this.tables.settled();
    if (!containersLeft) {
      await this.tables.removeNow();
      const links = await listLinks(this.netnsOpt).catch(() => []);
      this.reaper.delete(staleLinks(links, NO_DEVICES));
    }
    await this.reaper.settled();
    await this.tables.release();
    this.reset();
  }
}

/** @throws InvalidRequestError naming `networkPool` for a bad pool. */
function newSubnetPool(options: NetworkOptions): SubnetPool {
  try {
    return new SubnetPool(options.pool ?? '10.254.0.0/22');
  } catch (e) {
    throw new InvalidRequestError('networkPool', (e as Error).message);
  }
}
