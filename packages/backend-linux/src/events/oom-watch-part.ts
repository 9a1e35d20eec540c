/**
 * The events part: notices OOM kills as they happen, so `container.oom` events (and the
 * `Out of memory` entry of Info's events) do not wait for the next Info/Metrics call.
 *
 * - cgroup v2 memory (pure v2, or a hybrid host whose memory controller is on the v2 hierarchy):
 *   the kernel notifies `memory.events` modifications through inotify, so each container's file
 *   is watched (`fs.watch`: one inotify watch per container, no polling) and a change reads the
 *   `oom_kill` counter.
 * - cgroup v1 memory: the kernel's notification is an eventfd registered through
 *   `cgroup.event_control`, which Node cannot create (an eventfd would need native-ns); instead
 *   the counters of all containers are read every `pollMs` (one small file per container), and
 *   every process exit checks its container at once (an OOM kill ends a process), so a kill of a
 *   supervised process is seen immediately.
 *
 * The counter itself lives in the container's record (`oomKills`, written on change), so kills
 * while the server was down are found at restore and reported once, as on every restart
 * (Guardian records none of them: linux-backend-reference §7.3 **Beat**). Runs after the runtime
 * part (it needs the cgroup) and is torn down first.
 */
import { existsSync, type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import type { LinuxContainer } from '../container.js';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { cgroupOf } from '../runtime/cgroups.js';

/** How often v1 memory cgroups are polled for new OOM kills. */
export const DEFAULT_OOM_POLL_MS = 2000;

export class OomWatchPart implements Part {
  readonly name = 'events';
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly polled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The live container of a handle, or undefined once it is gone. */
    private readonly find: (handle: string) => LinuxContainer | undefined,
    private readonly pollMs = DEFAULT_OOM_POLL_MS,
  ) {}

  create(ctx: CreateContext): void {
    this.watch(ctx.record.handle, ctx.record.cgroupPath);
  }

  restore(container: LinuxContainer): void {
    this.watch(container.handle, container.record.cgroupPath);
  }

  destroy(ctx: DestroyContext): void {
    const handle = ctx.record?.handle ?? ctx.container?.handle;
    if (handle !== undefined) this.unwatch(handle);
  }

  /** Stops every watch and the poll (the backend stops). */
  close(): void {
    for (const handle of [...this.watchers.keys(), ...this.polled]) this.unwatch(handle);
  }

  private check = (handle: string): void => {
    this.find(handle)?.refreshEvents();
  };

  private watch(handle: string, cgroupPath: string | undefined): void {
    if (!cgroupPath || this.watchers.has(handle) || this.polled.has(handle)) return;
    const v2 = cgroupOf(cgroupPath).v2;
    const events = v2 === undefined ? undefined : join(v2, 'memory.events');
    if (events !== undefined && existsSync(events)) {
      try {
        const w = watch(events, { persistent: false }, () => this.check(handle));
        w.on('error', () => this.unwatch(handle));
        this.watchers.set(handle, w);
        return;
      } catch {
        // fall back to polling
      }
    }
    this.polled.add(handle);
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        for (const h of this.polled) this.check(h);
      }, this.pollMs);
      this.timer.unref();
    }
  }

  private unwatch(handle: string): void {
    this.watchers.get(handle)?.close();
    this.watchers.delete(handle);
    this.polled.delete(handle);
    if (this.polled.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
