/**
 * The quota part: the container's disk limit on its volume (reference §6.4). Placed after the
 * rootfs part, which chose the image: a **total**-scope limit (the default) counts the image, so
 * the volume's quota is `byteHard − image size` (at least 256 KiB, as grootfs), and an image
 * larger than the limit fails the create with Guardian's text; an **exclusive** limit is the
 * volume's quota as is, set by the store part with the subvolume itself (one ioctl). A total-scope
 * quota is set while the overlay is mounted (a tiny one, under 1 MiB, after it: the mount makes
 * the overlay's work directory) and before init starts: joined into the rootfs promise the runtime
 * part awaits, so it overlaps with the parts in between.
 *
 * `byteSoft`, `inodeSoft` and `inodeHard` are accepted, stored and reported by
 * `CurrentDiskLimits`, not enforced (Guardian ignores them too): btrfs has no inode limit, and the
 * byte quota bounds inodes anyway, since every inode's metadata is charged to it.
 */
import {
  type ContainerSpec,
  DiskLimitScope,
  type DiskLimits,
  GardenError,
  InvalidRequestError,
} from '@garden-ts/api-types';
import type { BackendLogger } from '../options.js';
import type { CreateContext, Part } from '../part.js';
import { imageSize } from './image-size.js';
import type { StorePart } from './store-part.js';

/** grootfs's floor for a total-scope quota once the image is taken off. */
const MIN_QUOTA = 256n * 1024n;
/** Below this, the quota is set only once the overlay is mounted (its work dir is made first). */
const ROOM_FOR_THE_MOUNT = 1024n * 1024n;

/**
 * The quota of an exclusive limit, when it can be set before the overlay is mounted (at least
 * 1 MiB); 0n otherwise.
 */
export function exclusiveQuota(disk: DiskLimits | undefined): bigint {
  const hard = disk?.byteHard ?? 0n;
  return disk?.scope === DiskLimitScope.Exclusive && hard >= ROOM_FOR_THE_MOUNT ? hard : 0n;
}

export class QuotaPart implements Part {
  readonly name = 'quota';

  constructor(
    /** Undefined: no disk store (limits stored and reported only). */
    private readonly store: StorePart | undefined,
    private readonly log: BackendLogger,
  ) {}

  validate(spec: ContainerSpec): void {
    const scope = spec.limits?.disk?.scope;
    if (scope !== undefined && scope !== DiskLimitScope.Total && scope !== DiskLimitScope.Exclusive)
      throw new InvalidRequestError(
        'limits.disk_limits.scope',
        `disk limit scope must be 0 (total) or 1 (exclusive), got ${String(scope)}`,
      );
  }

  async create(ctx: CreateContext): Promise<void> {
    const { spec, record } = ctx;
    const disk = spec.limits?.disk;
    if (disk) {
      record.limits.disk = {};
      for (const [k, v] of Object.entries(disk)) if (v !== undefined) record.limits.disk[k] = String(v);
    }
    const hard = disk?.byteHard ?? 0n;
    const volume = record.volume;
    if (!volume || !this.store) {
      if (hard > 0n)
        this.log.warn(
          { handle: record.handle },
          'disk limit not enforced: the backend runs without a disk store',
        );
      return;
    }
    const image = await imageSize(record.lowerDirs ?? [record.lowerDir]);
    volume.imageBytes = String(image.bytes);
    volume.imageInodes = String(image.inodes);
    if (hard === 0n) return;
    let quota = hard;
    if ((disk?.scope ?? DiskLimitScope.Total) === DiskLimitScope.Total) {
      if (image.bytes > hard) throw new GardenError('disk limit is smaller than volume size');
      quota = hard - image.bytes < MIN_QUOTA ? MIN_QUOTA : hard - image.bytes;
    }
    if (volume.quotaBytes === String(quota)) return; // set with the subvolume (exclusive scope)
    volume.quotaBytes = String(quota);
    if (!ctx.rootfs) throw new GardenError('no rootfs part ran before the quota part');
    const store = await this.store.open();
    const id = BigInt(volume.id);
    const apply = () =>
      store.limit(id, quota).catch((e) => {
        throw new GardenError(`applying the disk limit failed: ${(e as Error).message}`, { cause: e });
      });
    const mounted = ctx.rootfs;
    if (quota < ROOM_FOR_THE_MOUNT) {
      // The mount writes the overlay's work directory: a tiny limit goes on after it.
      ctx.rootfs = mounted.then(async (root) => {
        await apply();
        return root;
      });
      return;
    }
    // Set while the mount runs (both on the thread pool); settled together, so a failure of
    // either never leaves the other running behind a teardown.
    const limited = apply();
    ctx.rootfs = Promise.allSettled([mounted, limited]).then(([m, l]) => {
      if (m.status === 'rejected') throw m.reason;
      if (l.status === 'rejected') throw l.reason;
      return m.value;
    });
  }
}
