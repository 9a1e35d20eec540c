/** Shared fixtures: the test images, an overlay mount of a prepared image, service factories. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmount } from '@garden-ts/native-ns';
import { ImageService, type ImageServiceOptions, type PreparedImage } from '../../src/index.js';
import { mountPointsUnder } from '../../src/views.js';
import { type BuiltImage, buildImage, tarDirectory } from './images.js';
import { makeTar } from './tar-writer.js';

export const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');
export const MAXUID = 4294967294;

/**
 * Busybox in two layers: the repo's busybox rootfs as GNU tar writes it (gzip), then a layer
 * (zstd) that whites out /etc/hostname, makes /home opaque, and adds a setuid binary with a
 * file capability, a hard link and a file owned by 1001.
 */
export function busyboxImage(rootfs: string, extra: { env?: string[]; marker?: string } = {}): BuiltImage {
  const base = tarDirectory(rootfs);
  const top = makeTar([
    { name: 'etc/.wh.hostname', data: '' },
    { name: 'home/', type: 'dir' },
    { name: 'home/.wh..wh..opq', data: '' },
    { name: 'home/app/', type: 'dir', uid: 1001, gid: 1001 },
    { name: 'home/app/data', data: extra.marker ?? 'app data', uid: 1001, gid: 1001 },
    {
      name: 'usr/bin/pinger',
      data: 'not really ping',
      mode: 0o4755,
      xattrs: { 'security.capability': CAP_NET_RAW },
    },
    { name: 'usr/bin/pinger6', type: 'link', linkname: 'usr/bin/pinger' },
  ]);
  return buildImage({
    layers: [
      { tar: base, compression: 'gzip' },
      { tar: top, compression: 'zstd' },
    ],
    env: extra.env ?? [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'IMAGE_VAR=from-image',
    ],
  });
}

/** Mounts a prepared image (overlay over its lower dirs with a scratch upper) and returns the root. */
export function mountPrepared(p: PreparedImage, owner = 0): { rootfs: string; umount(): void } {
  const c = mkdtempSync(join(tmpdir(), 'images-ovl-'));
  for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(c, d));
  if (owner) execFileSync('chown', [`${owner}:${owner}`, join(c, 'upper')]);
  execFileSync('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${p.lowerDirs.join(':')},upperdir=${c}/upper,workdir=${c}/work`,
    `${c}/rootfs`,
  ]);
  return {
    rootfs: join(c, 'rootfs'),
    umount() {
      unmount(join(c, 'rootfs'), { detach: true });
      rmSync(c, { recursive: true, force: true });
    },
  };
}

const services: ImageService[] = [];

/** An image service on a fresh store (fast retries); closed and unmounted by {@link closeServices}. */
export async function openService(options: Partial<ImageServiceOptions> = {}): Promise<ImageService> {
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'images-store-'));
  const s = await ImageService.open({
    ...options,
    root,
    registry: { retries: 2, retryBaseMs: 20, retryMaxMs: 100, ...options.registry },
  });
  services.push(s);
  return s;
}

export async function closeServices(): Promise<void> {
  for (const s of services.splice(0)) {
    await s.close().catch(() => undefined);
    await s.views.unmountAll().catch(() => undefined);
    for (const mp of mountPointsUnder(`${s.store.root}/`))
      for (let i = 0; i < 3 && unmount(mp, { detach: true }); i++);
    rmSync(s.store.root, { recursive: true, force: true });
  }
}

/** Entries of the store's temp dir (must be empty between pulls). */
export function tmpEntries(s: ImageService): string[] {
  return readdirSync(join(s.store.root, 'tmp'));
}
