/**
 * The nftables ruleset of the network part, as nft scripts (each run as **one transaction**).
 *
 * Everything lives in the project's own tables — `table ip <name>` (filter + NAT) and
 * `table bridge <name>` (anti-spoofing per veth port) — and never touches other tables or the
 * host's chains. The ruleset is static, created at startup from the options; per-container state
 * is set and map elements plus, only for containers with NetOut rules, one chain of their own:
 *
 * ```
 * table bridge T   prerouting: a frame from a container port (iifname "gtv-*") whose
 *                  (port, source IP) is not in @ports is dropped (anti-spoofing; stronger than
 *                  Guardian's per-bridge check: a container cannot take a neighbour's IP)
 * table ip T       forward  → egress, for packets from a container bridge (iifname "gtb-*"):
 *                    same subnet (iifname . daddr in @subnets) accept
 *                    ip saddr vmap @netout          → the container's own netout-<id> chain:
 *                                                     its NetOut holes accept (and log), exempting
 *                                                     the packet from the deny list
 *                    ct state established,related accept
 *                    ip daddr @deny reject          (--deny-network)
 *                    (the rest falls through to the host's own FORWARD policy, as with Guardian)
 *                  input → from_container, for packets from a container bridge:
 *                    established,related accept; ip daddr @dns accept (--dns-server);
 *                    reject with icmp host-prohibited unless --allow-host-access
 *                  prerouting / output (nat): ip daddr @netin_addrs (external IP, 127.0.0.1,
 *                    the bind IP) dnat to tcp dport map @netin (host port → container IP . port)
 *                  postrouting (nat): masquerade what leaves the container bridges for elsewhere,
 *                    and the 127.0.0.1 source of loopback NetIn on its way into a bridge
 * ```
 *
 * Startup rebuilds both tables from the records in one transaction (`add table; delete table;
 * add table …`), which also drops stale elements and re-reads deny networks; existing connections
 * keep their conntrack NAT bindings.
 */
import type { NetInRule, NetOutRule } from '@garden-ts/api-types';
import { BRIDGE_PREFIX, netOutChain, VETH_PREFIX } from './device-names.js';
import { netOutChainBodies } from './netout-rules.js';

/** Default table name (in both families); `gt` alone is an nft keyword. */
export const DEFAULT_TABLE = 'garden_ts';

/** What the static ruleset is made from (the server's options). */
export interface FirewallConfig {
  table: string;
  /** CIDRs containers may not reach unless a NetOut rule allows it. */
  denyNetworks: string[];
  /** DNS servers containers may reach on the host even without host access. */
  dnsServers: string[];
  /** Destinations whose NetIn ports are DNATed: the external IP, 127.0.0.1, the bind IP. */
  netInAddresses: string[];
  /** Containers may reach the host itself. */
  allowHostAccess: boolean;
}

/** One container's firewall state (from its record). */
export interface ContainerFirewall {
  /** Network id: names its veth and its NetOut chain. */
  id: string;
  handle: string;
  ip: string;
  hostVeth: string;
  netOut: readonly NetOutRule[];
  netIn: readonly NetInRule[];
}

/** A subnet in use and its bridge. */
export interface SubnetFirewall {
  bridge: string;
  subnet: string;
}

const q = (s: string) => `"${s}"`;

function portElement(c: ContainerFirewall): string {
  return `${q(c.hostVeth)} . ${c.ip}`;
}

function subnetElement(s: SubnetFirewall): string {
  return `${q(s.bridge)} . ${s.subnet}`;
}

function netInElements(c: ContainerFirewall, rules: readonly NetInRule[]): string {
  return rules.map((r) => `${r.hostPort} : ${c.ip} . ${r.containerPort}`).join(', ');
}

/** Commands creating (or re-filling) a container's NetOut chain; `create` adds chain + vmap entry. */
function netOutCommands(t: string, c: ContainerFirewall, create: boolean): string[] {
  const chain = netOutChain(c.id);
  const out: string[] = [];
  if (create) {
    out.push(`add chain ip ${t} ${chain}`);
    out.push(`add element ip ${t} netout { ${c.ip} : jump ${chain} }`);
  } else {
    out.push(`flush chain ip ${t} ${chain}`);
  }
  for (const body of netOutChainBodies(c.netOut, c.handle)) out.push(`add rule ip ${t} ${chain} ${body}`);
  return out;
}

function containerCommands(t: string, c: ContainerFirewall): string[] {
  const out = [`add element bridge ${t} ports { ${portElement(c)} }`];
  if (c.netOut.length > 0) out.push(...netOutCommands(t, c, true));
  if (c.netIn.length > 0) out.push(`add element ip ${t} netin { ${netInElements(c, c.netIn)} }`);
  return out;
}

const script = (lines: string[]) => `${lines.join('\n')}\n`;

/**
 * The whole ruleset: both tables replaced atomically, the static part from `cfg`, the elements
 * and chains of every container and subnet.
 */
