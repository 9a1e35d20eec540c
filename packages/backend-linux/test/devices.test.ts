/**
 * Devices (reference §5.5, issue 10 item 2): every container's device cgroup denies by default
 * and allows only Guardian's standard list, privileged containers too (plus FUSE, whose node is
 * 0666 there); no block device node can be made in a privileged container.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from '@garden-ts/api-types';
import { detectCgroupLayout } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { exec, testEnv } from './helpers.js';

const env = testEnv('devices');
let backend: LinuxBackend;
const devicesMount = detectCgroupLayout().v1.devices;

beforeAll(async () => {
  backend = env.backend();
  await backend.start();
});
afterAll(() => env.cleanup());

const STANDARD = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
  'c 10:200 rwm',
];

/** The container's devices.list as the kernel reports it, sorted. */
function devicesList(c: Container): string[] {
  if (!devicesMount) throw new Error('this host has no v1 devices hierarchy');
  const text = readFileSync(join(devicesMount, env.cgroupParent, c.handle, 'devices.list'), 'utf8');
  return text.trim().split('\n').sort();
}

const sh = (c: Container, cmd: string, user?: string) =>
  exec(c, { path: 'sh', args: ['-c', cmd], dir: '/', ...(user ? { user } : {}) });

describe('privileged containers', () => {
  let c: Container;
  beforeAll(async () => {
    c = await backend.create({ privileged: true });
  });

  it('get the standard list plus FUSE, nothing else (no block devices at all)', () => {
    expect(devicesList(c)).toEqual([...STANDARD, 'c *:* m', 'c 10:229 rwm'].sort());
  });

  it('cannot make a block device node', async () => {
    const r = await sh(c, 'mknod /tmp/blk b 254 0');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted/);
  });

  it('can make a character node but not open one outside the list (/dev/kmsg)', async () => {
    const r = await sh(c, 'mknod /tmp/kmsg c 1 11 && head -c 1 /tmp/kmsg');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/head: \/tmp\/kmsg: Operation not permitted/);
  });

  it('standard nodes work; /dev/fuse is 0666 and opens read-write for a non-root user', async () => {
    expect((await sh(c, 'head -c 3 /dev/zero | wc -c; echo x > /dev/null')).stdout).toBe('3\n');
    expect((await sh(c, 'stat -c "%a %t,%T" /dev/fuse')).stdout).toBe('666 a,e5\n');
    const r = await sh(c, 'exec 3<>/dev/fuse && echo opened', 'alice');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('opened\n');
  });
});

describe('unprivileged containers', () => {
  it("get exactly Guardian's runtime defaults (node creation stays with the user namespace's rules)", async () => {
    const c = await backend.create({});
    expect(devicesList(c)).toEqual([...STANDARD, 'c *:* m', 'b *:* m'].sort());
    expect((await sh(c, 'mknod /tmp/blk b 254 0')).status).not.toBe(0);
    expect((await sh(c, 'test -e /dev/fuse || echo none')).stdout).toBe('none\n');
  });
});
