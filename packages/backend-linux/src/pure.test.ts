/** Unit tests of the pure parts (no root needed, but they run in the same root-only project). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharesToWeight } from './cgroup-part.js';
import { safeEntryName, streamOutCommand } from './files.js';
import { chooseHostHelper, isStaticElf } from './host-tools.js';
import { mergeEnv } from './linux-container.js';
import { checkName, hostnameOf, storageId } from './names.js';
import { chooseImage, resolvConf } from './rootfs.js';
import { readInRoot, resolveInRoot } from './safe-path.js';
import { deniedSyscalls, seccompProgram } from './security.js';
import { resolveUser } from './users.js';

describe('names', () => {
  it('rejects empty, ., .., / and NUL; keeps UUIDs and long strings', () => {
    for (const bad of ['', '.', '..', 'a/b', 'a\0b'])
      expect(() => checkName('handle', bad)).toThrow(/handle/);
    expect(() => checkName('handle', 'x'.repeat(500))).not.toThrow();
  });
  it('derives collision-free storage ids', () => {
    expect(storageId('abc-1.2')).toBe('abc-1.2');
    expect(storageId('has space')).toMatch(/^_[0-9a-f]{40}$/);
    expect(storageId('x'.repeat(200))).toMatch(/^_/);
    expect(storageId('_x')).not.toBe('_x');
  });
  it('hostname is the last 49 characters', () => {
    expect(hostnameOf('short')).toBe('short');
    expect(hostnameOf(`${'a'.repeat(10)}${'b'.repeat(49)}`)).toBe('b'.repeat(49));
  });
});

describe('env and users', () => {
  it('merges env keeping the first position of a key', () => {
    expect(mergeEnv(['CONTAINER_ENV=1', 'TEST=hi'], ['TEST=hello', 'FRUIT=banana'])).toEqual([
      'CONTAINER_ENV=1',
      'TEST=hello',
      'FRUIT=banana',
    ]);
  });
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nbad line\n';
  const group = 'root:x:0:\nwheel:x:10:root,alice\nstaff:x:50:\n';
  it('resolves names, numbers and explicit groups as Guardian (§3.3)', () => {
    expect(resolveUser('', passwd, group)).toEqual({
      uid: 0,
      gid: 0,
      groups: [0, 10],
      home: '/root',
      known: true,
    });
    expect(resolveUser('alice', passwd, group)).toMatchObject({
      uid: 1001,
      gid: 1001,
      groups: [1001, 10],
      home: '/home/alice',
    });
    expect(resolveUser('4242', passwd, group)).toEqual({
      uid: 4242,
      gid: 0,
      groups: [],
      home: '/',
      known: false,
    });
    expect(resolveUser('alice:staff', passwd, group)).toMatchObject({ uid: 1001, gid: 50, groups: [] });
    expect(resolveUser('7:8', passwd, group)).toMatchObject({ uid: 7, gid: 8, groups: [] });
    expect(resolveUser('root', undefined, undefined)).toMatchObject({ uid: 0, gid: 0, home: '/' });
    expect(() => resolveUser('carol', passwd, group)).toThrow(
      'unable to find user carol: no matching entries in passwd file',
    );
    expect(() => resolveUser('alice:nogroup', passwd, group)).toThrow(
      'unable to find group nogroup: no matching entries in group file',
    );
    expect(() => resolveUser('4294967295', passwd, group)).toThrow(
      'uids and gids must be in range 0-2147483647',
    );
  });
});

describe('files', () => {
  it('normalises entry names and refuses escapes', () => {
    expect(safeEntryName('/etc/x')).toBe('etc/x');
    expect(safeEntryName('./a//b/./c')).toBe('a/b/c');
    for (const bad of ['../x', 'a/../../x', 'a/..']) expect(() => safeEntryName(bad)).toThrow(/escapes/);
  });
  it("uses Guardian's tar layouts for StreamOut", () => {
    expect(streamOutCommand('/srv/dir', '/root')).toEqual({ cwd: '/srv', args: ['tar', '-cf', '-', 'dir'] });
    expect(streamOutCommand('/srv/dir/', '/root')).toEqual({
      cwd: '/srv/dir',
      args: ['tar', '-cf', '-', '.'],
    });
    expect(streamOutCommand('rel', '/home/alice')).toEqual({
      cwd: '/home/alice',
      args: ['tar', '-cf', '-', 'rel'],
    });
  });
});

describe('safe path resolution', () => {
  it('follows symlinks inside the root only', () => {
    const root = mkdtempSync(join(tmpdir(), 'safe-path-'));
    try {
      mkdirSync(join(root, 'etc'));
      writeFileSync(join(root, 'etc', 'passwd'), 'inside');
      symlinkSync('/', join(root, 'up'));
      symlinkSync('../../../../etc', join(root, 'rel'));
      expect(readInRoot(root, '/up/etc/passwd')).toBe('inside');
      expect(readInRoot(root, '/rel/passwd')).toBe('inside');
      expect(resolveInRoot(root, '/../../etc/passwd')).toBe(join(root, 'etc', 'passwd'));
      expect(resolveInRoot(root, '/missing/x')).toBeUndefined();
      symlinkSync('loop', join(root, 'loop'));
      expect(() => resolveInRoot(root, '/loop')).toThrow(/symbolic links/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('rootfs choice and resolv.conf', () => {
  it('accepts directories and raw://, refuses other schemes and both fields', () => {
    expect(chooseImage('raw:///tmp', undefined, undefined)).toEqual({ path: '/tmp', raw: true });
    expect(chooseImage(undefined, undefined, '/tmp')).toEqual({ path: '/tmp', raw: false });
    expect(() => chooseImage('docker:///busybox', undefined, undefined)).toThrow(
      'no image plugin configured',
    );
    expect(() => chooseImage('/a', '/b', undefined)).toThrow('Cannot provide both Image.URI and RootFSPath');
    expect(() => chooseImage('', undefined, undefined)).toThrow(/no default rootfs/);
  });
  it('drops loopback nameservers and keeps the rest', () => {
    expect(resolvConf('search x\nnameserver 127.0.0.53\nnameserver 1.1.1.1\n')).toBe(
      'search x\nnameserver 1.1.1.1\n',
    );
  });
  it('converts shares to weight as the kernel does', () => {
    expect(sharesToWeight(2n)).toBe(1n);
    expect(sharesToWeight(1024n)).toBe(39n);
    expect(sharesToWeight(262144n)).toBe(10000n);
  });
});

/** A classic-BPF interpreter for the opcodes our program uses. */
function runFilter(prog: Buffer, nr: number, arch = 0xc000003e, arg0 = 0): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  data.writeUInt32LE(arg0 >>> 0, 16);
  let a = 0;
  for (let pc = 0; pc < prog.length / 8; pc++) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) a = data.readUInt32LE(k);
    else if (code === 0x06) return k;
    else if (code === 0x15) pc += a === k ? jt : jf;
    else if (code === 0x35) pc += a >>> 0 >= k ? jt : jf;
    else if (code === 0x45) pc += (a & k) !== 0 ? jt : jf;
    else throw new Error(`opcode ${code}`);
  }
  throw new Error('fell off the program');
}

