/**
 * The network part of a container. For now every container gets a private network namespace
 * (created with the container, inside its user namespace so container root may bind low ports)
 * with only `lo`, which native-ns brings up in the container's child before init runs. Full
 * networking (bridge, veth, NetIn/NetOut) slots in here later: the host-side steps run after init
 * exists and before `garden.state=created`.
 */
import { readFile } from 'node:fs/promises';
import { GardenError } from '@garden-ts/api-types';

/** `IFF_UP` of linux/if.h. */
const IFF_UP = 0x1;

/**
 * Confirms `lo` is up in the network namespace of init `pid`. native-ns `createContainer` brings
 * it up natively (no host `nsenter`/`ip`); this only reads the flags through the container's own
 * sysfs (`/proc/<pid>/root/sys`, a per-netns view), so a broken create fails here rather than as
 * an unreachable 127.0.0.1 in the user's process.
 * @throws GardenError when the flags cannot be read or `lo` is down.
 */
export async function assertLoopbackUp(pid: number): Promise<void> {
  let flags: number;
  try {
    flags = Number.parseInt((await readFile(`/proc/${pid}/root/sys/class/net/lo/flags`, 'utf8')).trim(), 16);
  } catch (e) {
    throw new GardenError(`network setup failed: ${(e as Error).message}`);
  }
  if (!(flags & IFF_UP)) throw new GardenError('network setup failed: lo is down in the container');
}
