import { GardenError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { PortPool } from './port-pool.js';

describe('PortPool', () => {
  it('hands out ports from the start in order', () => {
    const pool = new PortPool();
    expect([pool.acquire(), pool.acquire(), pool.acquire()]).toEqual([61001, 61002, 61003]);
    expect(pool.available).toBe(4534 - 3);
  });

  it('appends released ports to the tail (FIFO reuse)', () => {
    const pool = new PortPool(100, 3);
    const a = pool.acquire();
    pool.release(a);
    expect([pool.acquire(), pool.acquire(), pool.acquire()]).toEqual([101, 102, 100]);
    expect(() => pool.acquire()).toThrow(new GardenError('port pool is exhausted'));
  });

  it('reserves explicit in-pool ports and tracks out-of-pool ones', () => {
    const pool = new PortPool(100, 3);
    pool.reserve(101);
    expect(() => pool.reserve(101)).toThrow(/port 101 is already in use/);
    pool.reserve(8080);
    expect(() => pool.reserve(8080)).toThrow(GardenError);
    expect([pool.acquire(), pool.acquire()]).toEqual([100, 102]);
    pool.release(8080);
    pool.reserve(8080);
    expect(pool.available).toBe(0);
  });

  it('ignores releases of ports it never handed out', () => {
    const pool = new PortPool(100, 2);
    pool.release(100);
    pool.release(5);
    expect(pool.available).toBe(2);
    expect([pool.acquire(), pool.acquire()]).toEqual([100, 101]);
  });

  it('rejects impossible pools', () => {
    expect(() => new PortPool(65000, 1000)).toThrow(RangeError);
    expect(() => new PortPool(0, 1)).toThrow(RangeError);
  });

  it('resumes the rotation at a saved port, wrapping around and skipping taken ones', () => {
    const pool = new PortPool(100, 5);
    pool.reserve(103);
    expect(pool.next).toBe(100);
    pool.resumeAt(102);
    expect([pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()]).toEqual([102, 104, 100, 101]);
    expect(pool.next).toBeUndefined();
    const other = new PortPool(100, 5);
    other.resumeAt(103);
    other.resumeAt(9999); // outside: ignored
    expect(other.acquire()).toBe(103);
  });
});
