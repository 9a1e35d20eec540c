import { type Container, Signal } from '@garden-ts/api-types';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { runToExit } from '../support/streams.js';

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
