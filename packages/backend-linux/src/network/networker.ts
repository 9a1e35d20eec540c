/**
 * The networker: everything the network part does for containers, behind an interface the part
 * sequences (prepare before the clone → attach after it → destroy; restore + reconcile at
 * startup). Built-in mode gives each container an address (subnet-pool.ts), a bridge per subnet
 * and a veth pair (native-ns), firewall and NAT state in the project's own nft tables
 * (nft-ruleset.ts), NetIn ports from a FIFO pool, bandwidth shaping and counters; plugin mode hands
 * all of it to an external binary (plugin.ts). State lives in each container's record
 * ({@link NetworkRecord}), written by the caller, so a restart rebuilds pools and firewall from
 * the depot alone.
 */

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import {
  type BandwidthLimits,
  encodeBody,
  GardenError,
  InvalidRequestError,
  type NetInRule,
  type NetOutRule,
  Wire,
} from '@garden-ts/api-types';
import { PortPool, validateNetOutRule } from '@garden-ts/backend-kit';
import {
  createContainerLink,
  type LinkInfo,
  listAddresses,
  listLinks,
  listRoutes,
  nft,
  randomMac,
  readNetSysctl,
  setBandwidth,
  writeNetSysctl,
} from '@garden-ts/native-ns';
import { LinkReaper, SubnetBridges } from './bridges.js';
import {
  bridgeName,
  CONTAINER_VETH,
  hostVethName,
  ifbName,
  isNetworkId,
  newNetworkId,
} from './device-names.js';
import { hostsFile, readHostDns, resolvConf } from './dns.js';
import { FirewallRemovals } from './firewall-removals.js';
import { defaultRouteSource, mtuFor } from './host-addresses.js';
import { formatNet, parseCidr } from './ipv4.js';
import {
  addContainerScript,
  type ContainerFirewall,
  DEFAULT_TABLE,
  deleteTablesScript,
  type FirewallConfig,
  netInScript,
  netOutScript,
  removeContainerScript,
  removeSubnetScript,
  rulesetScript,
  type SubnetFirewall,
} from './nft-ruleset.js';
import { type PluginConfig, parseNetInResult, parseUpResult, runPlugin } from './plugin.js';
import { staleLinks } from './reconcile.js';
import { SubnetPool } from './subnet-pool.js';

/** The server's networking options (gardend's `--network-pool`, `--mtu`, …). */
export interface NetworkOptions {
  /** Dynamic pool, carved into /30s. Default `10.254.0.0/22`. */
  pool?: string;
  /** Container MTU; 0 / absent: the external interface's, capped at 1500. */
  mtu?: number;
  /** CIDRs containers may not reach unless a NetOut rule allows it. */
  denyNetworks?: string[];
  /** Containers may reach the host itself. */
  allowHostAccess?: boolean;
  /** Nameservers for every container (`--dns-server`), also reachable on the host. */
  dnsServers?: string[];
  /** Nameservers added after the others (`--additional-dns-server`). */
  additionalDnsServers?: string[];
  /** First host port of the NetIn pool. Default 61001 (Guardian). */
  portPoolStart?: number;
  /** Number of ports in the NetIn pool. Default 4534 (up to 65534). */
  portPoolSize?: number;
  /** The address NetIn ports are published on; default: the source of the default route. */
  externalIp?: string;
  /** The server's own bind IP: NetIn ports are published on it too. */
  bindIp?: string;
  /** Network plugin mode: the built-in bridge and firewall are unused. */
  plugin?: { path: string; extraArgs?: string[] };
  /** The host network namespace (a namespace file); default: the server's own. */
  hostNetns?: string;
  /** nft table name (both families). Default `garden_ts`. */
  table?: string;
  /** How long an unused subnet bridge is kept for reuse. Default 5000 ms. */
  bridgeLingerMs?: number;
  /**
   * Where the NetIn port rotation is kept across restarts (the backend: `<depot>/network.json`);
   * without it a restart starts the rotation afresh (mappings are kept either way).
   */
  stateFile?: string;
}

