/** Host-side mount helpers: overlay create, tmpfs, unmount, and removeTree's boundaries. */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createOverlay,
  mountTmpfs,
  NativeArgumentError,
  NativeError,
  removeTree,
  unmount,
  unmountAsync,
} from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'native-mounts-'));
afterAll(() => {
  for (let i = 0; i < 3; i++)
    for (const d of ['ovl/rootfs', 'tree/mnt']) unmount(join(work, d), { detach: true });
  rmSync(work, { recursive: true, force: true });
});

const mounted = (path: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === path);

describe('createOverlay / unmount', () => {
  it('makes upper, work and the mount point, owned as asked, and mounts the image below', async () => {
    const lower = join(work, 'lower');
    mkdirSync(lower);
    writeFileSync(join(lower, 'from-image'), 'image');
    const dir = join(work, 'ovl');
    mkdirSync(dir);
    const rootfs = await createOverlay({ lower, dir, owner: { uid: 4294967294, gid: 4294967294 } });
    expect(rootfs).toBe(join(dir, 'rootfs'));
    expect(mounted(rootfs)).toBe(true);
    expect(statSync(join(dir, 'upper')).uid).toBe(4294967294);
    expect(statSync(rootfs).uid).toBe(4294967294); // the merged root takes upper's owner
    expect(readFileSync(join(rootfs, 'from-image'), 'utf8')).toBe('image');
    writeFileSync(join(rootfs, 'written'), 'x');
    expect(existsSync(join(dir, 'upper', 'written'))).toBe(true);
    expect(existsSync(join(lower, 'written'))).toBe(false);
    expect(await unmountAsync(rootfs, { detach: true })).toBe(true);
    expect(mounted(rootfs)).toBe(false);
    // Not a mount point (any more), or not there at all: false, not an error.
    expect(unmount(rootfs)).toBe(false);
    expect(await unmountAsync(join(work, 'no-such-dir'))).toBe(false);
    // The dirs exist now: a second overlay in the same dir is refused with a typed error.
    await expect(createOverlay({ lower, dir })).rejects.toMatchObject({ stage: 'overlay', code: 'EEXIST' });
  });

  it('refuses paths the kernel would misparse, naming the field', async () => {
    await expect(createOverlay({ lower: '/a,b', dir: work })).rejects.toThrow(NativeArgumentError);
    await expect(createOverlay({ lower: '/a', dir: 'relative' })).rejects.toMatchObject({ field: 'dir' });
    await expect(createOverlay({ lower: '/a:b', dir: work })).rejects.toMatchObject({ field: 'lower' });
    expect(() => mountTmpfs(join(work, 't'), { size: 'lots' })).toThrow(NativeArgumentError);
    expect(() => unmount('relative')).toThrow(NativeArgumentError);
    await expect(removeTree('relative')).rejects.toThrow(NativeArgumentError);
  });
});

describe('removeTree', () => {
  it('deletes a tree without following symlinks and refuses to empty a mount below it', async () => {
    const outside = join(work, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'k');
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'a', 'b'), { recursive: true });
    writeFileSync(join(tree, 'a', 'b', 'f'), 'f');
    symlinkSync(outside, join(tree, 'a', 'link'));
    mkdirSync(join(tree, 'mnt'));
    mountTmpfs(join(tree, 'mnt'), { size: '1m' });
    writeFileSync(join(tree, 'mnt', 'on-tmpfs'), 't');
    await expect(removeTree(tree)).rejects.toBeInstanceOf(NativeError);
    expect(readFileSync(join(tree, 'mnt', 'on-tmpfs'), 'utf8')).toBe('t'); // never crossed
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('k'); // never followed
    expect(existsSync(join(tree, 'a'))).toBe(false);
    expect(unmount(join(tree, 'mnt'))).toBe(true);
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
    await removeTree(tree); // missing: fine
  });
});
