/**
 * The cgroup part: the container's cgroup (`<cgroupParent>/<id>` in every hierarchy) with its
 * limits, for the runtime part's clone of init. Placed right before the runtime part, so its
 * (synchronous) file writes run while what the rootfs and network parts started (the overlay
 * mount, the firewall transaction) proceeds on the thread pool. Destroy removes the directories
 * after the runtime part has killed what was in them; reconcile empties and removes the cgroups
 * of no container.
 */
import { errorFields } from '@garden-ts/backend-kit';
import { cgroupChildren } from '@garden-ts/native-ns';
import type { BackendLogger } from '../options.js';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { cgroupOf, createContainerCgroup, killCgroup, removeContainerCgroup } from './cgroups.js';
import { isPeaCgroupOf } from './peas.js';

export class CgroupPart implements Part {
  readonly name = 'cgroup';

  constructor(
    /** cgroup directory (in every hierarchy) holding the containers. */
    private readonly cgroupParent: string,
    private readonly log: BackendLogger,
  ) {}

  /** The cgroup path of a container. */
  cgroupPath(id: string): string {
    return `${this.cgroupParent}/${id}`;
  }

  create(ctx: CreateContext): void {
    const { record, spec } = ctx;
    record.cgroupPath = this.cgroupPath(record.id);
    const cgroup = createContainerCgroup(record.cgroupPath, spec.limits, record.privileged);
    Object.assign(record.limits, cgroup.applied);
    ctx.cgroup = cgroup.set;
  }

  async destroy(ctx: DestroyContext): Promise<void> {
    if (ctx.id === undefined) return;
    // Empty when the create failed before this part ran.
    const path = ctx.record?.cgroupPath || this.cgroupPath(ctx.id);
    await removeContainerCgroup(path).catch((e) =>
      this.log.warn({ id: ctx.id, ...errorFields(e) }, 'cgroup removal'),
    );
  }

  /** cgroups under the parent with no container: their processes are killed, then they go. */
  reconcile(known: ReadonlySet<string>): void {
    for (const name of cgroupChildren(cgroupOf(this.cgroupParent))) {
      // A pea's own cgroup of a known container: the pea part's.
      if (known.has(name) || isPeaCgroupOf(name, known)) continue;
      const path = this.cgroupPath(name);
      void (async () => {
        await killCgroup(path);
        await removeContainerCgroup(path);
      })().catch((e) => this.log.warn({ cgroup: path, ...errorFields(e) }, 'orphan cgroup removal'));
    }
  }
}
