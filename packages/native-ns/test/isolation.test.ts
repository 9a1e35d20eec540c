/** Isolation, proven from inside a real container on the busybox rootfs. */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allCgroupDirs,
  CAPABILITIES,
  type CgroupSet,
  type Container,
  type CreateContainerOptions,
  capabilityMask,
  compileSeccomp,
  createContainer,
  DEFAULT_MASKED_PATHS,
  ExecutableNotFoundError,
  NativeArgumentError,
  NativeError,
  PRIVILEGED_INIT_CAPABILITIES,
  spawn,
  UNPRIVILEGED_CAPABILITIES,
} from '../src/index.js';
import { cleanup, collect, layout, newCgroup, newContainer, newDir, run } from './helpers.js';

let container: Container;
let cgroup: CgroupSet;

beforeAll(async () => {
  ({ container, cgroup } = await newContainer());
});
afterAll(cleanup);

const sh = (script: string) => ({ path: '/bin/sh', args: ['sh', '-c', script] });

/** Runs `fn` with a fresh network namespace bound at a file (as `ip netns add` does). */
async function withNetns(fn: (nsFile: string) => Promise<void>): Promise<void> {
  const nsFile = join(newDir(), 'netns');
  writeFileSync(nsFile, '');
  execFileSync('unshare', [`--net=${nsFile}`, 'true']);
  try {
    await fn(nsFile);
  } finally {
    execFileSync('umount', [nsFile]);
  }
}

