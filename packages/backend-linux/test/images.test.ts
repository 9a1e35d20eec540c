/**
 * Containers from images (issue 12): docker:// from Debian's docker-registry on loopback (via a
 * counting proxy), preloaded tarballs and OCI layouts; the image env, owners through the idmapped
 * view, StreamIn/StreamOut, users, limits and bind mounts as on directory images; shared pulls,
 * progress, layers freed with their last user, restart survival.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GardenError, type GardenEvent, InvalidRequestError } from '@garden-ts/api-types';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { busyboxImage } from '../../images/test/helpers/fixtures.js';
import {
  buildImage,
  Pusher,
  sha256,
  tarDirectory,
  writeOciLayout,
} from '../../images/test/helpers/images.js';
import { FaultProxy } from '../../images/test/helpers/proxy.js';
import { startRegistry, type TestRegistry } from '../../images/test/helpers/registry.js';
import { makeTar } from '../../images/test/helpers/tar-writer.js';
import type { LinuxBackend, LinuxBackendOptions } from '../src/index.js';
import { exec, leakCounts, testEnv } from './helpers.js';

const env = testEnv('img');
let registry: TestRegistry;
let proxy: FaultProxy;
let backend: LinuxBackend;
const work = mkdtempSync(join(tmpdir(), 'backend-linux-img-'));
chmodSync(work, 0o755); // bind sources are opened by the container's mapped root
const IMAGE_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'IMAGE_VAR=from-image', 'SHARED=image'];

const imageOptions = (): LinuxBackendOptions['images'] => ({
  registry: { insecureRegistries: [proxy.host], retries: 1, retryBaseMs: 20, retryMaxMs: 50 },
});
const uri = (repo: string, tag = 'v1') => `docker://${proxy.host}/${repo}#${tag}`;
const layersIn = (depot: string) => readdirSync(join(depot, 'image-store', 'layers'));

async function push(repo: string, tag: string, marker: string) {
  const pusher = new Pusher(registry.url);
  await pusher.push(repo, tag, busyboxImage(inject('rootfs'), { env: IMAGE_ENV, marker }));
  await pusher.close();
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await FaultProxy.start(Number(registry.host.split(':')[1]));
  await push('garden/busybox', 'v1', 'first');
  backend = env.backend({ images: imageOptions() });
  await backend.start();
});
afterAll(async () => {
  await env.cleanup();
  await proxy?.stop();
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function tarOf(files: Record<string, string>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

describe('containers from registry images', () => {
  it('runs an unprivileged container from docker:// with the image env, owners, users, files, limits and binds', async () => {
    const hostDir = join(work, 'bind');
    rmSync(hostDir, { recursive: true, force: true });
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'from-host'), 'host file\n');
    const c = await backend.create({
      image: { uri: uri('garden/busybox') },
      env: ['SHARED=spec', 'SPEC_VAR=1'],
      limits: { memory: { limitInBytes: 64n << 20n }, pid: { max: 50n } },
      bindMounts: [{ srcPath: hostDir, dstPath: '/mnt/host' }],
    });
    // Image env first, then the spec's; the later SHARED wins (reference §2.4, §3.2).
    const envOut = (await exec(c, { path: 'env' })).stdout.split('\n');
    expect(envOut).toContain('IMAGE_VAR=from-image');
    expect(envOut).toContain('SPEC_VAR=1');
    expect(envOut).toContain('SHARED=spec');
    expect(envOut).not.toContain('SHARED=image');
    expect(envOut).toContain('PATH=/usr/sbin:/usr/bin:/sbin:/bin');
    // Container root owns the image's root files (idmapped view), other ids unchanged.
    const stat = await exec(c, {
      path: 'sh',
      args: [
        '-c',
        'stat -c "%u %a" /bin/busybox /home/app/data /usr/bin/pinger; ls /home; test -e /etc/hostname || echo whited-out',
      ],
    });
    expect(stat.stdout).toBe('0 755\n1001 644\n0 4755\napp\nwhited-out\n');
    // Users from the image's /etc/passwd (the busybox layer).
    expect((await exec(c, { path: 'id', user: 'alice' })).stdout).toMatch(
      /^uid=1001\(alice\) gid=1001\(alice\)/,
    );
    // Writes go to the container's upper dir, not to the shared layers.
    expect(
      (await exec(c, { path: 'sh', args: ['-c', 'echo changed > /home/app/data && cat /home/app/data'] }))
        .stdout,
    ).toBe('changed\n');
    for (const id of layersIn(env.depot)) {
      const f = join(env.depot, 'image-store', 'layers', id, 'diff', 'home', 'app', 'data');
      if (existsSync(f)) expect(readFileSync(f, 'utf8')).toBe('first');
    }
    // StreamIn / StreamOut.
    await c.streamIn({ path: '/tmp/in', tarStream: await tarOf({ 'hello.txt': 'streamed\n' }) });
    expect((await exec(c, { path: 'cat', args: ['/tmp/in/hello.txt'] })).stdout).toBe('streamed\n');
    const out = await c.streamOut({ path: '/tmp/in/hello.txt' });
    const extract = tar.extract();
    const names: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (h, s, next) => {
        names.push(h.name);
        s.resume();
        s.on('end', next);
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    out.pipe(extract);
    await done;
    expect(names).toEqual(['hello.txt']);
    // Limits and binds.
    expect((await c.currentMemoryLimits()).limitInBytes).toBe(64n << 20n);
    expect((await exec(c, { path: 'cat', args: ['/mnt/host/from-host'] })).stdout).toBe('host file\n');
    await backend.destroy(c.handle);
  });

  it('shares one pull between concurrent creates, reports progress, and frees the layers with the last user', async () => {
    await push('garden/shared', 'v1', 'shared');
    const subscription = backend.events();
    proxy.requests.length = 0;
    const [a, b] = await Promise.all([
      backend.create({ handle: 'img-a', image: { uri: uri('garden/shared') } }),
      backend.create({ handle: 'img-b', image: { uri: uri('garden/shared') }, privileged: true }),
    ]);
    const events: Extract<GardenEvent, { type: 'image.progress' }>[] = [];
    // Everything published so far is queued in the subscription (a queued event resolves at once;
    // the first next() that would wait loses the race against setImmediate).
    for (;;) {
      const next = await Promise.race([
        subscription.next(),
        new Promise<undefined>((r) => setImmediate(() => r(undefined))),
      ]);
      if (!next || next.done) break;
      if (next.value.type === 'image.progress') events.push(next.value);
    }
    subscription.close();
    expect(proxy.blobGets()).toHaveLength(3); // config + 2 layers, once
    expect(new Set(events.map((e) => e.handle))).toEqual(new Set(['img-a', 'img-b']));
    const last = events.filter((e) => e.handle === 'img-a').at(-1);
    expect(last).toMatchObject({ phase: 'done', layersDone: 2, layersTotal: 2 });
    expect(events.some((e) => e.phase === 'downloading' && (e.layerBytes ?? 0) > 0)).toBe(true);
    expect((await exec(a, { path: 'cat', args: ['/home/app/data'] })).stdout).toBe('shared');
    expect((await exec(b, { path: 'stat', args: ['-c', '%u', '/bin/busybox'] })).stdout).toBe('0\n');
    const before = layersIn(env.depot);
    await backend.destroy('img-a');
    await backend.settled();
    expect(layersIn(env.depot)).toEqual(before);
    await backend.destroy('img-b');
    await backend.settled();
    // Nobody uses them any more: collected (the default policy keeps no unused layer).
    expect(layersIn(env.depot)).toEqual([]);
    expect(leakCounts(env)).toMatchObject({ mounts: 0, depot: 0 });
  });

  it('fails creates with clear errors and leaves nothing: wrong tag, unknown scheme, registry down', async () => {
    const before = leakCounts(env);
    const missing = await backend.create({ image: { uri: uri('garden/busybox', 'nope') } }).catch((e) => e);
    expect(missing).toBeInstanceOf(GardenError);
    expect(missing.message).toMatch(/image not found \(tag nope/);
    expect(missing.cause?.code).toBe('IMAGE_NOT_FOUND');
    const scheme = await backend.create({ image: { uri: 'ftp://x/rootfs.tar' } }).catch((e) => e);
    expect(scheme).toBeInstanceOf(InvalidRequestError);
    expect(scheme).toMatchObject({ field: 'image.uri', statusCode: 400 });
    proxy.goDown();
    try {
      await push('garden/unreachable', 'v1', 'x');
      const down = await backend.create({ image: { uri: uri('garden/unreachable') } }).catch((e) => e);
      expect(down).toBeInstanceOf(GardenError);
      expect(down.message).toMatch(/failed after 2 attempts/);
    } finally {
      proxy.down = false;
    }
    await backend.settled();
    expect(leakCounts(env)).toEqual(before);
    expect(readdirSync(join(env.depot, 'image-store', 'tmp'))).toEqual([]);
  });

  it('keeps an image container across a restart: its layers are taken again, not collected, and freed on destroy', async () => {
    await push('garden/restart', 'v1', 'restart');
    const c = await backend.create({ handle: 'img-restart', image: { uri: uri('garden/restart') } });
    const mine = c.handle;
    await backend.stop();
    const again = env.backend({ images: imageOptions() });
    await again.start(); // restores, then collects what no container holds
    const layers = layersIn(env.depot);
    expect(layers.length).toBeGreaterThanOrEqual(2);
    const restored = await again.lookup(mine);
    expect((await exec(restored, { path: 'cat', args: ['/home/app/data'] })).stdout).toBe('restart');
    await again.destroy(mine);
    await again.settled();
    expect(layersIn(env.depot)).toEqual([]);
    backend = again;
  });
});

describe('containers from local images', () => {
  it('serves preloaded tarballs, OCI layouts and tarball paths through the same store', async () => {
    const tarball = join(work, 'rootfs.tar');
    writeFileSync(tarball, tarDirectory(inject('rootfs')));
    const layout = join(work, 'layout');
    writeOciLayout(layout, [
      {
        tag: 'v1',
        image: buildImage({
          layers: [
            { tar: tarDirectory(inject('rootfs')) },
            { tar: makeTar([{ name: 'etc/oci-marker', data: 'oci' }]), compression: 'zstd' },
          ],
          env: ['FROM_OCI=1'],
        }),
      },
    ]);
    // Other image options: another store (one store, one set of options per process).
    const store = join(work, 'store');
    const b = env.backend({ images: { ...imageOptions(), store, preloaded: { cflinuxfs4: tarball } } });
    await b.start();
    const pre = await b.create({ image: { uri: 'preloaded:cflinuxfs4' } });
    expect((await exec(pre, { path: 'stat', args: ['-c', '%u', '/etc/passwd'] })).stdout).toBe('0\n');
    const oci = await b.create({ image: { uri: `oci://${layout}#v1` } });
    expect((await exec(oci, { path: 'cat', args: ['/etc/oci-marker'] })).stdout).toBe('oci');
    expect((await exec(oci, { path: 'sh', args: ['-c', 'echo $FROM_OCI'] })).stdout).toBe('1\n');
    const tb = await b.create({ rootfsPath: tarball });
    expect((await exec(tb, { path: 'true' })).status).toBe(0);
    // One layer for the tarball, whichever way it was named (its diff id), plus the OCI image's two
    // (its first is the same archive: the same layer).
    expect(readdirSync(join(store, 'layers'))).toContain(sha256(readFileSync(tarball)).slice(7));
    expect(readdirSync(join(store, 'layers'))).toHaveLength(2);
    for (const c of [pre, oci, tb]) await b.destroy(c.handle);
    await b.settled();
    expect(readdirSync(join(store, 'layers'))).toEqual([]);
    // A second set of options on a store in use is refused.
    const other = env.backend({ images: { ...imageOptions(), store, keepUnusedBytes: 1 } });
    await expect(other.create({ image: { uri: tarball } })).rejects.toThrow(
      /already used in this process with other image options/,
    );
    await b.stop();
    await other.stop();
  });
});
