/**
 * Host users other than root cannot reach a container's files (issue 10, item 1): a setuid
 * binary a container plants (in its rootfs, or in the /etc/hosts it may rewrite) is neither
 * executable nor readable for a host user through the depot or the run dir, for directory and
 * raw:// rootfses; inside the container the setuid bit still takes effect.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from '@garden-ts/api-types';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LinuxBackend } from '../src/index.js';
import { exec, testEnv } from './helpers.js';

const env = testEnv('hostiso');
let backend: LinuxBackend;

/** The host's `nobody`: no group, no capability. */
const NOBODY = { uid: 65534, gid: 65534 };

beforeAll(async () => {
  backend = env.backend();
  await backend.start();
});
afterAll(() => env.cleanup());

/** Plants busybox as `sh`, owned by uid 1 with mode 4755, at /tmp/suid/sh and over /etc/hosts. */
async function plant(c: Container): Promise<void> {
  const r = await exec(c, {
    path: 'sh',
    args: [
      '-c',
      'mkdir -p /tmp/suid && cp /bin/busybox /tmp/suid/sh && chown 1:1 /tmp/suid/sh && chmod 4755 /tmp/suid/sh' +
        ' && cat /bin/busybox > /etc/hosts && chown 1:1 /etc/hosts && chmod 4755 /etc/hosts',
    ],
    dir: '/', // a raw:// image's /root belongs to the unmapped host root
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

/**
 * Where the host keeps the planted file of the container at `depotDir` in its writable layer: its
 * volume in the disk store (`<depot>/store/volumes/<id>-<random>/upper`).
 */
function plantedUpper(depotDir: string, depot = backend.depot): string {
  const id = depotDir.slice(depotDir.lastIndexOf('/') + 1);
  const volumes = join(depot, 'store', 'volumes');
  const found = readdirSync(volumes)
    .filter((v) => v.startsWith(`${id}-`))
    .map((v) => join(volumes, v, 'upper', 'tmp', 'suid', 'sh'));
  expect(found, id).toHaveLength(1);
  return found[0] as string;
}

/** The `Uid:` line of /proc/self/status (real, effective, saved, fs) of `sh` at `path` run as `who`. */
function uidsAsHostUser(path: string): { error?: string; uids?: string[] } {
  const r = spawnSync(path, ['-c', 'grep ^Uid: /proc/self/status'], {
    ...NOBODY,
    argv0: 'sh',
    encoding: 'utf8',
  });
  if (r.error) return { error: (r.error as NodeJS.ErrnoException).code };
  return { uids: r.stdout.trim().split(/\s+/).slice(1) };
}

function readAsHostUser(path: string): { status: number | null; stderr: string } {
  const r = spawnSync('/bin/cat', [path], { ...NOBODY, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe.each([
  ['a directory rootfs', undefined],
  ['a raw:// rootfs', 'raw'],
])('%s', (_label, kind) => {
  let c: Container;
  let depotDir: string;
  let runDir: string;
  beforeAll(async () => {
    c = await backend.create(kind === 'raw' ? { rootfsPath: `raw://${inject('rootfs')}` } : {});
    await plant(c);
    depotDir = (await c.info()).containerPath;
    runDir = join(backend.runDir, depotDir.slice(depotDir.lastIndexOf('/') + 1));
  });

  it('a host user can neither execute nor read the planted setuid file', () => {
    for (const path of [
      plantedUpper(depotDir),
      join(depotDir, 'rootfs', 'tmp', 'suid', 'sh'),
      join(runDir, 'hosts'),
    ]) {
      expect(existsSync(path), path).toBe(true); // root reaches it: the refusal below is real
      expect(uidsAsHostUser(path), path).toEqual({ error: 'EACCES' });
      const read = readAsHostUser(path);
      expect(read.status, path).not.toBe(0);
      expect(read.stderr, path).toMatch(/Permission denied/);
    }
  });

  it('a host user sees nothing below the container depot entry or run dir', () => {
    const r = spawnSync('/usr/bin/find', [backend.depot, backend.runDir], { ...NOBODY, encoding: 'utf8' });
    const store = join(backend.depot, 'store');
    const seen = r.stdout
      .split('\n')
      .filter((l) => [depotDir, runDir, store].some((d) => l.startsWith(`${d}/`)));
    expect(seen).toEqual([]);
  });

  it('inside the container the setuid bit still takes effect', async () => {
    const r = await exec(c, {
      path: '/tmp/suid/sh',
      args: ['-c', 'grep ^Uid: /proc/self/status'],
      user: 'alice',
      dir: '/',
    });
    expect(r.status).toBe(0);
    // Real uid alice; busybox drops the effective id for applets that need none, so the
    // kernel's set-user-ID shows in the saved id (or still in the effective one).
    const [real, effective, saved] = r.stdout.trim().split(/\s+/).slice(1);
    expect(real).toBe('1001');
    expect([effective, saved]).toContain('1');
  });
});

describe('an image rootfs, its layer store outside the depot', () => {
  const work = mkdtempSync(join(tmpdir(), 'host-isolation-image-'));
  // A store where an operator would put one: its parents searchable by everyone.
  chmodSync(work, 0o755);
  const store = join(work, 'store');
  // A depot of its own: a backend stopping with no container left unmounts the store's views.
  const imageEnv = testEnv('hostiso-image');
  afterAll(async () => {
    await imageEnv.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it("a host user can reach neither the store's setuid-root files nor the container's", async () => {
    // The busybox rootfs plus a setuid-root copy of busybox, as a tarball image.
    const rootfs = join(work, 'rootfs');
    execFileSync('cp', ['-a', inject('rootfs'), rootfs]);
    // A static program printing its real and effective uid (busybox drops a setuid root at once).
    mkdirSync(join(rootfs, 'opt', 'suid'), { recursive: true });
    const source = join(work, 'ids.c');
    writeFileSync(
      source,
      '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("%d %d\\n",(int)getuid(),(int)geteuid());return 0;}\n',
    );
    execFileSync('cc', ['-static', '-Os', '-o', join(rootfs, 'opt', 'suid', 'ids'), source]);
    chmodSync(join(rootfs, 'opt', 'suid', 'ids'), 0o4755);
    const tarball = join(work, 'rootfs.tar');
    execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', tarball, '.']);
    const images = imageEnv.backend({ images: { store } });
    const c = await images.create({ rootfsPath: tarball });
    try {
      await checkImageContainer(c);
    } finally {
      await images.destroy(c.handle);
      await images.stop();
    }
  });

  async function checkImageContainer(c: Container): Promise<void> {
    await plant(c);
    // The layer's copy in the store: setuid root. Reachable, it would give a host user euid 0.
    const layerCopy = execFileSync(
      'find',
      [join(store, 'layers'), '-path', '*/opt/suid/ids', '-perm', '-4000'],
      {
        encoding: 'utf8',
      },
    )
      .trim()
      .split('\n')[0] as string;
    expect(layerCopy).toMatch(/\/opt\/suid\/ids$/);
    expect(spawnSync(layerCopy, [], NOBODY).error).toMatchObject({ code: 'EACCES' });
    expect(readAsHostUser(layerCopy).stderr).toMatch(/Permission denied/);
    // Not even the store's directories (views, copies) can be passed into.
    for (const name of readdirSync(store)) {
      const st = spawnSync('/usr/bin/stat', [join(store, name, '.')], { ...NOBODY, encoding: 'utf8' });
      expect(st.stderr, name).toMatch(/Permission denied/);
    }
    const r = spawnSync('/usr/bin/find', [store, '-maxdepth', '3'], { ...NOBODY, encoding: 'utf8' });
    expect(r.stdout.split('\n').filter((l) => l.startsWith(`${store}/`))).toEqual([]);
    const depotDir = (await c.info()).containerPath;
    const upper = plantedUpper(depotDir, imageEnv.depot);
    expect(existsSync(upper)).toBe(true);
    expect(uidsAsHostUser(upper)).toEqual({ error: 'EACCES' });
    // Inside, the image's setuid-root program runs with the container's root as its effective uid.
    const inside = await exec(c, { path: '/opt/suid/ids', user: 'alice', dir: '/' });
    expect(inside.stdout).toBe('1001 0\n');
  }
});

it("a pea's files (its rootfs, its writable layer in the disk store) are closed to host users too", async () => {
  const c = await backend.create({});
  // The pea keeps running (its rootfs mounted) while the host looks.
  await c.run(
    {
      path: 'sh',
      args: [
        '-c',
        'mkdir -p /tmp/suid && cp /bin/busybox /tmp/suid/sh && chown 1:1 /tmp/suid/sh && chmod 4755 /tmp/suid/sh && sleep 60',
      ],
      image: { uri: inject('rootfs') },
      dir: '/',
    },
    {},
  );
  try {
    const peas = join(backend.depot, 'peas');
    let planted: string | undefined;
    for (let i = 0; i < 200 && !planted; i++) {
      const volumes = join(backend.depot, 'store', 'volumes');
      planted = readdirSync(volumes)
        .flatMap((v) =>
          existsSync(join(volumes, v, 'peas'))
            ? readdirSync(join(volumes, v, 'peas')).map((k) =>
                join(volumes, v, 'peas', k, 'upper', 'tmp', 'suid', 'sh'),
              )
            : [],
        )
        .find((p) => existsSync(p));
      if (!planted) await new Promise((res) => setTimeout(res, 50));
    }
    expect(planted).toBeDefined();
    const [id] = readdirSync(peas);
    const [key] = readdirSync(join(peas, id as string));
    const inRootfs = join(peas, id as string, key as string, 'rootfs', 'tmp', 'suid', 'sh');
    for (const path of [planted as string, inRootfs]) {
      expect(existsSync(path), path).toBe(true);
      expect(uidsAsHostUser(path), path).toEqual({ error: 'EACCES' });
      expect(readAsHostUser(path).stderr, path).toMatch(/Permission denied/);
    }
    const find = spawnSync('/usr/bin/find', [peas], { ...NOBODY, encoding: 'utf8' });
    expect(find.stdout.split('\n').filter((l) => l.startsWith(`${peas}/`))).toEqual([]);
  } finally {
    await backend.destroy(c.handle);
  }
});

it("the container's root still passes the guarded depot to an origin: Container bind source", async () => {
  const c = await backend.create({ bindMounts: [{ srcPath: '/etc', dstPath: '/mnt/etc-again', origin: 1 }] });
  const r = await exec(c, { path: 'head', args: ['-1', '/mnt/etc-again/passwd'] });
  expect(r.stdout).toBe('root:x:0:0:root:/root:/bin/sh\n');
  await backend.destroy(c.handle);
});
