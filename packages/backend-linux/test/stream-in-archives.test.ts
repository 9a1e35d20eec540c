/**
 * StreamIn of archives that cannot be written as they stand (issue 10, items 4 and 5): GNU tar's
 * sparse formats, hostile entries, random bytes, truncated archives and a tar killed mid-way. Each
 * gets an error naming the entry (or where the archive broke) and the reason; the entries before
 * a refused one are written, nothing after it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Container } from '@garden-ts/api-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { exec, packTar, type TarEntry, testEnv } from './helpers.js';

const env = testEnv('archives');
let backend: LinuxBackend;
let c: Container;
const work = mkdtempSync(join(tmpdir(), 'backend-linux-archives-'));

beforeAll(async () => {
  backend = env.backend();
  c = await backend.create({});
});
afterAll(async () => {
  await env.cleanup();
  rmSync(work, { recursive: true, force: true });
});

type Entry = TarEntry;
const pack = packTar;

const sh = async (cmd: string) => (await exec(c, { path: 'sh', args: ['-c', cmd], dir: '/' })).stdout;

/** Streams `archive` into a fresh /tmp/in; returns the error message (or 'ok') and what is there. */
async function streamIn(archive: Buffer | Readable): Promise<{ error: string; files: string[] }> {
  await sh('rm -rf /tmp/in && mkdir -p /tmp/in');
  let error = 'ok';
  try {
    await c.streamIn({
      path: '/tmp/in',
      tarStream: archive instanceof Readable ? archive : Readable.from([archive]),
    });
  } catch (e) {
    error = (e as Error).message;
  }
  const files = (await sh('cd /tmp/in && find . -mindepth 1 | sort')).split('\n').filter(Boolean);
  return { error, files };
}

