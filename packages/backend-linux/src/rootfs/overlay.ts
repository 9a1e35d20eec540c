/**
 * The per-container overlay: the image read-only below, `upper/` and `work/` in the container's
 * depot dir, mounted at `<dir>/rootfs` with mount(2) through native-ns, on the thread pool.
 */
import { join } from 'node:path';
import { GardenError } from '@garden-ts/api-types';
import { createOverlay, unmountAsync } from '@garden-ts/native-ns';
import { MAPPED_ROOT } from '../runtime/users.js';

/**
 * Makes `<volume ?? dir>/upper`, `<volume ?? dir>/work` and mounts the overlay (`lower` below: one
 * directory, or layers top-most first) at `<dir>/rootfs`.
 * @throws GardenError `mounting the rootfs overlay failed` with the native error as `cause`.
 */
export async function mountOverlay(
  dir: string,
  lower: string | readonly string[],
  privileged: boolean,
  volume?: string,
): Promise<string> {
  try {
    return await createOverlay({
      lower,
      dir,
      ...(volume ? { volume } : {}),
      // The merged root directory takes the upper dir's owner: container root must own "/".
      ...(privileged ? {} : { owner: { uid: MAPPED_ROOT, gid: MAPPED_ROOT } }),
    });
  } catch (e) {
    throw new GardenError(`mounting the rootfs overlay failed: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Unmounts a container's rootfs; nothing when not mounted. Lazily (MNT_DETACH): every process of
 * the container is gone by now, and a detach skips the RCU grace period a plain umount waits for.
 */
export async function unmountRootfs(dir: string): Promise<void> {
  // A stacked mount (never made by us, but possible) comes off too, in the same trip.
  await unmountAsync(join(dir, 'rootfs'), { detach: true, all: true });
}