/** A container's network, persisted in its record. */
export interface NetworkRecord {
  mode: 'bridge' | 'plugin';
  /** Network id (names the veth, ifb and NetOut chain). */
  id: string;
  subnet: string;
  ip: string;
  gateway: string;
  prefixLength: number;
  bridge: string;
  hostVeth: string;
  externalIp: string;
  mtu: number;
  netIn: NetInRule[];
  /** NetOut rules in the order applied (newest last). */
  netOut: NetOutRule[];
  /** Applied bandwidth limits (decimal strings). */
  bandwidth?: { rate: string; burst: string };
  /** Plugin mode: the properties `up` returned. */
  pluginProperties?: Record<string, string>;
  /** Plugin mode: nameservers and search domains `up` returned. */
  pluginDns?: { servers: string[]; search: string[] };
}

export interface NetworkerDeps {
  log: {
    info(o: object, m?: string): void;
    warn(o: object, m?: string): void;
    error(o: object, m?: string): void;
  };
}

/** A container between `prepare` and `attach`. */
export interface PreparedNetwork {
  record: NetworkRecord;
  handle: string;
  /** Bridge mode: resolves with the bridge's index. */
  bridge?: Promise<number>;
  /** Bridge mode: the container's firewall elements (added in parallel with the clone). */
  firewall?: Promise<void>;
  /** Bridge mode: the subnet was new (its firewall element comes and goes with it). */
  newSubnet: boolean;
  /** The spec's NetOut rules (applied as one batch) and bandwidth. */
  netOut: NetOutRule[];
  bandwidth?: { rate: bigint; burst: bigint };
  /** Plugin mode: the spec's properties and NetIn rules for `up`. */
  properties: Record<string, string>;
  netIn: NetInRule[];
}

const PLUGIN_PORTS_KEY = 'garden.network.mapped-ports';

function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidRequestError(field, `${field} must be an integer in 0-65535, got ${port}`);
}

/** NetOut rules in Garden's wire JSON (what a plugin gets on stdin). */
function wireRules(rules: readonly NetOutRule[]): unknown[] {
  return JSON.parse(encodeBody(Wire.netOutRules, [...rules])) as unknown[];
}

/** `garden.network.mapped-ports`, as Guardian writes it. */
export function mappedPortsProperty(rules: readonly NetInRule[]): string {
  return JSON.stringify(rules.map((r) => ({ HostPort: r.hostPort, ContainerPort: r.containerPort })));
}

export class Networker {
  /** Addresses (rebuilt from the records at every start). */
  private pool: SubnetPool;
  /** NetIn host ports: backend-kit's FIFO pool (rebuilt from the records at every start). */
  private ports: PortPool;
  private readonly table: string;
  private readonly netnsOpt: { netns?: string };
  private readonly reaper: LinkReaper;
  private readonly bridges: SubnetBridges;
  /** Element removals, applied off the request path (see firewall-removals.ts). */
  private readonly removals: FirewallRemovals;
  /** Subnets whose firewall element exists: from their first container until the bridge goes. */
  private readonly subnetElements = new Map<string, string>();
  private readonly plugin: PluginConfig | undefined;
  private readonly denyNetworks: string[];
  /** Containers known to the firewall (live or restored), by network id. */
  private readonly firewalls = new Map<string, { fw: ContainerFirewall; subnet: string; bridge: string }>();
  private externalIp = '';
  private mtu = 1500;
  /**
   * Our nft tables exist only while containers do (a gardend with none, e.g. the quick start's
   * after its example, leaves nothing on the host): installed with the first container, deleted a
   * linger after the last one. Every table operation is chained on `tableOps`.
   */
  private tablesInstalled = false;
  private tableOps: Promise<void> = Promise.resolve();
  private tablesLinger: NodeJS.Timeout | undefined;
  /** We switched IPv4 forwarding on (it was off): it goes off again with the tables. */
  private forwardingSwitchedOn = false;
  private statsCache: { at: number; links: Promise<LinkInfo[]> } | undefined;

