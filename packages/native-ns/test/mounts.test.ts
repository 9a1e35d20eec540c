/** Host-side mount helpers: overlay create, tmpfs, unmount, and removeTree's boundaries. */

import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
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
  RemoveTreeError,
  removeTree,
  unmount,
  unmountAsync,
} from '../src/index.js';
import { cleanup, newContainer, newDir, run } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'native-mounts-'));
afterAll(async () => {
  await cleanup();
  for (let i = 0; i < 3; i++)
    for (const d of ['ovl/rootfs', 'tree/mnt', 'bound/in/bind', 'deep-fs'])
      unmount(join(work, d), { detach: true });
  await removeTree(work); // rmSync cannot remove what a failed deep-tree test may leave
});

/**
 * Makes `<root>/d/d/.../d` (`depth` levels) as a process would, with relative paths only (no path
 * it uses exceeds PATH_MAX), and puts a file, a symlink to `outside` and a directory `m` at the
 * bottom. The levels are made in shallow pieces of 100 that are then renamed into the bottom one
 * after the other: a mkdir deep down costs time in proportion to its depth on this kernel.
 */
function deepTree(root: string, depth: number, outside: string): void {
  mkdirSync(root);
  const script = `const fs = require('node:fs');
    const root = process.cwd();
    const pieces = [];
    for (let made = 0; made < ${depth}; made += 100) {
      const rel = Array(Math.min(100, ${depth} - made)).fill('d').join('/');
      fs.mkdirSync(root + '/piece' + pieces.length + '/' + rel, { recursive: true });
      pieces.push(rel);
    }
    pieces.forEach((rel, k) => {
      fs.renameSync(root + '/piece' + k + '/d', 'd');
      fs.rmdirSync(root + '/piece' + k);
      process.chdir(rel);
    });
    fs.writeFileSync('leaf', 'x'); fs.symlinkSync(${JSON.stringify(outside)}, 'link'); fs.mkdirSync('m');`;
  execFileSync(process.execPath, ['-e', script], { cwd: root });
}

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
    // Stacked mounts: one per call, or all of them with `all`.
    for (let i = 0; i < 3; i++) mountTmpfs(rootfs, { size: '1m' });
    expect(await unmountAsync(rootfs, { detach: true })).toBe(true);
    expect(mounted(rootfs)).toBe(true);
    expect(await unmountAsync(rootfs, { detach: true, all: true })).toBe(true);
    expect(mounted(rootfs)).toBe(false);
    expect(await unmountAsync(rootfs, { all: true })).toBe(false);
    // The dirs exist now: a second overlay in the same dir is refused with a typed error.
    await expect(createOverlay({ lower, dir })).rejects.toMatchObject({ stage: 'overlay', code: 'EEXIST' });
  });

  it('stacks several lower layers, top-most first', async () => {
    const top = join(work, 'layer-top');
    const bottom = join(work, 'layer-bottom');
    for (const d of [top, bottom]) mkdirSync(d);
    writeFileSync(join(bottom, 'shared'), 'bottom');
    writeFileSync(join(bottom, 'only-bottom'), 'b');
    writeFileSync(join(top, 'shared'), 'top');
    const dir = join(work, 'ovl-layers');
    mkdirSync(dir);
    const rootfs = await createOverlay({ lower: [top, bottom], dir });
    try {
      expect(readFileSync(join(rootfs, 'shared'), 'utf8')).toBe('top');
      expect(readFileSync(join(rootfs, 'only-bottom'), 'utf8')).toBe('b');
    } finally {
      unmount(rootfs, { detach: true });
    }
    await expect(createOverlay({ lower: [], dir })).rejects.toMatchObject({ field: 'lower' });
    await expect(createOverlay({ lower: [top, 'rel'], dir })).rejects.toMatchObject({ field: 'lower[1]' });
    await expect(createOverlay({ lower: Array(100).fill(`/${'x'.repeat(60)}`), dir })).rejects.toThrow(
      /too long/,
    );
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

  it('removes a 10,000-deep tree, whose paths are far longer than PATH_MAX', async () => {
    const outside = join(work, 'outside-deep');
    mkdirSync(outside);
    writeFileSync(join(outside, 'keep'), 'k');
    // On a tmpfs: 20,000 directory operations on this VM's shared disk take tens of seconds under
    // load (the 3,000-deep tree below is on the disk's filesystem).
    const fs = join(work, 'deep-fs');
    mkdirSync(fs);
    mountTmpfs(fs, { size: '64m' });
    const tree = join(fs, 'deep');
    deepTree(tree, 10_000, outside);
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('k'); // the symlink was not followed
  });

  it('stops at a mount point deep down and names it in a typed error', async () => {
    const tree = join(work, 'deep-mount');
    deepTree(tree, 300, '/nonexistent');
    // Reach the bottom through /proc/self/fd of a shell that cd'd there (the path is too long).
    const bottom = `${tree}${'/d'.repeat(300)}`;
    const atBottom = (cmd: string) =>
      execFileSync('sh', ['-c', `cd ${'d/'.repeat(300)} && ${cmd}`], { cwd: tree }).toString();
    atBottom('mount -t tmpfs -o size=1m tmpfs m && echo t > m/on-tmpfs');
    try {
      const e = await removeTree(tree).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(RemoveTreeError);
      expect(e).toBeInstanceOf(NativeError);
      expect(e).toMatchObject({
        stage: 'remove-tree',
        code: 'EXDEV',
        syscall: 'openat2',
        path: `${bottom}/m`,
      });
      expect((e as Error).message).toContain(`${bottom}/m`);
      // Nothing below the mount was touched; everything else that could go is gone.
      expect(atBottom('cat m/on-tmpfs && ls')).toBe('t\nm\n');
    } finally {
      atBottom('umount m');
    }
    await removeTree(tree);
    expect(existsSync(tree)).toBe(false);
  });

  it('never crosses a bind mount of the same filesystem', async () => {
    const source = join(work, 'bind-source');
    mkdirSync(source);
    writeFileSync(join(source, 'keep'), 'k');
    const bind = join(work, 'bound', 'in', 'bind');
    mkdirSync(bind, { recursive: true });
    execFileSync('mount', ['--bind', source, bind]);
    await expect(removeTree(join(work, 'bound'))).rejects.toMatchObject({ code: 'EXDEV', path: bind });
    expect(readFileSync(join(source, 'keep'), 'utf8')).toBe('k');
    expect(unmount(bind)).toBe(true);
    await removeTree(join(work, 'bound'));
    expect(existsSync(join(work, 'bound'))).toBe(false);
  });

  it('removes a 3,000-deep tree a process built inside a container (`while mkdir d && cd d`)', async () => {
    const shared = newDir();
    const { container } = await newContainer({ bindMounts: [{ source: shared, destination: '/mnt/w' }] });
    // 30 rounds of a relative 100-level mkdir -p and cd: no path the process uses is long (its
    // paths reach 6,000 bytes; `cd -P` checks the result with getcwd, which is quadratic in depth).
    const hundred = Array.from({ length: 100 }, () => 'd').join('/');
    const r = await run(container, {
      path: '/bin/sh',
      args: [
        'sh',
        '-c',
        `cd /mnt/w && i=0; while [ $i -lt 30 ]; do mkdir -p ${hundred} && cd -P ${hundred} || exit 1; i=$((i+1)); done; echo x > leaf`,
      ],
    });
    expect(r).toMatchObject({ exitStatus: 0, stderr: '' });
    await removeTree(join(shared, 'd'));
    expect(readdirSync(shared)).toEqual([]);
  });
});