export function rulesetScript(
  cfg: FirewallConfig,
  containers: readonly ContainerFirewall[],
  subnets: readonly SubnetFirewall[],
): string {
  const t = cfg.table;
  const br = q(`${BRIDGE_PREFIX}*`);
  const lines = [
    // `add` first so that `delete` always finds a table: the whole script is one transaction.
    `add table ip ${t}`,
    `delete table ip ${t}`,
    `add table bridge ${t}`,
    `delete table bridge ${t}`,
    `add table ip ${t}`,
    `add set ip ${t} deny { type ipv4_addr; flags interval; auto-merge; }`,
    `add set ip ${t} dns { type ipv4_addr; }`,
    `add set ip ${t} netin_addrs { type ipv4_addr; }`,
    `add set ip ${t} subnets { type ifname . ipv4_addr; flags interval; }`,
    `add map ip ${t} netin { type inet_service : ipv4_addr . inet_service; }`,
    `add map ip ${t} netout { type ipv4_addr : verdict; }`,
    `add chain ip ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ip ${t} egress`,
    `add chain ip ${t} input { type filter hook input priority filter; policy accept; }`,
    `add chain ip ${t} from_container`,
    `add chain ip ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ip ${t} output { type nat hook output priority -100; policy accept; }`,
    `add chain ip ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add rule ip ${t} forward iifname ${br} jump egress`,
    `add rule ip ${t} egress iifname . ip daddr @subnets accept`,
    `add rule ip ${t} egress ip saddr vmap @netout`,
    `add rule ip ${t} egress ct state established,related accept`,
    `add rule ip ${t} egress ip daddr @deny reject`,
    `add rule ip ${t} input iifname ${br} jump from_container`,
    `add rule ip ${t} from_container ct state established,related accept`,
    `add rule ip ${t} from_container ip daddr @dns accept`,
    ...(cfg.allowHostAccess ? [] : [`add rule ip ${t} from_container reject with icmp type host-prohibited`]),
    `add rule ip ${t} prerouting ip daddr @netin_addrs dnat ip to tcp dport map @netin`,
    `add rule ip ${t} output ip daddr @netin_addrs dnat ip to tcp dport map @netin`,
    `add rule ip ${t} postrouting ip saddr 127.0.0.0/8 oifname ${br} masquerade`,
    `add rule ip ${t} postrouting iifname ${br} oifname != ${br} masquerade`,
    `add table bridge ${t}`,
    `add set bridge ${t} ports { type ifname . ipv4_addr; }`,
    `add chain bridge ${t} prerouting { type filter hook prerouting priority filter; policy accept; }`,
    `add rule bridge ${t} prerouting iifname ${q(`${VETH_PREFIX}*`)} ether type ip iifname . ip saddr != @ports drop`,
  ];
  if (cfg.denyNetworks.length) lines.push(`add element ip ${t} deny { ${cfg.denyNetworks.join(', ')} }`);
  if (cfg.dnsServers.length)
    lines.push(`add element ip ${t} dns { ${[...new Set(cfg.dnsServers)].join(', ')} }`);
  if (cfg.netInAddresses.length)
    lines.push(`add element ip ${t} netin_addrs { ${[...new Set(cfg.netInAddresses)].join(', ')} }`);
  if (subnets.length) lines.push(`add element ip ${t} subnets { ${subnets.map(subnetElement).join(', ')} }`);
  for (const c of containers) lines.push(...containerCommands(t, c));
  return script(lines);
}

/** A new container: its port element, its subnet's element when the subnet is new, its rules. */
export function addContainerScript(t: string, c: ContainerFirewall, newSubnet?: SubnetFirewall): string {
  const lines = containerCommands(t, c);
  if (newSubnet) lines.push(`add element ip ${t} subnets { ${subnetElement(newSubnet)} }`);
  return script(lines);
}

/** The subnet's element (same-subnet traffic), added with its first container. */
export function addSubnetScript(t: string, s: SubnetFirewall): string {
  return script([`add element ip ${t} subnets { ${subnetElement(s)} }`]);
}

/** The subnet's element, removed once its bridge is given up. */
export function removeSubnetScript(t: string, s: SubnetFirewall): string {
  return script([`delete element ip ${t} subnets { ${subnetElement(s)} }`]);
}

/** Everything of a container (its subnet's element goes with the bridge: removeSubnetScript). */
export function removeContainerScript(t: string, c: ContainerFirewall): string {
  const lines = [`delete element bridge ${t} ports { ${portElement(c)} }`];
  if (c.netOut.length > 0) {
    const chain = netOutChain(c.id);
    lines.push(
      `delete element ip ${t} netout { ${c.ip} }`,
      `flush chain ip ${t} ${chain}`,
      `delete chain ip ${t} ${chain}`,
    );
  }
  if (c.netIn.length > 0)
    lines.push(`delete element ip ${t} netin { ${c.netIn.map((r) => String(r.hostPort)).join(', ')} }`);
  return script(lines);
}

/**
 * Rewrites a container's NetOut chain from `c.netOut` (the complete new list, newest last);
 * `hadRules` says whether the chain exists already.
 */
export function netOutScript(t: string, c: ContainerFirewall, hadRules: boolean): string {
  return c.netOut.length === 0 ? '' : script(netOutCommands(t, c, !hadRules));
}

/** New NetIn mappings of a container. */
export function netInScript(t: string, c: ContainerFirewall, added: readonly NetInRule[]): string {
  return added.length === 0 ? '' : script([`add element ip ${t} netin { ${netInElements(c, added)} }`]);
}

/** Removes both tables (a stop with no containers left). */
export function deleteTablesScript(t: string): string {
  return script([
    `add table ip ${t}`,
    `delete table ip ${t}`,
    `add table bridge ${t}`,
    `delete table bridge ${t}`,
  ]);
}
