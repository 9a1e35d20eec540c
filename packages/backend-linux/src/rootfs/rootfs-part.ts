/**
 * The rootfs part (Guardian's volumizer): image by scheme → lower directory (the unprivileged
 * copy where needed) → overlay at `<dir>/rootfs`. The mount runs on the thread pool while the
 * parts after this one prepare; the runtime part awaits it. Disk limits are stored and reported
 * only (no quotas on this host yet).
 */
import type { ContainerSpec } from '@garden-ts/api-types';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { type ImageSource, parseImage, resolveImage } from './image-uri.js';
import { mountOverlay, unmountRootfs } from './overlay.js';
import { lowerDirFor, removeUnfinishedCopies } from './unprivileged-copy.js';

export class RootfsPart implements Part {
  readonly name = 'rootfs';

  constructor(
    private readonly depot: string,
    private readonly defaultRootfs: string | undefined,
    private readonly sources: readonly ImageSource[],
  ) {}

  private request(spec: ContainerSpec) {
    return parseImage(spec.rootfsPath, spec.image?.uri, this.defaultRootfs, this.sources);
  }

  validate(spec: ContainerSpec): void {
    this.request(spec);
  }

  async create(ctx: CreateContext): Promise<void> {
    const { spec, record } = ctx;
    const image = await resolveImage(this.request(spec), {
      username: spec.image?.username,
      password: spec.image?.password,
    });
    record.lowerDir = await lowerDirFor(this.depot, image, record.privileged);
    ctx.rootfs = mountOverlay(ctx.dir, record.lowerDir, record.privileged);
    const disk = spec.limits?.disk;
    if (disk) {
      record.limits.disk = {};
      for (const [k, v] of Object.entries(disk)) if (v !== undefined) record.limits.disk[k] = String(v);
    }
  }

  destroy(ctx: DestroyContext): void {
    const dir = ctx.dir;
    ctx.later(() => unmountRootfs(dir));
  }

  reconcile(): void {
    removeUnfinishedCopies(this.depot);
  }
}
