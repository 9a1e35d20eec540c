/**
 * Pulls from Debian's docker-registry on 127.0.0.1, started here: anonymous, htpasswd basic
 * auth, token auth, TLS; images built and pushed by the tests (multi-layer, whiteouts, opaque
 * dirs, hard links, xattrs, setuid, manifest lists, gzip + zstd). Errors: wrong password, missing
 * tag, corrupt layer, registry down mid-pull; shared downloads; mirrors; GC on release.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultIdMap, getXattr } from '@garden-ts/native-ns';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DigestMismatchError, ImageError, ImageErrorCode, type PullProgress } from '../src/index.js';
import {
  busyboxImage,
  CAP_NET_RAW,
  closeServices,
  MAXUID,
  mountPrepared,
  openService,
  tmpEntries,
} from './helpers/fixtures.js';
import { type BuiltImage, buildImage, buildIndex, Pusher, writeOciLayout } from './helpers/images.js';
import { FaultProxy } from './helpers/proxy.js';
import { blobDataPath, freePort, startRegistry, type TestRegistry } from './helpers/registry.js';
import { makeTar } from './helpers/tar-writer.js';

const MAP = { uidMap: defaultIdMap(), gidMap: defaultIdMap() };
let registry: TestRegistry;
let busybox: BuiltImage;

beforeAll(async () => {
  registry = await startRegistry();
  busybox = busyboxImage(inject('rootfs'));
  const pusher = new Pusher(registry.url);
  await pusher.push('garden/busybox', 'v1', busybox);
  await pusher.close();
});
afterAll(async () => {
  await registry?.stop();
});
afterEach(closeServices);

const insecure = () => ({ registry: { insecureRegistries: [registry.host] } });

describe('docker:// from a loopback registry', () => {
  it('pulls a multi-layer image (gzip + zstd) and shows it as overlay lowers, image env included', async () => {
    const svc = await openService(insecure());
    const events: PullProgress[] = [];
    const p = await svc.prepare({
      uri: `docker://${registry.host}/garden/busybox#v1`,
      owner: 'c1',
      mapping: null,
      onProgress: (e) => events.push(e),
    });
    expect(p.lowerDirs).toHaveLength(2);
    expect(p.env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'IMAGE_VAR=from-image',
    ]);
    expect(p.record.layers).toEqual(busybox.layers.map((l) => l.diffId.slice(7)));
    expect(p.record.digest).toBe(busybox.manifest.digest);
    const m = mountPrepared(p);
    try {
      const r = m.rootfs;
      expect(readFileSync(join(r, 'bin/busybox')).subarray(1, 4).toString()).toBe('ELF');
      expect(lstatSync(join(r, 'bin/sh')).isSymbolicLink()).toBe(true);
      expect(existsSync(join(r, 'etc/hostname'))).toBe(false); // whiteout
      expect(readdirSync(join(r, 'home'))).toEqual(['app']); // opaque: alice, bob, vcap hidden
      expect(lstatSync(join(r, 'home/app/data')).uid).toBe(1001);
      expect(lstatSync(join(r, 'usr/bin/pinger')).mode & 0o7777).toBe(0o4755);
      expect(lstatSync(join(r, 'usr/bin/pinger6')).ino).toBe(lstatSync(join(r, 'usr/bin/pinger')).ino);
      expect(getXattr(join(r, 'usr/bin/pinger'), 'security.capability')).toEqual(CAP_NET_RAW);
      expect(lstatSync(join(r, 'tmp')).mode & 0o7777).toBe(0o1777);
    } finally {
      m.umount();
    }
    // Progress: resolving, bytes per layer, both layers done, done.
    expect(events[0]?.phase).toBe('resolving');
    const done = events.filter((e) => e.phase === 'layer-done');
    expect(done.map((e) => e.layer).sort()).toEqual(busybox.layers.map((l) => l.digest).sort());
    expect(events.at(-1)).toMatchObject({ phase: 'done', layersDone: 2, layersTotal: 2 });
    const total = busybox.layers.reduce((n, l) => n + l.bytes.length, 0);
    expect(events.at(-1)?.bytes).toBe(total);
    expect(events.at(-1)?.totalBytes).toBe(total);
    expect(tmpEntries(svc)).toEqual([]);
  });

  it('gives unprivileged owners an idmapped view of the same layers (no second download, no copy)', async () => {
    const svc = await openService(insecure());
    const uri = `docker://${registry.host}/garden/busybox#v1`;
    await svc.prepare({ uri, owner: 'priv', mapping: null });
    const layersBefore = svc.store.usage();
    const p = await svc.prepare({ uri, owner: 'unpriv', mapping: MAP });
    expect(svc.store.usage()).toEqual(layersBefore);
    expect(p.lowerDirs.every((d) => d.startsWith(join(svc.store.root, 'v')))).toBe(true);
    const m = mountPrepared(p, MAXUID);
    try {
      expect(lstatSync(join(m.rootfs, 'bin/busybox')).uid).toBe(MAXUID);
      expect(lstatSync(join(m.rootfs, 'home/app/data')).uid).toBe(1001);
    } finally {
      m.umount();
    }
  });

  it('resolves a manifest list to linux + this architecture, reads Docker schema 2, and refuses other platforms', async () => {
    const pusher = new Pusher(registry.url);
    const tiny = (arch: string, os = 'linux') =>
      buildImage({
        layers: [{ tar: makeTar([{ name: `arch-${arch}`, data: arch }]) }],
        architecture: arch,
        os,
      });
    const list = buildIndex(
      [
        { image: tiny('arm64'), os: 'linux', architecture: 'arm64', variant: 'v8' },
        { image: tiny('amd64'), os: 'linux', architecture: 'amd64' },
        { image: tiny('amd64', 'windows'), os: 'windows', architecture: 'amd64' },
      ],
      'docker',
    );
    await pusher.push('garden/multi', 'latest', list);
    await pusher.push(
      'garden/armonly',
      'latest',
      buildIndex([{ image: tiny('arm64'), os: 'linux', architecture: 'arm64' }]),
    );
    await pusher.push('garden/armconfig', 'latest', tiny('arm64'));
    await pusher.push(
      'garden/schema2',
      'latest',
      buildImage({ layers: [{ tar: makeTar([{ name: 'docker-format', data: 'd' }]) }], format: 'docker' }),
    );
    await pusher.close();
    const svc = await openService(insecure());
    const p = await svc.prepare({ uri: `docker://${registry.host}/garden/multi`, owner: 'c', mapping: null });
    expect(readFileSync(join(p.lowerDirs[0] as string, 'arch-amd64'), 'utf8')).toBe('amd64');
    const s2 = await svc.prepare({
      uri: `docker://${registry.host}/garden/schema2`,
      owner: 'c',
      mapping: null,
    });
    expect(existsSync(join(s2.lowerDirs[0] as string, 'docker-format'))).toBe(true);
    const e1 = await svc
      .prepare({ uri: `docker://${registry.host}/garden/armonly`, owner: 'd', mapping: null })
      .catch((e) => e);
    expect(e1).toBeInstanceOf(ImageError);
    expect(e1).toMatchObject({ code: ImageErrorCode.PlatformMismatch });
    expect(e1.message).toContain('no image for linux/amd64 in the manifest list (available: linux/arm64)');
    const e2 = await svc
      .prepare({ uri: `docker://${registry.host}/garden/armconfig`, owner: 'd', mapping: null })
      .catch((e) => e);
    expect(e2).toMatchObject({ code: ImageErrorCode.PlatformMismatch });
    expect(e2.message).toContain('the image is for linux/arm64, this host runs linux/amd64');
    expect(svc.store.ownerIds()).not.toContain('d');
  });

  it('fails clearly for a missing tag or repository, leaving nothing behind', async () => {
    const svc = await openService(insecure());
    for (const uri of [
      `docker://${registry.host}/garden/busybox#nope`,
      `docker://${registry.host}/garden/nothing`,
    ]) {
      const e = await svc.prepare({ uri, owner: 'x', mapping: null }).catch((err) => err);
      expect(e).toBeInstanceOf(ImageError);
      expect(e.code).toBe(ImageErrorCode.NotFound);
      expect(e.message).toMatch(/image not found \(tag (nope|latest)/);
    }
    expect(svc.store.usage().layers).toBe(0);
    expect(tmpEntries(svc)).toEqual([]);
  });

  it('asks the registry for a tag on every create (cached layers), never for a known digest', async () => {
    const proxy = await FaultProxy.start(Number(registry.host.split(':')[1]));
    try {
      const svc = await openService({ registry: { insecureRegistries: [proxy.host] } });
      await svc.prepare({ uri: `docker://${proxy.host}/garden/busybox#v1`, owner: 'a', mapping: null });
      expect(proxy.blobGets()).toHaveLength(3); // config + 2 layers
      proxy.requests.length = 0;
      await svc.prepare({ uri: `docker://${proxy.host}/garden/busybox#v1`, owner: 'b', mapping: null });
      expect(proxy.requests).toEqual([`GET /v2/garden/busybox/manifests/v1 HTTP/1.1`]);
      proxy.requests.length = 0;
      await svc.prepare({
        uri: `docker://${proxy.host}/garden/busybox@${busybox.manifest.digest}`,
        owner: 'c',
        mapping: null,
      });
      await svc.prepare({
        uri: `docker://${proxy.host}/garden/busybox@${busybox.manifest.digest}`,
        owner: 'd',
        mapping: null,
      });
      expect(proxy.requests).toEqual([]); // known by digest since the tag's pull
      // The registry down: a known tag still resolves (logged), an unknown one fails.
      proxy.goDown();
      const p = await svc.prepare({
        uri: `docker://${proxy.host}/garden/busybox#v1`,
        owner: 'e',
        mapping: null,
      });
      expect(p.lowerDirs).toHaveLength(2);
      const e = await svc
        .prepare({ uri: `docker://${proxy.host}/garden/busybox#v2`, owner: 'f', mapping: null })
        .catch((err) => err);
      expect(e).toMatchObject({ code: ImageErrorCode.RegistryUnavailable });
      expect(e.message).toMatch(/failed after 3 attempts: .*ECONNRESET|failed after 3 attempts: .*socket/);
    } finally {
      await proxy.stop();
    }
  });

  it('retries 503 answers with backoff', async () => {
    const proxy = await FaultProxy.start(Number(registry.host.split(':')[1]));
    try {
      const svc = await openService({ registry: { insecureRegistries: [proxy.host] } });
      proxy.failNext = 2;
      const p = await svc.prepare({
        uri: `docker://${proxy.host}/garden/busybox#v1`,
        owner: 'a',
        mapping: null,
      });
      expect(p.lowerDirs).toHaveLength(2);
      expect(proxy.requests.filter((r) => r.startsWith('503 '))).toHaveLength(2);
    } finally {
      await proxy.stop();
    }
  });

  it('downloads once for concurrent pulls of one image, and frees the layers when the last user goes', async () => {
    const proxy = await FaultProxy.start(Number(registry.host.split(':')[1]));
    try {
      const svc = await openService({ registry: { insecureRegistries: [proxy.host] } });
      const uri = `docker://${proxy.host}/garden/busybox#v1`;
      const [a, b, c] = await Promise.all([
        svc.prepare({ uri, owner: 'a', mapping: null }),
        svc.prepare({ uri, owner: 'b', mapping: null }),
        svc.prepare({ uri, owner: 'c', mapping: MAP }),
      ]);
      expect(proxy.blobGets()).toHaveLength(3); // config + 2 layers, once
      expect(a.lowerDirs).toEqual(b.lowerDirs);
      expect(c.record.layers).toEqual(a.record.layers);
      const ids = a.record.layers;
      expect(ids.map((id) => svc.store.refCount(id))).toEqual([3, 3]);
      expect((await svc.release('a')).removed).toEqual([]);
      expect((await svc.release('b')).removed).toEqual([]);
      const r = await svc.release('c');
      expect(r.removed.sort()).toEqual([...ids].sort());
      await svc.store.settled();
      for (const id of ids) expect(existsSync(svc.store.dir(id))).toBe(false);
      expect(tmpEntries(svc)).toEqual([]);
      expect(readdirSync(join(svc.store.root, 'images'))).toEqual([]); // resolutions naming them go too
    } finally {
      await proxy.stop();
    }
  });

  it('reports a corrupt layer as a digest mismatch and keeps no part of it', async () => {
    const img = buildImage({ layers: [{ tar: makeTar([{ name: 'big', data: 'x'.repeat(300_000) }]) }] });
    const pusher = new Pusher(registry.url);
    await pusher.push('garden/corrupt', 'v1', img);
    await pusher.close();
    const data = blobDataPath(registry.storage, img.layers[0]?.digest as string);
    const bytes = readFileSync(data);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0x55;
    writeFileSync(data, bytes);
    const svc = await openService(insecure());
    const e = await svc
      .prepare({ uri: `docker://${registry.host}/garden/corrupt#v1`, owner: 'x', mapping: null })
      .catch((err) => err);
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e.message).toContain(`layer ${img.layers[0]?.digest}: digest mismatch`);
    expect(svc.store.usage().layers).toBe(0);
    expect(tmpEntries(svc)).toEqual([]);
  });

  it('fails with a clear error when the registry goes down mid-pull, leaving no partial layer', async () => {
    const big = Buffer.alloc(4 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i); // barely compressible
    const img = buildImage({ layers: [{ tar: makeTar([{ name: 'blob', data: big }]) }] });
    const pusher = new Pusher(registry.url);
    await pusher.push('garden/big', 'v1', img);
    await pusher.close();
    const proxy = await FaultProxy.start(Number(registry.host.split(':')[1]));
    try {
      const svc = await openService({ registry: { insecureRegistries: [proxy.host] } });
      proxy.cutBlobAfter = 1 << 20; // the big layer; the config blob is tiny
      const e = await svc
        .prepare({ uri: `docker://${proxy.host}/garden/big#v1`, owner: 'x', mapping: null })
        .catch((err) => err);
      expect(e).toBeInstanceOf(ImageError);
      expect(e.code).toBe(ImageErrorCode.RegistryUnavailable);
      expect(e.message).toContain(`layer ${img.layers[0]?.digest}`);
      expect(e.message).toMatch(/failed after 3 attempts/);
      expect(svc.store.usage().layers).toBe(0);
      expect(tmpEntries(svc)).toEqual([]);
      // Back up: the same service pulls it.
      proxy.down = false;
      proxy.cutBlobAfter = 0;
      const p = await svc.prepare({ uri: `docker://${proxy.host}/garden/big#v1`, owner: 'y', mapping: null });
      expect(readFileSync(join(p.lowerDirs[0] as string, 'blob')).equals(big)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  it('needs the registry listed as insecure for plain HTTP, and names the flag in the error', async () => {
    const svc = await openService();
    const e = await svc
      .prepare({ uri: `docker://${registry.host}/garden/busybox#v1`, owner: 'x', mapping: null })
      .catch((err) => err);
    expect(e).toMatchObject({ code: ImageErrorCode.RegistryUnavailable });
    expect(e.message).toContain(`if ${registry.host} is a plain-HTTP registry`);
    expect(e.message).toContain('insecure registry');
  });
});

describe('registry configuration', () => {
  it('sends Docker Hub pulls to the mirrors first, falling through a mirror that lacks the image', async () => {
    const pusher = new Pusher(registry.url);
    await pusher.push('library/busybox', 'latest', busybox);
    await pusher.close();
    const empty = await startRegistry();
    const dead = await freePort();
    try {
      const svc = await openService({
        registry: {
          mirrors: [`http://${empty.host}`, `http://${registry.host}`],
          dockerHubUrl: `http://127.0.0.1:${dead}`,
        },
      });
      const p = await svc.prepare({ uri: 'docker:///busybox', owner: 'a', mapping: null });
      expect(p.record.digest).toBe(busybox.manifest.digest);
      const q = await svc.prepare({
        uri: 'docker://index.docker.io/library/busybox#latest',
        owner: 'b',
        mapping: null,
      });
      expect(q.lowerDirs).toEqual(p.lowerDirs);
      const e = await svc.prepare({ uri: 'docker:///alpine', owner: 'c', mapping: null }).catch((err) => err);
      expect(e).toBeInstanceOf(ImageError);
      expect(e.message).toContain(`http://${empty.host}: image not found`);
      expect(e.message).toContain(`http://${registry.host}: image not found`);
      expect(e.message).toContain(`http://127.0.0.1:${dead}:`);
    } finally {
      await empty.stop();
    }
  });

  it('talks TLS to a registry with a self-signed certificate only when it is listed as insecure', async () => {
    const tls = await startRegistry({ tls: true });
    try {
      const pusher = new Pusher(tls.url);
      await pusher.push('garden/busybox', 'v1', busybox);
      await pusher.close();
      const strict = await openService();
      const e = await strict
        .prepare({ uri: `docker://${tls.host}/garden/busybox#v1`, owner: 'a', mapping: null })
        .catch((err) => err);
      expect(e).toMatchObject({ code: ImageErrorCode.RegistryUnavailable });
      expect(e.message).toMatch(/certificate/i);
      expect(e.message).toContain('insecure registry');
      const lax = await openService({ registry: { insecureRegistries: [tls.host] } });
      const p = await lax.prepare({
        uri: `docker://${tls.host}/garden/busybox#v1`,
        owner: 'a',
        mapping: null,
      });
      expect(p.lowerDirs).toHaveLength(2);
    } finally {
      await tls.stop();
    }
  });

  for (const auth of ['basic', 'token'] as const) {
    it(`${auth} auth: pulls with ImageRef credentials; wrong or missing ones fail clearly`, async () => {
      const reg = await startRegistry({ auth, users: { alice: 's3cret' } });
      try {
        const pusher = new Pusher(reg.url, { username: 'alice', password: 's3cret' });
        await pusher.push('private/busybox', 'v1', busybox);
        await pusher.close();
        const svc = await openService({ registry: { insecureRegistries: [reg.host] } });
        const uri = `docker://${reg.host}/private/busybox#v1`;
        const p = await svc.prepare({
          uri,
          username: 'alice',
          password: 's3cret',
          owner: 'a',
          mapping: null,
        });
        expect(p.lowerDirs).toHaveLength(2);
        const wrong = await svc
          .prepare({ uri, username: 'alice', password: 'nope', owner: 'b', mapping: null })
          .catch((e) => e);
        expect(wrong).toBeInstanceOf(ImageError);
        expect(wrong.code).toBe(ImageErrorCode.Unauthorized);
        expect(wrong.message).toContain('"alice"');
        const none = await svc
          .prepare({ uri: `${uri}-other`.replace('#v1-other', '#v1'), owner: 'c', mapping: null })
          .catch((e) => e);
        expect(none.code).toBe(ImageErrorCode.Unauthorized);
        expect(none.message).toMatch(/authentication required/);
        if (auth === 'token') expect(reg.issuer?.refused).toBeGreaterThan(0);
        expect(svc.store.ownerIds().sort()).toEqual(['a']);
      } finally {
        await reg.stop();
      }
    });
  }
});

describe('interoperability', () => {
  it('pulls an image that skopeo pushed from an OCI layout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'images-oci-'));
    try {
      const img = buildImage({
        layers: [{ tar: makeTar([{ name: 'via-skopeo', data: 'yes' }]), compression: 'zstd' }],
        env: ['SKOPEO=1'],
      });
      writeOciLayout(dir, [{ tag: 'v1', image: img }]);
      execFileSync('skopeo', [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        `oci:${dir}:v1`,
        `docker://${registry.host}/garden/skopeo:v1`,
      ]);
      const svc = await openService(insecure());
      const p = await svc.prepare({
        uri: `docker://${registry.host}/garden/skopeo#v1`,
        owner: 'a',
        mapping: null,
      });
      expect(p.env).toEqual(['SKOPEO=1']);
      expect(readFileSync(join(p.lowerDirs[0] as string, 'via-skopeo'), 'utf8')).toBe('yes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
