/** Restart survival (reference §9): kill -9 of the server, recovery, reconciliation, destroy-on-startup. */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout, ensureBridge, nft } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { RUN_ROOT } from '../src/index.js';
import {
  bundleChild,
  Collector,
  crashAfterReady,
  depotMounts,
  leakCounts,
  networkLeaks,
  testEnv,
} from './helpers.js';

const env = testEnv('restart');
let bundle: Awaited<ReturnType<typeof bundleChild>>;

beforeAll(async () => {
  bundle = await bundleChild('restart-child.ts');
});
afterAll(async () => {
  bundle.dispose();
  await env.cleanup();
});

function crashingServer(): Promise<void> {
  return crashAfterReady(bundle.path, [env.depot, env.cgroupParent, inject('rootfs'), env.net.hostPath]);
}

describe('restart survival', () => {
  it('recovers containers, properties, limits and processes after kill -9 of the server', async () => {
    await crashingServer();
    const backend = env.backend();
    await backend.start();
    onTestFinished(() => backend.stop());
    const c = await backend.lookup('survivor');
    const props = await c.properties();
    expect(props).toMatchObject({
      owner: 'restart-test',
      'set-later': 'yes',
      'garden.grace-time': '5000000000',
      'rundmc.state': 'stopped',
    });
    expect(await backend.graceTime(c)).toBe(5_000_000_000n);
    expect((await c.currentMemoryLimits()).limitInBytes).toBe(48n << 20n);
    expect((await c.info()).state).toBe('stopped');
    // 'later' printed and exited while no server ran: attach gets its output and status.
    const stdout = new Collector();
    const stderr = new Collector();
    const later = await c.attach('later', { stdout, stderr });
    expect(await later.wait()).toBe(5);
    expect(stdout.text()).toBe('after-crash\n');
    expect(stderr.text()).toBe('err-after\n');
    // 'long2' still runs and can be signalled through the recovered shim connection.
    expect((await c.info()).processIDs).toContain('long2');
    const long2 = await c.attach('long2', {});
    await long2.signal(1);
    expect(await long2.wait()).toBe(137);
    // 'long' was killed by stop(true) before the crash.
    expect(await (await c.attach('long', {})).wait()).toBe(137);
    // The container still works.
    const out = new Collector();
    expect(await (await c.run({ path: 'echo', args: ['alive'] }, { stdout: out })).wait()).toBe(0);
    expect(out.text()).toBe('alive\n');
    // Its network too: address, mappings (held in the pool: a new container gets other ports),
    // and the firewall state rebuilt from the record.
    const info = await c.info();
    expect(info.containerIP).toBe('10.254.0.2');
    expect(info.mappedPorts).toEqual([
      { hostPort: 61001, containerPort: 8080 },
      { hostPort: 61002, containerPort: 9090 },
    ]);
    const ruleset = await nft('list ruleset', { netns: env.net.hostPath });
    expect(ruleset).toMatch(/61001 : 10\.254\.0\.2 \. 8080/);
    expect(ruleset).toMatch(/ip daddr 198\.51\.100\.10 tcp dport 8000 accept/);
    const other = await backend.create({ netIn: [{ hostPort: 0, containerPort: 1 }] });
    expect((await other.info()).mappedPorts).toEqual([{ hostPort: 61003, containerPort: 1 }]);
    expect((await other.info()).containerIP).toBe('10.254.0.6');
    await backend.destroy(other.handle);
    await backend.stop();
  });

  it('reconciles: removes orphans and half-created entries, never a healthy container', async () => {
    const layout = detectCgroupLayout();
    const mnt = Object.values(layout.v1)[0] ?? layout.v2;
    const orphanCgroup = join(mnt as string, env.cgroupParent, 'orphan-cgroup');
    mkdirSync(orphanCgroup, { recursive: true });
    const orphanDir = join(env.depot, 'containers', 'orphan-dir');
    mkdirSync(orphanDir);
    // A create interrupted by the crash: its record says `creating`, its cgroup exists.
    const halfDir = join(env.depot, 'containers', 'half-created');
    mkdirSync(halfDir);
    writeFileSync(
      join(halfDir, 'state.json'),
      JSON.stringify({
        version: 1,
        handle: 'half-created',
        id: 'half-created',
        phase: 'creating',
        cgroupPath: `${env.cgroupParent}/half-created`,
        processes: {},
      }),
    );
    const halfCgroup = join(mnt as string, env.cgroupParent, 'half-created');
    mkdirSync(halfCgroup);
    // Network state of no container: a bridge and a veth of our naming scheme, an nft element.
    await ensureBridge({
      hostNetns: env.net.hostPath,
      bridge: 'gtb-0afe00fc',
      gateway: '10.254.0.253',
      prefixLength: 30,
    });
    await nft('add element bridge garden_ts ports { "gtv-deadbeef" . 10.254.0.254 }\n', {
      netns: env.net.hostPath,
    });
    const backend = env.backend();
    await backend.start();
    await backend.settled();
    expect((await networkLeaks(env)).links).not.toContain('gtb-0afe00fc');
    expect((await networkLeaks(env)).links).toContain('gtb-0afe0000'); // the survivor's
    expect(await nft('list set bridge garden_ts ports', { netns: env.net.hostPath })).not.toContain(
      'deadbeef',
    );
    await new Promise((r) => setTimeout(r, 200)); // orphan cgroups are removed in the background
    expect(existsSync(orphanDir)).toBe(false);
    expect(existsSync(orphanCgroup)).toBe(false);
    expect(existsSync(halfDir)).toBe(false);
    expect(existsSync(halfCgroup)).toBe(false);
    expect(backend.handles()).toEqual(['survivor']);
    expect((await (await backend.lookup('survivor')).info()).state).toBe('stopped');
    await backend.stop();
  });

  it('destroyContainersOnStartup destroys every container and leaves nothing behind', async () => {
    const backend = env.backend({ destroyContainersOnStartup: true });
    await backend.start();
    expect(backend.handles()).toEqual([]);
    expect(await backend.containers()).toEqual([]);
    await backend.settled();
    await new Promise((r) => setTimeout(r, 300));
    expect(leakCounts(env)).toEqual({
      cgroups: 0,
      mounts: 0,
      depot: 0,
      runDirs: 0,
      shims: 0,
      volumes: 0,
      qgroups: 0,
    });
    // And no link of ours; with no container left, stop removes the nft tables too.
    for (let i = 0; i < 100 && (await networkLeaks(env)).links.length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect((await networkLeaks(env)).links).toEqual([]);
    expect(await nft('list ruleset', { netns: env.net.hostPath })).not.toMatch(/10\.254\.|6100\d :|netout-/);
    await backend.stop();
    expect(await networkLeaks(env)).toEqual({ links: [], tables: '' });
    // No container left: the run dir goes, and /run/garden-ts too when nothing else uses it;
    // the image store's views are unmounted.
    expect(depotMounts(env.depot)).toEqual([]);
    expect(existsSync(backend.runDir)).toBe(false);
    expect(!existsSync(RUN_ROOT) || readdirSync(RUN_ROOT).length > 0).toBe(true);
  });
});
