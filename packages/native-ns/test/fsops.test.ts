/** fsops: mknod, extended attributes, user namespaces with a map, idmapped mounts (root only). */
import {
  chownSync,
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  defaultIdMap,
  getXattr,
  idmapMount,
  listXattrs,
  mknod,
  NativeArgumentError,
  NativeError,
  openUserNamespace,
  setXattr,
  unmount,
} from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'native-fsops-'));
afterAll(() => {
  for (let i = 0; i < 3; i++) unmount(join(work, 'view'), { detach: true });
  rmSync(work, { recursive: true, force: true });
});

describe('mknod', () => {
  it('makes character devices (the 0/0 overlay whiteout), block devices and FIFOs', () => {
    const wh = join(work, 'whiteout');
    mknod(wh, 'char', 0o000);
    const st = lstatSync(wh);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    mknod(join(work, 'null'), 'char', 0o666, { major: 1, minor: 3 });
    expect(lstatSync(join(work, 'null')).rdev).toBe(0x103);
    mknod(join(work, 'blk'), 'block', 0o600, { major: 7, minor: 200 });
    const b = lstatSync(join(work, 'blk'));
    expect(b.isBlockDevice()).toBe(true);
    // Linux's new_encode_dev: minor low byte | major << 8 | (minor & ~0xff) << 12.
    expect(b.rdev).toBe((200 & 0xff) | (7 << 8) | ((200 & ~0xff) << 12));
    mknod(join(work, 'fifo'), 'fifo', 0o644);
    expect(lstatSync(join(work, 'fifo')).isFIFO()).toBe(true);
  });

  it('refuses an existing path with EEXIST and bad arguments before any syscall', () => {
    expect(() => mknod(join(work, 'fifo'), 'fifo', 0o644)).toThrow(NativeError);
    try {
      mknod(join(work, 'fifo'), 'fifo', 0o644);
    } catch (e) {
      expect(e).toMatchObject({ stage: 'mknod', code: 'EEXIST', syscall: 'mknod' });
    }
    expect(() => mknod('relative', 'char', 0)).toThrow(NativeArgumentError);
    expect(() => mknod(join(work, 'x'), 'socket' as never, 0)).toThrow(/type/);
    expect(() => mknod(join(work, 'x'), 'char', 0o10000)).toThrow(/mode/);
    expect(() => mknod(join(work, 'x'), 'char', 0, { major: 4096, minor: 0 })).toThrow(/device.major/);
  });
});

describe('extended attributes', () => {
  it('round-trips binary values (file capabilities) and lists names', () => {
    const f = join(work, 'ping');
    writeFileSync(f, '');
    // security.capability v2: cap_net_raw+ep, as setcap writes it.
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    setXattr(f, 'security.capability', cap);
    setXattr(f, 'user.note', 'caf\u00e9');
    setXattr(f, 'trusted.overlay.opaque', 'y');
    expect(getXattr(f, 'security.capability')).toEqual(cap);
    expect(getXattr(f, 'user.note')?.toString()).toBe('caf\u00e9');
    expect(listXattrs(f).sort()).toEqual(['security.capability', 'trusted.overlay.opaque', 'user.note']);
    expect(getXattr(f, 'user.absent')).toBeNull();
  });

  it('acts on a symlink itself, never on its target', () => {
    const target = join(work, 'target');
    writeFileSync(target, '');
    const link = join(work, 'link');
    symlinkSync(target, link);
    setXattr(link, 'trusted.mark', 'link');
    expect(getXattr(link, 'trusted.mark')?.toString()).toBe('link');
    expect(getXattr(target, 'trusted.mark')).toBeNull();
    expect(readlinkSync(link)).toBe(target);
  });

  it('gives typed errors', () => {
    expect(() => getXattr(join(work, 'missing'), 'user.x')).toThrow(
      expect.objectContaining({ code: 'ENOENT', stage: 'xattr' }),
    );
    expect(() => setXattr(join(work, 'ping'), 'nonamespace', 'x')).toThrow(NativeArgumentError);
    expect(() => setXattr(join(work, 'ping'), 'user.x', Buffer.alloc(65537))).toThrow(/value/);
  });
});

describe('openUserNamespace + idmapMount', () => {
  it('shows root-owned files as the mapped root and keeps other ids (Guardian map)', () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'home'), { recursive: true });
    writeFileSync(join(src, 'root-file'), 'r');
    writeFileSync(join(src, 'home', 'alice-file'), 'a');
    chownSync(join(src, 'home', 'alice-file'), 1001, 1001);
    const view = join(work, 'view');
    mkdirSync(view);
    const ns = openUserNamespace(defaultIdMap());
    try {
      idmapMount(src, view, ns);
    } finally {
      closeSync(ns);
    }
    // The mount keeps its own reference to the namespace: closing the fd changes nothing.
    expect(statSync(join(view, 'root-file')).uid).toBe(4294967294);
    expect(statSync(join(view, 'root-file')).gid).toBe(4294967294);
    expect(statSync(join(view, 'home', 'alice-file')).uid).toBe(1001);
    expect(readFileSync(join(view, 'root-file'), 'utf8')).toBe('r');
    expect(statSync(join(src, 'root-file')).uid).toBe(0);
    // Host uid 0 has no id in the mount's map: creating a file through the view is refused.
    expect(() => writeFileSync(join(view, 'new'), 'x')).toThrow(/EOVERFLOW/);
    expect(unmount(view)).toBe(true);
  });

  it('rejects bad maps and non-idmappable sources with typed errors', () => {
    expect(() => openUserNamespace([])).toThrow(NativeArgumentError);
    // Overlapping ranges: the kernel refuses the map.
    expect(() =>
      openUserNamespace([
        { containerId: 0, hostId: 0, size: 10 },
        { containerId: 5, hostId: 100, size: 10 },
      ]),
    ).toThrow(expect.objectContaining({ stage: 'userns' }));
    const ns = openUserNamespace(defaultIdMap());
    try {
      expect(() => idmapMount(join(work, 'no-such'), join(work, 'view'), ns)).toThrow(
        expect.objectContaining({ stage: 'idmap-mount', syscall: 'open_tree', code: 'ENOENT' }),
      );
      // /proc cannot be idmapped.
      expect(() => idmapMount('/proc', join(work, 'view'), ns)).toThrow(
        expect.objectContaining({ stage: 'idmap-mount', syscall: 'mount_setattr' }),
      );
      expect(() => idmapMount(join(work, 'src'), join(work, 'view'), -1)).toThrow(NativeArgumentError);
    } finally {
      closeSync(ns);
    }
  });
});
