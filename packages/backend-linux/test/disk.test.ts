/**
 * Disk limits enforced by the disk store (reference §6.4, §7.1, §7.5): a loop-mounted btrfs with
 * a quota'd subvolume per container. Writes beyond the limit fail inside the container with
 * "Disk quota exceeded"; DiskStat follows the writes; the store survives kill -9 of the server;
 * nothing (volume, qgroup, mount, loop device) is left after destroy and stop.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Container, DiskLimitScope } from '@garden-ts/api-types';
import {
  btrfsFsid,
  btrfsQuotaStatus,
  createSubvolume,
  isBtrfs,
  listQgroups,
  loopMount,
  setQgroupLimit,
  unmount,
} from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { buildImage, Pusher, tarDirectory } from '../../images/test/helpers/images.js';
import { startRegistry } from '../../images/test/helpers/registry.js';
import { makeTar } from '../../images/test/helpers/tar-writer.js';
import type { LinuxBackend } from '../src/index.js';
import { bundleChild, crashAfterReady, exec, leakCounts, storeState, testEnv } from './helpers.js';

const MiB = 1024n * 1024n;
const env = testEnv('disk');
const work = mkdtempSync(join(tmpdir(), 'backend-linux-disk-'));
/** A directory image of about 4.5 MiB: the busybox rootfs plus 3 MiB of data. */
const image = join(work, 'image');
let backend: LinuxBackend;

beforeAll(async () => {
  cpSync(inject('rootfs'), image, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(image, 'payload'), Buffer.alloc(3 * 1024 * 1024, 1));
  backend = env.backend({ diskStore: { size: 2n * 1024n * MiB } });
  await backend.start();
});
afterAll(async () => {
  await env.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** Writes `mib` MiB of random data to `path` as `user`; dd's status and stderr. */
function write(c: Container, path: string, mib: number, user?: string) {
  return exec(c, {
    path: 'dd',
    args: ['if=/dev/urandom', `of=${path}`, 'bs=1M', `count=${mib}`],
    ...(user ? { user } : {}),
  });
}

async function exclusive(c: Container): Promise<bigint> {
  return (await c.metrics()).diskStat.exclusiveBytesUsed;
}

describe('the disk store', () => {
  it('is a btrfs image mounted at <depot>/store through a loop device, with quotas on', async () => {
    const store = join(env.depot, 'store');
    expect(isBtrfs(store)).toBe(true);
    expect(storeState(env.depot)).toMatchObject({ mounted: true, loops: 1, volumes: 0, qgroups: 0 });
    // Containers' writable layers are below: root only (the depot's rule), the image file too.
    for (const [path, mode] of [
      [store, 0o700],
      [join(store, 'volumes'), 0o700],
      [`${store}.img`, 0o600],
    ] as const) {
      const st = statSync(path);
      expect([st.uid, st.gid, st.mode & 0o7777], path).toEqual([0, 0, mode]);
    }
    // Simple quotas on an image of its own: accounted as extents are allocated, never inconsistent.
    expect(btrfsQuotaStatus(btrfsFsid(store))).toEqual({
      enabled: true,
      mode: 'squota',
      inconsistent: false,
    });
    // Capacity: schedulable = what the store holds (2 GiB here), disk = the depot's filesystem.
    const cap = await backend.capacity();
    expect(cap.schedulableDiskInBytes).toBeGreaterThan(1900n * MiB);
    expect(cap.schedulableDiskInBytes).toBeLessThanOrEqual(2048n * MiB);
    expect(cap.diskInBytes).toBeGreaterThan(cap.schedulableDiskInBytes);
  });
});

describe('enforced disk limits', () => {
  it('an exclusive 10 MiB limit stops an 11 MiB write and allows 9 MiB', async () => {
    const c = await backend.create({
      limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } },
    });
    const over = await write(c, '/eleven', 11);
    expect(over.status).not.toBe(0);
    expect(over.stderr).toContain('Disk quota exceeded');
    await exec(c, { path: 'rm', args: ['/eleven'] });
    const fits = await write(c, '/nine', 9);
    expect(fits).toMatchObject({ status: 0 });
    expect(await c.currentDiskLimits()).toEqual({ byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive });
    await backend.destroy(c.handle);
  });

  it('total scope counts the image: ~4.5 MiB image, 20 MiB limit, ~15.5 MiB of writes', async () => {
    const c = await backend.create({ rootfsPath: image, limits: { disk: { byteHard: 20n * MiB } } });
    const m = await c.metrics();
    const imageBytes = m.diskStat.totalBytesUsed - m.diskStat.exclusiveBytesUsed;
    expect(imageBytes).toBeGreaterThan(4n * MiB);
    expect(imageBytes).toBeLessThan(6n * MiB);
    expect(m.diskStat.totalInodesUsed).toBeGreaterThan(m.diskStat.exclusiveInodesUsed);
    expect(await write(c, '/fourteen', 14)).toMatchObject({ status: 0 });
    const over = await write(c, '/three', 3);
    expect(over.stderr).toContain('Disk quota exceeded');
    // The same limit with exclusive scope leaves room for all 17 MiB.
    const x = await backend.create({
      rootfsPath: image,
      limits: { disk: { byteHard: 20n * MiB, scope: DiskLimitScope.Exclusive } },
    });
    expect(await write(x, '/seventeen', 17)).toMatchObject({ status: 0 });
    await Promise.all([backend.destroy(c.handle), backend.destroy(x.handle)]);
  });

  it('an image larger than a total limit fails the create with Guardian text, leaving nothing', async () => {
    await backend.settled();
    const before = leakCounts(env);
    await expect(
      backend.create({ rootfsPath: image, limits: { disk: { byteHard: 2n * MiB } } }),
    ).rejects.toThrow('disk limit is smaller than volume size');
    await backend.settled();
    expect(leakCounts(env)).toEqual(before);
  });

  it('users alice and bob share one quota', async () => {
    const c = await backend.create({
      limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } },
    });
    expect(await write(c, '/tmp/alice', 6, 'alice')).toMatchObject({ status: 0 });
    const bob = await write(c, '/tmp/bob', 6, 'bob');
    expect(bob.stderr).toContain('Disk quota exceeded');
    await backend.destroy(c.handle);
  });

  it('two containers from one image each get their own quota', async () => {
    const spec = {
      rootfsPath: image,
      limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } },
    };
    const [a, b] = await Promise.all([backend.create(spec), backend.create(spec)]);
    const [wa, wb] = await Promise.all([write(a, '/eight', 8), write(b, '/eight', 8)]);
    expect([wa.status, wb.status]).toEqual([0, 0]);
    expect((await write(a, '/three', 3)).stderr).toContain('Disk quota exceeded');
    await Promise.all([backend.destroy(a.handle), backend.destroy(b.handle)]);
  });

  it('privileged containers are limited the same way', async () => {
    const c = await backend.create({
      privileged: true,
      limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } },
    });
    expect((await write(c, '/eleven', 11)).stderr).toContain('Disk quota exceeded');
    await exec(c, { path: 'rm', args: ['/eleven'] });
    expect(await write(c, '/nine', 9)).toMatchObject({ status: 0 });
    await backend.destroy(c.handle);
  });

  it('without a limit: writes are not limited, currentDiskLimits is {}', async () => {
    const c = await backend.create({});
    expect(await c.currentDiskLimits()).toEqual({});
    expect(await write(c, '/twenty', 20)).toMatchObject({ status: 0 });
    await backend.destroy(c.handle);
  });
});

