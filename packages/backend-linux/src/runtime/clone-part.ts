/**
 * The clone part: the first phase of the two-phase create of a container's init (native-ns
 * `prepareContainer`). Placed right after the cgroup part, it has a pooled garden-shim clone the
 * init-to-be into its new namespaces (mount, UTS, IPC, network, pid, user) and its cgroup, with
 * its id maps, while the depot, store, rootfs and network parts prepare on this thread; the
 * runtime part then gives it its root and execs garden-init (the second phase). The new network
 * namespace alone costs ~0.6 ms, the whole clone ~1.5 ms: off the create's path this way.
 * Destroy kills and reaps a prepared child that no runtime part took (a create that failed in
 * between), before the cgroup part removes its cgroup.
 */
import { GardenError } from '@garden-ts/api-types';
import { cgroupDirs, type PreparedContainer, prepareContainer } from '@garden-ts/native-ns';
import type { CreateContext, DestroyContext, Part } from '../part.js';

export class ClonePart implements Part {
  readonly name = 'clone';
  /** Prepared children by container id, until the runtime part takes them (or destroy). */
  private readonly pending = new Map<string, Promise<PreparedContainer>>();

  create(ctx: CreateContext): void {
    if (!ctx.cgroup) throw new GardenError('the cgroup part must run before the clone part');
    const prepared = prepareContainer({ privileged: ctx.record.privileged, cgroups: cgroupDirs(ctx.cgroup) });
    // Awaited by the runtime part, or by destroy: never an unhandled rejection meanwhile.
    prepared.catch(() => undefined);
    this.pending.set(ctx.record.id, prepared);
  }

  /**
   * The prepared child of a container being created, for the runtime part, which then owns it
   * (it abandons it when it does not make it the init). Undefined when there is none.
   */
  take(id: string): Promise<PreparedContainer> | undefined {
    const prepared = this.pending.get(id);
    this.pending.delete(id);
    return prepared;
  }

  async destroy(ctx: DestroyContext): Promise<void> {
    if (ctx.id === undefined) return;
    const prepared = this.take(ctx.id);
    if (!prepared) return;
    await (await prepared.catch(() => undefined))?.abandon();
  }
}
