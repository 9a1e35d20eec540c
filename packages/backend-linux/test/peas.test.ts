/**
 * Peas (reference §3.12): `run` with `image` runs the process in its own rootfs and mount
 * namespace, sharing the container's pid, network, IPC and UTS namespaces, its /etc/hosts and
 * /etc/resolv.conf, and (without limits of its own) its memory and pid limits; users resolve in
 * the pea's image; Wait/IO/signals as for any process; killed with the container; released after
 * it exits; re-attached after a restart of the server.
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type Container, DiskLimitScope, type ProcessSpec } from '@garden-ts/api-types';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { Collector, exec, leakCounts, testEnv } from './helpers.js';

const MiB = 1024n * 1024n;
const env = testEnv('peas');
const work = mkdtempSync(join(tmpdir(), 'backend-linux-peas-'));
chmodSync(work, 0o755); // bind-mount sources below it are opened by the container's root
/** The pea's image: busybox with a marker and users of its own. */
const peaImage = join(work, 'pea-image');
/** An image without /etc/passwd or /etc/group. */
const bareImage = join(work, 'bare-image');
let backend: LinuxBackend;

beforeAll(async () => {
  for (const dir of [peaImage, bareImage])
    cpSync(inject('rootfs'), dir, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(peaImage, 'marker'), 'pea\n');
  writeFileSync(
    join(peaImage, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\npeauser:x:3000:3000::/home/peauser:/bin/sh\n',
  );
  writeFileSync(join(peaImage, 'etc', 'group'), 'root:x:0:\npeagroup:x:3001:peauser\n');
  rmSync(join(bareImage, 'etc', 'passwd'));
  rmSync(join(bareImage, 'etc', 'group'), { force: true });
  backend = env.backend();
  await backend.start();
});
afterAll(async () => {
  await env.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function pea(spec: ProcessSpec): ProcessSpec {
  return { image: { uri: peaImage }, ...spec };
}

const NS_SCRIPT = 'for n in mnt pid net ipc uts; do readlink /proc/self/ns/$n; done';

describe.each([
  ['unprivileged', false],
  ['privileged', true],
])('peas of an %s container', (_, privileged) => {
  let c: Container;
  beforeAll(async () => {
    c = await backend.create({ privileged });
  });
  afterAll(async () => {
    await backend.destroy(c.handle);
  });

  it('have their own rootfs (busybox prints its banner) and share net, pid, uts and ipc', async () => {
    const banner = await exec(c, pea({ path: 'busybox' }));
    expect(banner.stdout).toContain('BusyBox v');
    expect((await exec(c, pea({ path: 'cat', args: ['/marker'] }))).stdout).toBe('pea\n');
    expect((await exec(c, { path: 'cat', args: ['/marker'] })).status).not.toBe(0);
    const [box, inPea] = await Promise.all([
      exec(c, { path: 'sh', args: ['-c', NS_SCRIPT] }),
      exec(c, pea({ path: 'sh', args: ['-c', NS_SCRIPT] })),
    ]);
    const [bm, ...bOthers] = box.stdout.trim().split('\n');
    const [pm, ...pOthers] = inPea.stdout.trim().split('\n');
    expect(pOthers).toEqual(bOthers);
    expect(pm).not.toBe(bm);
    // The container's hostname, /etc/hosts and /etc/resolv.conf.
    const etc = 'hostname; cat /etc/hosts /etc/resolv.conf';
    expect((await exec(c, pea({ path: 'sh', args: ['-c', etc] }))).stdout).toBe(
      (await exec(c, { path: 'sh', args: ['-c', etc] })).stdout,
    );
    // One pid namespace: the container sees the pea's process.
    const sleeper = await c.run(pea({ id: `sleeper-${privileged}`, path: 'sleep', args: ['30'] }), {});
    const ps = await exec(c, { path: 'sh', args: ['-c', 'ps -o comm | grep -c "^sleep$"'] });
    expect(ps.stdout.trim()).toBe('1');
    await sleeper.signal(1);
    expect(await sleeper.wait()).toBe(137);
  });

  it('resolve users in their own image: uid:gid, names, root without /etc/passwd', async () => {
    const id = (user: string | undefined, image = peaImage) =>
      exec(c, {
        image: { uri: image },
        path: 'sh',
        args: ['-c', 'echo $(id -u):$(id -g) $USER $HOME; pwd'],
        ...(user ? { user } : {}),
      });
    expect((await id(undefined)).stdout).toBe('0:0 root /root\n/\n');
    expect((await id('peauser')).stdout).toBe('3000:3000 peauser /home/peauser\n/\n');
    expect((await id('peauser:peagroup')).stdout).toBe('3000:3001 peauser:peagroup /home/peauser\n/\n');
    expect((await id('1234:5678')).stdout).toBe('1234:5678 1234:5678 /\n/\n');
    expect((await id(undefined, bareImage)).stdout).toBe('0:0 root /\n/\n');
    // alice is a user of the container's image, not of the pea's.
    await expect(id('alice')).rejects.toThrow(/alice/);
  });

  it('report exit codes, stdout and stderr, take stdin, and stop on TERM', async () => {
    const r = await exec(c, pea({ path: 'sh', args: ['-c', 'cat; echo err >&2; exit 7'] }), 'from stdin\n');
    expect(r).toEqual({ status: 7, stdout: 'from stdin\n', stderr: 'err\n' });
    const stdout = new Collector();
    const p = await c.run(pea({ path: 'sh', args: ['-c', 'echo up; sleep 30'] }), { stdout });
    for (let i = 0; i < 100 && !stdout.text().includes('up'); i++)
      await new Promise((r) => setTimeout(r, 20));
    await p.signal(0);
    expect(await p.wait()).toBe(143);
    // A missing working directory is made in the pea's rootfs.
    expect((await exec(c, pea({ path: 'pwd', dir: '/made/here' }))).stdout).toBe('/made/here\n');
  });

  it('take bind mounts; bind mounts without an image are refused', async () => {
    const src = join(work, `bind-${privileged}`);
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'bound\n');
    const r = await exec(
      c,
      pea({ path: 'cat', args: ['/mnt/b/f'], bindMounts: [{ srcPath: src, dstPath: '/mnt/b' }] }),
    );
    expect(r.stdout).toBe('bound\n');
    await expect(
      c.run({ path: 'true', bindMounts: [{ srcPath: src, dstPath: '/mnt/b' }] }, {}),
    ).rejects.toThrow('Running a process with bind mounts and no image provided is not allowed');
  });
});

describe('pea limits and lifetime', () => {
  it('share the container memory and pid limits unless given their own', async () => {
    const c = await backend.create({ limits: { memory: { limitInBytes: 32n * MiB }, pid: { max: 8n } } });
    const hog = { path: 'dd', args: ['if=/dev/zero', 'of=/dev/null', 'bs=48M', 'count=1'] };
    expect((await exec(c, pea(hog))).status).toBe(137);
    expect(
      (await exec(c, pea({ ...hog, overrideContainerLimits: { memory: { limitInBytes: 128n * MiB } } })))
        .status,
    ).toBe(0);
    const forks = {
      path: 'sh',
      args: ['-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1 & done; wait'],
    };
    expect((await exec(c, pea(forks))).stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    const own = await exec(
      c,
      pea({ ...forks, overrideContainerLimits: { memory: { limitInBytes: 128n * MiB } } }),
    );
    expect(own).toMatchObject({ status: 0, stderr: '' });
    await backend.destroy(c.handle);
    await backend.settled();
    // The peas' own cgroups went when they exited; the container's with it.
    expect(leakCounts(env)).toMatchObject({ cgroups: 0, mounts: 0 });
  });

  it("write into the container's disk quota", async () => {
    const c = await backend.create({
      limits: { disk: { byteHard: 10n * MiB, scope: DiskLimitScope.Exclusive } },
    });
    const r = await exec(c, pea({ path: 'dd', args: ['if=/dev/urandom', 'of=/big', 'bs=1M', 'count=11'] }));
    expect(r.stderr).toContain('Disk quota exceeded');
    await backend.destroy(c.handle);
  });

  it('are killed with their container and release their rootfs after exiting', async () => {
    const c = await backend.create({});
    const done = await exec(c, pea({ path: 'true' }));
    expect(done.status).toBe(0);
    const peas = join(env.depot, 'peas');
    for (
      let i = 0;
      i < 100 && existsSync(peas) && readdirSync(peas).some((id) => readdirSync(join(peas, id)).length > 0);
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(peas) ? readdirSync(peas).flatMap((id) => readdirSync(join(peas, id))) : []).toEqual(
      [],
    );
    const long = await c.run(pea({ path: 'sleep', args: ['1000'] }), {});
    await backend.destroy(c.handle);
    expect(await long.wait()).toBe(137);
    await backend.settled();
    expect(existsSync(join(peas, c.handle))).toBe(false);
    expect(leakCounts(env)).toMatchObject({ cgroups: 0, mounts: 0, depot: 0 });
  });

  it('survive a restart of the server and are released when they end', async () => {
    const c = await backend.create({ handle: 'pea-restart' });
    const stdin = new PassThrough();
    await c.run(pea({ id: 'long-pea', path: 'sh', args: ['-c', 'read x; echo got $x; exit 3'] }), { stdin });
    await backend.stop();
    backend = env.backend();
    await backend.start();
    const again = await backend.lookup('pea-restart');
    const out = new Collector();
    const input = new PassThrough();
    const p = await again.attach('long-pea', { stdout: out, stdin: input });
    input.end('hello\n');
    expect(await p.wait()).toBe(3);
    expect(out.text()).toBe('got hello\n');
    await backend.destroy('pea-restart');
    await backend.settled();
    expect(leakCounts(env)).toMatchObject({ cgroups: 0, mounts: 0, depot: 0, volumes: 0, qgroups: 0 });
    expect(existsSync(join(env.depot, 'peas', 'pea-restart'))).toBe(false);
  });
});
