/**
 * The rootfs part of a container: which directory is the image, an unprivileged ("shifted") copy
 * of it where needed, and the per-container overlay (image read-only below, upper/work in the
 * container's depot directory), plus the depot files bind-mounted over /etc/hosts and
 * /etc/resolv.conf.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GardenError, InvalidRequestError } from '@garden-ts/api-types';
import { createOverlay, unmount } from '@garden-ts/native-ns';

const run = promisify(execFile);

/** Host uid/gid of container root in an unprivileged container (Guardian's maxuid). */
export const MAPPED_ROOT = 4294967294;

/** What a create's rootfs / image URI selects. */
export interface ImageChoice {
  /** The directory holding the image. */
  path: string;
  /** `raw://`: the directory is used as is, never shifted. */
  raw: boolean;
}

/**
 * Parses `rootfsPath` / `image.uri` (exclusive) into a directory.
 * @throws GardenError for both given, unsupported schemes, or a missing directory.
 */
export function chooseImage(
  rootfsPath: string | undefined,
  imageUri: string | undefined,
  defaultRootfs: string | undefined,
): ImageChoice {
  if (rootfsPath && imageUri) throw new GardenError('Cannot provide both Image.URI and RootFSPath');
  let uri = rootfsPath || imageUri || '';
  if (uri === '') {
    if (!defaultRootfs) throw new GardenError('no rootfs given and no default rootfs configured');
    uri = defaultRootfs;
  }
  let raw = false;
  let path = uri;
  if (uri.startsWith('raw://')) {
    raw = true;
    path = uri.slice('raw://'.length);
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    throw new GardenError('no image plugin configured');
  }
  if (!path.startsWith('/'))
    throw new InvalidRequestError(
      'rootfs',
      `rootfs must be an absolute directory path or raw:// URI: ${uri}`,
    );
  if (/[,:\\\n]/.test(path))
    throw new InvalidRequestError('rootfs', `rootfs path must not contain ',', ':' or '\\': ${uri}`);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new GardenError(`rootfs ${path}: no such directory`);
  }
  if (!st.isDirectory())
    throw new GardenError(`rootfs ${path}: not a directory (tarball images need an image plugin)`);
  return { path: realpathSync(path), raw };
}

const shifting = new Map<string, Promise<string>>();

/**
 * The read-only lower directory for an image: the image itself when privileged or raw, otherwise a
 * cached copy in `<depot>/images/` whose root-owned files belong to the mapped root (as grootfs's
 * unprivileged store), so container root owns its /etc, /root, … The cache is keyed by path and
 * modification time and built once (concurrent creates share the build; a crash leaves only a
 * temp dir that startup removes).
 */
export function lowerDirFor(depot: string, image: ImageChoice, privileged: boolean): Promise<string> {
  if (privileged || image.raw) return Promise.resolve(image.path);
  const st = statSync(image.path);
  const key = createHash('sha256')
    .update(`${image.path}\0${st.mtimeMs}\0${st.ctimeMs}`)
    .digest('hex')
    .slice(0, 24);
  const target = join(depot, 'images', `${key}-unprivileged`);
  if (existsSync(target)) return Promise.resolve(target);
  let p = shifting.get(target);
  if (!p) {
    p = (async () => {
      const tmp = join(depot, 'images', `.tmp-${key}-${process.pid}-${Date.now()}`);
      mkdirSync(join(depot, 'images'), { recursive: true, mode: 0o711 });
      try {
        await run('cp', ['-a', '--', image.path, tmp]);
        await run('chown', ['-R', '-h', `--from=0`, String(MAPPED_ROOT), '--', tmp]);
        await run('chown', ['-R', '-h', `--from=:0`, `:${MAPPED_ROOT}`, '--', tmp]);
        try {
          renameSync(tmp, target);
        } catch (e) {
          if (!existsSync(target)) throw e;
        }
      } finally {
        rmSync(tmp, { recursive: true, force: true });
        shifting.delete(target);
      }
      return target;
    })();
    shifting.set(target, p);
  }
  return p;
}

/**
 * Makes `<dir>/upper`, `<dir>/work` and mounts the overlay (`lower` below) at `<dir>/rootfs`, all
 * on the thread pool through native-ns (the event loop meanwhile prepares the cgroup).
 */
export async function mountOverlay(dir: string, lower: string, privileged: boolean): Promise<string> {
  try {
    return await createOverlay({
      lower,
      dir,
      // The merged root directory takes the upper dir's owner: container root must own "/".
      ...(privileged ? {} : { owner: { uid: MAPPED_ROOT, gid: MAPPED_ROOT } }),
    });
  } catch (e) {
    throw new GardenError(`mounting the rootfs overlay failed: ${(e as Error).message}`);
  }
}

/**
 * Unmounts the container's rootfs; no-op when not mounted. Lazily (MNT_DETACH): every process of
 * the container is gone by now, and a detach skips the RCU grace period a plain umount waits for.
 */
export function unmountRootfs(dir: string): void {
  const target = join(dir, 'rootfs');
  // Stacked mounts (never made by us, but possible) come off one per call.
  for (let i = 0; i < 10 && unmount(target, { detach: true }); i++);
}

/** `/etc/hosts` (reference §2.3; no container IP yet: the hostname resolves to loopback). */
export function hostsFile(hostname: string): string {
  return `127.0.0.1 localhost\n::1 localhost\n127.0.0.1 ${hostname}\n`;
}

/** `/etc/resolv.conf` from the host's (reference §8.6 rule 3, with the systemd-resolved "beat"). */
export function resolvConf(hostText?: string): string {
  let text = hostText;
  if (text === undefined) {
    text = readOr('/etc/resolv.conf');
    if (/^nameserver 127\.0\.0\.53$/m.test(text) && existsSync('/run/systemd/resolve/resolv.conf')) {
      text = readOr('/run/systemd/resolve/resolv.conf');
    }
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s*nameserver\s+127\./.test(l))
    .map((l) => `${l}\n`)
    .join('');
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Writes the container's copies of hosts and resolv.conf into `dir`, owned by container root, mode 0644. */
export function writeEtcFiles(
  dir: string,
  hostname: string,
  privileged: boolean,
): { hosts: string; resolv: string } {
  const hosts = join(dir, 'hosts');
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(hosts, hostsFile(hostname), { mode: 0o644 });
  writeFileSync(resolv, resolvConf(), { mode: 0o644 });
  if (!privileged) {
    chownSync(hosts, MAPPED_ROOT, MAPPED_ROOT);
    chownSync(resolv, MAPPED_ROOT, MAPPED_ROOT);
  }
  return { hosts, resolv };
}
