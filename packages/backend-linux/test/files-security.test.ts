/** StreamIn/StreamOut safety (reference §4) and security defaults seen from inside (§5). */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Container } from '@garden-ts/api-types';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { exec, packTar, type TarEntry, testEnv } from './helpers.js';

const env = testEnv('sec');
let backend: LinuxBackend;
let c: Container;

type Entry = TarEntry;

const archive = async (entries: Entry[]): Promise<Readable> => Readable.from([await packTar(entries)]);

const sh = async (cmd: string, user?: string) =>
  exec(c, { path: 'sh', args: ['-c', cmd], ...(user ? { user } : {}) });

beforeAll(async () => {
  backend = env.backend();
  c = await backend.create({ limits: { pid: { max: 64n }, memory: { limitInBytes: 32n << 20n } } });
});
afterAll(() => env.cleanup());

describe('streamIn safety', () => {
  it.each([
    ['a leading ../', [{ name: '../escape-1.txt', content: 'x' }]],
    ['an inner ../', [{ name: 'a/../../escape-2.txt', content: 'x' }]],
    [
      'a symlink of the same archive',
      [
        { name: 'lnk', type: 'symlink', linkname: '/' },
        { name: 'lnk/escape-3.txt', content: 'x' },
      ],
    ],
    ['a hard link leaving the destination', [{ name: 'hl', type: 'link', linkname: '../../etc/passwd' }]],
    ['a device node (unprivileged)', [{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 1 }]],
  ] as [string, Entry[]][])('rejects %s and writes nothing', async (_label, entries) => {
    await sh('mkdir -p /tmp/slip/in');
    await expect(c.streamIn({ path: '/tmp/slip/in', tarStream: await archive(entries) })).rejects.toThrow(
      /error streaming in/,
    );
    expect(
      (await sh('find /tmp/slip -name "escape*" -o -name hl -o -name dev; ls /etc | grep -c escape')).stdout,
    ).toBe('0\n');
  });

  it('strips a leading / so absolute names land under the destination', async () => {
    await c.streamIn({
      path: '/tmp/abs',
      tarStream: await archive([{ name: '/etc/abs-evil', content: 'inside' }]),
    });
    expect((await sh('cat /tmp/abs/etc/abs-evil; test -e /etc/abs-evil || echo not-in-etc')).stdout).toBe(
      'insidenot-in-etc\n',
    );
  });

  it('follows container symlinks only inside the container root', async () => {
    await sh('ln -s /../../../../../../../.. /tmp/to-host-root');
    const marker = `garden-escape-${process.pid}`;
    await c.streamIn({
      path: '/tmp/to-host-root',
      tarStream: await archive([{ name: marker, content: 'contained' }]),
    });
    expect(existsSync(`/${marker}`)).toBe(false);
    expect((await sh(`cat /${marker}`)).stdout).toBe('contained');
  });

  it('writes files owned by the streaming user, and respects permissions', async () => {
    await c.streamIn({
      path: 'uploads',
      user: 'alice',
      tarStream: await archive([{ name: 'mine.txt', content: 'a' }]),
    });
    expect((await sh('stat -c %U /home/alice/uploads /home/alice/uploads/mine.txt')).stdout).toBe(
      'alice\nalice\n',
    );
    await sh('chmod 0755 /home/alice');
    await expect(
      c.streamIn({
        path: '/home/alice',
        user: 'bob',
        tarStream: await archive([{ name: 'bob.txt', content: 'b' }]),
      }),
    ).rejects.toThrow(/Permission denied/);
  });

  it('streamOut reads as the user and fails for a missing path', async () => {
    await sh('echo secret > /root/secret && chmod 0600 /root/secret');
    const out = await c.streamOut({ path: '/root/secret', user: 'alice' }).then(
      async (s) => {
        for await (const _ of s) {
          // drain
        }
        return 'ok';
      },
      (e: Error) => e.message,
    );
    expect(out).toMatch(/error streaming out/);
    await expect(c.streamOut({ path: '/no/such/path' })).rejects.toThrow(/error streaming out/);
  });
});

/** The entries of a StreamOut: name → type, link target, content. */
async function entriesOf(
  stream: Readable,
): Promise<Record<string, { type: string; linkname?: string; content: string }>> {
  const out: Record<string, { type: string; linkname?: string; content: string }> = {};
  const extract = tar.extract();
  stream.on('error', (e) => extract.destroy(e));
  stream.pipe(extract);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    const h = entry.header;
    out[h.name] = {
      type: h.type,
      ...(h.type === 'symlink' ? { linkname: h.linkname } : {}),
      content: Buffer.concat(parts).toString(),
    };
  }
  return out;
}

describe('streamOut and symlinks', () => {
  beforeAll(async () => {
    await sh(
      'rm -rf /tmp/so && mkdir -p /tmp/so && echo data > /tmp/so/file && ln -s file /tmp/so/rel && ' +
        'ln -s /etc/passwd /tmp/so/abs && ln -s ../../../../../../../.. /tmp/so/up',
    );
  });

  it('archives symlinks as symlinks, their targets exactly as they are, never followed', async () => {
    const entries = await entriesOf(await c.streamOut({ path: '/tmp/so' }));
    expect(entries).toMatchObject({
      'so/': { type: 'directory' },
      'so/file': { type: 'file', content: 'data\n' },
      'so/rel': { type: 'symlink', linkname: 'file', content: '' },
      'so/abs': { type: 'symlink', linkname: '/etc/passwd', content: '' },
      'so/up': { type: 'symlink', linkname: '../../../../../../../..', content: '' },
    });
    // A symlink named as the source is archived itself.
    expect(await entriesOf(await c.streamOut({ path: '/tmp/so/abs' }))).toEqual({
      abs: { type: 'symlink', linkname: '/etc/passwd', content: '' },
    });
  });

  it("a source through a symlink resolves inside the container: the container's files, never the host's", async () => {
    const inContainer = (await sh('cat /etc/passwd')).stdout;
    expect(inContainer).toContain('alice:x:1001');
    expect(inContainer).not.toBe(readFileSync('/etc/passwd', 'utf8'));
    // Up past the root through a symlink, then down: the container's /etc/passwd.
    const up = await entriesOf(await c.streamOut({ path: '/tmp/so/up/etc/passwd' }));
    expect(up).toEqual({ passwd: { type: 'file', content: inContainer } });
    // The contents of a directory reached through the symlink (trailing slash): the container's.
    const etc = await entriesOf(await c.streamOut({ path: '/tmp/so/up/etc/' }));
    expect(etc['./passwd']?.content).toBe(inContainer);
    expect(etc['./group']?.content).toBe((await sh('cat /etc/group')).stdout);
  });
});