describe('DiskStat', () => {
  it('exclusive bytes grow by ~3 MiB then ~13 MiB as files are written; inodes are counted', async () => {
    const c = await backend.create({
      limits: { disk: { byteHard: 64n * MiB, scope: DiskLimitScope.Exclusive } },
    });
    const base = await exclusive(c);
    expect(base).toBeLessThan(MiB);
    await write(c, '/a', 3);
    const three = (await exclusive(c)) - base;
    expect(three).toBeGreaterThanOrEqual(2n * MiB);
    expect(three).toBeLessThanOrEqual(4n * MiB);
    await write(c, '/b', 10);
    const thirteen = (await exclusive(c)) - base;
    expect(thirteen).toBeGreaterThanOrEqual(12n * MiB);
    expect(thirteen).toBeLessThanOrEqual(14n * MiB);
    const m = await c.metrics();
    expect(m.diskStat.totalBytesUsed - m.diskStat.exclusiveBytesUsed).toBeGreaterThan(MiB); // the image
    // Inodes: the two files (and a whiteout-free upper): then 100 more.
    const inodes = m.diskStat.exclusiveInodesUsed;
    expect(inodes).toBeGreaterThanOrEqual(2n);
    await exec(c, {
      path: 'sh',
      args: ['-c', 'mkdir /many && cd /many && for i in $(seq 100); do : > f$i; done'],
    });
    expect((await c.metrics()).diskStat.exclusiveInodesUsed - inodes).toBe(101n);
    // BulkMetrics carries the same figures.
    const bulk = await backend.bulkMetrics([c.handle]);
    expect(
      (bulk[c.handle] as { metrics: { diskStat: { exclusiveBytesUsed: bigint } } }).metrics.diskStat
        .exclusiveBytesUsed,
    ).toBeGreaterThan(12n * MiB);
    await backend.destroy(c.handle);
  });
});