describe('GNU tar sparse files (8 MiB, two data extents)', () => {
  // An 8 MiB file with data at 4 KiB and near the end, everything else holes.
  const sparse = join(work, 'sp');
  beforeAll(() => {
    execFileSync('truncate', ['-s', '8M', sparse]);
    execFileSync('sh', [
      '-c',
      `printf hello | dd of=${sparse} bs=1 seek=4096 conv=notrunc 2>/dev/null && printf end | dd of=${sparse} bs=1 seek=8000000 conv=notrunc 2>/dev/null`,
    ]);
  });

  it.each([
    ['gnu', [], /entry type not supported \(a GNU sparse file/],
    ['oldgnu', [], /entry type not supported \(a GNU sparse file/],
    ['pax', ['--sparse-version=0.0'], /sparse files are not supported \(PAX GNU\.sparse format 0\.0\)/],
    ['pax', ['--sparse-version=0.1'], /sparse files are not supported \(PAX GNU\.sparse format 0\.1\)/],
    ['pax', ['--sparse-version=1.0'], /sparse files are not supported \(PAX GNU\.sparse format 1\.0\)/],
  ] as [string, string[], RegExp][])(
    '--format=%s %s is refused naming the file, never written wrong',
    async (format, extra, reason) => {
      const archive = join(work, `${format}${extra.join('')}.tar`);
      execFileSync('tar', ['--sparse', `--format=${format}`, ...extra, '-cf', archive, '-C', work, 'sp']);
      const r = await streamIn(readFileSync(archive));
      expect(r.error).toMatch(/^error streaming in: archive entry "sp": /);
      expect(r.error).toMatch(reason);
      // Neither a short 'sp' (GNU: the stored chunks) nor GNUSparseFile.N/sp (PAX) appears.
      expect(r.files).toEqual([]);
    },
  );

  it('the same file archived without --sparse arrives with its size and content', async () => {
    const archive = join(work, 'dense.tar');
    execFileSync('tar', ['--format=gnu', '-cf', archive, '-C', work, 'sp']);
    const r = await streamIn(readFileSync(archive));
    expect(r.error).toBe('ok');
    expect(await sh('wc -c < /tmp/in/sp; md5sum < /tmp/in/sp')).toBe(
      `8388608\n${execFileSync('sh', ['-c', `md5sum < ${sparse}`]).toString()}`,
    );
  });
});

describe('hostile entries: refused naming entry and reason; before it written, nothing after', () => {
  it.each([
    [
      'a .. component',
      { name: 'sub/../../x', content: 'x' },
      /"sub\/\.\.\/\.\.\/x": escapes the destination \(\.\.\)/,
    ],
    [
      'an absolute hard link target',
      { name: 'hl', type: 'link', linkname: '/etc/passwd' },
      /"hl": hard link to an absolute path \(\/etc\/passwd\)/,
    ],
    [
      'a hard link to a file not in the archive',
      { name: 'hl', type: 'link', linkname: 'etc/passwd' },
      /"hl": hard link to "etc\/passwd", which is not an earlier file of the archive/,
    ],
    [
      'a device node (unprivileged)',
      { name: 'dev', type: 'character-device', devmajor: 1, devminor: 1 },
      /"dev": device nodes are not allowed in unprivileged containers/,
    ],
    [
      'an entry through a symlink of the archive',
      { name: 'lnk/x', content: 'x' },
      /"lnk\/x": passes through a symlink of the same archive/,
    ],
  ] as [string, Entry, RegExp][])('%s', async (_label, bad, reason) => {
    const r = await streamIn(
      await pack([
        { name: 'before.txt', content: 'before' },
        { name: 'lnk', type: 'symlink', linkname: '/' },
        bad,
        { name: 'after.txt', content: 'after' },
      ]),
    );
    expect(r.error).toMatch(/^error streaming in: archive entry /);
    expect(r.error).toMatch(reason);
    expect(r.files).toEqual(['./before.txt', './lnk']);
  });

  it('hard links to an earlier file of the archive are written', async () => {
    const r = await streamIn(
      await pack([
        { name: 'a.txt', content: 'shared' },
        { name: 'b.txt', type: 'link', linkname: 'a.txt' },
      ]),
    );
    expect(r.error).toBe('ok');
    expect(await sh('stat -c %h /tmp/in/b.txt; cat /tmp/in/b.txt')).toBe('2\nshared');
  });
});

describe('broken archives', () => {
  it('64 KiB of random bytes: not a tar archive', async () => {
    const r = await streamIn(randomBytes(64 * 1024));
    expect(r.error).toMatch(/^error streaming in: not a tar archive \(Invalid tar header/);
    expect(r.files).toEqual([]);
  });

  it('an archive cut inside an entry names the entry', async () => {
    const whole = await pack([
      { name: 'first.txt', content: 'first' },
      { name: 'big.bin', content: Buffer.alloc(256 * 1024, 7) },
    ]);
    const r = await streamIn(whole.subarray(0, 2048 + 100 * 1024));
    expect(r.error).toMatch(/^error streaming in: the archive ends inside entry "big\.bin"/);
  });

  it('an upload that fails mid-way says so', async () => {
    const input = new PassThrough();
    const whole = await pack([{ name: 'big.bin', content: Buffer.alloc(256 * 1024, 7) }]);
    input.write(whole.subarray(0, 64 * 1024));
    setTimeout(() => input.destroy(new Error('client went away')), 50);
    const r = await streamIn(input);
    expect(r.error).toBe('error streaming in: the upload failed: client went away');
  });

  it('a tar killed by the memory limit says so, not "tar exited with 137"', async () => {
    const small = await backend.create({ limits: { memory: { limitInBytes: 2n << 20n } } });
    try {
      // /dev/shm pages are charged to the container and cannot be reclaimed: 8 MiB overflows 2 MiB.
      const archive = await pack([{ name: 'fill.bin', content: Buffer.alloc(8 << 20, 1) }]);
      const err = await small.streamIn({ path: '/dev/shm', tarStream: Readable.from([archive]) }).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      expect(err).toMatch(/^error streaming in: tar was killed by SIGKILL: the container ran out of memory/);
    } finally {
      await backend.destroy(small.handle);
    }
  });
});