  constructor(
    private readonly options: NetworkOptions,
    private readonly deps: NetworkerDeps,
  ) {
    try {
      this.pool = new SubnetPool(options.pool ?? '10.254.0.0/22');
    } catch (e) {
      throw new InvalidRequestError('networkPool', (e as Error).message);
    }
    try {
      this.ports = new PortPool(options.portPoolStart ?? 61001, options.portPoolSize ?? 4534);
    } catch (e) {
      throw new InvalidRequestError('portPool', (e as Error).message);
    }
    this.denyNetworks = (options.denyNetworks ?? []).map((n) => {
      try {
        return formatNet(parseCidr(n).net);
      } catch (e) {
        throw new InvalidRequestError('denyNetworks', (e as Error).message);
      }
    });
    for (const [field, list] of [
      ['dnsServers', options.dnsServers],
      ['additionalDnsServers', options.additionalDnsServers],
    ] as const) {
      for (const ip of list ?? [])
        if (isIP(ip) === 0) throw new InvalidRequestError(field, `${field}: not an IP address: ${ip}`);
    }
    for (const [field, ip] of [
      ['externalIp', options.externalIp],
      ['bindIp', options.bindIp],
    ] as const) {
      if (ip !== undefined && ip !== '' && !isIPv4(ip))
        throw new InvalidRequestError(field, `${field} must be an IPv4 address, got ${ip}`);
    }
    const mtu = options.mtu ?? 0;
    if (!Number.isInteger(mtu) || (mtu !== 0 && (mtu < 68 || mtu > 65535)))
      throw new InvalidRequestError('mtu', `mtu must be 0 (automatic) or 68-65535, got ${mtu}`);
    this.table = options.table ?? DEFAULT_TABLE;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(this.table))
      throw new InvalidRequestError('table', `table must be an nft identifier, got ${this.table}`);
    this.netnsOpt = options.hostNetns === undefined ? {} : { netns: options.hostNetns };
    this.reaper = new LinkReaper(options.hostNetns, (names, err) =>
      deps.log.warn({ links: names, err: err.message }, 'deleting network links'),
    );
    this.removals = new FirewallRemovals(
      (script) => nft(script, this.netnsOpt),
      (err) => deps.log.warn({ err: err.message }, 'removing firewall elements'),
    );
    this.bridges = new SubnetBridges(this.reaper, options.bridgeLingerMs ?? 5000, (bridge) => {
      // The subnet's element lives as long as its bridge: a bridge reused before it lingers out
      // keeps it, and its deletion queues the element's.
      const subnet = this.subnetElements.get(bridge);
      if (subnet === undefined) return;
      this.subnetElements.delete(bridge);
      void this.removals.remove(removeSubnetScript(this.table, { bridge, subnet }), [`subnet:${subnet}`]);
    });
    this.plugin = options.plugin
      ? { path: options.plugin.path, extraArgs: options.plugin.extraArgs ?? [] }
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
  /** Forgets every container (a stop: the next start restores them from the records again). */
  private reset(): void {
    this.tablesInstalled = false;
    this.subnetElements.clear();
    this.pool = new SubnetPool(this.options.pool ?? '10.254.0.0/22');
    this.ports = new PortPool(this.options.portPoolStart ?? 61001, this.options.portPoolSize ?? 4534);
    this.firewalls.clear();
    this.bridges.forget();
  }

  private get firewallConfig(): FirewallConfig {
    const addresses = [this.externalIp, '127.0.0.1'];
    if (this.options.bindIp && this.options.bindIp !== '0.0.0.0') addresses.push(this.options.bindIp);
    return {
      table: this.table,
      denyNetworks: this.denyNetworks,
      dnsServers: (this.options.dnsServers ?? []).filter((ip) => isIPv4(ip)),
      netInAddresses: addresses.filter((a) => a !== ''),
      allowHostAccess: this.options.allowHostAccess === true,
    };
  }

