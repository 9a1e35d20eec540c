import { expect, it } from 'vitest';
import type { Harness } from '../harness.js';

/** Capacity: every figure is a positive bigint. */
export function capacity(h: Harness): void {
  it.each(['memoryInBytes', 'diskInBytes', 'schedulableDiskInBytes', 'maxContainers'] as const)(
    'capacity().%s is a positive bigint',
    async (key) => {
      const value = (await h.client.capacity())[key];
      expect(typeof value).toBe('bigint');
      expect(value).toBeGreaterThan(0n);
    },
  );

  it('capacity figures are sane u64 values, not wrapped negatives', async () => {
    const c = await h.client.capacity();
    // A negative int64 misread as u64 shows up as a value near 2^64.
    expect(c.schedulableDiskInBytes).toBeLessThan(1n << 62n);
    expect(c.memoryInBytes).toBeLessThan(1n << 62n);
  });
}