describe('seccomp program', () => {
  const prog = seccompProgram();
  const ALLOW = 0x7fff0000;
  const EPERM = 0x50001;
  const ENOSYS = 0x50026;
  it('allows ordinary syscalls, refuses dangerous ones with EPERM', () => {
    for (const nr of [0, 1, 2, 59, 231, 334, 424, 437, 439]) expect(runFilter(prog, nr)).toBe(ALLOW);
    for (const nr of deniedSyscalls()) expect(runFilter(prog, nr)).toBe(EPERM);
    expect(runFilter(prog, 165)).toBe(EPERM); // mount
    expect(runFilter(prog, 272)).toBe(EPERM); // unshare
  });
  it('answers unknown syscalls, clone3, x32 and foreign architectures with ENOSYS', () => {
    for (const nr of [335, 400, 423, 467, 1000]) expect(runFilter(prog, nr)).toBe(ENOSYS);
    expect(runFilter(prog, 435)).toBe(ENOSYS); // clone3
    expect(runFilter(prog, 0x40000000 + 1)).toBe(ENOSYS);
    expect(runFilter(prog, 1, 0x40000003)).toBe(ENOSYS); // i386
  });
  it('allows clone without namespace flags, refuses it with any', () => {
    expect(runFilter(prog, 56, undefined, 0x01200011)).toBe(ALLOW); // fork-like flags
    for (const flag of [0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000]) {
      expect(runFilter(prog, 56, undefined, flag | 0x11)).toBe(EPERM);
    }
  });
});

describe('host helper', () => {
  it('recognises a static ELF executable, and only that', () => {
    const dir = mkdtempSync(join(tmpdir(), 'host-tools-'));
    try {
      writeFileSync(join(dir, 'script'), '#!/bin/sh\necho hi\n');
      expect(isStaticElf(join(dir, 'script'))).toBe(false);
      expect(isStaticElf(join(dir, 'missing'))).toBe(false);
      expect(isStaticElf(process.execPath)).toBe(false); // node: dynamically linked
      // busybox-static is what the test rootfs is built from
      expect(isStaticElf('/bin/busybox')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses a configured static helper, the default when static, or none', () => {
    expect(chooseHostHelper(false)).toBeUndefined();
    expect(chooseHostHelper(undefined)).toBe('/bin/busybox');
    expect(chooseHostHelper('/bin/busybox')).toBe('/bin/busybox');
    expect(() => chooseHostHelper(process.execPath)).toThrow(/statically linked/);
    expect(() => chooseHostHelper('busybox')).toThrow(/absolute path/);
  });
});
