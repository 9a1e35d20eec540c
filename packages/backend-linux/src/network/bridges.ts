/**
 * The bridges of the subnets in use, and the removal of host links off the request path.
 *
 * A subnet's bridge is made (native-ns `ensureBridge`) when its first container is prepared, in
 * parallel with that container's clone. When the subnet's last container goes, the bridge lingers
 * for a moment before it is deleted: deleting a link blocks the calling thread for ~40 ms of RCU
 * waits here, and the next dynamic create usually takes that same lowest free /30 again, so a
 * create → destroy → create cycle reuses the bridge instead of paying a delete and a create.
 * Deletions go through one serial queue (`LinkReaper`, batching whatever is pending into one
 * call) so that at most one thread-pool thread is ever blocked by them.
 */
import { type BridgeOptions, deleteLinks, ensureBridge } from '@garden-ts/native-ns';

/** Deletes host links in the background, one batch at a time. */
export class LinkReaper {
  private pending = new Set<string>();
  private running: Promise<void> | undefined;
  /** Links being deleted right now (a bridge needed again must wait for them). */
  inFlight = new Set<string>();

  constructor(
    private readonly netns: string | undefined,
    private readonly onError: (names: string[], err: Error) => void,
  ) {}

  /** Queues links for deletion (missing ones are skipped when their turn comes). */
  delete(names: readonly string[]): void {
    for (const n of names) this.pending.add(n);
    this.kick();
  }

  /** Starts draining unless a drain runs; one that ends with names queued meanwhile starts anew. */
  private kick(): void {
    if (this.running || this.pending.size === 0) return;
    // Cleared in a later tick (never before the assignment, even when drain ends at once).
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // Queued after the drain's last look, before it ended.
      this.kick();
    });
  }

  /** Withdraws a queued deletion (a bridge that is needed again). True when it was still queued. */
  cancel(name: string): boolean {
    return this.pending.delete(name);
  }

  /** Resolves once nothing is queued or being deleted. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = [...this.pending];
      this.pending.clear();
      this.inFlight = new Set(batch);
      try {
        await deleteLinks(batch, this.netns === undefined ? {} : { netns: this.netns });
      } catch (e) {
        this.onError(batch, e as Error);
      } finally {
        this.inFlight = new Set();
      }
    }
  }
}

interface BridgeState {
  /** Resolves with the bridge's index once it is ready. */
  ready: Promise<number>;
  users: number;
  linger?: NodeJS.Timeout;
}

/** One bridge per subnet in use, made ahead and kept for a moment after its last user. */
export class SubnetBridges {
  private readonly bridges = new Map<string, BridgeState>();

  constructor(
    private readonly reaper: LinkReaper,
    private readonly lingerMs: number,
    /** Called when a bridge is given up (before its deletion is queued). */
    private readonly onDrop: (name: string) => void = () => undefined,
  ) {}

  /**
   * A user of the bridge described by `o` (its first user makes it). Resolves with its index; a
   * failed creation is not remembered (the next user tries again).
   */
  acquire(o: BridgeOptions): Promise<number> {
    let b = this.bridges.get(o.bridge);
    if (b) {
      if (b.linger) clearTimeout(b.linger);
      b.linger = undefined;
      b.users++;
      return b.ready;
    }
    const name = o.bridge;
    // Still queued for deletion (lingered out): withdrawn, and ensureBridge finds it as it is.
    this.reaper.cancel(name);
    const ready = (async () => {
      // A deletion of this name that already started must finish before it is made again.
      while (this.reaper.inFlight.has(name)) await this.reaper.settled();
      return (await ensureBridge(o)).index;
    })();
    b = { ready, users: 1 };
    this.bridges.set(name, b);
    ready.catch(() => {
      if (this.bridges.get(name) === b) this.bridges.delete(name);
    });
    return ready;
  }

  /** A bridge that exists already for restored containers (startup). */
  adopt(name: string, index: number): void {
    const b = this.bridges.get(name);
    if (b) b.users++;
    else this.bridges.set(name, { ready: Promise.resolve(index), users: 1 });
  }

  /**
   * One user fewer; the last one starts the linger, after which the bridge is deleted (`now`: no
   * linger, e.g. for a failed create that made it).
   */
  release(name: string, now = false): void {
    const b = this.bridges.get(name);
    if (!b) return;
    if (--b.users > 0) return;
    const drop = () => {
      if (this.bridges.get(name) !== b || b.users > 0) return;
      this.bridges.delete(name);
      this.onDrop(name);
      this.reaper.delete([name]);
    };
    if (now || this.lingerMs <= 0) drop();
    else {
      b.linger = setTimeout(drop, this.lingerMs);
      b.linger.unref();
    }
  }

  /** Bridges in use or lingering. */
  names(): string[] {
    return [...this.bridges.keys()];
  }

  /** Forgets every bridge without deleting any (a stop with containers left: they keep theirs). */
  forget(): void {
    for (const b of this.bridges.values()) if (b.linger) clearTimeout(b.linger);
    this.bridges.clear();
  }

  /** Deletes every lingering bridge now (settled(), stop()). */
  flush(): void {
    for (const [name, b] of this.bridges) {
      if (b.users > 0) continue;
      if (b.linger) clearTimeout(b.linger);
      this.bridges.delete(name);
      this.onDrop(name);
      this.reaper.delete([name]);
    }
  }
}
