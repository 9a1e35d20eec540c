/**
 * Removing nft set and map elements off the request path. The kernel waits for an RCU grace
 * period (~8 ms here) when a transaction deletes elements, against ~0.3 ms to add them, so a
 * destroy queues its container's removal instead of waiting for it: pending removals are applied
 * in batches (one transaction, one wait, for everything queued meanwhile).
 *
 * Correctness does not depend on the timing: each removal names the keys it frees (`ip:…` for a
 * NetOut vmap entry, `port:…` for a NetIn mapping, `subnet:…`), and whoever is about to add an
 * element with such a key first waits (`clear`) until the old one is gone. A new container reusing
 * an address or a port therefore never collides with its predecessor's elements.
 */
export class FirewallRemovals {
  private queue: { script: string; keys: string[]; done: () => void }[] = [];
  private running: Promise<void> | undefined;
  /** Key → the removal that frees it. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    /** Runs one nft script as one transaction. */
    private readonly apply: (script: string) => Promise<unknown>,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Queues a removal script; resolves once it was applied (or failed and was logged). */
  remove(script: string, keys: readonly string[]): Promise<void> {
    if (script.trim() === '') return Promise.resolve();
    let done!: () => void;
    const applied = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.queue.push({ script, keys: [...keys], done });
    for (const k of keys) this.pending.set(k, applied);
    void applied.then(() => {
      for (const k of keys) if (this.pending.get(k) === applied) this.pending.delete(k);
    });
    this.kick();
    return applied;
  }

  /** Starts draining unless a drain runs; one that ends with work queued meanwhile starts anew. */
  private kick(): void {
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      // Queued after the drain's last look at the queue, before it ended.
      if (this.queue.length > 0) this.kick();
    });
  }

  /** Resolves once no removal of any of these keys is pending. */
  async clear(keys: readonly string[]): Promise<void> {
    const waits = keys.map((k) => this.pending.get(k)).filter((p) => p !== undefined);
    if (waits.length > 0) await Promise.all(waits);
  }

  /** Resolves once nothing is queued or being applied. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the destroys of one burst queue up first: they share the transaction.
    await new Promise((r) => setImmediate(r));
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.apply(batch.map((b) => b.script).join(''));
      } catch {
        // One bad script must not keep the others: apply them one by one.
        for (const b of batch) await this.apply(b.script).catch((e: Error) => this.onError(e));
      }
      for (const b of batch) b.done();
    }
  }
}
