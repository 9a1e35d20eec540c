/** Real-container behaviour of create and run (reference §2–§3) beyond the contract suite. */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ExecutableNotFoundError, GardenError } from '@garden-ts/api-types';
import { errorFields } from '@garden-ts/backend-kit';
import { detectCgroupLayout, NativeError } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ImageSource, LinuxBackend } from '../src/index.js';
import { Collector, exec, testEnv } from './helpers.js';

const env = testEnv('proc');
let backend: LinuxBackend;
const hostDir = mkdtempSync(join(tmpdir(), 'backend-linux-bind-'));

beforeAll(async () => {
  backend = env.backend();
  await backend.start();
  chmodSync(hostDir, 0o777); // the mapped container root must reach it
  writeFileSync(join(hostDir, 'from-host.txt'), 'host file\n', { mode: 0o644 });
});
afterAll(async () => {
  await env.cleanup();
  rmSync(hostDir, { recursive: true, force: true });
});

describe('create', () => {
  it('sets the hostname to the last 49 characters of the handle and writes /etc/hosts', async () => {
    const handle = `h${'x'.repeat(60)}-tail`;
    const c = await backend.create({ handle });
    const r = await exec(c, { path: 'sh', args: ['-c', 'hostname; cat /etc/hosts'] });
    const host = handle.slice(-49);
    // The hostname (and the whole handle when longer) map to the container's own IP.
    const ip = (await c.info()).containerIP;
    expect(ip).toMatch(/^10\.254\.\d+\.\d+$/);
    expect(r.stdout).toBe(`${host}\n127.0.0.1 localhost\n::1 localhost\n${ip} ${host} ${handle}\n`);
    await backend.destroy(handle);
  });

  it('lets container root rewrite /etc/hosts in place but not other users', async () => {
    const c = await backend.create({});
    expect(
      (await exec(c, { path: 'sh', args: ['-c', 'echo "10.0.0.1 x" >> /etc/hosts && tail -1 /etc/hosts'] }))
        .stdout,
    ).toBe('10.0.0.1 x\n');
    expect(
      (await exec(c, { path: 'sh', args: ['-c', 'echo no >> /etc/hosts'], user: 'alice' })).status,
    ).not.toBe(0);
    await backend.destroy(c.handle);
  });

  it('rejects a duplicate handle atomically, and bad handles naming the field', async () => {
    const results = await Promise.allSettled([
      backend.create({ handle: 'dup' }),
      backend.create({ handle: 'dup' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason.message).toBe("Handle 'dup' already in use");
    await backend.destroy('dup');
    await expect(backend.create({ handle: '..' })).rejects.toThrow(/handle/);
    await expect(backend.create({ handle: 'a/b' })).rejects.toThrow(/handle/);
  });

  it('without networking, refuses NetIn/NetOut in the spec and on a container instead of ignoring them', async () => {
    const offline = env.backend({ network: false });
    await expect(
      offline.create({ handle: 'net-in', netIn: [{ hostPort: 0, containerPort: 8080 }] }),
    ).rejects.toThrow(/^netin is not available: the linux backend was started without networking/);
    await expect(offline.create({ handle: 'net-out', netOut: [{ protocol: 1 }] })).rejects.toThrow(
      /^netout_rules is not available/,
    );
    await expect(offline.lookup('net-in')).rejects.toThrow(/unknown handle/);
    // On a container too: NetIn, NetOut and BulkNetOut fail with a clear error, nothing is recorded.
    const c = await offline.create({ handle: 'offline' });
    await expect(c.netIn(0, 80)).rejects.toThrow(/^NetIn is not available/);
    await expect(c.netOut({ protocol: 1 })).rejects.toThrow(/^NetOut is not available/);
    await expect(c.bulkNetOut([{ protocol: 1 }])).rejects.toThrow(/^BulkNetOut is not available/);
    const info = await c.info();
    expect(info.containerIP).toBe('');
    expect(info.mappedPorts).toEqual([]);
    expect((await c.metrics()).networkStat).toBeNull();
    await offline.destroy('offline');
    await offline.stop();
  });

  it('reports a destroy racing another destroy as Guardian does', async () => {
    const c = await backend.create({});
    const results = await Promise.allSettled([backend.destroy(c.handle), backend.destroy(c.handle)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.message).toBe(
      'container already being destroyed',
    );
    await expect(backend.destroy(c.handle)).rejects.toThrow(`unknown handle: ${c.handle}`);
  });

  it('enforces max containers atomically, counting containers being created', async () => {
    // network: false: a second backend must not share the first one's host namespace.
    const limited = env.backend({ maxContainers: 2, network: false });
    const results = await Promise.allSettled([limited.create({}), limited.create({}), limited.create({})]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.message).toBe(
      'max containers reached',
    );
    for (const h of limited.handles()) await limited.destroy(h);
    await limited.stop();
  });

  it('bind-mounts host directories read-only and read-write; a missing source fails the create', async () => {
    const c = await backend.create({
      bindMounts: [
        { srcPath: hostDir, dstPath: '/mnt/ro' },
        { srcPath: hostDir, dstPath: '/mnt/rw', mode: 1 },
      ],
    });
    expect((await exec(c, { path: 'cat', args: ['/mnt/ro/from-host.txt'] })).stdout).toBe('host file\n');
    const ro = await exec(c, { path: 'sh', args: ['-c', 'echo x > /mnt/ro/new.txt'] });
    expect(ro.status).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
    expect((await exec(c, { path: 'sh', args: ['-c', 'echo rw > /mnt/rw/written.txt'] })).status).toBe(0);
    await backend.destroy(c.handle);
    await expect(
      backend.create({
        handle: 'bad-bind',
        bindMounts: [{ srcPath: '/definitely/missing', dstPath: '/mnt/x' }],
      }),
    ).rejects.toThrow(/does not exist/);
    await expect(backend.lookup('bad-bind')).rejects.toThrow(/unknown handle/);
  });

  it('binds a container-origin source resolved inside the rootfs, and uses raw:// images unmodified below the overlay', async () => {
    const c = await backend.create({
      rootfsPath: `raw://${inject('rootfs')}`,
      privileged: true,
      bindMounts: [{ srcPath: '/etc', dstPath: '/mnt/etc-again', origin: 1 }],
    });
    expect(
      (
        await exec(c, {
          path: 'sh',
          args: ['-c', 'head -1 /mnt/etc-again/passwd; echo changed > /etc/motd-test && cat /etc/motd-test'],
        })
      ).stdout,
    ).toBe('root:x:0:0:root:/root:/bin/sh\nchanged\n');
    expect(existsSync(join(inject('rootfs'), 'etc', 'motd-test'))).toBe(false);
    await backend.destroy(c.handle);
  });

  it('takes images of its own schemes from a configured image source, and names a scheme nobody serves', async () => {
    const asked: string[] = [];
    const source: ImageSource = {
      schemes: ['test'],
      async resolve(uri, credentials) {
        asked.push(`${uri} as ${credentials.username}`);
        return { path: inject('rootfs'), raw: false };
      },
    };
    const withSource = env.backend({ imageSources: [source], network: false });
    await withSource.start();
    const c = await withSource.create({
      image: { uri: 'test:///busybox#1', username: 'me', password: 'pw' },
    });
    expect((await exec(c, { path: 'cat', args: ['/etc/hostname'] })).status).toBe(0);
    expect(asked).toEqual(['test:///busybox#1 as me']);
    await withSource.destroy(c.handle);
    await withSource.stop();
    await expect(backend.create({ image: { uri: 's3://bucket/busybox.tar' } })).rejects.toThrow(
      /unsupported image URI scheme "s3" in s3:\/\/bucket\/busybox.tar/,
    );
  });

  it('keeps the native error (code, errno, stage) as the cause of a failed create, and logs its code', async () => {
    const logged: object[] = [];
    const logger = { info() {}, warn: (o: object) => logged.push(o), error: (o: object) => logged.push(o) };
    const logging = env.backend({ logger, network: false });
    await logging.start();
    // A bind mount onto a path below a regular file cannot be made by the container's child.
    const err = await logging
      .create({ handle: 'bad-target', bindMounts: [{ srcPath: hostDir, dstPath: '/etc/passwd/x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as Error).message).toMatch(/^creating the container failed: /);
    const cause = (err as Error).cause as NativeError;
    expect(cause).toBeInstanceOf(NativeError);
    expect(cause.code).toBe('ENOTDIR');
    expect(cause.errno).toBe(20);
    expect(cause.stage).not.toBe('');
    expect(errorFields(err)).toMatchObject({ code: 'ENOTDIR', errno: 20, stage: cause.stage });
    expect(logged).toContainEqual(expect.objectContaining({ handle: 'bad-target', code: 'ENOTDIR' }));
    await expect(logging.lookup('bad-target')).rejects.toThrow(/unknown handle/);
    await logging.stop();
  });

  it('applies memory (no swap), CPU shares and pids limits to the cgroup', async () => {
    const c = await backend.create({
      limits: { memory: { limitInBytes: 64n << 20n }, cpu: { weight: 512n }, pid: { max: 50n } },
    });
    const m = await c.metrics();
    expect(m.memoryStat.hierarchicalMemoryLimit).toBe(64n << 20n);
    expect(m.pidStat.max).toBe(50n);
    expect(m.cpuEntitlement).toBeGreaterThan(0n);
    // Guardian's read-back (§6.2): the shares (v1) or the weight the kernel holds (v2), weight 0.
    const v1Cpu = detectCgroupLayout().v1.cpu;
    expect(await c.currentCPULimits()).toEqual({ limitInShares: v1Cpu ? 512n : 59n });
    if (v1Cpu)
      expect(readFileSync(join(v1Cpu, env.cgroupParent, c.handle, 'cpu.shares'), 'utf8')).toBe('512\n');
    await backend.destroy(c.handle);
  });

  it('gives each container its own network namespace: lo up, eth0 with its address and default route', async () => {
    const c = await backend.create({});
    const r = await exec(c, {
      path: 'sh',
      args: [
        '-c',
        'ls /sys/class/net; cat /sys/class/net/lo/flags /sys/class/net/eth0/flags; ip -4 addr show eth0; ip route',
      ],
    });
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual(['eth0', 'lo']);
    expect(Number(lines[2]) & 1).toBe(1); // IFF_UP
    expect(Number(lines[3]) & 1).toBe(1);
    const info = await c.info();
    expect(r.stdout).toContain(`inet ${info.containerIP}/30`);
    expect(r.stdout).toContain(`default via ${info.hostIP} dev eth0`);
    const offline = env.backend({ network: false });
    const lonely = await offline.create({});
    const o = await exec(lonely, { path: 'sh', args: ['-c', 'ls /sys/class/net'] });
    expect(o.stdout).toBe('lo\n');
    await offline.destroy(lonely.handle);
    await offline.stop();
    await backend.destroy(c.handle);
  });

  it('maps container root to the host max uid when unprivileged, not when privileged', async () => {
    const u = await backend.create({});
    expect(
      (await exec(u, { path: 'cat', args: ['/proc/self/uid_map'] })).stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/).join(' ')),
    ).toEqual(['0 4294967294 1', '1 1 4294967293']);
    const p = await backend.create({ privileged: true });
    expect((await exec(p, { path: 'cat', args: ['/proc/self/uid_map'] })).stdout.trim().split(/\s+/)).toEqual(
      ['0', '0', '4294967295'],
    );
    await backend.destroy(u.handle);
    await backend.destroy(p.handle);
  });
});

describe('run', () => {
  let c: Awaited<ReturnType<LinuxBackend['create']>>;
  beforeAll(async () => {
    c = await backend.create({ env: ['CONTAINER_ENV=1', 'TEST=hi'] });
  });

  it('merges the environment as Guardian (§3.2)', async () => {
    const r = await exec(c, { path: 'env', env: ['TEST=hello', 'FRUIT=banana'] });
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['CONTAINER_ENV=1', 'TEST=hello', 'FRUIT=banana']);
    expect(lines).toContain('USER=root');
    expect(lines).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const alice = await exec(c, { path: 'sh', args: ['-c', 'env | sort'], user: 'alice' });
    expect(
      alice.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('=')[0]),
    ).toEqual(['CONTAINER_ENV', 'HOME', 'PATH', 'PWD', 'SHLVL', 'TEST', 'USER']);
    expect(alice.stdout).toContain('PATH=/usr/local/bin:/usr/bin:/bin\n');
  });

  it('resolves users by name and uid:gid; unknown names fail', async () => {
    expect((await exec(c, { path: 'id', user: 'alice' })).stdout).toMatch(
      /^uid=1001\(alice\) gid=1001\(alice\)/,
    );
    expect((await exec(c, { path: 'id', args: ['-G'] })).stdout.trim().split(' ').sort()).toEqual([
      '0',
      '10',
    ]);
    expect((await exec(c, { path: 'id', user: '1000000000:1000000000' })).stdout.trim()).toBe(
      'uid=1000000000 gid=1000000000',
    );
    expect((await exec(c, { path: 'id', args: ['-G'], user: '4242' })).stdout.trim()).toBe('0');
    await expect(c.run({ path: 'id', user: 'nosuchuser' }, {})).rejects.toThrow(
      'unable to find user nosuchuser: no matching entries in passwd file',
    );
  });

  it("defaults dir to the user's home, creating a missing dir owned by the user", async () => {
    expect((await exec(c, { path: 'pwd', user: 'bob' })).stdout).toBe('/home/bob\n');
    const r = await exec(c, {
      path: 'sh',
      args: ['-c', 'pwd; stat -c %U /srv/made/here'],
      user: 'alice',
      dir: '/srv/made/here',
    });
    expect(r.stdout).toBe('/srv/made/here\nalice\n');
  });

  it('sets rlimits soft = hard', async () => {
    const r = await exec(c, { path: 'sh', args: ['-c', 'ulimit -n; ulimit -Hn'], rlimits: { nofile: 512n } });
    expect(r.stdout).toBe('512\n512\n');
  });

  it('keeps the native error as the cause of a failed spawn (EPERM at the rlimit stage)', async () => {
    // A hard limit above the kernel's nr_open is refused by setrlimit, even for root.
    const err = await c.run({ path: 'true', rlimits: { nofile: 1n << 40n } }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as Error).message).toMatch(/^running true failed: rlimit/);
    expect((err as Error).cause).toBeInstanceOf(NativeError);
    expect((err as Error).cause).toMatchObject({ code: 'EPERM', errno: 1, stage: 'rlimit' });
    expect(errorFields(err)).toMatchObject({ code: 'EPERM', errno: 1, stage: 'rlimit' });
    expect((err as Error).message.match(/rlimit/g)).toHaveLength(1); // the stage is said once
  });

  it('runs with a tty of the given size and resizes it', async () => {
    const out = new Collector();
    const stdin = new PassThrough();
    const p = await c.run(
      {
        path: 'sh',
        args: ['-c', 'stty size; read x; stty size'],
        tty: { windowSize: { columns: 100, rows: 30 } },
      },
      { stdout: out, stdin },
    );
    await new Promise((r) => setTimeout(r, 300));
    await p.setTTY({ windowSize: { columns: 120, rows: 40 } });
    stdin.write('go\n');
    expect(await p.wait()).toBe(0);
    expect(out.text()).toMatch(/30 100\r\n[\s\S]*40 120\r\n/);
  });

  it('reports a missing executable as ExecutableNotFoundError, and a duplicate process id', async () => {
    await expect(c.run({ path: 'nope-not-here' }, {})).rejects.toBeInstanceOf(ExecutableNotFoundError);
    await exec(c, { id: 'once', path: 'true' });
    const err = await c.run({ id: 'once', path: 'true' }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GardenError);
    expect((err as Error).message).toBe("process ID 'once' already in use");
  });

  it('keeps output produced while nobody is attached and delivers it with the exit status on attach', async () => {
    const p = await c.run({ id: 'detached', path: 'sh', args: ['-c', 'echo out; echo err >&2; exit 7'] }, {});
    expect(await p.wait()).toBe(7);
    const stdout = new Collector();
    const stderr = new Collector();
    const again = await c.attach('detached', { stdout, stderr });
    expect(await again.wait()).toBe(7);
    expect(await again.wait()).toBe(7);
    expect(stdout.text()).toBe('out\n');
    expect(stderr.text()).toBe('err\n');
  });

  it('keeps the backlog per stream: a stdout-only attacher leaves stderr for a later one', async () => {
    const p = await c.run({ id: 'per-stream', path: 'sh', args: ['-c', 'echo o; echo e >&2'] }, {});
    expect(await p.wait()).toBe(0);
    const out = new Collector();
    await (await c.attach('per-stream', { stdout: out })).wait();
    const err = new Collector();
    await (await c.attach('per-stream', { stderr: err })).wait();
    expect([out.text(), err.text()]).toEqual(['o\n', 'e\n']);
  });

  it('fans output out to several attachers at once', async () => {
    const stdin = new PassThrough();
    const a = new Collector();
    const b = new Collector();
    const p = await c.run({ id: 'fan', path: 'cat' }, { stdout: a, stdin });
    const q = await c.attach('fan', { stdout: b });
    stdin.end('shared\n');
    expect(await p.wait()).toBe(0);
    expect(await q.wait()).toBe(0);
    expect(a.text()).toBe('shared\n');
    expect(b.text()).toBe('shared\n');
  });

  it('applies per-process memory limits in a child cgroup, removed with the container', async () => {
    const d = await backend.create({ limits: { memory: { limitInBytes: 256n << 20n } } });
    const capped = await exec(d, {
      path: 'dd',
      args: ['if=/dev/zero', 'of=/dev/null', 'bs=48M', 'count=1'],
      overrideContainerLimits: { memory: { limitInBytes: 24n << 20n } },
    });
    expect(capped.status).toBe(137);
    expect(
      (await exec(d, { path: 'dd', args: ['if=/dev/zero', 'of=/dev/null', 'bs=48M', 'count=1'] })).status,
    ).toBe(0);
    await backend.destroy(d.handle);
  });

  it('gives privileged containers all capabilities for root and /dev/fuse, no seccomp', async () => {
    const p = await backend.create({ privileged: true });
    const r = await exec(p, {
      path: 'sh',
      args: ['-c', 'grep -E "^(CapEff|Seccomp):" /proc/self/status; stat -c %t,%T /dev/fuse'],
    });
    expect(r.stdout).toMatch(/^CapEff:\t0000003f[0-9a-f]{8}\nSeccomp:\t0\na,e5\n$/);
    await backend.destroy(p.handle);
  });

  it('stop(false) ends a TERM-ignoring process with KILL after the timeout', async () => {
    const quick = env.backend({ stopTimeoutSeconds: 1, network: false });
    const d = await quick.create({});
    const p = await d.run(
      { path: 'sh', args: ['-c', "trap '' TERM; echo ready; while true; do sleep 1; done"] },
      {},
    );
    await new Promise((r) => setTimeout(r, 300));
    const t = Date.now();
    await d.stop(false);
    expect(await p.wait()).toBe(137);
    expect(Date.now() - t).toBeGreaterThanOrEqual(900);
    expect((await d.info()).state).toBe('stopped');
    await quick.destroy(d.handle);
    await quick.stop();
  });
});
