/**
 * Every non-registry image source: directories, raw://, rootfs tarballs, OCI layouts,
 * preloaded: and preloaded+layer: (the layer served by a loopback HTTP server).
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { defaultIdMap } from '@garden-ts/native-ns';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DigestMismatchError, ImageErrorCode, ImageUriError, type PullProgress } from '../src/index.js';
import { mountPointsUnder } from '../src/views.js';
import { closeServices, MAXUID, mountPrepared, openService, tmpEntries } from './helpers/fixtures.js';
import { buildImage, buildIndex, sha256, tarDirectory, writeOciLayout } from './helpers/images.js';
import { makeTar } from './helpers/tar-writer.js';

const MAP = { uidMap: defaultIdMap(), gidMap: defaultIdMap() };
const work = mkdtempSync(join(tmpdir(), 'images-sources-'));
let rootfs: string;
let tarball: string;
let tgz: string;

beforeAll(() => {
  rootfs = inject('rootfs');
  tarball = join(work, 'rootfs.tar');
  writeFileSync(tarball, tarDirectory(rootfs));
  tgz = join(work, 'rootfs.tgz');
  writeFileSync(tgz, gzipSync(readFileSync(tarball)));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(closeServices);

describe('directories', () => {
  it('uses a directory as the only lower; unprivileged owners see it through an idmapped mount', async () => {
    const svc = await openService();
    const priv = await svc.prepare({ uri: rootfs, owner: 'p', mapping: null });
    expect(priv).toMatchObject({
      lowerDirs: [rootfs],
      env: [],
      raw: false,
      record: { layers: [], dirViews: [] },
    });
    const un = await svc.prepare({ uri: rootfs, owner: 'u', mapping: MAP });
    const view = un.lowerDirs[0] as string;
    expect(view.startsWith(join(svc.store.root, 'd'))).toBe(true);
    expect(un.record.dirViews).toEqual([view]);
    expect(statSync(join(view, 'bin', 'busybox')).uid).toBe(MAXUID);
    expect(statSync(join(view, 'home', 'alice')).uid).toBe(1001);
    // Kept for the next create; unmounted once unused on request (the backend's stop).
    await svc.release('u');
    expect(mountPointsUnder(view).has(view)).toBe(true);
    svc.views.unmountUnused();
    expect(mountPointsUnder(view).has(view)).toBe(false);
  });

  it('takes raw:// as is, for every owner', async () => {
    const svc = await openService();
    const p = await svc.prepare({ uri: `raw://${rootfs}`, owner: 'u', mapping: MAP });
    expect(p).toMatchObject({ lowerDirs: [rootfs], raw: true });
    await expect(
      svc.prepare({ uri: `raw://${work}/missing`, owner: 'u', mapping: null }),
    ).rejects.toMatchObject({
      code: ImageErrorCode.NotFound,
    });
    await expect(svc.prepare({ uri: `raw://${tarball}`, owner: 'u', mapping: null })).rejects.toThrow(
      /not a directory/,
    );
  });

  it('refuses unknown schemes and missing paths with typed errors', async () => {
    const svc = await openService();
    const e = await svc
      .prepare({ uri: 'ftp://host/rootfs.tar', owner: 'x', mapping: null })
      .catch((err) => err);
    expect(e).toBeInstanceOf(ImageUriError);
    expect(e.message).toContain('unsupported image URI scheme "ftp"');
    await expect(
      svc.prepare({ uri: join(work, 'nothing'), owner: 'x', mapping: null }),
    ).rejects.toMatchObject({
      code: ImageErrorCode.NotFound,
    });
  });
});

describe('rootfs tarballs', () => {
  it('unpacks a tarball (plain or gzip) once into one layer, remembered by path, size and mtime', async () => {
    const svc = await openService();
    const events: PullProgress[] = [];
    const a = await svc.prepare({
      uri: tarball,
      owner: 'a',
      mapping: null,
      onProgress: (e) => events.push(e),
    });
    expect(a.record.layers).toEqual([sha256(readFileSync(tarball)).slice(7)]);
    expect(events.at(-1)).toMatchObject({ phase: 'done', layersDone: 1, layersTotal: 1 });
    const created = svc.store.info(a.record.layers[0] as string)?.created;
    const again: PullProgress[] = [];
    const b = await svc.prepare({ uri: tarball, owner: 'b', mapping: MAP, onProgress: (e) => again.push(e) });
    expect(b.record.layers).toEqual(a.record.layers);
    expect(again.some((e) => e.phase === 'downloading')).toBe(false);
    expect(svc.store.info(a.record.layers[0] as string)?.created).toBe(created);
    // The gzip of the same archive is the same layer (its diff id).
    const c = await svc.prepare({ uri: tgz, owner: 'c', mapping: null });
    expect(c.record.layers).toEqual(a.record.layers);
    const m = mountPrepared(b, MAXUID);
    try {
      expect(lstatSync(join(m.rootfs, 'bin/busybox')).uid).toBe(MAXUID);
      expect(lstatSync(join(m.rootfs, 'tmp')).mode & 0o7777).toBe(0o1777);
      expect(readFileSync(join(m.rootfs, 'etc/passwd'), 'utf8')).toContain('alice:x:1001');
    } finally {
      m.umount();
    }
    // A changed tarball is a new layer.
    const t2 = join(work, 'changed.tar');
    writeFileSync(t2, makeTar([{ name: 'only', data: '1' }]));
    const d1 = await svc.prepare({ uri: t2, owner: 'd', mapping: null });
    writeFileSync(t2, makeTar([{ name: 'only', data: '2' }]));
    const d2 = await svc.prepare({ uri: t2, owner: 'e', mapping: null });
    expect(d2.record.layers).not.toEqual(d1.record.layers);
    expect(readFileSync(join(d2.lowerDirs[0] as string, 'only'), 'utf8')).toBe('2');
    const bad = join(work, 'bad.tar');
    writeFileSync(bad, Buffer.from('this is not a tar archive at all'.repeat(40)));
    await expect(svc.prepare({ uri: bad, owner: 'f', mapping: null })).rejects.toMatchObject({
      code: ImageErrorCode.InvalidImage,
    });
    expect(tmpEntries(svc)).toEqual([]);
  });
});

describe('OCI image layouts', () => {
  it('reads oci:///PATH[#TAG], a nested index per platform, and verifies blobs', async () => {
    const layout = join(work, 'layout');
    const v1 = buildImage({ layers: [{ tar: makeTar([{ name: 'version', data: '1' }]) }], env: ['V=1'] });
    const v2 = buildImage({
      layers: [
        { tar: tarDirectory(rootfs), compression: 'zstd' },
        { tar: makeTar([{ name: 'version', data: '2' }]), compression: 'none' },
      ],
      env: ['V=2'],
    });
    const arm = buildImage({
      layers: [{ tar: makeTar([{ name: 'version', data: 'arm' }]) }],
      architecture: 'arm64',
    });
    const multi = buildIndex([
      { image: arm, os: 'linux', architecture: 'arm64' },
      { image: v2, os: 'linux', architecture: 'amd64' },
    ]);
    writeOciLayout(layout, [
      { tag: 'v1', image: v1 },
      { tag: 'v2', image: multi },
    ]);
    const svc = await openService();
    const p1 = await svc.prepare({ uri: `oci://${layout}#v1`, owner: 'a', mapping: null });
    expect(p1.env).toEqual(['V=1']);
    expect(p1.record.digest).toBe(v1.manifest.digest);
    const p2 = await svc.prepare({ uri: `oci://${layout}#v2`, owner: 'b', mapping: null });
    expect(p2.env).toEqual(['V=2']);
    expect(p2.lowerDirs).toHaveLength(2);
    expect(readFileSync(join(p2.lowerDirs[0] as string, 'version'), 'utf8')).toBe('2');
    expect(existsSync(join(p2.lowerDirs[1] as string, 'bin', 'busybox'))).toBe(true);
    await expect(svc.prepare({ uri: `oci://${layout}#v3`, owner: 'c', mapping: null })).rejects.toThrow(
      /no image tagged "v3"/,
    );
    await expect(svc.prepare({ uri: `oci://${work}`, owner: 'c', mapping: null })).rejects.toThrow(
      /not an OCI image layout/,
    );
    // A damaged blob is caught by its digest.
    const single = join(work, 'single');
    const img = buildImage({ layers: [{ tar: makeTar([{ name: 'x', data: 'x'.repeat(50_000) }]) }] });
    writeOciLayout(single, [{ image: img }]);
    const blob = join(single, 'blobs', 'sha256', img.layers[0]?.digest.slice(7) as string);
    const bytes = readFileSync(blob);
    bytes[100] = (bytes[100] as number) ^ 1;
    writeFileSync(blob, bytes);
    await expect(svc.prepare({ uri: `oci://${single}`, owner: 'd', mapping: null })).rejects.toThrow(
      DigestMismatchError,
    );
    expect(tmpEntries(svc)).toEqual([]);
  });
});

describe('preloaded rootfses (Diego)', () => {
  let server: Server;
  let base: string;
  let requests = 0;
  const layerTar = makeTar([
    { name: 'app/', type: 'dir', uid: 2000, gid: 2000 },
    { name: 'app/start.sh', data: '#!/bin/sh\necho droplet\n', mode: 0o755, uid: 2000, gid: 2000 },
  ]);
  const layerGz = gzipSync(layerTar);

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/droplet.tgz') {
        res.writeHead(200, { 'content-length': layerGz.length });
        res.end(layerGz);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('maps preloaded:NAME to a configured directory or tarball', async () => {
    const svc = await openService({ preloaded: { cflinuxfs4: rootfs, tarred: tarball } });
    const a = await svc.prepare({ uri: 'preloaded:cflinuxfs4', owner: 'a', mapping: null });
    expect(a.lowerDirs).toEqual([rootfs]);
    const b = await svc.prepare({ uri: 'preloaded:tarred', owner: 'b', mapping: null });
    expect(b.record.layers).toHaveLength(1);
    const e = await svc.prepare({ uri: 'preloaded:nope', owner: 'c', mapping: null }).catch((err) => err);
    expect(e).toMatchObject({ code: ImageErrorCode.NotFound });
    expect(e.message).toContain('unknown preloaded rootfs "nope" (configured: cflinuxfs4, tarred)');
  });

  it('adds a verified gzip layer fetched over HTTP under layer_path, fetched once', async () => {
    const svc = await openService({ preloaded: { cflinuxfs4: rootfs } });
    const digest = sha256(layerGz).slice(7);
    const uri = `preloaded+layer:cflinuxfs4?layer=${encodeURIComponent(`${base}/droplet.tgz`)}&layer_path=/home/vcap&layer_digest=${digest}`;
    requests = 0;
    const events: PullProgress[] = [];
    const p = await svc.prepare({ uri, owner: 'a', mapping: MAP, onProgress: (e) => events.push(e) });
    expect(p.lowerDirs).toHaveLength(2); // the layer above the preloaded rootfs
    expect(events.at(-1)).toMatchObject({ phase: 'done', layersDone: 1, layersTotal: 1 });
    const m = mountPrepared(p, MAXUID);
    try {
      expect(readFileSync(join(m.rootfs, 'home/vcap/app/start.sh'), 'utf8')).toContain('droplet');
      expect(lstatSync(join(m.rootfs, 'home/vcap/app/start.sh')).uid).toBe(2000);
      expect(lstatSync(join(m.rootfs, 'home/vcap')).uid).toBe(MAXUID); // made for the layer: root
      expect(existsSync(join(m.rootfs, 'bin/busybox'))).toBe(true);
    } finally {
      m.umount();
    }
    await svc.prepare({ uri, owner: 'b', mapping: null });
    expect(requests).toBe(1);
    const wrong = uri.replace(digest, 'f'.repeat(64));
    const e = await svc.prepare({ uri: wrong, owner: 'c', mapping: null }).catch((err) => err);
    expect(e).toBeInstanceOf(DigestMismatchError);
    const missing = uri.replace('droplet.tgz', 'gone.tgz').replace(digest, 'e'.repeat(64));
    await expect(svc.prepare({ uri: missing, owner: 'd', mapping: null })).rejects.toMatchObject({
      code: ImageErrorCode.NotFound,
    });
    expect(tmpEntries(svc)).toEqual([]);
  });
});
