/**
 * Destroyed entries leave at once and are deleted in the background: a depot dir is renamed into
 * `<depot>/trash/` (one atomic rename: the id is free at once, nothing lists the entry any more,
 * and a restart only has to finish the removal), then the steps its parts queued (unmounting the
 * rootfs, deleting the tree) run off the request path. `settled()` waits for them.
 */
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { errorFields } from '@garden-ts/backend-kit';
import type { BackendLogger } from '../options.js';

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
    mkdirSync(dir, { recursive: true, mode: 0o700 });
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

  /** Runs `steps` in order in the background; a failing step is logged and ends the chain. */
  background(what: string, steps: readonly (() => Promise<void>)[]): void {
    if (steps.length === 0) return;
    const p: Promise<void> = (async () => {
      for (const step of steps) await step();
    })()
      .catch((e) => this.log.warn({ what, ...errorFields(e) }, 'removing a destroyed container'))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Resolves once every background removal has finished. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
