/**
 * The network part of a container. For now every container gets a private network namespace
 * (created with the container, inside its user namespace so container root may bind low ports)
 * with only `lo`, brought up from the host. Full networking (bridge, veth, NetIn/NetOut) slots in
 * here later: the host-side steps run after init exists and before `garden.state=created`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GardenError } from '@garden-ts/api-types';

const run = promisify(execFile);

/** Brings `lo` up in the network namespace of `pid` (host root has CAP_NET_ADMIN over it). */
export async function setUpLoopback(pid: number): Promise<void> {
  try {
    await run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'ip', 'link', 'set', 'lo', 'up']);
  } catch (e) {
    throw new GardenError(
      `network setup failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`,
    );
  }
}