describe('container init and namespaces', () => {
  it('pid 1 is garden-init, and only init and our process are visible', async () => {
    const r = await run(
      container,
      sh('cat /proc/1/comm; grep Name /proc/1/status; ls -d /proc/[0-9]* | wc -l'),
    );
    expect(r.stdout.split('\n')[0]).toBe('garden-init');
    expect(r.stdout).toContain('Name:\tgarden-init');
    // init, sh, and the ls/wc of the pipeline
    expect(Number(r.stdout.split('\n')[2])).toBeLessThanOrEqual(4);
    expect(readFileSync(`/proc/${container.pid}/comm`, 'utf8').trim()).toBe('garden-init');
  });

  it('has its own hostname', async () => {
    const r = await run(container, { path: 'hostname' });
    expect(r.stdout.trim()).toBe('test-box');
  });

  it('has only lo in a new network namespace', async () => {
    const r = await run(container, sh('ls /sys/class/net'));
    expect(r.stdout.split(/\s+/).filter(Boolean)).toEqual(['lo']);
  });

  it('brings lo up in a new network namespace: 127.0.0.1 answers inside the container', async () => {
    // ping opens a raw socket: container root holds CAP_NET_RAW over its own netns only.
    const r = await run(
      container,
      sh('cat /sys/class/net/lo/flags; ping -c1 -W2 127.0.0.1 >/dev/null && echo pong'),
    );
    const [flags, pong] = r.stdout.trim().split('\n');
    expect(Number.parseInt(flags ?? '', 16) & 1).toBe(1); // IFF_UP
    expect(pong).toBe('pong');
    expect(r.exitStatus).toBe(0);
    // what the container sees is its own netns, not the host's (whose lo is up anyway)
    expect(readFileSync(`/proc/${container.pid}/net/dev`, 'utf8')).not.toMatch(/eth|ens|veth/);
  });

  it('maps container root to the host max uid and 1..max-1 to themselves', async () => {
    const r = await run(container, sh('cat /proc/self/uid_map; cat /proc/self/gid_map'));
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines).toEqual(['0 4294967294 1', '1 1 4294967293', '0 4294967294 1', '1 1 4294967293']);
    const id = await run(container, { path: 'id' });
    expect(id.stdout.trim()).toBe('uid=0(root) gid=0(root)');
  });

  it('joins the given cgroups (init and spawned processes)', async () => {
    const dirs = allCgroupDirs(cgroup);
    const p = await spawn(container, { ...sh('sleep 5'), cgroups: dirs }, { dir: newDir() });
    try {
      for (const dir of dirs) {
        const members = readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n');
        expect(members).toContain(String(container.pid));
        expect(members).toContain(String(p.pid));
      }
      const self = readFileSync(`/proc/${p.pid}/cgroup`, 'utf8');
      expect(self).toContain(cgroup.path);
    } finally {
      p.signal('SIGKILL');
      await p.wait();
    }
    // inside, the cgroup namespace roots every hierarchy at the container's cgroup
    const r = await run(container, sh('cat /proc/self/cgroup'));
    for (const line of r.stdout.trim().split('\n')) expect(line).toMatch(/:\/$/);
  });

  it('masks paths (empty) and mounts /sys read-only', async () => {
    // Whatever of the default list exists on this kernel must read as empty inside.
    const present = DEFAULT_MASKED_PATHS.filter((p) => existsSync(p));
    const files = present.filter((p) => !statSync(p).isDirectory());
    const dirs = present.filter((p) => statSync(p).isDirectory());
    expect(files.length).toBeGreaterThan(0);
    expect(dirs.length).toBeGreaterThan(0);
    expect(readFileSync(files[0] as string).length + readdirSync(dirs[0] as string).length).toBeGreaterThan(
      0,
    );
    const script = [...files.map((f) => `wc -c < ${f}`), ...dirs.map((d) => `ls -A ${d} | wc -l`)].join('; ');
    const masked = await run(container, sh(script));
    expect(masked.stdout.trim().split(/\s+/)).toEqual(present.map(() => '0'));
    const r = await run(
      container,
      sh('grep " /sys " /proc/mounts; touch /sys/x 2>&1; grep " /proc/sys " /proc/mounts'),
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^sysfs \/sys sysfs ro,/);
    expect(r.stdout).toMatch(/touch: \/sys\/x: Read-only file system/);
    expect(r.stdout).toMatch(/ \/proc\/sys proc ro,/);
  });

  it('mounts /dev as specified (devices, pts, shm)', async () => {
    const r = await run(
      container,
      sh('ls /dev | sort | tr "\\n" " "; echo; readlink /dev/ptmx; grep -E " /dev/(pts|shm) " /proc/mounts'),
    );
    for (const d of ['full', 'null', 'pts', 'ptmx', 'random', 'shm', 'tty', 'urandom', 'zero'])
      expect(r.stdout).toContain(` ${d} `.trimStart());
    expect(r.stdout).toContain('pts/ptmx');
    expect(r.stdout).toMatch(
      /devpts \/dev\/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666/,
    );
    // Guardian's mount: source `tmpfs`, as /proc/mounts and mountinfo show it
    expect(r.stdout).toMatch(/^tmpfs \/dev\/shm tmpfs rw,nosuid,nodev,noexec,relatime/m);
  });

  it("runs init with the container's capability set (a80425fb unprivileged), not the server's", async () => {
    const caps = (pid: number) =>
      Object.fromEntries(
        [...readFileSync(`/proc/${pid}/status`, 'utf8').matchAll(/^(Cap\w+):\s+([0-9a-f]+)$/gm)].map((m) => [
          m[1],
          m[2],
        ]),
      );
    const hex = (m: bigint) => m.toString(16).padStart(16, '0');
    const unprivileged = hex(capabilityMask(UNPRIVILEGED_CAPABILITIES));
    expect(caps(container.pid)).toEqual({
      CapInh: unprivileged,
      CapPrm: unprivileged,
      CapEff: unprivileged,
      CapBnd: unprivileged,
      CapAmb: '0000000000000000',
    });
    // Privileged: caps 0-37 as far as the server's own bounding set has them.
    const own = BigInt(`0x${caps(process.pid).CapBnd}`);
    const { container: priv } = await newContainer({ privileged: true });
    const full = hex(PRIVILEGED_INIT_CAPABILITIES & own);
    expect(caps(priv.pid)).toMatchObject({ CapInh: full, CapPrm: full, CapEff: full, CapBnd: full });
    // As asked, and init still does its job: an orphan is reaped, a signal from inside ignored.
    const { container: bare } = await newContainer({ initCapabilities: [] });
    expect(caps(bare.pid)).toMatchObject({ CapPrm: '0000000000000000', CapBnd: '0000000000000000' });
    const r = await run(
      bare,
      sh('(sleep 0.1 &); kill -TERM 1; sleep 0.4; cat /proc/[0-9]*/stat | grep -c ") Z "; cat /proc/1/comm'),
    );
    expect(r.stdout).toBe('0\ngarden-init\n');
    // A process's own capabilities come from its spec (here: none given), not from init.
    const probe = sh('grep CapEff /proc/self/status');
    expect((await run(bare, probe)).stdout).toBe((await run(container, probe)).stdout);
  });

  it('never dies from a signal sent inside the container, and reaps orphans', async () => {
    const r = await run(
      container,
      sh('kill -TERM 1; kill -INT 1; kill -HUP 1; kill -KILL 1; (sleep 0.2 &) ; sleep 0.5; cat /proc/1/comm'),
    );
    expect(r.stdout.trim()).toBe('garden-init');
    const zombies = await run(container, sh('grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l'));
    expect(zombies.stdout.trim()).toBe('0');
  });

  it('bind-mounts caller directories read-only and read-write', async () => {
    const ro = newDir();
    const rw = newDir();
    const c = await createContainer({
      rootfs: (await import('vitest')).inject('rootfsUnprivileged'),
      bindMounts: [
        { source: ro, destination: '/mnt/ro', readOnly: true },
        { source: rw, destination: '/mnt/rw' },
      ],
    });
    try {
      const r = await run(c, sh('touch /mnt/ro/a 2>&1; touch /mnt/rw/b && echo ok'));
      expect(r.stdout).toContain('Read-only file system');
      expect(r.stdout).toContain('ok');
      expect(readFileSync(`${rw}/b`, 'utf8')).toBe('');
    } finally {
      await c.destroy();
    }
  });
});