  /**
   * Learns the host facts (external IP, MTU) and reads the saved state (NetIn port rotation,
   * forwarding); runs after the restores.
   * @throws GardenError when there is no external IP to publish NetIn ports on.
   */
  async start(): Promise<void> {
    // After the restores reserved the records' ports.
    this.loadState();
    const [routes, addrs, links] = await Promise.all([
      listRoutes(this.netnsOpt),
      listAddresses(this.netnsOpt),
      listLinks(this.netnsOpt),
    ]);
    const external = this.options.externalIp || defaultRouteSource(routes, addrs);
    if (this.plugin) {
      // The plugin networks the containers; the external IP is still reported (§8.7).
      this.externalIp = external ?? '';
      return;
    }
    if (!external)
      throw new GardenError(
        'cannot determine the external IP: the host has no default route; pass --external-ip',
      );
    this.externalIp = external;
    this.mtu = this.options.mtu || mtuFor(external, addrs, links);
  }

  /**
   * The static ruleset, installed with the first container (with IPv4 forwarding switched on, as
   * Docker does: the host must route the containers' traffic). Resolves once it is in place.
   */
  private ensureTables(): Promise<void> {
    if (this.tablesLinger) clearTimeout(this.tablesLinger);
    this.tablesLinger = undefined;
    if (!this.tablesInstalled) {
      this.tablesInstalled = true;
      const install = this.tableOps.then(async () => {
        await this.forwardingOn();
        await nft(rulesetScript(this.firewallConfig, [], []), this.netnsOpt);
      });
      // A failed install is retried by the next container.
      this.tableOps = install.catch(() => {
        this.tablesInstalled = false;
      });
      return install;
    }
    return this.tableOps;
  }

  /**
   * IPv4 forwarding on in the host namespace: the host must route the containers' traffic (Docker
   * does the same). When it was off, it goes off again with our tables, so a gardend without
   * containers leaves the host as it found it.
   */
  private async forwardingOn(): Promise<void> {
    if ((await readNetSysctl('net/ipv4/ip_forward', this.netnsOpt)) === '1') return;
    await writeNetSysctl('net/ipv4/ip_forward', '1', this.netnsOpt);
    this.forwardingSwitchedOn = true;
    this.saveState();
  }

  private async forwardingBack(): Promise<void> {
    if (!this.forwardingSwitchedOn) return;
    this.forwardingSwitchedOn = false;
    this.saveState();
    await writeNetSysctl('net/ipv4/ip_forward', '0', this.netnsOpt);
  }

  /** After the last container: the tables go too, a linger later (creates often follow). */
  private dropTablesWhenIdle(now = false): void {
    if (!this.tablesInstalled || this.firewalls.size > 0) return;
    if (this.tablesLinger) clearTimeout(this.tablesLinger);
    const drop = () => {
      this.tablesLinger = undefined;
      if (!this.tablesInstalled || this.firewalls.size > 0) return;
      this.tablesInstalled = false;
      // The tables take every element with them.
      this.subnetElements.clear();
      this.tableOps = this.tableOps
        .then(async () => {
          await this.removals.settled();
          await nft(deleteTablesScript(this.table), this.netnsOpt);
          await this.forwardingBack();
        })
        .then(
          () => undefined,
          (e: Error) => this.deps.log.warn({ err: e.message }, 'removing the nft tables'),
        );
    };
    const linger = this.options.bridgeLingerMs ?? 5000;
    if (now || linger <= 0) drop();
    else {
      this.tablesLinger = setTimeout(drop, linger);
      this.tablesLinger.unref();
    }
  }

