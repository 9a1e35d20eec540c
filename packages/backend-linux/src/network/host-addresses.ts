/**
 * The host facts the network part derives from the host namespace's own tables: the external IP
 * (§8.7: the source address of the default route) and the default MTU (§1: the MTU of the
 * interface holding the external IP, capped at 1500). `readHostFacts` reads the tables; the rest
 * are pure functions of them.
 */
import {
  type AddressInfo,
  type LinkInfo,
  listAddresses,
  listLinks,
  listRoutes,
  type RouteInfo,
} from '@garden-ts/native-ns';

/**
 * The external IP (`configured.externalIp`, else the default route's source) and, when there is
 * one, the container MTU (`configured.mtu`, else {@link mtuFor}), from the namespace's tables.
 */
export async function readHostFacts(
  netns: { netns?: string },
  configured: { externalIp?: string; mtu?: number },
): Promise<{ externalIp: string | undefined; mtu: number }> {
  const [routes, addrs, links] = await Promise.all([
    listRoutes(netns),
    listAddresses(netns),
    listLinks(netns),
  ]);
  const externalIp = configured.externalIp || defaultRouteSource(routes, addrs);
  return { externalIp, mtu: externalIp ? configured.mtu || mtuFor(externalIp, addrs, links) : 0 };
}

/** The default route's preferred source, else the first address of its interface. */
export function defaultRouteSource(
  routes: readonly RouteInfo[],
  addrs: readonly AddressInfo[],
): string | undefined {
  const dflt = routes.filter((r) => r.prefixLength === 0).sort((a, b) => a.oif - b.oif)[0];
  if (!dflt) return undefined;
  if (dflt.source) return dflt.source;
  return addrs.find((a) => a.index === dflt.oif)?.address;
}

/** MTU of the interface holding `ip`, capped at 1500; 1500 when no interface holds it. */
export function mtuFor(ip: string, addrs: readonly AddressInfo[], links: readonly LinkInfo[]): number {
  const index = addrs.find((a) => a.address === ip)?.index;
  const mtu = links.find((l) => l.index === index)?.mtu;
  return mtu ? Math.min(mtu, 1500) : 1500;
}