describe('images from a registry', () => {
  it('total scope counts the layers; two containers of one image each have their own quota; too large an image fails', async () => {
    // Debian's docker-registry on loopback; an image of two layers: busybox and 3 MiB of data.
    const registry = await startRegistry();
    onTestFinished(() => registry.stop());
    const pusher = new Pusher(registry.url);
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
    await pusher.push(
      'quota/layered',
      'v1',
      buildImage({
        layers: [
          { tar: tarDirectory(inject('rootfs')) },
          { tar: makeTar([{ name: 'payload', data: payload }]) },
        ],
      }),
    );
    await pusher.close();
    const b = env.backend({
      depot: join(work, 'registry-depot'),
      diskStore: { size: 1024n * MiB },
      images: { registry: { insecureRegistries: [registry.host] } },
    });
    await b.start();
    const image = { uri: `docker://${registry.host}/quota/layered#v1` };
    const [c1, c2] = await Promise.all([
      b.create({ image, limits: { disk: { byteHard: 20n * MiB } } }),
      b.create({ image, limits: { disk: { byteHard: 20n * MiB } } }),
    ]);
    const m = await c1.metrics();
    const imageBytes = m.diskStat.totalBytesUsed - m.diskStat.exclusiveBytesUsed;
    expect(imageBytes).toBeGreaterThan(4n * MiB); // both layers count
    expect(imageBytes).toBeLessThan(6n * MiB);
    // Each has 20 MiB − the image ≈ 15.5 MiB: 14 fit in both, 3 more in neither.
    const [w1, w2] = await Promise.all([write(c1, '/fourteen', 14), write(c2, '/fourteen', 14)]);
    expect([w1.status, w2.status]).toEqual([0, 0]);
    expect((await write(c1, '/three', 3)).stderr).toContain('Disk quota exceeded');
    expect((await write(c2, '/three', 3)).stderr).toContain('Disk quota exceeded');
    await expect(b.create({ image, limits: { disk: { byteHard: 3n * MiB } } })).rejects.toThrow(
      'disk limit is smaller than volume size',
    );
    await Promise.all([b.destroy(c1.handle), b.destroy(c2.handle)]);
    await b.settled();
    expect(storeState(join(work, 'registry-depot'))).toMatchObject({ volumes: 0, qgroups: 0 });
    await b.stop();
    expect(storeState(join(work, 'registry-depot'))).toMatchObject({ mounted: false, loops: 0 });
  });
});

describe('restart and cleanup', () => {
  it('the store survives kill -9 of the server with quotas intact; nothing is left after destroy and stop', async () => {
    await backend.stop(); // no container: the store is unmounted, its loop device gone
    expect(storeState(env.depot)).toMatchObject({ mounted: false, loops: 0 });
    const bundle = await bundleChild('disk-child.ts');
    onTestFinished(() => bundle.dispose());
    await crashAfterReady(bundle.path, [env.depot, env.cgroupParent, inject('rootfs'), env.net.hostPath]);
    // The crashed server's store is still mounted, with the container's volume and qgroup.
    expect(storeState(env.depot)).toEqual({ mounted: true, loops: 1, volumes: 1, qgroups: 1 });
    backend = env.backend();
    await backend.start();
    const c = await backend.lookup('quota-survivor');
    expect(await c.currentDiskLimits()).toEqual({ byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive });
    const used = await exclusive(c);
    expect(used).toBeGreaterThanOrEqual(3n * MiB);
    expect(used).toBeLessThan(4n * MiB);
    // 3 MiB are used: 6 more fit, 8 more do not.
    expect((await write(c, '/eight', 8)).stderr).toContain('Disk quota exceeded');
    await exec(c, { path: 'rm', args: ['/eight'] });
    expect(await write(c, '/six', 6)).toMatchObject({ status: 0 });
    await backend.destroy(c.handle);
    await backend.settled();
    expect(leakCounts(env)).toMatchObject({ cgroups: 0, mounts: 0, depot: 0, volumes: 0, qgroups: 0 });
    await backend.stop();
    expect(storeState(env.depot)).toMatchObject({ mounted: false, loops: 0 });
  });

  it('reconciles: a volume no container knows goes at startup, with its qgroup', async () => {
    backend = env.backend();
    await backend.start();
    // A volume whose container vanished behind the server's back (or a create that crashed).
    const volumes = join(env.depot, 'store', 'volumes');
    const id = await createSubvolume(volumes, 'planted');
    await setQgroupLimit(join(env.depot, 'store'), id, 10n * MiB);
    await backend.stop();
    expect(storeState(env.depot)).toMatchObject({ mounted: true, volumes: 1, qgroups: 1 });
    backend = env.backend();
    await backend.start();
    expect(storeState(env.depot)).toMatchObject({ mounted: true, volumes: 0, qgroups: 0 });
    await backend.stop();
    expect(storeState(env.depot)).toMatchObject({ mounted: false, loops: 0 });
  });

  it("a stop does not wait for a destroyed container's volume the kernel cannot drop yet", async () => {
    backend = env.backend();
    await backend.start();
    const c = await backend.create({ handle: 'held-volume' });
    const volumes = join(env.depot, 'store', 'volumes');
    const name = readdirSync(volumes).find((n) => n.startsWith('held-volume')) as string;
    // A host process keeps the volume open: once deleted it cannot be dropped, so its qgroup
    // stays busy and the destroy's removal would wait (up to a minute) for it to go.
    const fd = openSync(join(volumes, name), 'r');
    try {
      await backend.destroy(c.handle);
      const t0 = Date.now();
      await backend.stop();
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      closeSync(fd);
    }
    // The next start's reconciliation and stop clear what the kernel left (once it could drop it).
    backend = env.backend();
    await backend.start();
    await backend.stop();
    expect(storeState(env.depot)).toMatchObject({ volumes: 0 });
  });
});