  /** The external IP (after start). */
  get external(): string {
    return this.externalIp;
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
    (spec.netIn ?? []).forEach((r, i) => {
      checkPort(`netin[${i}].host_port`, r.hostPort);
      checkPort(`netin[${i}].container_port`, r.containerPort);
    });
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
    if (this.plugin) {
      const record: NetworkRecord = {
        mode: 'plugin',
        id,
        subnet: '',
        ip: '',
        gateway: '',
        prefixLength: 0,
        bridge: '',
        hostVeth: '',
        externalIp: this.externalIp,
        mtu: this.mtu,
        netIn: [],
        netOut: [],
      };
      return { ...base, record, newSubnet: false };
    }
    const alloc = this.pool.acquire(spec.network);
    const held: number[] = [];
    let netIn: NetInRule[];
    try {
      netIn = (spec.netIn ?? []).map((r) => {
        const hostPort = this.takePort(r.hostPort);
        held.push(hostPort);
        return { hostPort, containerPort: r.containerPort || hostPort };
      });
    } catch (e) {
      for (const p of held) this.ports.release(p);
      this.pool.release(alloc);
      throw e;
    }
    const record: NetworkRecord = {
      mode: 'bridge',
      id,
      subnet: alloc.subnet,
      ip: alloc.ip,
      gateway: alloc.gateway,
      prefixLength: alloc.prefixLength,
      bridge: bridgeName(alloc.network),
      hostVeth: hostVethName(id),
      externalIp: this.externalIp,
      mtu: this.mtu,
      netIn,
      netOut: [...netOut],
    };
    // The subnet's firewall element exists from its first container until its bridge goes.
    const newSubnet = !this.subnetElements.has(record.bridge);
    if (newSubnet) this.subnetElements.set(record.bridge, record.subnet);
    const fw = this.firewallOf(handle, record);
    this.firewalls.set(id, { fw, subnet: record.subnet, bridge: record.bridge });
    const bridge = this.bridges.acquire({
      ...this.netnsHost(),
      bridge: record.bridge,
      bridgeMac: randomMac(),
      gateway: record.gateway,
      prefixLength: record.prefixLength,
      mtu: record.mtu,
    });
    const subnetFw = newSubnet ? { bridge: record.bridge, subnet: record.subnet } : undefined;
    // Elements of a predecessor with the same address, port or subnet must be gone first.
    const keys = [
      `ip:${record.ip}`,
      ...record.netIn.map((m) => `port:${m.hostPort}`),
      ...(newSubnet ? [`subnet:${record.subnet}`] : []),
    ];
    const firewall = this.ensureTables()
      .then(() => this.removals.clear(keys))
      .then(() => nft(addContainerScript(this.table, fw, subnetFw), this.netnsOpt))
      .then(
        () => undefined,
        (e: unknown) => {
          // Not added: a later container of the subnet adds its element again.
          if (newSubnet && this.subnetElements.get(record.bridge) === record.subnet)
            this.subnetElements.delete(record.bridge);
          throw e;
        },
      );
    // Both are awaited by attach or abort; until then a rejection is not unhandled.
    bridge.catch(() => undefined);
    firewall.catch(() => undefined);
    return { ...base, record, bridge, firewall, newSubnet };
  }

  private netnsHost(): { hostNetns?: string } {
    return this.options.hostNetns === undefined ? {} : { hostNetns: this.options.hostNetns };
  }

  private firewallOf(handle: string, r: NetworkRecord): ContainerFirewall {
    return { id: r.id, handle, ip: r.ip, hostVeth: r.hostVeth, netOut: r.netOut, netIn: r.netIn };
  }

  private takePort(requested: number): number {
    if (requested !== 0) {
      this.ports.reserve(requested);
      return requested;
    }
    const port = this.ports.acquire();
    this.saveState();
    return port;
  }

  /**
   * Keeps what a restarted server must know (write-through, atomic): where the port rotation
   * stands, and whether IPv4 forwarding was switched on by us.
   */
  private saveState(): void {
    const file = this.options.stateFile;
    if (!file) return;
    try {
      const state = { portPoolNext: this.ports.next, forwardingSwitchedOn: this.forwardingSwitchedOn };
      writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.deps.log.warn({ file, err: (e as Error).message }, 'saving the network state');
    }
  }

