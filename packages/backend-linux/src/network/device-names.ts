/**
 * Names of everything the network part creates on the host, in one documented scheme
 * (docs/architecture.md, "network part"), so startup reconciliation can recognise exactly its own
 * devices and never touch anything else:
 *
 * | what | name | example |
 * |---|---|---|
 * | bridge of a subnet | `gtb-` + the subnet's network address as 8 hex digits | `gtb-0afe0000` |
 * | host end of a container's veth | `gtv-` + the container's 8-hex-digit network id | `gtv-5f3a09c1` |
 * | the container's ifb (bandwidth limits) | `gti-` + the same id | `gti-5f3a09c1` |
 * | the container end (its own namespace) | `eth0` | |
 * | per-container nft chain (NetOut rules) | `netout-` + the same id | `netout-5f3a09c1` |
 *
 * The network id is random per container instance (kept in its record), not derived from the
 * handle or IP: a destroyed container's veth disappears with its namespace asynchronously, so a
 * new container reusing the IP must not need the same name.
 */
import { randomBytes } from 'node:crypto';

export const BRIDGE_PREFIX = 'gtb-';
export const VETH_PREFIX = 'gtv-';
export const IFB_PREFIX = 'gti-';
/** The container's end of its veth pair, inside its own namespace. */
export const CONTAINER_VETH = 'eth0';

const OURS = /^gt[bvi]-[0-9a-f]{8}$/;

/** The bridge of the subnet whose network address is `network`. */
export function bridgeName(network: number): string {
  return `${BRIDGE_PREFIX}${network.toString(16).padStart(8, '0')}`;
}

/** A fresh random network id (8 hex digits). */
export function newNetworkId(): string {
  return randomBytes(4).toString('hex');
}

export function isNetworkId(id: unknown): id is string {
  return typeof id === 'string' && /^[0-9a-f]{8}$/.test(id);
}

export function hostVethName(id: string): string {
  return `${VETH_PREFIX}${id}`;
}

export function ifbName(id: string): string {
  return `${IFB_PREFIX}${id}`;
}

export function netOutChain(id: string): string {
  return `netout-${id}`;
}

/** Whether a link name is one of ours (bridge, veth host end or ifb). */
export function isOurLink(name: string): boolean {
  return OURS.test(name);
}

/** The network id in a veth or ifb name, or undefined. */
export function idOfLink(name: string): string | undefined {
  return /^gt[vi]-[0-9a-f]{8}$/.test(name) ? name.slice(4) : undefined;
}
