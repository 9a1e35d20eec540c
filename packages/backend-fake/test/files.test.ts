import { Readable } from 'node:stream';
import { GardenError } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { createFakeBackend } from '../src/index.js';
import { bufferStream, listTar, makeTar, type TarEntrySpec } from './helpers.js';

async function setup() {
  const backend = createFakeBackend();
  const container = await backend.create({ handle: 'files' });
  const streamIn = async (path: string, entries: TarEntrySpec[], user?: string) =>
    container.streamIn({ path, tarStream: bufferStream(await makeTar(entries)), ...(user ? { user } : {}) });
  const list = async (path: string, user?: string) =>
    listTar(await container.streamOut({ path, ...(user ? { user } : {}) }));
  return { backend, container, streamIn, list };
}

describe('StreamIn / StreamOut', () => {
  it('uses Guardian layouts: dir, dir/ and a single file', async () => {
    const { streamIn, list } = await setup();
    await streamIn('/data', [
      { name: 'sub/', type: 'directory' },
      { name: 'sub/b.txt', content: 'bee' },
      { name: 'a.txt', content: 'ay', mode: 0o600 },
    ]);
    expect((await list('/data')).map((e) => e.name)).toEqual([
      'data/',
      'data/a.txt',
      'data/sub/',
      'data/sub/b.txt',
    ]);
    expect((await list('/data/')).map((e) => e.name)).toEqual(['./', './a.txt', './sub/', './sub/b.txt']);
    const [file] = await list('/data/sub/b.txt');
    expect(file).toMatchObject({ name: 'b.txt', type: 'file', content: 'bee', uid: 0, gid: 0 });
    expect((await list('/data/a.txt'))[0]!.mode).toBe(0o600);
  });

  it("applies directory modes from the archive but never to the destination's own './' entry", async () => {
    const { streamIn, list } = await setup();
    await streamIn('/tmp', [
      { name: './', type: 'directory', mode: 0o700 },
      { name: './d/', type: 'directory', mode: 0o700 },
    ]);
    expect((await list('/tmp'))[0]).toMatchObject({ name: 'tmp/', mode: 0o1777 });
    await streamIn('/tmp', [{ name: 'd/', type: 'directory', mode: 0o750 }]);
    expect((await list('/tmp/d'))[0]).toMatchObject({ name: 'd/', mode: 0o750 });
  });

  it('keeps archived mtimes and masks modes with umask 022', async () => {
    const { streamIn, list } = await setup();
    const mtime = new Date('2020-02-02T02:02:02Z');
    await streamIn('/m', [{ name: 'old', content: 'o', mtime, mode: 0o777 }]);
    const [entry] = await list('/m/old');
    expect(entry!.mtime.getTime()).toBe(mtime.getTime());
    expect(entry!.mode).toBe(0o755);
  });

  it('creates the destination and resolves relative paths against the home', async () => {
    const { streamIn, list } = await setup();
    await streamIn('deep/er', [{ name: 'f', content: 'x' }], 'alice');
    const entries = await list('/home/alice/deep');
    expect(entries.map((e) => [e.name, e.uid, e.gid])).toEqual([
      ['deep/', 1000, 1000],
      ['deep/er/', 1000, 1000],
      ['deep/er/f', 1000, 1000],
    ]);
    expect((await list('deep/er/f', 'alice'))[0]!.content).toBe('x');
    await streamIn('/', [{ name: 'at-root', content: 'r' }]);
    expect((await list('/at-root'))[0]!.content).toBe('r');
  });

  it('keeps symlinks and rejects entries escaping the destination', async () => {
    const { streamIn, list } = await setup();
    await streamIn('/s', [
      { name: 'target', content: 't' },
      { name: 'link', type: 'symlink', linkname: 'target' },
      { name: 'hard', type: 'link', linkname: 'target' },
    ]);
    const entries = await list('/s/');
    expect(entries.find((e) => e.name === './link')).toMatchObject({ type: 'symlink', linkname: 'target' });
    expect(entries.find((e) => e.name === './hard')).toMatchObject({ type: 'file', content: 't' });
    for (const bad of [
      [{ name: '../escape', content: 'x' }],
      [{ name: 'a/../../escape', content: 'x' }],
      [{ name: '/abs', content: 'x' }],
      [{ name: 'l', type: 'symlink', linkname: '../../etc' }],
      [{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }],
      [{ name: 'h', type: 'link', linkname: '../etc/passwd' }],
    ] as TarEntrySpec[][]) {
      await expect(streamIn('/s', bad), JSON.stringify(bad)).rejects.toThrow(/^error streaming in/);
    }
  });

  it('rejects truncated and corrupt archives', async () => {
    const { container } = await setup();
    const archive = await makeTar([{ name: 'big', content: 'y'.repeat(4000) }]);
    await expect(
      container.streamIn({ path: '/t', tarStream: bufferStream(archive.subarray(0, 1500)) }),
    ).rejects.toThrow(/^error streaming in/);
    await expect(
      container.streamIn({ path: '/t', tarStream: bufferStream(Buffer.alloc(1024, 7)) }),
    ).rejects.toThrow(/^error streaming in/);
    const failing = new Readable({
      read() {
        this.destroy(new Error('socket reset'));
      },
    });
    await expect(container.streamIn({ path: '/t', tarStream: failing })).rejects.toThrow(
      /^error streaming in.*socket reset/,
    );
  });

  it('enforces permissions for non-root users', async () => {
    const { streamIn, list } = await setup();
    await expect(streamIn('/home/alice', [{ name: 'f', content: 'x' }], 'bob')).rejects.toThrow(
      /^error streaming in.*Permission denied/,
    );
    await streamIn('/home/alice', [{ name: 'f', content: 'x' }], 'alice');
    await expect(list('/root', 'alice')).rejects.toThrow(/^error streaming out.*Permission denied/);
  });

  it('reports missing paths and unknown users', async () => {
    const { container, streamIn } = await setup();
    await expect(container.streamOut({ path: '/missing' })).rejects.toThrow(
      new GardenError('error streaming out: stat /missing: no such file or directory'),
    );
    await expect(container.streamOut({ path: '/etc/passwd/' })).rejects.toThrow(
      new GardenError('error streaming out: stat /etc/passwd/: not a directory'),
    );
    await expect(container.streamOut({ path: '/etc/', user: 'mallory' })).rejects.toThrow(
      /^error streaming out: unable to find user mallory/,
    );
    await expect(streamIn('/x', [{ name: 'f' }], 'mallory')).rejects.toThrow(
      /^error streaming in: unable to find user mallory/,
    );
  });

  it('still streams after stop', async () => {
    const { container, streamIn, list } = await setup();
    await streamIn('/keep', [{ name: 'k', content: 'kept' }]);
    await container.stop(true);
    expect((await list('/keep/k'))[0]!.content).toBe('kept');
  });

  it('has the seeded layout', async () => {
    const { list } = await setup();
    const tmp = await list('/tmp');
    expect(tmp[0]).toMatchObject({ name: 'tmp/', mode: 0o1777 });
    const homes = await list('/home/');
    expect(homes.filter((e) => e.type === 'directory').map((e) => [e.name, e.uid])).toEqual([
      ['./', 0],
      ['./alice/', 1000],
      ['./bob/', 1001],
      ['./vcap/', 2000],
    ]);
    const passwd = (await list('/etc/passwd'))[0]!.content;
    for (const user of ['root:x:0:0', 'vcap:x:2000', 'alice:', 'bob:', 'operator:x:37', 'nobody:x:65534']) {
      expect(passwd).toContain(user);
    }
    expect((await list('/root'))[0]).toMatchObject({ mode: 0o700 });
  });
});

describe('StreamIn without directory entries', () => {
  it('creates intermediate directories owned by the streaming user', async () => {
    const backend = createFakeBackend();
    const container = await backend.create({});
    const tarStream = bufferStream(await makeTar([{ name: 'a/b/deep.txt', content: 'deep' }]));
    await container.streamIn({ path: '.', user: 'alice', tarStream });
    const entries = await listTar(await container.streamOut({ path: '/home/alice/a' }));
    expect(entries.map((e) => [e.name, e.uid, e.mode, e.content])).toEqual([
      ['a/', 1000, 0o755, ''],
      ['a/b/', 1000, 0o755, ''],
      ['a/b/deep.txt', 1000, 0o644, 'deep'],
    ]);
  });
});
