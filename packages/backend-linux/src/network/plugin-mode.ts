/**
 * What the networker does in plugin mode (§8.7): no pool, bridge or firewall of ours; the external
 * binary (plugin.ts: the protocol) brings a container's network `up` after its init exists, takes
 * it `down` at destroy and maps NetIn / NetOut. The container's record keeps what `up` returned
 * (properties, DNS), so a restart needs nothing but the record.
 */
import { encodeBody, type NetOutRule, Wire } from '@garden-ts/api-types';
import { mappedPortsProperty, type NetInPorts } from './net-in.js';
import { type PluginConfig, parseNetInResult, parseUpResult, runPlugin } from './plugin.js';
import type { NetworkLog, NetworkRecord, PreparedNetwork } from './types.js';

const PLUGIN_PORTS_KEY = 'garden.network.mapped-ports';

/** NetOut rules in Garden's wire JSON (what a plugin gets on stdin). */
function wireRules(rules: readonly NetOutRule[]): unknown[] {
  return JSON.parse(encodeBody(Wire.netOutRules, [...rules])) as unknown[];
}

/** A plugin-mode container's `garden.network.*` properties: `up`'s, the external IP, mapped ports. */
export function pluginProperties(r: NetworkRecord): Record<string, string> {
  return {
    ...(r.pluginProperties ?? {}),
    ...(r.externalIp ? { 'garden.network.external-ip': r.externalIp } : {}),
    ...(r.netIn.length ? { [PLUGIN_PORTS_KEY]: mappedPortsProperty(r.netIn) } : {}),
  };
}

/** A new plugin-mode container's record (filled in by `up`). */
export function pluginRecord(id: string, externalIp: string, mtu: number): NetworkRecord {
  return {
    mode: 'plugin',
    id,
    subnet: '',
    ip: '',
    gateway: '',
    prefixLength: 0,
    bridge: '',
    hostVeth: '',
    externalIp,
    mtu,
    netIn: [],
    netOut: [],
  };
}

export class PluginNetwork {
  private readonly cfg: PluginConfig;

  constructor(
    plugin: { path: string; extraArgs?: string[] },
    private readonly d: {
      log: NetworkLog;
      ports: NetInPorts;
      /** The server's external IP (the default for `garden.network.external-ip`). */
      externalIp: () => string;
      /** The container's resolv.conf, with the plugin's DNS in the record. */
      resolvConf: (r: NetworkRecord) => string;
    },
  ) {
    this.cfg = { path: plugin.path, extraArgs: plugin.extraArgs ?? [] };
  }

  /** `up` once the container's init exists; returns its properties and, with DNS from the plugin, resolv.conf. */
  async up(
    p: PreparedNetwork,
    pid: number,
  ): Promise<{ properties: Record<string, string>; resolvConf?: string }> {
    const input = {
      Pid: pid,
      Properties: p.properties,
      netin: p.netIn.map((r) => ({ host_port: r.hostPort, container_port: r.containerPort })),
      netout_rules: wireRules(p.netOut),
    };
    const up = parseUpResult(await runPlugin(this.cfg, 'up', p.handle, input));
    const r = p.record;
    r.pluginProperties = up.properties;
    r.ip = up.properties['garden.network.container-ip'] ?? '';
    r.gateway = up.properties['garden.network.host-ip'] ?? '';
    r.externalIp = up.properties['garden.network.external-ip'] ?? this.d.externalIp();
    r.netOut = [...p.netOut];
    const out: { properties: Record<string, string>; resolvConf?: string } = {
      properties: pluginProperties(r),
    };
    if (up.dnsServers.length || up.searchDomains.length) {
      r.pluginDns = { servers: up.dnsServers, search: up.searchDomains };
      out.resolvConf = this.d.resolvConf(r);
    }
    return out;
  }

  /** `down` (a failure is logged, not thrown); the container's NetIn ports go back to the pool. */
  async down(handle: string, r: NetworkRecord): Promise<void> {
    try {
      await runPlugin(this.cfg, 'down', handle, { Properties: pluginProperties(r) });
    } catch (e) {
      this.d.log.warn({ handle, err: (e as Error).message }, 'network plugin down');
    }
    this.d.ports.releaseAll(r.netIn);
  }

  /** `net-in`: the plugin may answer with another mapping. */
  async netIn(
    handle: string,
    r: NetworkRecord,
    hostPort: number,
    containerPort: number,
  ): Promise<{ hostPort?: number; containerPort?: number }> {
    return parseNetInResult(
      await runPlugin(this.cfg, 'net-in', handle, {
        HostIP: r.externalIp,
        HostPort: hostPort,
        ContainerIP: r.ip,
        ContainerPort: containerPort,
      }),
    );
  }

  /** `net-out` (one rule) or `bulk-net-out`; `r.netOut` changes only once the plugin succeeded. */
  async netOut(handle: string, r: NetworkRecord, rules: readonly NetOutRule[], bulk: boolean): Promise<void> {
    const encoded = wireRules(rules);
    await runPlugin(
      this.cfg,
      bulk ? 'bulk-net-out' : 'net-out',
      handle,
      bulk ? { container_ip: r.ip, netout_rules: encoded } : { container_ip: r.ip, netout_rule: encoded[0] },
    );
    r.netOut = [...r.netOut, ...rules];
  }
}
