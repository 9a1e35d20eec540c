/**
 * The set of time bombs, keyed by container handle (Go's `server/bomberman`). Operations on an
 * unknown handle are no-ops (a container created by someone else after start, or already reaped,
 * has no bomb). A bomb that fires is forgotten before `detonate` runs, so it never fires twice and
 * a failed reap is not retried.
 */
import type { Duration } from '@garden-ts/api-types';
import { TimeBomb } from './timebomb.js';

export class Bomberman {
  private readonly bombs = new Map<string, TimeBomb>();

  constructor(private readonly detonate: (handle: string) => void) {}

  /** Creates and arms a bomb for `handle` (replacing any previous one). */
  strap(handle: string, countdown: Duration): void {
    this.bombs.get(handle)?.defuse();
    const bomb = new TimeBomb(countdown, () => {
      if (this.bombs.get(handle) === bomb) this.bombs.delete(handle);
      this.detonate(handle);
    });
    this.bombs.set(handle, bomb);
    bomb.strap();
  }

  pause(handle: string): void {
    this.bombs.get(handle)?.pause();
  }

  unpause(handle: string): void {
    this.bombs.get(handle)?.unpause();
  }

  /** Stops and forgets the bomb of a destroyed container. */
  defuse(handle: string): void {
    const bomb = this.bombs.get(handle);
    if (!bomb) return;
    bomb.defuse();
    this.bombs.delete(handle);
  }

  reset(handle: string, countdown: Duration): void {
    this.bombs.get(handle)?.reset(countdown);
  }

  /** True when `handle` has a bomb. */
  has(handle: string): boolean {
    return this.bombs.has(handle);
  }

  /** The bomb of `handle`, for inspection in tests. */
  bomb(handle: string): TimeBomb | undefined {
    return this.bombs.get(handle);
  }

  /** Stops every countdown (server shutdown); nothing fires afterwards. */
  close(): void {
    for (const bomb of this.bombs.values()) bomb.defuse();
    this.bombs.clear();
  }
}
