import { describe, expect, it } from 'vitest';
import { QuickOrPooled } from './disk-store.js';

describe('QuickOrPooled', () => {
  it('runs on this thread while quick, on the pool for a while after a slow call', async () => {
    let clock = 0;
    const calls: string[] = [];
    const slow: number[] = [];
    let quickTakes = 1;
    const q = new QuickOrPooled(
      (x: number) => {
        calls.push(`quick ${x}`);
        clock += quickTakes;
        return x * 2;
      },
      async (x: number) => {
        calls.push(`pooled ${x}`);
        return x * 3;
      },
      (ms) => slow.push(ms),
      5,
      1000,
      () => clock,
    );
    expect(await q.run(1)).toBe(2);
    quickTakes = 20; // a commit in its blocking phase
    expect(await q.run(2)).toBe(4);
    expect(slow).toEqual([20]);
    expect(await q.run(3)).toBe(9); // on the pool now
    clock += 500;
    expect(await q.run(4)).toBe(12);
    clock += 600; // the while is over
    quickTakes = 1;
    expect(await q.run(5)).toBe(10);
    expect(calls).toEqual(['quick 1', 'quick 2', 'pooled 3', 'pooled 4', 'quick 5']);
  });

  it('a quick call that throws still counts, and rejects', async () => {
    let clock = 0;
    const q = new QuickOrPooled(
      () => {
        clock += 50;
        throw new Error('EEXIST');
      },
      async () => 'pooled',
      () => undefined,
      5,
      1000,
      () => clock,
    );
    await expect(q.run()).rejects.toThrow('EEXIST');
    expect(await q.run()).toBe('pooled');
  });
});