describe('the old root', () => {
  const leftovers = (root: string) => readdirSync(root).filter((e) => e.startsWith('.garden-'));

  /**
   * Runs `extra` in `c` after listing its procfs mounts and counting the `.garden-*` entries of /
   * and /dev (none may be left, there or in `rootfs` on the host); returns the procfs mounts and
   * what `extra` printed.
   */
  async function inspect(c: Container, rootfs: string, extra = 'true') {
    const r = await run(
      c,
      sh(`grep "^proc " /proc/self/mounts; echo --; ls -a / /dev | grep -c garden; ${extra}`),
    );
    const [mounts, rest = ''] = r.stdout.split('--\n');
    expect(rest.split('\n')[0]).toBe('0');
    expect(leftovers(rootfs)).toEqual([]);
    return { mounts, out: rest.slice(rest.indexOf('\n') + 1) };
  }

  /** A container on `rootfs` (with `options`), inspected, then destroyed. */
  async function inspectNew(rootfs: string, options: Partial<CreateContainerOptions>, extra?: string) {
    const c = await createContainer({ rootfs, ...options });
    try {
      return await inspect(c, rootfs, extra);
    } finally {
      await c.destroy();
    }
  }

  it("goes on the image's /proc: procfs there afterwards, nothing made in the rootfs or left in /dev", async () => {
    const { mounts } = await inspect(container, (await import('vitest')).inject('rootfsUnprivileged'));
    expect(mounts).toMatch(/^proc \/proc proc rw,nosuid,nodev,noexec,relatime/);
  });

  it("falls back to a directory of its own when the image's /proc is a symlink, and removes it", async () => {
    const rootfs = join(newDir(), 'rootfs');
    execFileSync('cp', ['-a', (await import('vitest')).inject('rootfsUnprivileged'), rootfs]);
    rmdirSync(join(rootfs, 'proc'));
    // relative: it resolves inside the rootfs, so pivot_root would accept it as the old root's place
    execFileSync('ln', ['-s', 'tmp', join(rootfs, 'proc')]);
    const { mounts, out } = await inspectNew(rootfs, {}, 'readlink /proc/1/exe >/dev/null && echo procfs');
    // the mount goes where the link points (/tmp), as it would for any runtime
    expect(mounts).toMatch(/^proc \/tmp proc rw,nosuid,nodev,noexec,relatime/);
    expect(out).toBe('procfs\n');
  });

  it('falls back when a bind destination goes through a symlink: nothing made on the host through /proc', async () => {
    // A world-writable host directory the container's root could write to, and an image whose
    // /etc points at it through /proc (where the old root, the host, would sit).
    const host = newDir();
    chmodSync(host, 0o777);
    const rootfs = join(newDir(), 'rootfs');
    execFileSync('cp', ['-a', (await import('vitest')).inject('rootfsUnprivileged'), rootfs]);
    rmSync(join(rootfs, 'etc'), { recursive: true });
    symlinkSync(`/proc${host}`, join(rootfs, 'etc'));
    const file = join(newDir(), 'hosts');
    writeFileSync(file, '127.0.0.1 localhost\n');
    // With procfs on /proc the destination leads nowhere writable: the create fails, as it always did.
    const made: unknown = await createContainer({
      rootfs,
      bindMounts: [{ source: file, destination: '/etc/hosts', readOnly: false }],
    }).catch((e: unknown) => e);
    if (made && typeof made === 'object' && 'destroy' in made) await (made as Container).destroy();
    expect(made).toMatchObject({ stage: 'bind-mount' });
    expect(readdirSync(host)).toEqual([]);
    expect(leftovers(rootfs)).toEqual([]);
  });

  it('falls back when a bind mount goes under /proc (an lxcfs-style file over /proc/cpuinfo)', async () => {
    const file = join(newDir(), 'cpuinfo');
    writeFileSync(file, 'processor\t: 0 (from the host)\n');
    const { mounts, out } = await inspectNew(
      (await import('vitest')).inject('rootfsUnprivileged'),
      { bindMounts: [{ source: file, destination: '/proc/cpuinfo', readOnly: true }] },
      'cat /proc/cpuinfo',
    );
    expect(mounts).toMatch(/^proc \/proc proc rw,nosuid,nodev,noexec,relatime/);
    expect(out).toBe('processor\t: 0 (from the host)\n');
  });
});

