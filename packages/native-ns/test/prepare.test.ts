/**
 * Two-phase create: prepareContainer clones the init-to-be into its namespaces and cgroups,
 * createContainer({ prepared }) finishes it. The result must be the container a one-phase create
 * makes; a prepared child that is abandoned, refused or fails leaves no process, zombie or shim.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import {
  type CgroupSet,
  type Container,
  cgroupDirs,
  cgroupPids,
  createContainer,
  NativeArgumentError,
  NativeError,
  type PreparedContainer,
  prepareContainer,
} from '../src/index.js';
import { cleanup, newCgroup, newDir, run, shimChildren, zombiesOf } from './helpers.js';

afterAll(cleanup);

const made: Container[] = [];
afterAll(async () => {
  for (const c of made) await c.destroy();
});

/** Waits (briefly) until `pid` is gone: reaped, not a zombie. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!existsSync(`/proc/${pid}`)) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/** Every prepared child of a test: abandoned after it (a no-op for those made containers). */
const preparedChildren: PreparedContainer[] = [];
afterEach(async () => {
  for (const p of preparedChildren.splice(0)) await p.abandon();
});

async function prepared(): Promise<{ cgroup: CgroupSet; prep: PreparedContainer }> {
  const cgroup = newCgroup('prep');
  const prep = await prepareContainer({ cgroups: cgroupDirs(cgroup) });
  preparedChildren.push(prep);
  return { cgroup, prep };
}

