/** The grace-time state machine of protocol §9.2, driven with fake timers. */
import { HOUR, MILLISECOND, SECOND } from '@garden-ts/api-types';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Bomberman } from './bomberman.js';

let fired: string[];
let b: Bomberman;

beforeEach(() => {
  vi.useFakeTimers();
  fired = [];
  b = new Bomberman((h) => fired.push(h));
});
afterEach(() => {
  b.close();
  vi.useRealTimers();
});

const advance = (ms: number) => vi.advanceTimersByTime(ms);

describe('strap', () => {
  it('starts the countdown and detonates once at the end', () => {
    b.strap('a', 10n * SECOND);
    advance(9_999);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual(['a']);
    expect(b.has('a')).toBe(false);
    advance(60_000);
    expect(fired).toEqual(['a']);
  });

  it('never starts a zero countdown', () => {
    b.strap('a', 0n);
    advance(365 * 24 * 3600_000);
    expect(fired).toEqual([]);
    expect(b.bomb('a')?.running).toBe(false);
  });

  it('fires at once for a negative countdown', () => {
    b.strap('a', -5n * SECOND);
    advance(0);
    expect(fired).toEqual(['a']);
  });

  it('chains timers for countdowns beyond setTimeout range', () => {
    b.strap('a', 30n * 24n * HOUR);
    advance(29 * 24 * 3600_000);
    expect(fired).toEqual([]);
    advance(24 * 3600_000);
    expect(fired).toEqual(['a']);
  });
});

describe('pause and unpause', () => {
  it('stops the countdown while paused and restarts the full countdown after the last unpause', () => {
    b.strap('a', 10n * SECOND);
    advance(8_000);
    b.pause('a');
    b.pause('a');
    advance(60_000);
    b.unpause('a');
    advance(60_000);
    expect(fired).toEqual([]);
    b.unpause('a');
    advance(9_999);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual(['a']);
  });

  it('does not start a zero countdown on unpause', () => {
    b.strap('a', 0n);
    b.pause('a');
    b.unpause('a');
    advance(100_000);
    expect(fired).toEqual([]);
  });
});

describe('defuse', () => {
  it('stops and forgets the bomb', () => {
    b.strap('a', SECOND);
    b.defuse('a');
    advance(10_000);
    expect(fired).toEqual([]);
    expect(b.has('a')).toBe(false);
  });
});

describe('reset', () => {
  it('restarts a running countdown with the new value', () => {
    b.strap('a', 10n * SECOND);
    advance(9_000);
    b.reset('a', 5n * SECOND);
    advance(4_999);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual(['a']);
  });

  it('with 0 and nothing in flight detonates almost immediately', () => {
    b.strap('a', 60n * SECOND);
    b.reset('a', 0n);
    advance(1);
    expect(fired).toEqual(['a']);
  });

  it('with 0 starts a timer even when the bomb was strapped with 0', () => {
    b.strap('a', 0n);
    b.reset('a', 0n);
    advance(1);
    expect(fired).toEqual(['a']);
  });

  it('while paused only stores the countdown; the last unpause uses it', () => {
    b.strap('a', 60n * SECOND);
    b.pause('a');
    b.reset('a', 2n * SECOND);
    advance(100_000);
    expect(fired).toEqual([]);
    b.unpause('a');
    advance(2_000);
    expect(fired).toEqual(['a']);
  });

  it('to 0 while paused means the container is never reaped', () => {
    b.strap('a', 60n * SECOND);
    b.pause('a');
    b.reset('a', 0n);
    b.unpause('a');
    advance(1_000_000);
    expect(fired).toEqual([]);
  });

  it('rounds sub-millisecond countdowns to a timer', () => {
    b.strap('a', 500n * MILLISECOND);
    advance(500);
    expect(fired).toEqual(['a']);
  });
});

describe('unknown handles', () => {
  it('ignores pause, unpause, defuse and reset', () => {
    b.pause('x');
    b.unpause('x');
    b.defuse('x');
    b.reset('x', 0n);
    advance(1000);
    expect(fired).toEqual([]);
    expect(b.has('x')).toBe(false);
  });
});

describe('close', () => {
  it('stops every countdown', () => {
    b.strap('a', SECOND);
    b.strap('b', 2n * SECOND);
    b.close();
    advance(10_000);
    expect(fired).toEqual([]);
  });
});
