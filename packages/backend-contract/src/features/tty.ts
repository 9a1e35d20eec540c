import { type Container, Signal } from '@garden-ts/api-types';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { Collector, controlledStdin, delay, runToExit } from '../support/streams.js';

/** What `stty size` prints: rows, then columns. */
const SIZE = /(\d+) (\d+)/;

/** Polls `check` every 10 ms until it holds; throws after `ms`. */
async function waitFor(check: () => boolean, ms: number): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await delay(10)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
  }
}

/** TTY: output arrives on stdout, window sizes and resizes are accepted. */
export function tty(h: Harness): void {
  describe.skipIf(!h.caps.tty)('with a tty (caps.tty)', () => {
    let container: Container;
    beforeAll(async () => {
      container = await h.create();
    });

    it('output arrives on stdout', async () => {
      const r = await runToExit(container, { path: 'echo', args: ['on', 'a', 'tty'], tty: {} });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('on a tty');
      expect(r.stderr).toBe('');
    });

    it('stderr output arrives on stdout too', async () => {
      const r = await runToExit(container, { path: 'sh', args: ['-c', 'echo tty-err >&2'], tty: {} });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('tty-err');
      expect(r.stderr).toBe('');
    });

    it('a window size is accepted at run', async () => {
      const r = await runToExit(container, {
        path: 'echo',
        args: ['sized'],
        tty: { windowSize: { columns: 132, rows: 43 } },
      });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('sized');
    });

    it('exit statuses are preserved with a tty', async () => {
      const r = await runToExit(container, { path: 'sh', args: ['-c', 'exit 5'], tty: {} });
      expect(r.exitCode).toBe(5);
    });

    it('setTTY resizes a running process and it can still be signalled', async () => {
      const process = await container.run(
        { path: 'sleep', args: ['100'], tty: { windowSize: { columns: 80, rows: 24 } } },
        {},
      );
      await expect(process.setTTY({ windowSize: { columns: 200, rows: 50 } })).resolves.toBeUndefined();
      await process.signal(Signal.Kill);
      expect(await process.wait()).toBe(137);
    });

    it('the process sees the window size given at run, then the one setTTY sets', async () => {
      const stdin = controlledStdin();
      const stdout = new Collector();
      const process = await container.run(
        // stty size prints "rows columns"; cat holds the process until stdin ends.
        {
          path: 'sh',
          args: ['-c', 'stty size; cat; stty size'],
          tty: { windowSize: { columns: 80, rows: 24 } },
        },
        { stdin, stdout },
      );
      await waitFor(() => SIZE.test(stdout.text()), h.ms(4000));
      await process.setTTY({ windowSize: { columns: 132, rows: 43 } });
      await process.setTTY({}); // no size: nothing changes
      stdin.end(); // after the resize (same ordered stream): cat ends, the second stty size runs
      expect(await process.wait()).toBe(0);
      const sizes = [...stdout.text().matchAll(new RegExp(SIZE, 'g'))].map((m) => `${m[1]}x${m[2]}`);
      expect(sizes).toEqual(['24x80', '43x132']);
    });

    it('setTTY without a size is accepted', async () => {
      const process = await container.run({ path: 'sleep', args: ['100'], tty: {} }, {});
      await expect(process.setTTY({})).resolves.toBeUndefined();
      await process.signal(Signal.Terminate);
      expect(await process.wait()).toBe(143);
    });

    it('setTTY through an attached process is accepted', async () => {
      const running = await container.run({ path: 'sleep', args: ['100'], tty: {} }, {});
      const attached = await container.attach(running.id, {});
      await expect(attached.setTTY({ windowSize: { columns: 100, rows: 30 } })).resolves.toBeUndefined();
      await attached.signal(Signal.Kill);
      expect(await running.wait()).toBe(137);
    });
  });
}
