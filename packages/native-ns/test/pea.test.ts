/**
 * Peas: createContainer({ join }) makes a mount namespace with its own rootfs inside a running
 * container's other namespaces; processes spawned into it see that rootfs and share the
 * container's pid, network, IPC, UTS, cgroup and (unprivileged) user namespaces.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  type Container,
  cgroupDirs,
  createContainer,
  createOverlay,
  NativeArgumentError,
  unmount,
} from '../src/index.js';
import { cleanup, newContainer, newDir, run } from './helpers.js';

const overlays: string[] = [];
afterAll(async () => {
  for (const o of overlays) unmount(o, { detach: true });
  await cleanup();
});

/** An overlay of the busybox rootfs with a marker file in its upper dir: the pea's own root. */
async function peaRoot(privileged: boolean, marker: string): Promise<string> {
  const dir = newDir();
  const rootfs = await createOverlay({
    lower: privileged ? inject('rootfs') : inject('rootfsUnprivileged'),
    dir,
    ...(privileged ? {} : { owner: { uid: 4294967294, gid: 4294967294 } }),
  });
  overlays.push(rootfs);
  writeFileSync(join(dir, 'upper', 'marker'), marker);
  return rootfs;
}

const NS = ['mnt', 'pid', 'net', 'ipc', 'uts', 'user', 'cgroup'];
const nsScript = `for n in ${NS.join(' ')}; do readlink /proc/self/ns/$n; done; hostname; cat /marker 2>/dev/null || echo none`;

async function namespaces(
  c: Container,
): Promise<{ ns: Record<string, string>; host: string; marker: string }> {
  const r = await run(c, { path: 'sh', args: ['sh', '-c', nsScript] });
  expect(r.exitStatus).toBe(0);
  const lines = r.stdout.trim().split('\n');
  return {
    ns: Object.fromEntries(NS.map((n, i) => [n, lines[i] as string])),
    host: lines[NS.length] as string,
    marker: lines[NS.length + 1] as string,
  };
}

describe.each([
  ['unprivileged', false],
  ['privileged', true],
])('a pea of an %s container', (_, privileged) => {
  it("has its own rootfs and mount namespace, and the container's other namespaces", async () => {
    const { container, cgroup } = await newContainer({
      privileged,
      ...(privileged ? { rootfs: inject('rootfs') } : {}),
    });
    const rootfs = await peaRoot(privileged, 'pea-root');
    const hosts = join(newDir(), 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n');
    const pea = await createContainer({
      rootfs,
      privileged,
      join: container,
      cgroups: cgroupDirs(cgroup),
      bindMounts: [{ source: hosts, destination: '/etc/hosts' }],
    });
    const box = await namespaces(container);
    const inPea = await namespaces(pea);
    expect(inPea.marker).toBe('pea-root');
    expect(box.marker).toBe('none');
    for (const n of ['pid', 'net', 'ipc', 'uts', 'user', 'cgroup']) expect(inPea.ns[n], n).toBe(box.ns[n]);
    expect(inPea.ns.mnt).not.toBe(box.ns.mnt);
    expect(inPea.host).toBe('test-box');
    // The container sees the pea's processes (one pid namespace); /proc in the pea is that one.
    const ps = await run(pea, { path: 'sh', args: ['sh', '-c', 'cat /proc/1/comm; cat /etc/hosts; id -u'] });
    expect(ps.stdout).toBe('garden-init\n127.0.0.1 localhost\n0\n');
    // Its init is a process of the container's pid namespace: killing it leaves the container.
    await pea.destroy();
    expect((await run(container, { path: 'true', args: ['true'] })).exitStatus).toBe(0);
  });
});

it('a pea must match its container: privileged, no hostname, no netns', async () => {
  const { container } = await newContainer();
  await expect(createContainer({ rootfs: '/tmp', privileged: true, join: container })).rejects.toThrow(
    NativeArgumentError,
  );
  await expect(createContainer({ rootfs: '/tmp', hostname: 'x', join: container })).rejects.toMatchObject({
    field: 'join',
  });
});
