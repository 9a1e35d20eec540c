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
  /** Removals of destroyed containers' cgroups still to run, by path. */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(
    /** cgroup directory (in every hierarchy) holding the containers. */
    private readonly cgroupParent: string,
    private readonly log: BackendLogger,
  ) {}

  /** The cgroup path of a container. */
  cgroupPath(id: string): string {
    return `${this.cgroupParent}/${id}`;
  }

  async create(ctx: CreateContext): Promise<void> {
    const { record, spec } = ctx;
    record.cgroupPath = this.cgroupPath(record.id);
    // A container of the same id destroyed just before: its cgroup goes first.
    const removal = this.removing.get(record.cgroupPath);
    if (removal) await removal;
    const cgroup = createContainerCgroup(record.cgroupPath, spec.limits, record.privileged);
    Object.assign(record.limits, cgroup.applied);
    ctx.cgroup = cgroup.set;
  }

  /**
   * Removes the (empty: the runtime part killed its members) cgroup right after the destroy has
   * answered, not before: its rmdirs (~0.5 ms of the event loop for ten hierarchies) then run
   * while the client reads the answer. A create of the same id waits for it; `settled()` too.
   */
  destroy(ctx: DestroyContext): void {
    if (ctx.id === undefined) return;
    // Empty when the create failed before this part ran.
    const path = ctx.record?.cgroupPath || this.cgroupPath(ctx.id);
    const before = this.removing.get(path) ?? Promise.resolve();
    const removal: Promise<void> = before
      .then(() => new Promise<void>((r) => setImmediate(r)))
      .then(() => removeContainerCgroup(path))
      .catch((e) => this.log.warn({ id: ctx.id, ...errorFields(e) }, 'cgroup removal'))
      .finally(() => {
        if (this.removing.get(path) === removal) this.removing.delete(path);
      });
    this.removing.set(path, removal);
  }

  /** Resolves once every queued removal ran. */
  async settled(): Promise<void> {
    while (this.removing.size > 0) await Promise.all(this.removing.values());
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