  /** Resumes the port rotation where the last server left it; learns who switched forwarding on. */
  private loadState(): void {
    const file = this.options.stateFile;
    if (!file) return;
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as {
        portPoolNext?: unknown;
        forwardingSwitchedOn?: unknown;
      };
      if (Number.isInteger(state.portPoolNext)) this.ports.resumeAt(state.portPoolNext as number);
      this.forwardingSwitchedOn = state.forwardingSwitchedOn === true;
    } catch {
      // no state yet, or unreadable: start afresh
    }
  }

  /**
   * Finishes a prepared network once the container's init exists: the veth pair (its end made in
   * the container's namespace), the firewall elements, bandwidth limits; in plugin mode, `up`.
   * Returns the properties to add to the container and, in plugin mode with DNS from the plugin,
   * the new resolv.conf text.
   */
  async attach(
    p: PreparedNetwork,
    init: { pid: number; pidfd: number },
  ): Promise<{ properties: Record<string, string>; resolvConf?: string }> {
    const r = p.record;
    if (r.mode === 'plugin') return this.pluginUp(p, init.pid);
    const bridgeIndex = await (p.bridge as Promise<number>);
    await createContainerLink({
      ...this.netnsHost(),
      container: init,
      bridge: r.bridge,
      bridgeIndex,
      gateway: r.gateway,
      address: r.ip,
      prefixLength: r.prefixLength,
      hostVeth: r.hostVeth,
      containerVeth: CONTAINER_VETH,
      mtu: r.mtu,
      txQueueLength: 1,
    });
    await p.firewall;
    if (p.bandwidth) await this.applyBandwidth(r, p.bandwidth.rate, p.bandwidth.burst);
    return { properties: this.properties(r) };
  }

  private async applyBandwidth(r: NetworkRecord, rate: bigint, burst: bigint): Promise<void> {
    // tbf needs a bucket of at least one frame, and ~10 ms of traffic to reach the rate at HZ=250.
    const frame = BigInt(r.mtu + 14);
    let bucket = burst > 0n ? burst : rate / 100n;
    if (bucket < frame) bucket = frame;
    if (bucket > 0xffffffffn) bucket = 0xffffffffn;
    await setBandwidth({
      ...this.netnsOpt,
      hostVeth: r.hostVeth,
      ifb: ifbName(r.id),
      rate,
      burst: Number(bucket),
      mtu: r.mtu,
    });
    r.bandwidth = { rate: String(rate), burst: String(burst) };
  }

  private async pluginUp(
    p: PreparedNetwork,
    pid: number,
  ): Promise<{ properties: Record<string, string>; resolvConf?: string }> {
    const plugin = this.plugin as PluginConfig;
    const input = {
      Pid: pid,
      Properties: p.properties,
      netin: p.netIn.map((r) => ({ host_port: r.hostPort, container_port: r.containerPort })),
      netout_rules: wireRules(p.netOut),
    };
    const up = parseUpResult(await runPlugin(plugin, 'up', p.handle, input));
    const r = p.record;
    r.pluginProperties = up.properties;
    r.ip = up.properties['garden.network.container-ip'] ?? '';
    r.gateway = up.properties['garden.network.host-ip'] ?? '';
    r.externalIp = up.properties['garden.network.external-ip'] ?? this.externalIp;
    r.netOut = [...p.netOut];
    const out: { properties: Record<string, string>; resolvConf?: string } = {
      properties: this.properties(r),
    };
    if (up.dnsServers.length || up.searchDomains.length) {
      r.pluginDns = { servers: up.dnsServers, search: up.searchDomains };
      out.resolvConf = this.resolvConfText(r);
    }
    return out;
  }

  /**
   * Undoes a prepared network after a failed create (anything may or may not have happened).
   * Never throws; the container's namespace (and its veth) goes with its init.
   */
  async abort(p: PreparedNetwork): Promise<void> {
    const r = p.record;
    if (r.mode === 'plugin') {
      if (r.pluginProperties) await this.pluginDown(p.handle, r);
      return;
    }
    const [bridge, firewall] = await Promise.allSettled([p.bridge, p.firewall]);
    // A failed create gives everything back before it answers: nothing half-applied is visible.
    await this.release(p.handle, r, firewall.status === 'fulfilled', bridge.status === 'fulfilled', true);
  }

  private async pluginDown(handle: string, r: NetworkRecord): Promise<void> {
    try {
      await runPlugin(this.plugin as PluginConfig, 'down', handle, { Properties: this.properties(r) });
    } catch (e) {
      this.deps.log.warn({ handle, err: (e as Error).message }, 'network plugin down');
    }
    for (const m of r.netIn) this.ports.release(m.hostPort);
  }

  /** Releases a container's network (destroy). Never throws for what is already gone. */
  async destroy(handle: string, r: NetworkRecord): Promise<void> {
    if (r.mode === 'plugin') return this.pluginDown(handle, r);
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
    this.firewalls.delete(r.id);
    this.pool.release({ subnet: r.subnet, ip: r.ip });
    if (firewallAdded) {
      const keys = [`ip:${r.ip}`, ...r.netIn.map((m) => `port:${m.hostPort}`)];
      const removed = this.removals.remove(
        removeContainerScript(this.table, this.firewallOf(handle, r)),
        keys,
      );
      if (wait) await removed;
    }
    for (const m of r.netIn) this.ports.release(m.hostPort);
    if (r.bandwidth) this.reaper.delete([ifbName(r.id)]);
    // A failed create (wait) leaves no lingering bridge: its subnet's element goes at once too.
    if (bridgeHeld) this.bridges.release(r.bridge, wait);
    if (wait) await this.removals.clear([`subnet:${r.subnet}`]);
    this.dropTablesWhenIdle();
  }

  // ---- operations on a live container ---------------------------------------------------------

  /**
   * Maps a host port to a container port (TCP DNAT on the external IP, 127.0.0.1 and the bind IP).
   * Mutates `r.netIn` only once the mapping is in place; the caller saves the record.
   * @throws GardenError `port pool is exhausted`, `port N is already in use`
   */
  async netIn(handle: string, r: NetworkRecord, hostPort: number, containerPort: number): Promise<NetInRule> {
    checkPort('host_port', hostPort);
    checkPort('container_port', containerPort);
    let host = this.takePort(hostPort);
    let container = containerPort || host;
    try {
      if (r.mode === 'plugin') {
        const out = parseNetInResult(
          await runPlugin(this.plugin as PluginConfig, 'net-in', handle, {
            HostIP: r.externalIp,
            HostPort: host,
            ContainerIP: r.ip,
            ContainerPort: container,
          }),
        );
        if (out.hostPort && out.hostPort !== host) {
          this.ports.release(host);
          host = this.takePort(out.hostPort);
        }
        container = out.containerPort ?? container;
      } else {
        const mapping = [{ hostPort: host, containerPort: container }];
        await this.removals.clear([`port:${host}`]);
        await nft(netInScript(this.table, this.firewallOf(handle, r), mapping), this.netnsOpt);
      }
    } catch (e) {
      this.ports.release(host);
      throw e;
    }
    r.netIn.push({ hostPort: host, containerPort: container });
    return { hostPort: host, containerPort: container };
  }

  /**
   * Adds NetOut rules as one atomic batch (NetOut is a batch of one): every rule is validated
   * first, then the container's chain is rewritten in one transaction; on any failure nothing is
   * applied and `r.netOut` is unchanged.
   */
  async netOut(handle: string, r: NetworkRecord, rules: readonly NetOutRule[], bulk: boolean): Promise<void> {
    for (const rule of rules) validateNetOutRule(rule);
    if (rules.length === 0) return;
    if (r.mode === 'plugin') {
      const encoded = wireRules(rules);
      await runPlugin(
        this.plugin as PluginConfig,
        bulk ? 'bulk-net-out' : 'net-out',
        handle,
        bulk
          ? { container_ip: r.ip, netout_rules: encoded }
          : { container_ip: r.ip, netout_rule: encoded[0] },
      );
      r.netOut = [...r.netOut, ...rules];
      return;
    }
    const next = [...r.netOut, ...rules];
    const fw = { ...this.firewallOf(handle, r), netOut: next };
    await this.removals.clear([`ip:${r.ip}`]);
    await nft(netOutScript(this.table, fw, r.netOut.length > 0), this.netnsOpt);
    r.netOut = next;
    const known = this.firewalls.get(r.id);
    if (known) known.fw = this.firewallOf(handle, r);
  }

  /** `garden.network.*` (and Guardian's `kawasaki.*`) properties of a container. */
  properties(r: NetworkRecord): Record<string, string> {
    if (r.mode === 'plugin') {
      return {
        ...(r.pluginProperties ?? {}),
        ...(r.externalIp ? { 'garden.network.external-ip': r.externalIp } : {}),
        ...(r.netIn.length ? { [PLUGIN_PORTS_KEY]: mappedPortsProperty(r.netIn) } : {}),
      };
    }
    return {
      'garden.network.container-ip': r.ip,
      'garden.network.host-ip': r.gateway,
      'garden.network.external-ip': r.externalIp,
      'garden.network.mapped-ports': mappedPortsProperty(r.netIn),
      'kawasaki.bridge-interface': r.bridge,
      'kawasaki.host-interface': r.hostVeth,
      'kawasaki.container-interface': CONTAINER_VETH,
      'kawasaki.subnet': r.subnet,
      'kawasaki.mtu': String(r.mtu),
    };
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

  /**
   * The container's traffic, from its side: bytes it received (host end's transmit counter) and
   * sent. Links are dumped at most every 50 ms and shared by concurrent callers (BulkMetrics).
   */
  async stats(r: NetworkRecord): Promise<{ rxBytes: bigint; txBytes: bigint } | undefined> {
    if (r.mode !== 'bridge') return undefined;
    const now = Date.now();
    if (!this.statsCache || now - this.statsCache.at > 50)
      this.statsCache = { at: now, links: listLinks(this.netnsOpt) };
    const link = (await this.statsCache.links).find((l) => l.name === r.hostVeth);
    return link ? { rxBytes: link.txBytes, txBytes: link.rxBytes } : undefined;
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
    this.firewalls.set(r.id, { fw: this.firewallOf(handle, r), subnet: r.subnet, bridge: r.bridge });
    this.subnetElements.set(r.bridge, r.subnet);
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
    const subnets = new Map<string, SubnetFirewall>();
    for (const f of this.firewalls.values()) subnets.set(f.subnet, { bridge: f.bridge, subnet: f.subnet });
    const fws = [...this.firewalls.values()].map((f) => f.fw);
    if (fws.length > 0) {
      this.tablesInstalled = true;
      this.tableOps = this.tableOps.then(async () => {
        await this.forwardingOn();
        await nft(rulesetScript(this.firewallConfig, fws, [...subnets.values()]), this.netnsOpt);
      });
    } else {
      // Nothing to serve: stale tables of a crashed server go (they come back with a container).
      this.tablesInstalled = false;
      this.tableOps = this.tableOps.then(() =>
        nft(deleteTablesScript(this.table), this.netnsOpt).then(() => undefined),
      );
    }
    await this.tableOps;
    const links = await listLinks(this.netnsOpt);
    const stale = staleLinks(links, {
      bridges: new Set([...subnets.values()].map((s) => s.bridge)),
      veths: new Set(fws.map((f) => f.hostVeth)),
      ifbs: new Set(fws.map((f) => ifbName(f.id))),
    });
    if (stale.length) {
      this.deps.log.info({ links: stale }, 'removing network links of no container');
      this.reaper.delete(stale);
    }
  }

  /** Deletes lingering bridges (and the tables, with no container) now; waits for all of it. */
  async settled(): Promise<void> {
    this.bridges.flush();
    this.dropTablesWhenIdle(true);
    await Promise.all([this.reaper.settled(), this.removals.settled(), this.tableOps]);
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
    if (this.tablesLinger) clearTimeout(this.tablesLinger);
    this.tablesLinger = undefined;
    await this.removals.settled();
    await this.tableOps;
    if (!containersLeft) {
      await nft(deleteTablesScript(this.table), this.netnsOpt).catch((e: Error) =>
        this.deps.log.warn({ err: e.message }, 'removing the nft tables'),
      );
      await this.forwardingBack().catch((e: Error) =>
        this.deps.log.warn({ err: e.message }, 'switching IPv4 forwarding back off'),
      );
      const links = await listLinks(this.netnsOpt).catch(() => []);
      this.reaper.delete(staleLinks(links, { bridges: new Set(), veths: new Set(), ifbs: new Set() }));
    }
    await this.reaper.settled();
    this.reset();
  }
}
