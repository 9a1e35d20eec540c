import {
  type Client,
  type EventSource,
  type GardenEvent,
  type GardenEventStream,
  millis,
  Signal,
} from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { Collector, runToExit } from '../support/streams.js';

/** The target's `events()`, or a failure naming the capability that promised it. */
function source(client: Client): EventSource {
  const events = (client as Partial<EventSource>).events;
  if (typeof events !== 'function') {
    throw new Error('caps.events is true but the target has no events() method');
  }
  return client as unknown as EventSource;
}

/** Reads events until one matches `want` (or `ms` pass: then fails, listing what came). */
async function waitFor(
  stream: GardenEventStream,
  want: (e: GardenEvent) => boolean,
  ms: number,
  seen: GardenEvent[] = [],
): Promise<GardenEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no matching event within ${ms} ms; saw ${JSON.stringify(seen)}`)),
      ms,
    );
  });
  try {
    return await Promise.race([
      (async () => {
        for (;;) {
          const { value, done } = await stream.next();
          if (done) throw new Error(`the event stream ended; saw ${JSON.stringify(seen)}`);
          seen.push(value);
          if (want(value)) return value;
        }
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lifecycle events (a garden-ts extension): `process.exited` from every backend that declares
 * `caps.events`; `container.created` / `destroyed` / `reaped` where a server adds them
 * (`caps.containerEvents`); `container.oom` where the backend detects OOM kills
 * (`caps.oomEvents`; the default rootfs needs `sh` and `awk`).
 */
export function events(h: Harness): void {
  describe.skipIf(!h.caps.events)('process events (caps.events)', () => {
    it('events() is a subscription that becomes ready and ends on close()', async () => {
      const stream = source(h.client).events();
      await stream.ready;
      const next = stream.next();
      stream.close();
      expect(await next).toEqual({ value: undefined, done: true });
      expect(await stream.next()).toEqual({ value: undefined, done: true });
    });

    it('aborting the signal ends the iteration without an error', async () => {
      const ac = new AbortController();
      const stream = source(h.client).events({ signal: ac.signal });
      await stream.ready;
      setTimeout(() => ac.abort(), 20);
      const seen: GardenEvent[] = [];
      for await (const e of stream) seen.push(e);
      expect(seen.filter((e) => e.type === 'events.dropped')).toEqual([]);
    });

    it('a process that exits is reported with its container, id and exit status', async () => {
      const stream = source(h.client).events();
      try {
        await stream.ready;
        const container = await h.create();
        const id = h.handle('exit-3');
        const { exitCode } = await runToExit(container, { id, path: 'sh', args: ['-c', 'exit 3'] });
        expect(exitCode).toBe(3);
        const e = await waitFor(stream, (x) => x.type === 'process.exited' && x.processId === id, h.ms(5000));
        expect(e).toMatchObject({
          type: 'process.exited',
          handle: container.handle,
          processId: id,
          exitStatus: 3,
        });
        expect(Number.isNaN(Date.parse(e.time))).toBe(false);
        expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      } finally {
        stream.close();
      }
    });

    it('a killed process is reported with 128 + SIGKILL, to every subscriber', async () => {
      const a = source(h.client).events();
      const b = source(h.client).events();
      try {
        await Promise.all([a.ready, b.ready]);
        const container = await h.create();
        const id = h.handle('killed');
        const process = await container.run(
          { id, path: 'sleep', args: ['30'] },
          { stdout: new Collector(), stderr: new Collector() },
        );
        await process.signal(Signal.Kill);
        expect(await process.wait()).toBe(137);
        for (const stream of [a, b]) {
          const e = await waitFor(
            stream,
            (x) => x.type === 'process.exited' && x.processId === id,
            h.ms(5000),
          );
          expect(e).toMatchObject({ handle: container.handle, exitStatus: 137 });
        }
      } finally {
        a.close();
        b.close();
      }
    });
  });

  describe.skipIf(!h.caps.containerEvents)('container events (caps.containerEvents)', () => {
    it('create and destroy are reported, in order, with the handle', async () => {
      const stream = source(h.client).events();
      try {
        await stream.ready;
        const container = await h.create();
        await h.client.destroy(container.handle);
        const seen: GardenEvent[] = [];
        // Container lifecycle events only (a create may also report image.progress).
        const mine = (e: GardenEvent) =>
          'handle' in e && e.handle === container.handle && e.type.startsWith('container.');
        await waitFor(stream, (e) => mine(e) && e.type === 'container.destroyed', h.ms(5000), seen);
        expect(seen.filter(mine).map((e) => e.type)).toEqual(['container.created', 'container.destroyed']);
      } finally {
        stream.close();
      }
    });

    it('a grace-time reap is reported as reaped, then destroyed', async () => {
      const stream = source(h.client).events();
      try {
        await stream.ready;
        const container = await h.create({ graceTime: millis(200) });
        const seen: GardenEvent[] = [];
        // Container lifecycle events only (a create may also report image.progress).
        const mine = (e: GardenEvent) =>
          'handle' in e && e.handle === container.handle && e.type.startsWith('container.');
        await waitFor(stream, (e) => mine(e) && e.type === 'container.destroyed', h.ms(5000), seen);
        expect(seen.filter(mine).map((e) => e.type)).toEqual([
          'container.created',
          'container.reaped',
          'container.destroyed',
        ]);
        await expect(h.client.lookup(container.handle)).rejects.toThrow();
      } finally {
        stream.close();
      }
    });
  });

  describe.skipIf(!h.caps.oomEvents)('OOM events (caps.oomEvents)', () => {
    it("a process killed by the OOM killer is reported as container.oom, and in the container's events", async () => {
      const stream = source(h.client).events();
      try {
        await stream.ready;
        const container = await h.create({ limits: { memory: { limitInBytes: 32n * 1024n * 1024n } } });
        // awk doubles a string until the cgroup's limit is hit and the kernel kills it.
        const { exitCode } = await runToExit(container, {
          path: 'sh',
          args: ['-c', 'awk \'BEGIN { s = "x"; while (1) s = s s }\''],
        });
        expect(exitCode).not.toBe(0);
        const e = await waitFor(
          stream,
          (x) => x.type === 'container.oom' && x.handle === container.handle,
          h.ms(10_000),
        );
        expect(e.type).toBe('container.oom');
        expect((await container.info()).events).toContain('Out of memory');
      } finally {
        stream.close();
      }
    });
  });
}