describe('other stores', () => {
  it('a depot on btrfs holds the volumes itself (no image, no loop device of ours)', async () => {
    const img = join(work, 'btrfs-depot.img');
    writeFileSync(img, '');
    execFileSync('truncate', ['-s', '1G', img]);
    execFileSync('mkfs.btrfs', ['-q', '-f', '-K', img]);
    const mnt = join(work, 'btrfs-depot');
    mkdirSync(mnt);
    await loopMount(img, mnt, { fstype: 'btrfs' });
    onTestFinished(() => {
      unmount(mnt, { detach: true });
    });
    const b = env.backend({ depot: join(mnt, 'depot') });
    await b.start();
    const c = await b.create({ limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } } });
    expect(existsSync(join(mnt, 'depot', 'store.img'))).toBe(false);
    expect(existsSync(join(mnt, 'depot', 'store', 'volumes'))).toBe(true);
    expect((await write(c, '/eleven', 11)).stderr).toContain('Disk quota exceeded');
    await b.destroy(c.handle);
    await b.settled();
    expect(listQgroups(btrfsFsid(mnt)).filter((q) => q.level === 0 && q.id >= 256n)).toEqual([]);
    await b.stop();
    // Not our mount: it stays.
    expect(isBtrfs(join(mnt, 'depot', 'store'))).toBe(true);
  });

  it('full qgroups (quotas: full) enforce the same way once their rescan is over', async () => {
    const depot = join(work, 'full-qgroups');
    const b = env.backend({ depot, diskStore: { size: 512n * MiB, quotas: 'full' } });
    await b.start();
    expect(btrfsQuotaStatus(btrfsFsid(join(depot, 'store')))).toEqual({
      enabled: true,
      mode: 'qgroup',
      inconsistent: false,
    });
    const c = await b.create({ limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } } });
    expect((await write(c, '/eleven', 11)).stderr).toContain('Disk quota exceeded');
    await exec(c, { path: 'rm', args: ['/eleven'] });
    expect(await write(c, '/three', 3)).toMatchObject({ status: 0 });
    expect((await c.metrics()).diskStat.exclusiveBytesUsed).toBeGreaterThanOrEqual(3n * MiB);
    await b.destroy(c.handle);
    await b.settled();
    expect(storeState(depot)).toMatchObject({ volumes: 0, qgroups: 0 });
    await b.stop();
    expect(storeState(depot)).toMatchObject({ mounted: false, loops: 0 });
  });

  it('diskStore: false — limits reported, not enforced, DiskStat 0', async () => {
    const b = env.backend({ depot: join(work, 'no-store'), diskStore: false });
    await b.start();
    const c = await b.create({ limits: { disk: { byteHard: 1n * MiB, scope: DiskLimitScope.Exclusive } } });
    expect(await c.currentDiskLimits()).toEqual({ byteHard: 1n * MiB, scope: DiskLimitScope.Exclusive });
    expect(await write(c, '/two', 2)).toMatchObject({ status: 0 });
    expect((await c.metrics()).diskStat).toEqual({
      totalBytesUsed: 0n,
      totalInodesUsed: 0n,
      exclusiveBytesUsed: 0n,
      exclusiveInodesUsed: 0n,
    });
    expect(existsSync(join(work, 'no-store', 'store'))).toBe(false);
    await b.destroy(c.handle);
    await b.stop();
  });
});
