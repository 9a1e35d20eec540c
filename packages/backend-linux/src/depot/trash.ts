/**
 * Destroyed entries leave at once and are deleted in the background: a depot dir is renamed into
 * `<depot>/trash/` (one atomic rename: the id is free at once, nothing lists the entry any more,
 * and a restart only has to finish the removal), then the steps its parts queued (unmounting the
 * rootfs, deleting the tree) run off the request path. `settled()` waits for them.
 *
 * A removal that fails is not retried silently forever (issue 10, item 3). A mount left below the
 * entry (native-ns's `RemoveTreeError`, `EXDEV`/`EBUSY` at a mount point) is detached and the
 * removal retried at once. Otherwise the attempt is counted in the entry's name (`<name>~N`) and
 * logged as a warning naming the entry that could not go and why; the next start tries again.
 * After {@link MAX_REMOVAL_ATTEMPTS} failed attempts the entry moves to `<depot>/quarantine/`
 * (root only) with one error log line saying so, and is never retried: an operator removes it
 * once the cause (an immutable file, a busy mount, a broken disk) is fixed.
 */
import { readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errorFields } from '@garden-ts/backend-kit';
import { RemoveTreeError, removeTree, unmountAsync } from '@garden-ts/native-ns';
import type { BackendLogger } from '../options.js';
import { guardDir } from './permissions.js';

/** Failed removals (one per start) before a trash entry is quarantined. */
export const MAX_REMOVAL_ATTEMPTS = 3;

/** `<name>~N`: N failed removal attempts so far. */
const ATTEMPTS = /~(\d+)$/;

/** A unique name for a trashed entry (also used for run dirs renamed out of the way). */
export function trashName(): string {
  return `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export class Trash {
  private readonly running = new Set<Promise<void>>();

  constructor(
    /** `<depot>/trash`. */
    readonly dir: string,
    private readonly log: BackendLogger,
  ) {
    guardDir(dir, 'root-only');
  }

  /** Whether `path` is already in the trash. */
  holds(path: string): boolean {
    return path.startsWith(`${this.dir}/`);
  }

  /**
   * Moves a depot dir into the trash; returns the new path, or undefined when there was no such dir.
   * @throws the rename's error for anything but ENOENT.
   */
  take(path: string): string | undefined {
    const target = join(this.dir, trashName());
    try {
      renameSync(path, target);
      return target;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Entries left by a destroy that did not finish (a crash), to remove at startup. */
  entries(): string[] {
    return readdirSync(this.dir).map((e) => join(this.dir, e));
  }

  /**
   * Runs `steps` in order in the background. A failing step ends the chain; for an entry in the
   * trash the failure is counted (and the entry quarantined at the limit), see the file comment.
   */
  background(what: string, steps: readonly (() => Promise<void>)[]): void {
    if (steps.length === 0) return;
    const p: Promise<void> = (async () => {
      try {
        for (const step of steps) await step();
      } catch (e) {
        await this.failed(what, e);
      }
    })()
      .catch((e) => this.log.error({ what, ...errorFields(e) }, 'removing a destroyed container'))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** A background removal of `path` failed with `err`. */
  private async failed(path: string, err: unknown): Promise<void> {
    let cause = err;
    if (err instanceof RemoveTreeError && (err.code === 'EXDEV' || err.code === 'EBUSY')) {
      // A mount left below the entry: detach it and try once more now.
      try {
        if (await unmountAsync(err.path, { detach: true })) {
          await removeTree(path);
          return;
        }
      } catch (again) {
        cause = again;
      }
    }
    if (!this.holds(path) || dirname(path) !== this.dir) {
      this.log.error({ what: path, ...errorFields(cause) }, 'removing a destroyed container failed');
      return;
    }
    const name = basename(path);
    const attempts = Number(ATTEMPTS.exec(name)?.[1] ?? 0) + 1;
    const base = name.replace(ATTEMPTS, '');
    if (attempts >= MAX_REMOVAL_ATTEMPTS) {
      const quarantine = join(dirname(this.dir), 'quarantine');
      guardDir(quarantine, 'root-only');
      const target = join(quarantine, base);
      renameSync(path, target);
      this.log.error(
        { what: target, attempts, ...errorFields(cause) },
        `could not remove a destroyed container's files in ${attempts} attempts; moved to ${target} and not retried: remove it by hand once the cause is fixed`,
      );
      return;
    }
    const next = join(this.dir, `${base}~${attempts}`);
    renameSync(path, next);
    this.log.warn(
      { what: next, attempts, ...errorFields(cause) },
      `removing a destroyed container's files failed (attempt ${attempts} of ${MAX_REMOVAL_ATTEMPTS}); retried at the next start`,
    );
  }

  /** Resolves once every background removal has finished. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
