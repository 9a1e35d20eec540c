/** The startup buffer, the hand-back store and what the stream registry keeps. */

import type { Container } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { HandBackStore } from './hand-back-store.js';
import { StartupBuffer } from './startup-buffer.js';
import { StreamRegistry } from './stream-registry.js';

describe('StartupBuffer', () => {
  it('queues every write, reports fullness, and gives everything to take() once', async () => {
    const b = new StartupBuffer(4);
    expect(b.write(Buffer.from('ab'))).toBe(true);
    let called = false;
    expect(b.write('cd', () => (called = true))).toBe(false);
    expect(b.write(Buffer.from('ef'))).toBe(false);
    await new Promise((r) => process.nextTick(r));
    expect(called).toBe(true);
    let drained = false;
    b.on('drain', () => (drained = true));
    expect(Buffer.concat(b.take()).toString()).toBe('abcdef');
    expect([b.destroyed, drained, b.take().length]).toEqual([true, true, 0]);
    // A late write is refused without throwing.
    expect(b.write(Buffer.from('x'))).toBe(false);
  });
});

describe('HandBackStore', () => {
  it('forgets every process of a destroyed container, and only those', () => {
    const store = new HandBackStore();
    store.put('web\0p1', 'stdout', [Buffer.from('1')]);
    store.put('web\0p2', 'stderr', [Buffer.from('2')]);
    store.put('web2\0p1', 'stdout', [Buffer.from('3')]);
    store.forgetContainer('web');
    expect(store.bytes('web\0p1', 'stdout')).toBe(0);
    expect(store.bytes('web\0p2', 'stderr')).toBe(0);
    expect(Buffer.concat(store.take('web2\0p1', 'stdout')).toString()).toBe('3');
  });

  it('keeps output per process stream, oldest bytes dropped beyond the bound', () => {
    const s = new HandBackStore(5, 2);
    s.put('p1', 'stdout', [Buffer.from('abc')]);
    s.put('p1', 'stdout', [Buffer.from('defg')]);
    s.put('p1', 'stderr', [Buffer.from('E')]);
    expect(Buffer.concat(s.take('p1', 'stdout')).toString()).toBe('cdefg');
    expect(s.bytes('p1', 'stderr')).toBe(1);
    expect(s.take('p1', 'stdout')).toEqual([]);
  });

  it('forgets the least recently stored process beyond its capacity', () => {
    const s = new HandBackStore(100, 2);
    s.put('a', 'stdout', [Buffer.from('a')]);
    s.put('b', 'stdout', [Buffer.from('b')]);
    s.put('a', 'stdout', [Buffer.from('A')]);
    s.put('c', 'stdout', [Buffer.from('c')]);
    expect([s.bytes('a', 'stdout'), s.bytes('b', 'stdout'), s.bytes('c', 'stdout')]).toEqual([2, 0, 1]);
  });
});

describe('StreamRegistry', () => {
  it('startup buffers hold no more than the hand-back store keeps (1 MiB), then ask for backpressure', () => {
    const r = new StreamRegistry();
    const { stdout } = r.newStartupBuffers();
    expect(stdout.write(Buffer.alloc(1024 * 1024 - 1))).toBe(true);
    expect(stdout.write(Buffer.alloc(1))).toBe(false);
    stdout.take();
  });

  it("forgetContainer drops a destroyed container's streams, which reference its processes", () => {
    const r = new StreamRegistry();
    const container = (handle: string) => ({ handle }) as Container;
    const startup = r.newStartupBuffers();
    startup.stdout.write(Buffer.from('unread'));
    r.register(container('web'), 'p1', startup);
    r.register(container('web2'), 'p1', r.newStartupBuffers());
    expect(r.size).toBe(2);
    r.forgetContainer('web');
    expect(r.size).toBe(1);
    expect(startup.stdout.destroyed).toBe(true);
    // Its startup output is not handed back for a process that can never be read again.
    expect(r.handedBack('web', 'p1', 'stdout')).toBe(0);
    r.close();
  });
});
