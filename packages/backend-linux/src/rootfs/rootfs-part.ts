/**
 * The rootfs part (Guardian's volumizer): image by scheme → lower directory (the unprivileged
 * copy where needed) → overlay at `<dir>/rootfs`. The mount runs on the thread pool while the
 * parts after this one prepare; the runtime part awaits it. The overlay's writable layer goes to
 * the container's volume when the store part made one (the quota part limits it).
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
    ctx.rootfs = mountOverlay(ctx.dir, record.lowerDir, record.privileged, ctx.volume);
  }

  destroy(ctx: DestroyContext): void {
    const dir = ctx.dir;
    ctx.later(() => unmountRootfs(dir));
  }

  reconcile(): void {
    removeUnfinishedCopies(this.depot);
  }
}
