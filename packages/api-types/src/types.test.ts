import { describe, expect, it } from 'vitest';
import { DEFAULT_WINDOW_SIZE, isSignal, SIGNAL_NAMES, Signal, signalName, windowSizeOf } from './types.js';
import { illFormedReason, loneSurrogateIndex } from './unicode.js';

describe('signals: one mapping between Garden numbers and POSIX names', () => {
  it('maps terminate and kill, and nothing else', () => {
    expect(signalName(Signal.Terminate)).toBe('SIGTERM');
    expect(signalName(Signal.Kill)).toBe('SIGKILL');
    expect(SIGNAL_NAMES).toEqual({ 0: 'SIGTERM', 1: 'SIGKILL' });
    for (const bad of [2, -1, 0.5, '0', null, undefined, 1n]) {
      expect(isSignal(bad)).toBe(false);
      expect(() => signalName(bad as Signal)).toThrow(RangeError);
    }
    expect(isSignal(0)).toBe(true);
    expect(isSignal(1)).toBe(true);
  });
});

describe('TTY window size: one default', () => {
  it('is 80×24 for a missing spec, a missing size and zero members', () => {
    expect(DEFAULT_WINDOW_SIZE).toEqual({ columns: 80, rows: 24 });
    expect(windowSizeOf(undefined)).toEqual({ columns: 80, rows: 24 });
    expect(windowSizeOf({})).toEqual({ columns: 80, rows: 24 });
    expect(windowSizeOf({ windowSize: { columns: 0, rows: 50 } })).toEqual({ columns: 80, rows: 50 });
    expect(windowSizeOf({ windowSize: { columns: 132 } })).toEqual({ columns: 132, rows: 24 });
    expect(Object.isFrozen(DEFAULT_WINDOW_SIZE)).toBe(true);
  });
});

describe('UTF-16 well-formedness', () => {
  it('finds lone surrogates, not pairs', () => {
    expect(loneSurrogateIndex('plain')).toBe(-1);
    expect(loneSurrogateIndex('\ud83d\ude00')).toBe(-1);
    expect(loneSurrogateIndex('a\ud800')).toBe(1);
    expect(loneSurrogateIndex('\udc00x')).toBe(0);
    expect(loneSurrogateIndex('\ud83d\ude00\ude00')).toBe(2);
    expect(illFormedReason('\ud800')).toBe('ill-formed UTF-16: lone surrogate \\ud800 at index 0');
    expect(illFormedReason('ok')).toBeUndefined();
  });
});
