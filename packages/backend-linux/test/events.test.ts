/**
 * Lifecycle events of backend-linux beyond the contract suite: an OOM kill of a process the
 * backend does not supervise (a child of the user's process) is noticed without any call from
 * a client (v2: inotify on memory.events; v1: the poll).
 */
import type { GardenEvent, GardenEventStream } from '@garden-ts/api-types';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { Collector, testEnv } from './helpers.js';

const env = testEnv('events');
let backend: LinuxBackend;

beforeAll(async () => {
  backend = env.backend();
  await backend.start();
});
afterAll(() => env.cleanup());

async function next(
  stream: GardenEventStream,
  want: (e: GardenEvent) => boolean,
  ms: number,
): Promise<GardenEvent> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('no matching event in time');
    const r = await Promise.race([
      stream.next(),
      new Promise<'late'>((res) => setTimeout(() => res('late'), left)),
    ]);
    if (r === 'late') throw new Error('no matching event in time');
    if (r.done) throw new Error('stream ended');
    if (want(r.value)) return r.value;
  }
}

it('reports an OOM kill of an unsupervised child while the process keeps running', async () => {
  const stream = backend.events!();
  try {
    const c = await backend.create({ limits: { memory: { limitInBytes: 32n * 1024n * 1024n } } });
    // sh survives: only its awk child is killed; no process exits that the backend watches.
    const p = await c.run(
      { path: 'sh', args: ['-c', 'awk \'BEGIN { s = "x"; while (1) s = s s }\'; echo survived; sleep 30'] },
      { stdout: new Collector(), stderr: new Collector() },
    );
    const e = await next(stream, (x) => x.type === 'container.oom' && x.handle === c.handle, 10_000);
    expect(e.type).toBe('container.oom');
    expect((await c.info()).events).toEqual(['Out of memory']);
    // Still running: the event came from the watch/poll, not from an exit.
    expect((await c.info()).processIDs).toContain(p.id);
    await backend.destroy(c.handle);
  } finally {
    stream.close();
  }
}, 30_000);
