/** 100 containers created concurrently, each running a process; nothing leaks after destroy. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { nft } from '@garden-ts/native-ns';
import { afterAll, describe, expect, it } from 'vitest';
import { Collector, leakCounts, networkLeaks, testEnv } from './helpers.js';

const env = testEnv('scale');
afterAll(() => env.cleanup());

describe('scale', () => {
  it('creates 100 containers concurrently, runs a process in each, destroys all without leaks', async () => {
    const backend = env.backend();
    await backend.start();
    const before = leakCounts(env);
    const N = 100;
    const t0 = Date.now();
    const containers = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        backend.create({ handle: `scale-${i}`, limits: { memory: { limitInBytes: 64n << 20n } } }),
      ),
    );
    const created = Date.now() - t0;
    const outputs = await Promise.all(
      containers.map(async (c) => {
        const out = new Collector();
        const p = await c.run(
          { path: 'sh', args: ['-c', 'hostname; readlink /proc/self/ns/net'] },
          { stdout: out },
        );
        return { status: await p.wait(), text: out.text(), handle: c.handle };
      }),
    );
    const netns = new Set<string>();
    for (const o of outputs) {
      const [host, ns] = o.text.split('\n');
      expect({ status: o.status, host }).toEqual({ status: 0, host: o.handle });
      netns.add(ns as string);
    }
    expect(netns.size).toBe(N); // one private network namespace each
    const during = leakCounts(env);
    expect(during.cgroups).toBeGreaterThanOrEqual(N);
    expect(during.mounts).toBe(N);
    expect(during.depot).toBe(N);
    expect(during.runDirs).toBe(N);
    const t1 = Date.now();
    await Promise.all(containers.map((c) => backend.destroy(c.handle)));
    const destroyed = Date.now() - t1;
    console.log(`100 containers: create ${created} ms, destroy ${destroyed} ms`);
    await backend.settled(); // depot dirs go to the trash at once and are removed in the background
    await new Promise((r) => setTimeout(r, 300));
    expect(leakCounts(env)).toEqual(before);
    // Every veth went with its namespace, every bridge with its subnet; no nft element is left.
    for (let i = 0; i < 100 && (await networkLeaks(env)).links.length > 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await networkLeaks(env)).links).toEqual([]);
    expect(await nft('list ruleset', { netns: env.net.hostPath })).not.toMatch(/10\.254\.|netout-/);
    // No process and no nsfs mount holds any of those network namespaces any more.
    const live = new Set<string>();
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        live.add(readlinkSync(`/proc/${pid}/ns/net`));
      } catch {
        // gone
      }
    }
    expect([...netns].filter((ns) => live.has(ns))).toEqual([]);
    const inodes = [...netns].map((ns) => ns.replace(/^net:\[(\d+)\]$/, '$1'));
    expect(
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(' - nsfs ') && inodes.some((i) => l.includes(i))),
    ).toEqual([]);
    expect(before).toEqual({ cgroups: 0, mounts: 0, depot: 0, runDirs: 0, shims: 0, volumes: 0, qgroups: 0 });
    await backend.stop();
    expect(await networkLeaks(env)).toEqual({ links: [], tables: '' });
  }, 180_000);

  it('a handle created again right after its destroy gets its own cgroup (the old one went first)', async () => {
    const backend = env.backend();
    await backend.start();
    const memoryLimit = (c: { currentMemoryLimits(): Promise<{ limitInBytes?: bigint }> }) =>
      c.currentMemoryLimits().then((l) => l.limitInBytes);
    for (const [i, mib] of [64n, 32n, 48n].entries()) {
      // The previous one's cgroup removal is still queued when this create starts.
      const c = await backend.create({ handle: 'again', limits: { memory: { limitInBytes: mib << 20n } } });
      expect(await memoryLimit(c)).toBe(mib << 20n);
      const out = new Collector();
      const p = await c.run(
        { path: 'cat', args: ['/sys/fs/cgroup/memory/memory.limit_in_bytes'] },
        { stdout: out },
      );
      expect({ i, status: await p.wait(), limit: out.text().trim() }).toEqual({
        i,
        status: 0,
        limit: String(mib << 20n),
      });
      await backend.destroy('again');
    }
    await backend.settled();
    expect(leakCounts(env).cgroups).toBe(0);
    await backend.stop();
  });
});
