import { describe, expect, it } from 'vitest';
import { makeTar } from '../test/helpers/tar-writer.js';
import { ImageError } from './errors.js';
import { type TarHeader, TarParser } from './tar.js';

interface Got extends TarHeader {
  content: Buffer;
}

async function parse(tar: Buffer, chunk = 1 << 20): Promise<Got[]> {
  const got: Got[] = [];
  let cur: Buffer[] = [];
  const p = new TarParser({
    entry(h) {
      cur = [];
      got.push({ ...h, content: Buffer.alloc(0) });
    },
    data(c) {
      cur.push(Buffer.from(c));
    },
    end() {
      (got[got.length - 1] as Got).content = Buffer.concat(cur);
    },
  });
  for (let i = 0; i < tar.length; i += chunk) await p.write(tar.subarray(i, i + chunk));
  p.finish();
  return got;
}

describe('TarParser', () => {
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  const long = `${'deep/'.repeat(40)}file`;
  const tar = makeTar([
    { name: 'etc/', type: 'dir', mode: 0o755 },
    { name: 'etc/passwd', data: 'root:x:0:0\n', mode: 0o644, mtime: 1_600_000_000 },
    {
      name: 'bin/ping',
      data: 'ELF',
      mode: 0o4755,
      xattrs: { 'security.capability': cap, 'user.x': 'caf\u00e9' },
    },
    { name: 'bin/link', type: 'link', linkname: 'bin/ping' },
    { name: 'bin/sym', type: 'symlink', linkname: '../etc/passwd' },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'big-ids', data: '', uid: 1_000_000_000, gid: 3_000_000_000 },
    { name: long, data: 'x'.repeat(1000) },
    { name: 'fifo', type: 'fifo' },
  ]);

  it('reads ustar + PAX entries with binary xattrs, large ids and long names, in any chunking', async () => {
    for (const chunk of [1, 7, 511, 512, 513, 4096, 1 << 20]) {
      const got = await parse(tar, chunk);
      expect(got.map((g) => [g.name, g.type])).toEqual([
        ['etc/', 'directory'],
        ['etc/passwd', 'file'],
        ['bin/ping', 'file'],
        ['bin/link', 'link'],
        ['bin/sym', 'symlink'],
        ['dev/null', 'char'],
        ['big-ids', 'file'],
        [long, 'file'],
        ['fifo', 'fifo'],
      ]);
      expect(got[1]?.content.toString()).toBe('root:x:0:0\n');
      expect(got[1]?.mtime).toBe(1_600_000_000);
      expect(got[2]?.mode).toBe(0o4755);
      expect(got[2]?.xattrs?.get('security.capability')).toEqual(cap);
      expect(got[2]?.xattrs?.get('user.x')?.toString()).toBe('caf\u00e9');
      expect(got[3]?.linkname).toBe('bin/ping');
      expect(got[4]?.linkname).toBe('../etc/passwd');
      expect([got[5]?.devmajor, got[5]?.devminor]).toEqual([1, 3]);
      expect([got[6]?.uid, got[6]?.gid]).toEqual([1_000_000_000, 3_000_000_000]);
      expect(got[7]?.content.length).toBe(1000);
    }
  });

  it('ignores bytes after the end marker and accepts EOF at an entry boundary', async () => {
    expect((await parse(Buffer.concat([tar, Buffer.alloc(10240)]))).length).toBe(9);
    const noEnd = tar.subarray(0, tar.length - 1024);
    expect((await parse(noEnd)).length).toBe(9);
  });

  it('refuses truncated archives, bad checksums and unsupported entry types', async () => {
    await expect(parse(tar.subarray(0, 1500))).rejects.toThrow(/truncated/);
    const bad = Buffer.from(tar);
    bad[0] = 0x41; // first header's name changes, checksum does not
    await expect(parse(bad)).rejects.toThrow(/checksum/);
    const sparse = makeTar([{ name: 'f', data: 'x' }]);
    sparse[156] = 'S'.charCodeAt(0);
    let sum = 0;
    sparse.write('        ', 148, 'latin1');
    for (let i = 0; i < 512; i++) sum += sparse[i] as number;
    sparse.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 'latin1');
    await expect(parse(sparse)).rejects.toThrow(ImageError);
    await expect(parse(sparse)).rejects.toThrow(/sparse/);
  });
});
