/**
 * Go's destroy concurrency guard: one destroy (API call or grace-time reap) per handle at a time.
 */
import { GardenError } from '@garden-ts/api-types';

export class DestroyGuard {
  private readonly inProgress = new Set<string>();

  /**
   * Runs `destroy` unless a destroy of `handle` is already running; the guard is released whether
   * it succeeds or not.
   * @throws GardenError `container already being destroyed` (a generic 500) when one is running.
   */
  async run<T>(handle: string, destroy: () => Promise<T>): Promise<T> {
    if (this.inProgress.has(handle)) throw new GardenError('container already being destroyed');
    this.inProgress.add(handle);
    try {
      return await destroy();
    } finally {
      this.inProgress.delete(handle);
    }
  }

  /** True while a destroy of `handle` runs. */
  busy(handle: string): boolean {
    return this.inProgress.has(handle);
  }
}
