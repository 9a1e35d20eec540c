/**
 * Startup reconciliation of host devices (linux-backend-reference §9 "beat"): which of the
 * host namespace's links are ours (by the device-names scheme and their kind) and belong to no
 * container or subnet of the records. Only those are removed; nothing else is ever touched.
 */
import { BRIDGE_PREFIX, IFB_PREFIX, ifbName, isOurLink, VETH_PREFIX } from './device-names.js';
import type { ContainerFirewall, SubnetFirewall } from './nft-ruleset.js';

/** What the records say must exist. */
export interface KnownDevices {
  bridges: ReadonlySet<string>;
  veths: ReadonlySet<string>;
  ifbs: ReadonlySet<string>;
}

/** The devices of these containers and subnets (the firewall's view of the records). */
export function knownDevices(
  containers: readonly ContainerFirewall[],
  subnets: readonly SubnetFirewall[],
): KnownDevices {
  return {
    bridges: new Set(subnets.map((s) => s.bridge)),
    veths: new Set(containers.map((f) => f.hostVeth)),
    ifbs: new Set(containers.map((f) => ifbName(f.id))),
  };
}

/** No container: every link of ours is stale. */
export const NO_DEVICES: KnownDevices = { bridges: new Set(), veths: new Set(), ifbs: new Set() };

const KIND: Record<string, string> = {
  [BRIDGE_PREFIX]: 'bridge',
  [VETH_PREFIX]: 'veth',
  [IFB_PREFIX]: 'ifb',
};

/** Names of our links that no record accounts for. */
export function staleLinks(
  links: ReadonlyArray<{ name: string; kind: string }>,
  known: KnownDevices,
): string[] {
  const out: string[] = [];
  for (const l of links) {
    if (!isOurLink(l.name)) continue;
    const prefix = l.name.slice(0, 4);
    if (KIND[prefix] !== l.kind) continue; // our name, someone else's device: leave it alone
    const set = prefix === BRIDGE_PREFIX ? known.bridges : prefix === VETH_PREFIX ? known.veths : known.ifbs;
    if (!set.has(l.name)) out.push(l.name);
  }
  return out;
}
