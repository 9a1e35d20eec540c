/**
 * What the networker does for one container in bridge mode (the built-in networking), beyond the
 * shared pools, bridges and firewall: the container's record from its allocations, its veth pair
 * (made with the runtime's clone of init, the container end inside init's new network namespace,
 * once the subnet's bridge is ready), after the clone its firewall elements awaited and bandwidth
 * shaped, and its `garden.network.*` / `kawasaki.*` properties. plugin-mode.ts is the counterpart.
 */
import type { NetInRule, NetOutRule } from '@garden-ts/api-types';
import type { ContainerNetworkOptions } from '@garden-ts/native-ns';
import { bridgeName, CONTAINER_VETH, hostVethName } from './device-names.js';
import { mappedPortsProperty } from './net-in.js';
import type { Allocation } from './subnet-pool.js';
import { applyBandwidth } from './traffic.js';
import type { NetworkRecord, PreparedNetwork } from './types.js';

/** A new bridge-mode container's record. */
export function bridgeRecord(
  id: string,
  alloc: Allocation,
  host: { externalIp: string; mtu: number },
  netIn: NetInRule[],
  netOut: readonly NetOutRule[],
): NetworkRecord {
  return {
    mode: 'bridge',
    id,
    subnet: alloc.subnet,
    ip: alloc.ip,
    gateway: alloc.gateway,
    prefixLength: alloc.prefixLength,
    bridge: bridgeName(alloc.network),
    hostVeth: hostVethName(id),
    externalIp: host.externalIp,
    mtu: host.mtu,
    netIn,
    netOut: [...netOut],
  };
}

/**
 * The veth pair of a prepared container, for native-ns `createContainer` to make while the
 * container's init is cloned (its end created in the container's namespace), once the subnet's
 * bridge is ready.
 */
export async function bridgeLink(
  hostNetns: string | undefined,
  p: PreparedNetwork,
): Promise<ContainerNetworkOptions> {
  const r = p.record;
  const bridgeIndex = await (p.bridge as Promise<number>);
  return {
    ...(hostNetns === undefined ? {} : { hostNetns }),
    bridge: r.bridge,
    bridgeIndex,
    gateway: r.gateway,
    address: r.ip,
    prefixLength: r.prefixLength,
    hostVeth: r.hostVeth,
    containerVeth: CONTAINER_VETH,
    mtu: r.mtu,
    txQueueLength: 1,
  };
}

/** After the clone (the veth pair made with it): the firewall elements awaited, bandwidth shaped. */
export async function attachBridge(hostNetns: string | undefined, p: PreparedNetwork): Promise<void> {
  const r = p.record;
  await p.firewall;
  if (p.bandwidth)
    await applyBandwidth(
      hostNetns === undefined ? {} : { netns: hostNetns },
      r,
      p.bandwidth.rate,
      p.bandwidth.burst,
    );
}

/** A bridge-mode container's properties (as Guardian's, `kawasaki.*` included). */
export function bridgeProperties(r: NetworkRecord): Record<string, string> {
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