/** Waits (briefly) until `pid` is a member of `cgroup` (the child joins its v1 cgroups itself). */
async function joined(cgroup: CgroupSet, pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (cgroupPids(cgroup).includes(pid)) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

describe('prepareContainer + createContainer({ prepared })', () => {
  it('makes the same container as a one-phase create', async () => {
    const { cgroup, prep } = await prepared();
    // Cloned and waiting: already in its cgroups, with its own namespaces and id maps.
    expect(await joined(cgroup, prep.pid)).toBe(true);
    expect(readFileSync(`/proc/${prep.pid}/uid_map`, 'utf8')).toMatch(/^\s*0\s+\d+\s+1\n/);
    expect(readFileSync(`/proc/${prep.pid}/stat`, 'utf8')).toContain(') S '); // waiting for its plan
    const container = await createContainer({
      prepared: prep,
      rootfs: inject('rootfsUnprivileged'),
      hostname: 'prepared-box',
      env: ['GREETING=hi'],
    });
    made.push(container);
    expect(container.pid).toBe(prep.pid);
    expect(readFileSync(`/proc/${container.pid}/comm`, 'utf8').trim()).toBe('garden-init');
    const r = await run(container, {
      path: '/bin/sh',
      args: [
        'sh',
        '-c',
        'hostname; cat /proc/self/cgroup | grep -c ":/$"; cat /proc/1/comm; id -u; ls /sys/fs/cgroup | wc -l',
      ],
    });
    expect(r.code).toBe(0);
    const [hostname, rootCgroups, comm, uid] = r.stdout.trim().split('\n');
    expect(hostname).toBe('prepared-box');
    // Its cgroup namespace is rooted at its own cgroup (made after joining it).
    expect(Number(rootCgroups)).toBeGreaterThan(0);
    expect(comm).toBe('garden-init');
    expect(uid).toBe('0');
    expect(cgroupPids(cgroup)).toContain(container.pid);
    // The environment of init is the plan's.
    expect(readFileSync(`/proc/${container.pid}/environ`, 'utf8')).toBe('GREETING=hi\0');
    await container.destroy();
    expect(await gone(container.pid)).toBe(true);
  });

  it('sees a rootfs mounted after the preparation, and bind sources inside it', async () => {
    // As backend-linux does: the overlay is mounted while the child waits (its mount namespace
    // is older than that mount).
    const { prep } = await prepared();
    const dir = newDir();
    const root = join(dir, 'rootfs');
    mkdirSync(root);
    execFileSync('mount', ['--bind', inject('rootfsUnprivileged'), root]);
    try {
      const container = await createContainer({
        prepared: prep,
        rootfs: root,
        // A source in the container's own rootfs (Garden's Origin Container bind).
        bindMounts: [{ source: join(root, 'etc'), destination: '/mnt/etc-again', readOnly: true }],
      });
      made.push(container);
      const r = await run(container, {
        path: '/bin/sh',
        args: ['sh', '-c', 'ls /bin/busybox && ls /mnt/etc-again | grep -c passwd'],
      });
      expect(r).toMatchObject({ code: 0, stdout: '/bin/busybox\n1\n' });
      await container.destroy();
    } finally {
      execFileSync('umount', [root]);
    }
  });

  it('abandon kills and reaps the child and releases its shim', async () => {
    const { cgroup, prep } = await prepared();
    const shims = shimChildren().length;
    await prep.abandon();
    await prep.abandon(); // idempotent
    expect(await gone(prep.pid)).toBe(true);
    expect(zombiesOf(process.pid)).toEqual([]);
    expect(cgroupPids(cgroup)).toEqual([]);
    for (let i = 0; i < 100 && shimChildren().length > shims; i++)
      await new Promise((r) => setTimeout(r, 10));
    await expect(createContainer({ prepared: prep, rootfs: inject('rootfsUnprivileged') })).rejects.toThrow(
      NativeArgumentError,
    );
  });

  it('a failure of the second phase kills the child: the error names the step', async () => {
    const { cgroup, prep } = await prepared();
    // The plan cannot be made (a bind source is missing): refused before the child goes on.
    const err = await createContainer({
      prepared: prep,
      rootfs: inject('rootfsUnprivileged'),
      bindMounts: [{ source: '/nonexistent-garden-bind-source', destination: '/x' }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({ code: 'ENOENT', stage: 'bind-mount' });
    expect(await gone(prep.pid)).toBe(true);
    expect(cgroupPids(cgroup)).toEqual([]);

    // The child's own step fails (no such rootfs): its error, and it is gone too.
    const second = await prepared();
    const err2 = await createContainer({ prepared: second.prep, rootfs: '/nonexistent-garden-rootfs' }).catch(
      (e: unknown) => e,
    );
    expect(err2).toBeInstanceOf(NativeError);
    expect((err2 as NativeError).stage).toMatch(/old-root|bind-rootfs/);
    expect(await gone(second.prep.pid)).toBe(true);
    expect(zombiesOf(process.pid)).toEqual([]);
  });

  it('refuses options that differ from the preparation, keeping the child usable', async () => {
    const { prep } = await prepared();
    const rootfs = inject('rootfsUnprivileged');
    await expect(createContainer({ prepared: prep, rootfs, privileged: true })).rejects.toThrow(
      /privileged.*differs/,
    );
    await expect(createContainer({ prepared: prep, rootfs, netns: '/proc/self/ns/net' })).rejects.toThrow(
      NativeArgumentError,
    );
    // Refused after it was taken (a bad option found later): the child does not wait on.
    await expect(createContainer({ prepared: prep, rootfs: 'relative/rootfs' })).rejects.toThrow(
      NativeArgumentError,
    );
    expect(await gone(prep.pid)).toBe(true);
    expect(zombiesOf(process.pid)).toEqual([]);
  });

  it('makes privileged containers too (no user namespace)', async () => {
    const cgroup = newCgroup('prep-priv');
    const prep = await prepareContainer({ privileged: true, cgroups: cgroupDirs(cgroup) });
    preparedChildren.push(prep);
    const container = await createContainer({ prepared: prep, rootfs: inject('rootfs'), hostname: 'priv' });
    made.push(container);
    const r = await run(container, {
      path: '/bin/sh',
      args: ['sh', '-c', 'hostname; cat /proc/self/uid_map'],
    });
    expect(r.stdout.split('\n')[0]).toBe('priv');
    expect(r.stdout).toMatch(/0\s+0\s+4294967295/);
    await container.destroy();
  });
});