describe('variants', () => {
  it('creates a privileged container: no user namespace, full capabilities', async () => {
    const { container: c } = await newContainer({ privileged: true });
    // named before createContainer resolves, not some time after
    expect(readFileSync(`/proc/${c.pid}/comm`, 'utf8')).toBe('garden-init\n');
    const r = await run(c, {
      path: '/bin/sh',
      args: ['sh', '-c', 'cat /proc/self/uid_map; grep CapBnd /proc/self/status; cat /proc/1/comm'],
    });
    expect(r.stdout.split('\n')[0]?.trim().split(/\s+/)).toEqual(['0', '0', '4294967295']);
    expect(r.stdout).toContain('garden-init');
    expect(readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(/Uid:\s+0\s/);
  });

  it('makes device nodes in a privileged container with exactly the mode asked for; refuses them unprivileged', async () => {
    const { container: c } = await newContainer({
      privileged: true,
      deviceNodes: [{ name: 'fuse', major: 10, minor: 229, mode: 0o666 }],
    });
    const r = await run(c, { path: '/bin/sh', args: ['sh', '-c', 'stat -c "%F %a %t:%T" /dev/fuse'] });
    expect(r.stdout).toBe('character special file 666 a:e5\n');
    await expect(
      newContainer({ deviceNodes: [{ name: 'fuse', major: 10, minor: 229, mode: 0o666 }] }),
    ).rejects.toThrow(/deviceNodes.*only a privileged container/);
    await expect(
      newContainer({ privileged: true, deviceNodes: [{ name: '../sda', major: 8, minor: 0, mode: 0o666 }] }),
    ).rejects.toThrow(/deviceNodes\[0\]\.name/);
    await expect(
      newContainer({ privileged: true, deviceNodes: [{ name: 'null', major: 1, minor: 3, mode: 0o666 }] }),
    ).rejects.toThrow(/already made/);
  });

  it('joins a given network namespace instead of creating one', async () => {
    await withNetns(async (nsFile) => {
      const { container: c } = await newContainer({ netns: nsFile });
      expect(statSync(`/proc/${c.pid}/ns/net`).ino).toBe(statSync(nsFile).ino);
      // /proc/net is per network namespace (a fresh sysfs is not allowed in a netns we do not own,
      // so /sys there is a read-only bind of the host's: see docs/architecture.md)
      const r = await run(c, {
        path: '/bin/sh',
        args: ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1'],
      });
      expect(r.stdout.trim()).toBe('lo');
      // the server's own network namespace is untouched
      expect(statSync('/proc/self/ns/net').ino).not.toBe(statSync(nsFile).ino);
      await c.destroy();
    });
  });
});

describe('cgroupfs', () => {
  const script = [
    'cd /sys/fs/cgroup',
    'ls | tr "\\n" " "; echo',
    'grep " /sys/fs/cgroup" /proc/self/mountinfo | cut -d" " -f4- | sort',
    'echo "release_agent: $(find . -name release_agent | wc -l)"',
    'echo "limit: $(cat memory/memory.limit_in_bytes)"',
    'echo "subdirs: $(ls -d memory/*/ | tr "\\n" " ")"',
    'echo "init: $(grep -x 1 memory/cgroup.procs)"',
    'mkdir memory/x 2>&1; echo 1 2>&1 > memory/memory.limit_in_bytes; mkdir unified/x 2>&1',
  ].join('; ');

  it('shows the container its own cgroups read-only under /sys/fs/cgroup: no sibling, no release_agent', async () => {
    const { container: c, cgroup: cg } = await newContainer({ cgroupfs: true });
    newCgroup('sibling'); // a sibling on the host, which must not show
    const memory = cg.v1.memory as string;
    writeFileSync(join(memory, 'memory.limit_in_bytes'), String(256 * 1024 * 1024));
    mkdirSync(join(memory, 'child')); // the container's own sub-cgroups do show
    try {
      const r = await run(c, sh(script));
      expect(r.stderr).toBe('');
      const lines = r.stdout.split('\n');
      const hierarchies = [...new Set(Object.values(layout.v1))].map((m) => basename(m));
      if (layout.v2) hierarchies.push(basename(layout.v2));
      expect(lines[0]?.trim().split(' ').sort()).toEqual(hierarchies.sort());
      // every view is rooted at our own cgroup ("/" in the cgroup namespace) and read-only
      expect(r.stdout).toContain('/ /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - tmpfs tmpfs ');
      expect(r.stdout).toContain(
        '/ /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory\n',
      );
      if (layout.v2)
        expect(r.stdout).toMatch(
          /^\/ \/sys\/fs\/cgroup\/unified ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw/m,
        );
      expect(r.stdout).toContain('release_agent: 0\n');
      expect(r.stdout).toContain(`limit: ${256 * 1024 * 1024}\n`);
      expect(r.stdout).toContain('subdirs: memory/child/ \n');
      expect(r.stdout).toContain('init: 1\n');
      expect(r.stdout).toContain("mkdir: can't create directory 'memory/x': Read-only file system");
      expect(r.stdout).toContain("mkdir: can't create directory 'unified/x': Read-only file system");
      expect(r.stdout).toMatch(/memory\.limit_in_bytes: Read-only file system/);
      expect(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(
        String(256 * 1024 * 1024),
      );
    } finally {
      rmdirSync(join(memory, 'child'));
    }
    // Privileged containers may have the same view (Guardian gives them none; the caller decides).
    const { container: priv } = await newContainer({ privileged: true, cgroupfs: true });
    const p = await run(priv, sh(script));
    expect(p.stdout).toContain('release_agent: 0\n');
    expect(p.stdout).toContain('init: 1\n');
    expect(p.stdout).toContain("mkdir: can't create directory 'memory/x': Read-only file system");
  });

  it('leaves /sys/fs/cgroup empty by default, also when /sys is the host one (a given netns)', async () => {
    const count = sh('ls -A /sys/fs/cgroup | wc -l');
    expect((await run(container, count)).stdout).toBe('0\n');
    await withNetns(async (nsFile) => {
      // a fresh sysfs is refused in a netns the container does not own: /sys is the host's
      // (recursive, with the host's cgroup mounts), which must not show the host's cgroups
      const { container: c } = await newContainer({ netns: nsFile });
      expect((await run(c, count)).stdout).toBe('0\n');
      const { container: viewing } = await newContainer({ netns: nsFile, cgroupfs: true });
      const r = await run(viewing, sh(script));
      expect(r.stdout).toContain('release_agent: 0\n');
      expect(r.stdout).toContain('init: 1\n');
      await c.destroy();
      await viewing.destroy();
    });
  });
});

describe('spawn', () => {
  it('switches user, group and supplementary groups', async () => {
    const r = await run(container, { path: 'id', user: { uid: 1001, gid: 1001, groups: [100] } });
    expect(r.stdout.trim()).toBe('uid=1001(alice) gid=1001(alice) groups=100(users)');
    const big = await run(container, { path: 'id', user: { uid: 1000000000, gid: 1000000000 } });
    expect(big.stdout.trim()).toBe('uid=1000000000 gid=1000000000');
  });

  it("lets the process's user reopen /dev/stdin, /dev/stdout and /dev/stderr (pipes and pty)", async () => {
    const script = 'echo out > /dev/stdout; echo err > /dev/stderr; read x < /dev/stdin; echo "in:$x"';
    const { container: privileged } = await newContainer({ privileged: true });
    const cases: [Container | null, { uid: number; gid: number }][] = [
      [container, { uid: 1001, gid: 1001 }],
      [container, { uid: 0, gid: 0 }], // container root: host 4294967294, not the shim's host root
      [container, { uid: 1000000000, gid: 1000000000 }],
      [privileged, { uid: 1001, gid: 1001 }],
      [null, { uid: 1001, gid: 1001 }], // on the host
    ];
    for (const [c, user] of cases) {
      const p = await spawn(c, { ...sh(script), user }, { dir: newDir() });
      const done = collect(p);
      await p.write('hello\n');
      expect({ user, ...(await done) }).toMatchObject({ user, stdout: 'out\nin:hello\n', stderr: 'err\n' });
    }
    // A pty's slave belongs to the user (group tty, 0620), as a login terminal does.
    const p = await spawn(
      container,
      { ...sh(`ls -ln $(tty); ${script}`), user: { uid: 1001, gid: 1001 }, tty: {} },
      { dir: newDir() },
    );
    const done = collect(p);
    await p.write('hello\n');
    const t = await done;
    expect(t.stdout).toMatch(/^crw--w---- +1 1001 +5 +136, +\d+ /m); // after the echo of "hello", maybe
    expect(t.stdout).toContain('out\r\nerr\r\n');
    expect(t.stdout).toContain('in:hello\r\n');
    expect(t.exitStatus).toBe(0);
  });

  it('passes args, env and cwd', async () => {
    const r = await run(container, {
      ...sh('echo "$A-$1"; pwd'),
      args: ['sh', '-c', 'echo "$A-$1"; pwd', 'x', 'y'],
      env: ['A=b'],
      cwd: '/tmp',
    });
    expect(r.stdout).toBe('b-y\n/tmp\n');
  });

  it('sets rlimits soft = hard', async () => {
    const r = await run(container, {
      ...sh('ulimit -n; ulimit -Hn; ulimit -s'),
      rlimits: { nofile: 512, stack: { soft: 4096 * 1024, hard: 8192 * 1024 } },
    });
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['512', '512', '4096']);
  });

  it('sets no_new_privs and capability sets as given', async () => {
    const set = capabilityMask(UNPRIVILEGED_CAPABILITIES);
    expect(set).toBe(0xa80425fbn);
    const root = await run(container, {
      ...sh('grep -E "^(Cap|NoNewPrivs)" /proc/self/status'),
      noNewPrivileges: true,
      capabilities: { bounding: set, effective: set, permitted: set, inheritable: set },
    });
    expect(root.stdout).toContain('NoNewPrivs:\t1');
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd'])
      expect(root.stdout).toContain(`${k}:\t00000000a80425fb`);
    expect(root.stdout).toContain('CapAmb:\t0000000000000000');
    const user = await run(container, {
      ...sh('grep -E "^Cap" /proc/self/status'),
      user: { uid: 1001, gid: 1001 },
      capabilities: {
        bounding: set,
        effective: 0n,
        permitted: ['CAP_NET_BIND_SERVICE'],
        inheritable: set,
        ambient: ['CAP_NET_BIND_SERVICE'],
      },
    });
    const amb = (1n << BigInt(CAPABILITIES.CAP_NET_BIND_SERVICE)).toString(16).padStart(16, '0');
    expect(user.stdout).toContain('CapInh:\t00000000a80425fb');
    expect(user.stdout).toContain(`CapPrm:\t${amb}`);
    expect(user.stdout).toContain(`CapEff:\t${amb}`);
    expect(user.stdout).toContain(`CapAmb:\t${amb}`);
    expect(user.stdout).toContain('CapBnd:\t00000000a80425fb');
    const plain = await run(container, {
      ...sh('grep NoNewPrivs /proc/self/status'),
      user: { uid: 1001, gid: 1001 },
    });
    expect(plain.stdout).toContain('NoNewPrivs:\t0');
  });

  it("clips every requested capability set to the server's own bounding set", async () => {
    const own = BigInt(
      `0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]}`,
    );
    const all = (1n << 41n) - 1n; // CAP_CHOWN .. CAP_CHECKPOINT_RESTORE, whatever this host lacks
    const hex = (m: bigint) => m.toString(16).padStart(16, '0');
    const root = await run(container, {
      ...sh('grep -E "^Cap" /proc/self/status'),
      capabilities: { bounding: all, effective: all, permitted: all, inheritable: all },
    });
    expect(root.exitStatus).toBe(0);
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd'])
      expect(root.stdout).toContain(`${k}:\t${hex(all & own)}`);
    // an ambient capability the server lacks is dropped instead of failing the spawn
    const missing = [...Array(41).keys()].find((c) => !(own & (1n << BigInt(c))));
    const chown = 1n << BigInt(CAPABILITIES.CAP_CHOWN);
    const want = chown | (missing === undefined ? 0n : 1n << BigInt(missing));
    const user = await run(container, {
      ...sh('grep -E "^Cap(Amb|Bnd)" /proc/self/status'),
      user: { uid: 1001, gid: 1001 },
      capabilities: { bounding: want, effective: want, permitted: want, inheritable: want, ambient: want },
    });
    expect(user.exitStatus).toBe(0);
    expect(user.stdout).toContain(`CapAmb:\t${hex(chown)}`);
    expect(user.stdout).toContain(`CapBnd:\t${hex(chown)}`);
  });

  it('applies the supplied seccomp filter: unshare(CLONE_NEWUSER) is refused', async () => {
    const filter = compileSeccomp({
      defaultAction: 'allow',
      rules: [{ syscalls: ['unshare'], action: { errno: 1 } }],
    });
    const denied = await run(container, {
      ...sh('grep Seccomp: /proc/self/status; unshare -U true; echo rc=$?'),
      seccomp: filter,
      noNewPrivileges: true,
    });
    expect(denied.stdout).toContain('Seccomp:\t2');
    expect(denied.stderr).toContain('Operation not permitted');
    expect(denied.stdout).toContain('rc=1');
    // the filter is what refuses it: without one, root in the container may unshare a user ns
    const allowed = await run(container, sh('unshare -U true; echo rc=$?'));
    expect(allowed.stdout).toContain('rc=0');
    // and without no_new_privs, installed while still privileged
    const early = await run(container, {
      ...sh('unshare -U true; echo rc=$?'),
      seccomp: filter,
      user: { uid: 1001, gid: 1001 },
    });
    expect(early.stdout).toContain('rc=1');
  });

  it('runs with a pty (ONLCR, 80x24 default) and resizes it', async () => {
    const p = await spawn(
      container,
      { ...sh('tty; stty size; read x; stty size'), tty: {} },
      { dir: newDir() },
    );
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    while (!out.includes('24 80')) await new Promise((r) => setTimeout(r, 10));
    p.resize(100, 30);
    p.write('\n');
    const status = await p.wait();
    expect(status.exitStatus).toBe(0);
    expect(out).toMatch(/^\/dev\/pts\/\d+\r\n24 80\r\n/);
    expect(out).toContain('30 100\r\n');
    const sized = await run(container, { ...sh('stty size'), tty: { columns: 132, rows: 43 } });
    expect(sized.stdout).toBe('43 132\r\n');
    expect(sized.stderr).toBe('');
  });

  it('streams stdin and closes it on end()', async () => {
    const p = await spawn(container, { path: 'cat' }, { dir: newDir() });
    const done = collect(p);
    p.write('hello ');
    p.write(Buffer.from('world'));
    p.end();
    const r = await done;
    expect(r.stdout).toBe('hello world');
    expect(r.exitStatus).toBe(0);
  });

  it('signals the process through its pidfd; exit status is 128 + signal', async () => {
    const p = await spawn(container, sh('sleep 30'), { dir: newDir() });
    p.signal('SIGTERM');
    expect(await p.wait()).toEqual({ exitStatus: 143, code: null, signal: 15 });
  });

  it('runs a host executable from a sealed in-memory copy (hostExecutable)', async () => {
    // Debian's busybox-static: present wherever the test rootfs could be built.
    const r = await run(container, {
      path: 'helper',
      args: ['sh', '-c', 'readlink /proc/self/exe; echo x >> /proc/self/exe || echo refused'],
      hostExecutable: '/bin/busybox',
    });
    expect(r.exitStatus).toBe(0);
    expect(r.stdout).toMatch(/^\/memfd:garden-helper \(deleted\)\nrefused\n$/);
    // A missing host executable is a typed exec error, before anything runs in the container.
    const e = await spawn(
      container,
      { path: 'helper', hostExecutable: '/no/such/helper' },
      { dir: newDir() },
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExecutableNotFoundError);
  });

  it('reports a missing executable as ExecutableNotFoundError', async () => {
    const e = await spawn(container, { path: 'no-such-binary' }, { dir: newDir() }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExecutableNotFoundError);
    expect(e).toBeInstanceOf(NativeError);
    expect(e).toMatchObject({
      code: 'ENOENT',
      errno: 2,
      stage: 'exec',
      syscall: 'execve',
      path: 'no-such-binary',
    });
    const abs = await spawn(container, { path: '/bin/nope' }, { dir: newDir() }).catch((x: unknown) => x);
    expect(abs).toBeInstanceOf(ExecutableNotFoundError);
    // found only in /sbin, which a non-root default PATH does not search (Guardian §3.2)
    const sbin = await spawn(
      container,
      { path: 'ifconfig', user: { uid: 1001, gid: 1001 } },
      { dir: newDir() },
    ).catch((x: unknown) => x);
    expect(sbin).toBeInstanceOf(ExecutableNotFoundError);
  });

  it('reports a missing cwd as a typed error with stage chdir', async () => {
    const e = await spawn(container, { path: 'true', cwd: '/does/not/exist' }, { dir: newDir() }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(NativeError);
    expect(e).not.toBeInstanceOf(ExecutableNotFoundError);
    expect(e).toMatchObject({ code: 'ENOENT', errno: 2, stage: 'chdir' });
  });

  it('rejects a bad spec before any native call, naming the field', async () => {
    await expect(spawn(container, { path: 'true', env: ['NOEQUALS'] }, { dir: newDir() })).rejects.toThrow(
      NativeArgumentError,
    );
    await expect(
      spawn(container, { path: 'true', user: { uid: -1, gid: 0 } }, { dir: newDir() }),
    ).rejects.toThrow(/user\.uid/);
    await expect(spawn(container, { path: 'true' }, { dir: 'relative' })).rejects.toThrow(/dir/);
  });

  it('reports a container create failure with its stage', async () => {
    const e = await createContainer({ rootfs: '/nonexistent-rootfs' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NativeError);
    expect((e as NativeError).stage).toBe('old-root');
    expect((e as NativeError).code).toBe('ENOENT');
  });

  it('supports per-process child cgroups', async () => {
    const child = newCgroup('proc');
    const r = await run(container, { ...sh('cat /proc/self/cgroup'), cgroups: allCgroupDirs(child) });
    expect(r.exitStatus).toBe(0);
    expect(layout.kind).toMatch(/v1|v2|hybrid/);
  });
});