describe('file operations use the host helper, not the image', () => {
  it('streams in and out of an image without tar and sh, creating missing directories', async () => {
    // The busybox rootfs minus its tar and sh: Guardian brings its own tar, so do we.
    const dir = mkdtempSync(join(tmpdir(), 'backend-linux-notar-'));
    try {
      execFileSync('cp', ['-a', inject('rootfs'), join(dir, 'rootfs')]);
      for (const tool of ['tar', 'sh']) unlinkSync(join(dir, 'rootfs', 'bin', tool));
      const bare = await backend.create({ rootfsPath: `raw://${join(dir, 'rootfs')}` });
      try {
        await bare.streamIn({
          path: '/tmp/made/by/helper',
          tarStream: await archive([{ name: 'f.txt', content: 'from the host helper' }]),
        });
        const out = await bare.streamOut({ path: '/tmp/made/by/helper/f.txt' });
        const files: Record<string, string> = {};
        const extract = tar.extract();
        out.pipe(extract);
        for await (const entry of extract) {
          const parts: Buffer[] = [];
          for await (const chunk of entry) parts.push(chunk as Buffer);
          files[entry.header.name] = Buffer.concat(parts).toString();
        }
        expect(files).toEqual({ 'f.txt': 'from the host helper' });
        // The image really has neither tool: with the image's own tools the same fails.
        const r = await exec(bare, { path: 'ls', args: ['/bin/tar', '/bin/sh'], dir: '/' });
        expect(r.status).not.toBe(0);
        const imageTools = env.backend({ helperExecutable: false, network: false });
        const c2 = await imageTools.create({ rootfsPath: `raw://${join(dir, 'rootfs')}` });
        try {
          await expect(
            c2.streamIn({ path: '/tmp', tarStream: await archive([{ name: 'g.txt', content: 'x' }]) }),
          ).rejects.toThrow('error streaming in: the container image has no /bin/tar');
        } finally {
          await imageTools.destroy(c2.handle);
        }
      } finally {
        await backend.destroy(bare.handle);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('security defaults (unprivileged)', () => {
  it("has Guardian's capability sets and a seccomp filter, without no_new_privs (setuid works)", async () => {
    const root = (await sh('grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status'))
      .stdout;
    expect(root).toContain('CapEff:\t00000000a80425fb');
    expect(root).toContain('CapBnd:\t00000000a80425fb');
    expect(root).toContain('NoNewPrivs:\t0');
    expect(root).toContain('Seccomp:\t2');
    const alice = (await sh('grep -E "^Cap(Prm|Eff|Bnd):" /proc/self/status', 'alice')).stdout;
    expect(alice).toContain('CapEff:\t0000000000000000');
    expect(alice).toContain('CapBnd:\t00000000a80425fb');
  });

  it('container root cannot mount, create user namespaces, load modules or reach sysrq', async () => {
    const m = await sh('mkdir -p /tmp/m && mount -t tmpfs none /tmp/m');
    expect(m.status).not.toBe(0);
    const u = await sh('unshare -U true');
    expect(u.status).not.toBe(0);
    expect(u.stderr).toMatch(/Operation not permitted/);
    const mod = await sh('echo x > /tmp/x.ko; insmod /tmp/x.ko');
    expect(mod.status).not.toBe(0);
    expect(mod.stderr).toMatch(/Operation not permitted|not permitted/);
    const sysrq = await sh('echo h > /proc/sysrq-trigger');
    expect(sysrq.status).not.toBe(0);
    // Masked: /dev/null is bound over it (the host's is non-empty and root-readable).
    expect((await sh('stat -c %t,%T /proc/timer_list; wc -c < /proc/timer_list')).stdout).toBe('1,3\n0\n');
  });

  it('stops a fork bomb at the pid limit while the host stays responsive', async () => {
    const bomb = await c.run({ path: 'sh', args: ['-c', 'f() { f | f & }; f; sleep 2'] }, {});
    const t = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    // The event loop kept ticking (1.5 s timer not delayed by much) and the pid count is capped.
    expect(Date.now() - t).toBeLessThan(5000);
    const m = await c.metrics();
    expect(m.pidStat.max).toBe(64n);
    expect(m.pidStat.current).toBeLessThanOrEqual(64n);
    await c.stop(true);
    expect([0, 137]).toContain(await bomb.wait());
    expect((await c.metrics()).pidStat.current).toBe(1n);
  });

  it('kills a memory hog at the memory limit and reports the OOM in events', async () => {
    const r = await exec(c, { path: 'dd', args: ['if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'] });
    expect(r.status).toBe(137);
    const info = await c.info();
    expect(info.events).toContain('Out of memory');
    expect(info.properties['rundmc.events']).toBe('Out of memory');
  });
});
