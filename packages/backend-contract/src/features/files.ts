import { type Container, ContainerNotFoundError, GardenError } from '@garden-ts/api-types';
import { beforeAll, expect, it } from 'vitest';
import type { Harness } from '../harness.js';
import { rejectionOf } from '../support/errors.js';
import { pseudoRandomBytes, runToExit, sha256 } from '../support/streams.js';
import { entryContent, entryNames, makeTar, readTar, type TarInput, tarStream } from '../support/tar.js';

/** StreamIn / StreamOut: round trips, Guardian's archive layout, paths and rejected archives. */
export function files(h: Harness): void {
  let container: Container;
  let dirCounter = 0;
  beforeAll(async () => {
    container = await h.create();
  });

  /** A fresh absolute directory path for one test. */
  const freshDir = (label: string) => `/tmp/contract-${label}-${++dirCounter}`;
  const put = async (path: string, entries: TarInput[]) =>
    container.streamIn({ path, tarStream: tarStream(await makeTar(entries)) });
  const get = async (path: string) => readTar(await container.streamOut({ path }));

  it('a file streamed in streams out with the same content', async () => {
    const dir = freshDir('roundtrip');
    await put(dir, [{ name: 'hello.txt', content: 'hello, garden\n' }]);
    const entries = await get(`${dir}/hello.txt`);
    expect(entryNames(entries)).toEqual(['hello.txt']);
    expect(entries[0]?.type).toBe('file');
    expect(entryContent(entries, 'hello.txt')).toBe('hello, garden\n');
  });

  it('binary content with every byte value round-trips exactly', async () => {
    const dir = freshDir('binary');
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    await put(dir, [{ name: 'all-bytes.bin', content: bytes }]);
    const [entry] = await get(`${dir}/all-bytes.bin`);
    expect(entry?.content.equals(bytes)).toBe(true);
  });

  it('a 1 MiB file round-trips intact (hash)', async () => {
    const dir = freshDir('large');
    const payload = pseudoRandomBytes(1024 * 1024, 1234);
    await put(dir, [{ name: 'big.bin', content: payload }]);
    const [entry] = await get(`${dir}/big.bin`);
    expect(entry?.content.length).toBe(payload.length);
    expect(sha256(entry?.content ?? Buffer.alloc(0))).toBe(sha256(payload));
  });

  it('a directory without trailing slash archives the directory itself (`dir/`, `dir/file`)', async () => {
    const dir = freshDir('layout');
    await put(dir, [
      { name: 'some-dir/' },
      { name: 'some-dir/file.txt', content: 'top' },
      { name: 'some-dir/sub/' },
      { name: 'some-dir/sub/inner.txt', content: 'deeper' },
    ]);
    const entries = await get(`${dir}/some-dir`);
    expect(entryNames(entries).sort()).toEqual([
      'some-dir',
      'some-dir/file.txt',
      'some-dir/sub',
      'some-dir/sub/inner.txt',
    ]);
    expect(entries.find((e) => e.name === 'some-dir')?.type).toBe('directory');
    expect(entryContent(entries, 'some-dir/sub/inner.txt')).toBe('deeper');
  });

  it('a directory with trailing slash archives its contents (`./`, `./file`)', async () => {
    const dir = freshDir('contents');
    await put(dir, [
      { name: 'some-dir/' },
      { name: 'some-dir/file.txt', content: 'top' },
      { name: 'some-dir/sub/' },
      { name: 'some-dir/sub/inner.txt', content: 'deeper' },
    ]);
    const entries = await get(`${dir}/some-dir/`);
    const raw = entries.map((e) => e.name);
    expect(raw.every((name) => name === '.' || name.startsWith('./'))).toBe(true);
    expect(entryNames(entries).sort()).toEqual(['.', 'file.txt', 'sub', 'sub/inner.txt']);
    expect(entryContent(entries, 'file.txt')).toBe('top');
  });

  it('several files in one archive all arrive', async () => {
    const dir = freshDir('many');
    const inputs = Array.from({ length: 10 }, (_, i) => ({ name: `f${i}.txt`, content: `content ${i}` }));
    await put(dir, inputs);
    const entries = await get(`${dir}/`);
    for (const { name, content } of inputs) expect(entryContent(entries, name)).toBe(content);
  });

  it('nested paths without directory entries create the intermediate directories', async () => {
    const dir = freshDir('nested');
    await put(dir, [{ name: 'a/b/c/deep.txt', content: 'at the bottom' }]);
    const entries = await get(`${dir}/a/`);
    expect(entryNames(entries)).toEqual(expect.arrayContaining(['b', 'b/c', 'b/c/deep.txt']));
    expect(entryContent(entries, 'b/c/deep.txt')).toBe('at the bottom');
  });

  it('streamIn creates a missing destination directory', async () => {
    const dir = `${freshDir('mkdirp')}/x/y/z`;
    await put(dir, [{ name: 'made.txt', content: 'mkdir -p' }]);
    expect(entryContent(await get(`${dir}/made.txt`), 'made.txt')).toBe('mkdir -p');
  });

  it('streamIn of an empty archive still creates the destination', async () => {
    const dir = freshDir('empty');
    await put(dir, []);
    expect(entryNames(await get(`${dir}/`))).toEqual(['.']);
  });

  it('streaming a file in again overwrites it', async () => {
    const dir = freshDir('overwrite');
    await put(dir, [{ name: 'v.txt', content: 'version one, longer' }]);
    await put(dir, [{ name: 'v.txt', content: 'version two' }]);
    expect(entryContent(await get(`${dir}/v.txt`), 'v.txt')).toBe('version two');
  });

  it('streamIn adds to a directory without removing what is there', async () => {
    const dir = freshDir('merge');
    await put(dir, [{ name: 'first.txt', content: '1' }]);
    await put(dir, [{ name: 'second.txt', content: '2' }]);
    const entries = await get(`${dir}/`);
    expect(entryContent(entries, 'first.txt')).toBe('1');
    expect(entryContent(entries, 'second.txt')).toBe('2');
  });

  it('the destination `/` works', async () => {
    const name = `${h.handle('root-file')}.txt`;
    await put('/', [{ name, content: 'at the root' }]);
    expect(entryContent(await get(`/${name}`), name)).toBe('at the root');
  });

  it('relative paths are relative to the home directory (where pwd starts)', async () => {
    const home = (await runToExit(container, { path: 'pwd' })).stdout.trim();
    const rel = h.handle('relative');
    await put(rel, [{ name: 'home.txt', content: 'in home' }]);
    const absolute = `${home.replace(/\/$/, '')}/${rel}/home.txt`;
    expect(entryContent(await get(absolute), 'home.txt')).toBe('in home');
    expect(entryContent(await get(`${rel}/home.txt`), 'home.txt')).toBe('in home');
  });

  it('streamOut of a missing path fails with an error', async () => {
    const err = await rejectionOf(container.streamOut({ path: `${freshDir('missing')}/nothing-here` }));
    expect(err).toBeInstanceOf(GardenError);
    expect(err).not.toBeInstanceOf(ContainerNotFoundError);
  });

  it('a corrupt archive is rejected', async () => {
    const dir = freshDir('corrupt');
    const garbage = pseudoRandomBytes(2048, 99);
    const err = await rejectionOf(container.streamIn({ path: dir, tarStream: tarStream(garbage) }));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ContainerNotFoundError);
  });

  it('a truncated archive is rejected', async () => {
    const dir = freshDir('truncated');
    const archive = await makeTar([{ name: 'cut.bin', content: pseudoRandomBytes(64 * 1024, 5) }]);
    const err = await rejectionOf(
      container.streamIn({ path: dir, tarStream: tarStream(archive.subarray(0, 10 * 1024)) }),
    );
    expect(err).toBeInstanceOf(Error);
  });

  it.each([
    ['../escape.txt', 'a leading ../'],
    ['inner/../../escape.txt', 'an inner ../'],
  ])('an archive entry %s (%s) is rejected and nothing is written outside', async (name) => {
    const jail = freshDir('jail');
    await put(`${jail}/inside`, [{ name: 'sentinel.txt', content: 'ok' }]);
    const err = await rejectionOf(put(`${jail}/inside`, [{ name, content: 'escaped!' }]));
    expect(err).toBeInstanceOf(Error);
    const names = entryNames(await get(`${jail}/`));
    expect(names).toContain('inside/sentinel.txt');
    expect(names.filter((n) => n.includes('escape'))).toEqual([]);
  });
}
