/**
 * Memory after floods of unread output (issue 10, item 8): 8 containers each run `yes` through a
 * Go-client-style Run whose output nobody reads, then are destroyed, three times over, in a server
 * process of its own (fixtures/flood-server.mjs, run with --expose-gc over the built packages).
 * After each destroy the output buffers are gone (arrayBuffers back at the baseline), and the
 * process does not grow from round to round.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';

const repo = join(import.meta.dirname, '..', '..');
const MiB = 1024 * 1024;

interface Sample {
  label: string;
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
}

it('unread floods leave no output buffers behind after destroy, and the server does not grow per round', () => {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', join(import.meta.dirname, 'fixtures', 'flood-server.mjs'), repo, inject('rootfs'), '3'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  const samples = new Map(
    out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Sample)
      .map((s) => [s.label, s]),
  );
  const at = (label: string): Sample => {
    const s = samples.get(label);
    if (!s) throw new Error(`no sample ${label} in ${out}`);
    return s;
  };
  const base = at('baseline');
  for (const n of [1, 2, 3]) {
    const flooding = at(`round ${n} flooding`);
    const destroyed = at(`round ${n} destroyed`);
    // While flooding: bounded buffers (per process: the backend's 1 MiB backlog and 1 MiB
    // handed back by the server), not 16 MiB startup buffers per stream.
    expect(flooding.arrayBuffers - base.arrayBuffers, `round ${n} flooding`).toBeLessThan(8 * 2.5 * MiB);
    // After destroy: nothing of the destroyed containers' output is held.
    expect(destroyed.arrayBuffers - base.arrayBuffers, `round ${n} destroyed`).toBeLessThan(MiB);
    expect(destroyed.heapUsed - base.heapUsed, `round ${n} destroyed heap`).toBeLessThan(4 * MiB);
  }
  // Freed memory the allocator keeps after the first flood is reused, not added to.
  expect(at('round 3 destroyed').rss - at('round 1 destroyed').rss).toBeLessThan(16 * MiB);
}, 180_000);
