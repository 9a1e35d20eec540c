/**
 * `gardend --backend linux`, the built executable as shipped (packages/gardend/dist/bin/gardend.js,
 * which loads @garden-ts/backend-linux from its package): on a temp socket, temp depot and its own
 * cgroup parent, a real container runs `echo hello` through the TypeScript client; SIGTERM stops
 * the server cleanly and nothing of the container is left on the host. gardend runs in a
 * test-made "host" network namespace (`nsenter --net`: only the network namespace differs), so
 * its containers' bridges, veths and nft tables never touch the machine's own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRunDir } from '@garden-ts/backend-linux';
import { createClient } from '@garden-ts/client';
import {
  btrfsFsid,
  btrfsQuotaStatus,
  detectCgroupLayout,
  listLinks,
  nft,
  unmount,
} from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, leakCounts, storeState } from '../../packages/backend-linux/test/helpers.js';
import { type TestNetwork, testNetwork } from '../../packages/backend-linux/test/netns.js';

const repo = join(import.meta.dirname, '..', '..');
const gardend = join(repo, 'packages', 'gardend', 'dist', 'bin', 'gardend.js');
// Never the default `garden`: gardend removes cgroups of its parent that its depot does not know,
// which would hit the containers of a gardend already running on this host.
const cgroupParent = `garden-e2e-${process.pid}`;
let dir: string;
let depot: string;
let socketPath: string;
let child: ChildProcess | undefined;
let net: TestNetwork;

beforeAll(() => {
  net = testNetwork('gardend');
  dir = mkdtempSync(join(tmpdir(), 'gardend-linux-'));
  // Containers' (unmapped) root must pass through to the depot's files; gardend refuses otherwise.
  chmodSync(dir, 0o711);
  depot = join(dir, 'depot'); // gardend creates it
  socketPath = join(dir, 'garden.sock');
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await new Promise((resolve) => child?.once('close', resolve));
  }
  // A failed run may leave the container: a sweeper gardend destroys what the depot holds.
  if (existsSync(join(depot, 'containers')) && readdirSync(join(depot, 'containers')).length > 0) {
    const sweep = run(['--destroy-containers-on-startup', '--bind-socket', join(dir, 'sweep.sock')]);
    await waitForPing(join(dir, 'sweep.sock')).catch(() => undefined);
    sweep.child.kill('SIGTERM');
    await sweep.done;
  }
  const layout = detectCgroupLayout();
  for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
    const d = join(mnt, cgroupParent);
    if (existsSync(d)) rmdirSync(d);
  }
  // A run that failed midway may leave the disk stores (the depot's and --disk-store's) and the
  // image store's views mounted: detached here, their loop devices go with them (autoclear).
  for (const mp of readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p?.startsWith(`${dir}/`) === true)
    .reverse())
    unmount(mp, { detach: true });
  rmSync(dir, { recursive: true, force: true });
  rmSync(defaultRunDir(depot), { recursive: true, force: true });
  net?.cleanup();
});

function run(
  extra: string[],
  depotDir = depot,
  env: Record<string, string> = {},
): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
} {
  const c = spawn(
    'nsenter',
    [
      `--net=${net.hostPath}`,
      process.execPath,
      gardend,
      '--backend',
      'linux',
      '--depot',
      depotDir,
      '--cgroup-parent',
      cgroupParent,
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let stderr = '';
  c.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    c.on('close', (code) => resolve({ code, stderr })),
  );
  return { child: c, done };
}

/** Stops a gardend with SIGTERM, expects a clean exit, and returns its JSON log lines. */
async function stopped(
  started: ReturnType<typeof run>,
): Promise<Array<Record<string, unknown> & { msg: string }>> {
  started.child.kill('SIGTERM');
  const { code, stderr } = await started.done;
  expect(code).toBe(0);
  return stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

async function waitForPing(path: string): Promise<void> {
  const client = createClient({ socketPath: path });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await client.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('gardend --backend linux', () => {
  it('runs a real container through the client, stops on SIGTERM and leaves nothing behind', async () => {
    const started = run(['--bind-socket', socketPath]);
    child = started.child;
    await waitForPing(socketPath);
    const client = createClient({ socketPath });

    const container = await client.create({});
    expect(readdirSync(join(depot, 'containers'))).toHaveLength(1);
    const out = new Collector();
    const proc = await container.run({ path: 'echo', args: ['hello'] }, { stdout: out });
    expect(await proc.wait()).toBe(0);
    expect(out.text()).toBe('hello\n');
    // A real container: its own hostname (the handle's tail), not the host's.
    const host = new Collector();
    await (await container.run({ path: 'hostname' }, { stdout: host })).wait();
    expect(host.text().trim()).toBe(container.handle.slice(-49));
    await client.destroy(container.handle);
    expect(await client.containers()).toEqual([]);

    const lines = await stopped(started);
    // No --default-rootfs: the checkout's busybox rootfs.
    const start = lines.find((l) => l.msg === 'starting the linux backend');
    expect(start?.defaultRootfs).toBe(join(repo, '.rootfs', 'busybox'));
    expect(start?.depot).toBe(depot);
    expect(lines.at(-1)?.msg).toBe('stopped');
    expect(existsSync(socketPath)).toBe(false);
    expect(leakCounts({ depot, cgroupParent })).toEqual({
      cgroups: 0,
      mounts: 0,
      depot: 0,
      runDirs: 0,
      shims: 0,
      volumes: 0,
      qgroups: 0,
    });
    // No container left: the disk store was unmounted and its loop device went with it.
    expect(storeState(depot)).toMatchObject({ mounted: false, loops: 0 });
    // Stopped with no container left: no nft table and no link of ours in its host namespace.
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    expect(
      (await listLinks({ netns: net.hostPath })).map((l) => l.name).filter((n) => n.startsWith('gt')),
    ).toEqual([]);
  });

  it('refuses bad linux flags with a message naming them', async () => {
    const badMax = await run(['--max-containers', 'many']).done;
    expect(badMax.code).toBe(2);
    expect(badMax.stderr).toContain('--max-containers');
    const badRootfs = await run([
      '--bind-socket',
      join(dir, 'bad.sock'),
      '--default-rootfs',
      join(dir, 'no-such-rootfs'),
    ]).done;
    expect(badRootfs.code).toBe(1);
    expect(badRootfs.stderr).toContain(`--default-rootfs ${join(dir, 'no-such-rootfs')}: no such directory`);
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const badDepot = await run(['--bind-socket', join(dir, 'bad.sock')], join(closed, 'depot')).done;
    expect(badDepot.code).toBe(1);
    expect(badDepot.stderr).toContain(`--depot ${join(closed, 'depot')}: ${closed} is not searchable`);
  });

  it('hands --stop-timeout and --helper-executable to the backend (flag, variable, config file)', async () => {
    // A helper that is not a static binary: refused at startup, naming the gardend option.
    const badHelper = await run([
      '--bind-socket',
      join(dir, 'bad.sock'),
      '--helper-executable',
      '/etc/hostname',
    ]).done;
    expect(badHelper.code).toBe(1);
    expect(badHelper.stderr).toContain(
      'gardend: --helper-executable: helper executable /etc/hostname must be',
    );

    const config = join(dir, 'gardend.json');
    writeFileSync(config, JSON.stringify({ 'helper-executable': 'none' }));
    const sock = join(dir, 'stop.sock');
    const started = run(['--bind-socket', sock, '--config', config], depot, { GARDEND_STOP_TIMEOUT: '1s' });
    child = started.child;
    await waitForPing(sock);
    const client = createClient({ socketPath: sock });
    const container = await client.create({});
    try {
      // A process that ignores SIGTERM: stop(false) waits out the stop timeout, then SIGKILLs.
      const proc = await container.run(
        { path: 'sh', args: ['-c', 'trap "" TERM; echo ready; sleep 100'] },
        { stdout: new Collector() },
      );
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await container.stop(false);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(6000); // the default would be 10 s
      expect(await proc.wait()).toBe(137);
    } finally {
      await client.destroy(container.handle);
    }
    const start = (await stopped(started)).find((l) => l.msg === 'starting the linux backend');
    expect(start).toMatchObject({ stopTimeoutSeconds: 1, helperExecutable: false });
  }, 60_000);

  it('runs a pea (a process with its own image) through the wire', async () => {
    const sock = join(dir, 'pea.sock');
    const started = run(['--bind-socket', sock]);
    child = started.child;
    await waitForPing(sock);
    const client = createClient({ socketPath: sock });
    const container = await client.create({});
    try {
      const script = 'for n in mnt net; do readlink /proc/self/ns/$n; done; busybox | head -1';
      const inBox = new Collector();
      await (await container.run({ path: 'sh', args: ['-c', script] }, { stdout: inBox })).wait();
      const inPea = new Collector();
      const pea = await container.run(
        { path: 'sh', args: ['-c', `${script}; exit 4`], image: { uri: join(repo, '.rootfs', 'busybox') } },
        { stdout: inPea },
      );
      expect(await pea.wait()).toBe(4);
      const [boxMnt, boxNet] = inBox.text().split('\n');
      const [peaMnt, peaNet, banner] = inPea.text().split('\n');
      expect(peaMnt).not.toBe(boxMnt);
      expect(peaNet).toBe(boxNet);
      expect(banner).toMatch(/^BusyBox v/);
      await expect(
        container.run({ path: 'true', bindMounts: [{ srcPath: dir, dstPath: '/mnt' }] }, {}),
      ).rejects.toThrow('Running a process with bind mounts and no image provided is not allowed');
    } finally {
      await client.destroy(container.handle);
    }
    await stopped(started);
    expect(leakCounts({ depot, cgroupParent })).toMatchObject({ cgroups: 0, mounts: 0, depot: 0 });
  }, 60_000);

  it('disk quotas, DiskStat and a pea through the wire survive kill -9 of gardend; nothing is left after destroy and stop', async () => {
    const MiB = 1n << 20n;
    const sock = join(dir, 'quota-restart.sock');
    let started = run(['--bind-socket', sock]);
    child = started.child;
    await waitForPing(sock);
    let client = createClient({ socketPath: sock });
    const container = await client.create({ limits: { disk: { byteHard: 20n * MiB, scope: 1 } } });
    /** `dd` of `mib` MiB of random data to `path` in the container: exit status and stderr. */
    const write = async (c: typeof container, path: string, mib: number) => {
      const err = new Collector();
      const p = await c.run(
        { path: 'dd', args: ['if=/dev/urandom', `of=${path}`, 'bs=1M', `count=${mib}`] },
        { stderr: err },
      );
      return { status: await p.wait(), stderr: err.text() };
    };
    const exclusive = async (c: typeof container) => (await c.metrics()).diskStat.exclusiveBytesUsed;
    // DiskStat from the quota report: +3 MiB, then +13 MiB (±1 MiB).
    const base = await exclusive(container);
    expect(base).toBeLessThan(MiB);
    expect(await write(container, '/three', 3)).toMatchObject({ status: 0 });
    const three = (await exclusive(container)) - base;
    expect(three).toBeGreaterThanOrEqual(2n * MiB);
    expect(three).toBeLessThanOrEqual(4n * MiB);
    expect(await write(container, '/ten', 10)).toMatchObject({ status: 0 });
    const thirteen = (await exclusive(container)) - base;
    expect(thirteen).toBeGreaterThanOrEqual(12n * MiB);
    expect(thirteen).toBeLessThanOrEqual(14n * MiB);
    // A pea that outlives the server: its output and exit status after the restart.
    const first = new Collector();
    await container.run(
      {
        id: 'pea-survivor',
        path: 'sh',
        args: ['-c', 'echo started; sleep 2; busybox | head -1; exit 3'],
        image: { uri: join(repo, '.rootfs', 'busybox') },
      },
      { stdout: first },
    );
    for (const deadline = Date.now() + 20_000; !first.text().includes('started'); ) {
      if (Date.now() > deadline) throw new Error('the pea did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    started.child.kill('SIGKILL');
    await started.done;
    // The store stays mounted with the container's volume and quota.
    expect(storeState(depot)).toEqual({ mounted: true, loops: 1, volumes: 1, qgroups: 1 });

    started = run(['--bind-socket', sock]);
    child = started.child;
    await waitForPing(sock);
    client = createClient({ socketPath: sock });
    const again = await client.lookup(container.handle);
    expect(await again.currentDiskLimits()).toEqual({ byteHard: 20n * MiB, scope: 1 });
    const second = new Collector();
    expect(await (await again.attach('pea-survivor', { stdout: second })).wait()).toBe(3);
    expect(`${first.text()}${second.text()}`).toMatch(/started\nBusyBox v/);
    // Quota intact: 13 MiB used of 20, 8 more do not fit, 5 do.
    const thirteenAgain = (await exclusive(again)) - base;
    expect(thirteenAgain).toBeGreaterThanOrEqual(12n * MiB);
    expect(thirteenAgain).toBeLessThanOrEqual(14n * MiB);
    expect((await write(again, '/eight', 8)).stderr).toContain('Disk quota exceeded');
    await again.run({ path: 'rm', args: ['/eight'] }, {}).then((p) => p.wait());
    expect(await write(again, '/five', 5)).toMatchObject({ status: 0 });
    // The pea's rootfs is released once it exited.
    const peas = join(depot, 'peas');
    for (const deadline = Date.now() + 10_000; ; ) {
      const left = existsSync(peas) ? readdirSync(peas).flatMap((id) => readdirSync(join(peas, id))) : [];
      if (left.length === 0) break;
      if (Date.now() > deadline) throw new Error(`pea dirs left: ${left.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await client.destroy(container.handle);
    await stopped(started);
    // No container left: the store is unmounted, its loop device gone, no volume or qgroup.
    expect(storeState(depot)).toEqual({ mounted: false, loops: 0, volumes: 0, qgroups: 0 });
    expect(leakCounts({ depot, cgroupParent })).toMatchObject({ cgroups: 0, mounts: 0, depot: 0 });
  }, 90_000);

  it('hands --disk-store and --disk-store-size to the backend; --disk-store none turns quotas off', async () => {
    const store = join(dir, 'disk-store');
    const sock = join(dir, 'disk.sock');
    const started = run(
      ['--bind-socket', sock, '--disk-store', store, '--disk-store-quotas', 'full'],
      depot,
      {
        GARDEND_DISK_STORE_SIZE: '1536M',
      },
    );
    child = started.child;
    await waitForPing(sock);
    const client = createClient({ socketPath: sock });
    // Schedulable disk is the store's size: 1.5 GiB, not the depot's filesystem.
    const capacity = await client.capacity();
    expect(capacity.schedulableDiskInBytes).toBeLessThanOrEqual(1536n << 20n);
    expect(capacity.schedulableDiskInBytes).toBeGreaterThan(1400n << 20n);
    expect(existsSync(`${store}.img`)).toBe(true);
    expect(btrfsQuotaStatus(btrfsFsid(store))).toEqual({
      enabled: true,
      mode: 'qgroup',
      inconsistent: false,
    });
    const container = await client.create({ limits: { disk: { byteHard: 8n << 20n, scope: 1 } } });
    try {
      const err = new Collector();
      const dd = await container.run(
        { path: 'dd', args: ['if=/dev/zero', 'of=/big', 'bs=1M', 'count=9'] },
        { stderr: err },
      );
      expect(await dd.wait()).not.toBe(0);
      expect(err.text()).toContain('Disk quota exceeded');
    } finally {
      await client.destroy(container.handle);
    }
    await stopped(started);
    rmSync(`${store}.img`);

    const bad = await run(['--bind-socket', sock, '--disk-store-size', '10M']).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--disk-store-size must be at least 256M');

    const off = run(['--bind-socket', sock, '--disk-store', 'none']);
    child = off.child;
    await waitForPing(sock);
    const unlimited = await createClient({ socketPath: sock }).create({
      limits: { disk: { byteHard: 1n << 20n, scope: 1 } },
    });
    const dd = await unlimited.run({ path: 'dd', args: ['if=/dev/zero', 'of=/big', 'bs=1M', 'count=2'] }, {});
    expect(await dd.wait()).toBe(0);
    await createClient({ socketPath: sock }).destroy(unlimited.handle);
    await stopped(off);
    expect(storeState(depot)).toMatchObject({ mounted: false, loops: 0 });
  }, 90_000);

  it('a process outlives kill -9 of gardend: Attach through the client after the restart gets the rest and the exit status', async () => {
    const sock = join(dir, 'restart.sock');
    let started = run(['--bind-socket', sock]);
    child = started.child;
    await waitForPing(sock);
    const container = await createClient({ socketPath: sock }).create({});
    const first = new Collector();
    const proc = await container.run(
      {
        id: 'counter',
        path: 'sh',
        args: ['-c', 'i=1; while [ $i -le 60 ]; do echo $i; i=$((i+1)); sleep 0.05; done'],
      },
      { stdout: first },
    );
    // The client's wait fails when its server dies; the process does not.
    const lost = proc.wait().then(
      () => 'exited',
      () => 'connection lost',
    );
    for (const deadline = Date.now() + 20_000; !first.text().includes('\n10\n'); ) {
      if (Date.now() > deadline) throw new Error(`no output: ${JSON.stringify(first.text())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    started.child.kill('SIGKILL');
    await started.done;
    expect(await lost).toBe('connection lost');
    await new Promise((r) => setTimeout(r, 500)); // output goes on into the shim's ring meanwhile

    started = run(['--bind-socket', sock]);
    child = started.child;
    await waitForPing(sock);
    const client = createClient({ socketPath: sock });
    const again = await client.lookup(container.handle);
    const second = new Collector();
    const attached = await again.attach('counter', { stdout: second });
    expect(await attached.wait()).toBe(0);
    // Every line reached one of the two attachers, and none twice.
    const seen = [...first.text().split('\n'), ...second.text().split('\n')].filter(Boolean).map(Number);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(second.text().startsWith('1\n')).toBe(false);
    await client.destroy(container.handle);
    await stopped(started);
  }, 60_000);
});
