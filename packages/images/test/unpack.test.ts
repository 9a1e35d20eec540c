/** Layer archives → overlay-format directories (root: mknod, chown, trusted.* xattrs). */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getXattr } from '@garden-ts/native-ns';
import { afterAll, describe, expect, it } from 'vitest';
import { DigestMismatchError, ImageError, unpackLayerStream } from '../src/index.js';
import { compress, sha256 } from './helpers/images.js';
import { makeTar, type TestEntry } from './helpers/tar-writer.js';

const work = mkdtempSync(join(tmpdir(), 'images-unpack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

async function unpack(
  entries: TestEntry[] | Buffer,
  opts: Parameters<typeof unpackLayerStream>[2] = { what: 'test' },
) {
  const dir = join(work, `l${n++}`);
  mkdirSync(dir);
  const bytes = Buffer.isBuffer(entries) ? entries : makeTar(entries);
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += 3000) yield bytes.subarray(i, i + 3000);
  }
  const result = await unpackLayerStream(chunks(), dir, opts);
  return { dir, result };
}

const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');

describe('unpackLayerStream', () => {
  it('keeps modes, owners, times, hard links, symlinks, devices, FIFOs and xattrs', async () => {
    const { dir, result } = await unpack([
      { name: './', type: 'dir', mode: 0o755 },
      { name: 'bin/', type: 'dir', mode: 0o755 },
      { name: 'bin/su', data: 'ELF su', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'bin/wall', data: 'ELF wall', mode: 0o2755, gid: 5 },
      { name: 'bin/ping', data: 'ELF ping', mode: 0o755, xattrs: { 'security.capability': CAP_NET_RAW } },
      { name: 'bin/ping6', type: 'link', linkname: 'bin/ping' },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox', uid: 1001, gid: 1001 },
      { name: 'home/alice/', type: 'dir', mode: 0o700, uid: 1001, gid: 1001, mtime: 1_500_000_000 },
      {
        name: 'home/alice/notes',
        data: 'hi',
        mode: 0o600,
        uid: 1001,
        gid: 1001,
        mtime: 1_400_000_000,
        xattrs: { 'user.tag': 'x' },
      },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
      { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/loop9', type: 'block', mode: 0o660, devmajor: 7, devminor: 9, gid: 6 },
      { name: 'run/fifo', type: 'fifo', mode: 0o620 },
      { name: 'big/owner', data: '', uid: 1_000_000_000, gid: 1_000_000_000 },
    ]);
    const st = (p: string) => lstatSync(join(dir, p));
    expect(st('bin/su').mode & 0o7777).toBe(0o4755);
    expect(st('bin/wall').mode & 0o7777).toBe(0o2755);
    expect(st('bin/wall').gid).toBe(5);
    expect(getXattr(join(dir, 'bin/ping'), 'security.capability')).toEqual(CAP_NET_RAW);
    expect(st('bin/ping6').ino).toBe(st('bin/ping').ino);
    expect(readlinkSync(join(dir, 'bin/sh'))).toBe('busybox');
    expect([st('bin/sh').uid, st('bin/sh').gid]).toEqual([1001, 1001]);
    expect(st('home/alice').mode & 0o7777).toBe(0o700);
    expect(st('home/alice').uid).toBe(1001);
    expect(st('home/alice').mtimeMs).toBe(1_500_000_000_000); // set after its contents
    expect(st('home/alice/notes').mtimeMs).toBe(1_400_000_000_000);
    expect(getXattr(join(dir, 'home/alice/notes'), 'user.tag')?.toString()).toBe('x');
    expect(readFileSync(join(dir, 'home/alice/notes'), 'utf8')).toBe('hi');
    expect(st('tmp').mode & 0o7777).toBe(0o1777);
    expect(st('dev/null').isCharacterDevice()).toBe(true);
    expect(st('dev/null').rdev).toBe(0x103);
    expect(st('dev/loop9').isBlockDevice()).toBe(true);
    expect(st('dev/loop9').gid).toBe(6);
    expect(st('run/fifo').isFIFO()).toBe(true);
    expect(st('run/fifo').mode & 0o777).toBe(0o620);
    expect([st('big/owner').uid, st('big/owner').gid]).toEqual([1_000_000_000, 1_000_000_000]);
    // Implicit parents (no entry of their own) are 0755 root, as Docker makes them.
    expect(st('run').mode & 0o7777).toBe(0o755);
    expect(result.stats).toMatchObject({ files: 5, hardlinks: 1, devicesSkipped: 0 });
  });

  it('turns whiteouts into 0/0 character devices and opaque markers into trusted.overlay.opaque', async () => {
    const { dir, result } = await unpack([
      { name: 'etc/.wh.motd', data: '' },
      { name: 'var/cache/', type: 'dir' },
      { name: 'var/cache/.wh..wh..opq', data: '' },
      { name: 'var/cache/new', data: 'fresh' },
      { name: '.wh..wh.plnk', type: 'dir' }, // AUFS metadata: ignored
    ]);
    const wh = lstatSync(join(dir, 'etc/motd'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(getXattr(join(dir, 'var/cache'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(readdirSync(join(dir, 'var/cache'))).toEqual(['new']);
    expect(readdirSync(dir).sort()).toEqual(['etc', 'var']);
    expect(result.stats).toMatchObject({ whiteouts: 1, opaqueDirs: 1 });
  });

  it('lets a later entry replace an earlier one, as tar does', async () => {
    const { dir } = await unpack([
      { name: 'a', data: 'first' },
      { name: 'a', data: 'second' },
      { name: 'd/', type: 'dir', mode: 0o700 },
      { name: 'd/x', data: 'x' },
      { name: 'd/', type: 'dir', mode: 0o750 },
      { name: 'e/f', data: 'gone' },
      { name: 'e', type: 'symlink', linkname: 'd' },
    ]);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('second');
    expect(statSync(join(dir, 'd')).mode & 0o777).toBe(0o750);
    expect(readFileSync(join(dir, 'd/x'), 'utf8')).toBe('x');
    expect(readlinkSync(join(dir, 'e'))).toBe('d');
  });

  it('never writes outside the layer: .. and paths through a symlink are refused, trusted.* dropped', async () => {
    await expect(unpack([{ name: '../escape', data: 'x' }])).rejects.toThrow(/escapes the layer/);
    await expect(unpack([{ name: 'a/../../escape', data: 'x' }])).rejects.toThrow(ImageError);
    await expect(
      unpack([
        { name: 'etc', type: 'symlink', linkname: '/etc' },
        { name: 'etc/cron.d/evil', data: 'x' },
      ]),
    ).rejects.toThrow(/not a directory in this layer/);
    await expect(unpack([{ name: 'hl', type: 'link', linkname: '../../etc/shadow' }])).rejects.toThrow(
      /escapes/,
    );
    const { dir, result } = await unpack([
      { name: 'd/', type: 'dir', xattrs: { 'trusted.overlay.redirect': '/etc' } },
    ]);
    expect(getXattr(join(dir, 'd'), 'trusted.overlay.redirect')).toBeNull();
    expect(result.stats.xattrsSkipped).toBe(1);
  });

  it('copies a hard link target from the layers below when it is not in this layer', async () => {
    const below = (await unpack([{ name: 'usr/bin/python3.11', data: 'py', mode: 0o755 }])).dir;
    const { dir } = await unpack(
      [{ name: 'usr/bin/python3', type: 'link', linkname: 'usr/bin/python3.11' }],
      {
        what: 'test',
        lowerDirs: [below],
      },
    );
    expect(readFileSync(join(dir, 'usr/bin/python3'), 'utf8')).toBe('py');
    expect(statSync(join(dir, 'usr/bin/python3')).mode & 0o777).toBe(0o755);
    await expect(unpack([{ name: 'x', type: 'link', linkname: 'missing' }])).rejects.toThrow(
      /not in the image/,
    );
  });

  it('decompresses gzip and zstd (sniffed) and verifies both digests', async () => {
    const tar = makeTar([{ name: 'f', data: 'y'.repeat(100_000) }]);
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const blob = compress(tar, c);
      const { dir, result } = await unpack(blob, {
        what: c,
        expectDigest: sha256(blob),
        expectDiffId: sha256(tar),
      });
      expect(result.compression).toBe(c);
      expect(result.diffId).toBe(sha256(tar));
      expect(result.size).toBe(tar.length);
      expect(readFileSync(join(dir, 'f'), 'utf8').length).toBe(100_000);
    }
    const blob = compress(tar, 'gzip');
    await expect(
      unpack(blob, { what: 'layer x', expectDigest: sha256(Buffer.from('other')) }),
    ).rejects.toThrow(DigestMismatchError);
    await expect(
      unpack(blob, { what: 'layer x', expectDiffId: sha256(Buffer.from('other')) }),
    ).rejects.toThrow(/uncompressed\): digest mismatch/);
  });

  it('reports corruption as a digest mismatch when the digest is known, else as a bad archive', async () => {
    const tar = makeTar([
      { name: 'f', data: 'z'.repeat(200_000) },
      { name: 'g', data: 'q'.repeat(50_000) },
    ]);
    for (const c of ['gzip', 'zstd'] as const) {
      const blob = compress(tar, c);
      const bad = Buffer.from(blob);
      const at = Math.floor(bad.length / 2);
      bad[at] = (bad[at] as number) ^ 0xff;
      const err = await unpack(bad, { what: `layer ${c}`, expectDigest: sha256(blob) }).catch((e) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect(err.message).toContain(`layer ${c}: digest mismatch: expected ${sha256(blob)}`);
      const err2 = await unpack(bad, { what: `layer ${c}` }).catch((e) => e);
      expect(err2).toBeInstanceOf(ImageError);
    }
  });
});
