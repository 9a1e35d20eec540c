/**
 * The depot part: the container's durable entry `<depot>/containers/<id>/` (its record, and
 * whatever other parts keep there: the rootfs overlay) and its volatile run dir
 * `<runDir>/<id>/` (process state, hosts/resolv.conf). No record is written until the container is
 * complete: startup removes an entry without one, and everything made for it (cgroup, mounts, run
 * dir) is found by id.
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errorFields } from '@garden-ts/backend-kit';
import { removeTree } from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import type { BackendLogger } from '../options.js';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { guardDir, makeGuardedDir } from './permissions.js';
import { ensureRunDir } from './run-dir.js';
import { type ContainerRecord, StateStore } from './state-store.js';
import { Trash, trashName } from './trash.js';

export class DepotPart implements Part {
  readonly name = 'depot';
  readonly store: StateStore;
  readonly trash: Trash;

  constructor(
    readonly depot: string,
    /** The backend's run dir (tmpfs). */
    readonly runDir: string,
    log: BackendLogger,
  ) {
    // No host user but root may reach container files (permissions.ts); the container's root
    // passes through to an `origin: Container` bind source inside its rootfs.
    guardDir(depot, 'traverse');
    this.store = new StateStore(depot);
    this.trash = new Trash(join(depot, 'trash'), log);
    ensureRunDir(runDir);
  }

  /** A container's depot dir. */
  dirOf(id: string): string {
    return this.store.dirOf(id);
  }

  /** A container's run dir. */
  runDirOf(id: string): string {
    return join(this.runDir, id);
  }

  create(ctx: CreateContext): void {
    makeGuardedDir(ctx.dir, 'traverse');
    // The container may rewrite its hosts and resolv.conf here (they are its bind mounts).
    try {
      makeGuardedDir(ctx.runDir, 'traverse');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      ensureRunDir(this.runDir); // a stop() (of another instance on this depot) released it
      makeGuardedDir(ctx.runDir, 'traverse');
    }
  }

  /** Entries made by an older version (0711, reachable by every host user) are guarded again. */
  restore(c: LinuxContainer): void {
    guardDir(c.dir, 'traverse');
    if (existsSync(c.runDir)) guardDir(c.runDir, 'traverse');
  }

  /**
   * Moves a container's entry into the trash before its parts are destroyed: the durable "being
   * destroyed" mark (a restart only finishes the removal; the orphaned cgroup and init are swept
   * by id). Returns where the entry is now.
   */
  markDestroying(dir: string, record: ContainerRecord | undefined, log: BackendLogger): string {
    if (this.trash.holds(dir)) return dir;
    try {
      return this.trash.take(dir) ?? dir;
    } catch (e) {
      log.warn({ dir, ...errorFields(e) }, 'moving to trash failed; removing in place');
      // The record says so instead: a restart removes an entry that is not `created`.
      if (record?.phase === 'destroying') this.store.write(record);
      return dir;
    }
  }

  destroy(ctx: DestroyContext): void {
    if (ctx.id !== undefined) {
      // The run dir (tmpfs) is renamed out of the way at once and deleted in the background too.
      const run = this.runDirOf(ctx.id);
      const runTrash = join(this.runDir, `.trash-${trashName()}`);
      try {
        renameSync(run, runTrash);
        ctx.later(() => removeTree(runTrash));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') rmSync(run, { recursive: true, force: true });
      }
    }
    const dir = ctx.dir;
    ctx.later(() => removeTree(dir));
  }

  /** Run dirs of containers with no depot entry (destroyed while we were down, or never made). */
  reconcile(known: ReadonlySet<string>): void {
    for (const e of readdirSync(this.runDir))
      if (!known.has(e)) rmSync(join(this.runDir, e), { recursive: true, force: true });
  }
}
