/**
 * Exits are watched on the event loop (a uv_poll per pidfd): a watch that does not keep the loop
 * alive lets the process end; one that does holds it until the exit and reports the status.
 */
import { spawn as spawnChild } from 'node:child_process';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, inject, it } from 'vitest';
import { cleanup } from './helpers.js';

afterAll(cleanup);

/** Runs `body` in a child Node process with the bundle imported as `mod` and a container `c`. */
async function inChild(body: string): Promise<{ out: string; ms: number; code: number | null }> {
  const script = `
    const mod = await import(process.env.NATIVE_NS_BUNDLE);
    const c = await mod.createContainer({ rootfs: process.env.ROOTFS, hostname: 'exit-watch' });
    console.log('init', c.pid);
    ${body}
  `;
  const t0 = Date.now();
  const child = spawnChild(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      ...process.env,
      NATIVE_NS_BUNDLE: inject('bundle'),
      ROOTFS: inject('rootfsUnprivileged'),
      GARDEN_NATIVE_NS_BUILD: join(fileURLToPath(new URL('..', import.meta.url)), 'build', 'Release'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out = text(child.stdout);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { out: await out, ms: Date.now() - t0, code };
}

/** Whether init `pid` was still there; it is not any more (a failing check must not leave it). */
function endInit(out: string): boolean {
  const pid = Number(/^init (\d+)$/m.exec(out)?.[1]);
  if (!pid) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

it('a watch that does not keep the event loop alive lets the process end; init lives on', async () => {
  const { out, code } = await inChild(`c.waitExit(false);`);
  // The creator is gone: its init was reparented and is still there, until we end it.
  expect(endInit(out)).toBe(true);
  expect(code).toBe(0);
});

it('a watch that keeps it alive holds the process until the exit, then reports how init ended', async () => {
  const { out, ms, code } = await inChild(`
    setTimeout(() => c.signal(9), 300).unref();
    c.waitExit(true).then((r) => console.log(JSON.stringify(r)));
  `);
  expect(endInit(out)).toBe(false);
  expect(code).toBe(0);
  expect(out.split('\n')[1]).toBe('{"code":null,"signal":9,"known":true}');
  expect(ms).toBeGreaterThanOrEqual(300);
});
