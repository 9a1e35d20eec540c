/**
 * The network's shapes: the server's networking options (and their checks), a container's network
 * as persisted in its record, and a container's network between `prepare` and `attach`. Shared by
 * the networker and its modules; no behaviour beyond validating options.
 */
import { isIP, isIPv4 } from 'node:net';
import { InvalidRequestError, type NetInRule, type NetOutRule } from '@garden-ts/api-types';
import { formatNet, parseCidr } from './ipv4.js';
import { DEFAULT_TABLE } from './nft-ruleset.js';

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

/** Where the networker and its modules log. */
export interface NetworkLog {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
}

export interface NetworkerDeps {
  log: NetworkLog;
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

/** native-ns's option naming the host network namespace (absent: the server's own). */
export type NetnsOption = { netns?: string };

/**
 * Checks the options the pools do not (deny networks, nameservers, addresses, MTU, table name).
 * @returns the deny networks normalised (`10.0.0.1/8` → `10.0.0.0/8`) and the table name.
 * @throws InvalidRequestError naming the option.
 */
export function checkNetworkOptions(options: NetworkOptions): { denyNetworks: string[]; table: string } {
  const denyNetworks = (options.denyNetworks ?? []).map((n) => {
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
  const table = options.table ?? DEFAULT_TABLE;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,31}$/.test(table))
    throw new InvalidRequestError('table', `table must be an nft identifier, got ${table}`);
  return { denyNetworks, table };
}
