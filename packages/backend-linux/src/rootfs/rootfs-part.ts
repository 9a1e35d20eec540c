/**
 * The rootfs part (Guardian's volumizer): image URI → lower directories from @garden-ts/images
 * (layers in the shared store, shown to unprivileged containers through idmapped mounts) →
 * overlay at `<dir>/rootfs`. The image's `Env` heads the container env (reference §2.4). The
 * container holds references to its layers (kept in its record, taken again at startup); its
 * destroy releases them after the unmount, and unused layers are collected per the image GC
 * policy. The mount runs on the thread pool while the parts after this one prepare; the runtime
 * part awaits it. The overlay's writable layer goes to the container's volume when the store part
 * made one (the quota part limits it).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ContainerSpec, GardenError } from '@garden-ts/api-types';
import { errorFields } from '@garden-ts/backend-kit';
import {
  ImageError,
  type ImageRecord,
  ImageService,
  type PreparedImage,
  type PullProgress,
} from '@garden-ts/images';
import { defaultIdMap } from '@garden-ts/native-ns';
import type { LinuxContainer } from '../container.js';
import { guardDir } from '../depot/permissions.js';
import type { BackendLogger, ImageOptions } from '../options.js';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { type ImageRequest, type ImageSource, parseImage } from './image-uri.js';
import { mountOverlay, unmountRootfs } from './overlay.js';

/** Pull progress as the backend reports it: which container's create is waiting. */
export type ImageProgress = PullProgress & { handle: string };

/** Guardian's unprivileged map (the one the runtime gives the container's user namespace). */
const UNPRIVILEGED = { uidMap: defaultIdMap(), gidMap: defaultIdMap() };

export class RootfsPart implements Part {
  readonly name = 'rootfs';
  private service: Promise<ImageService> | undefined;
  private entry: SharedService | undefined;

  constructor(
    private readonly depot: string,
    private readonly defaultRootfs: string | undefined,
    private readonly sources: readonly ImageSource[],
    private readonly imageOptions: ImageOptions,
    private readonly log: BackendLogger,
    private readonly progress: (p: ImageProgress) => void,
  ) {}

  /**
   * The image service (the store is opened on first use; released by {@link stop}). Backends of
   * one process on one store share it (a store is used by one process at a time).
   */
  images(): Promise<ImageService> {
    if (!this.service) {
      const root = this.imageOptions.store ?? join(this.depot, 'image-store');
      const options = JSON.stringify(this.imageOptions);
      let entry = shared.get(root);
      if (entry && entry.options !== options)
        return Promise.reject(
          new GardenError(`the image store ${root} is already used in this process with other image options`),
        );
      if (!entry) {
        // Layers keep their setuid-root files: no host user but root may pass into the store
        // (depot/permissions.ts; only the overlay, with the mounter's credentials, reads it).
        try {
          guardDir(root, 'root-only');
        } catch (e) {
          return Promise.reject(
            new GardenError(`opening the image store failed: ${(e as Error).message}`, { cause: e }),
          );
        }
        const opened = ImageService.open({ ...this.imageOptions, root, logger: this.log });
        const e = { root, options, service: opened, users: 0 };
        entry = e;
        shared.set(root, entry);
        opened.catch(() => {
          if (shared.get(root) === e) shared.delete(root);
        });
      }
      entry.users++;
      this.entry = entry;
      this.service = entry.service.catch((e) => {
        this.release();
        throw new GardenError(`opening the image store failed: ${(e as Error).message}`, { cause: e });
      });
    }
    return this.service;
  }

  /** Drops this part's use of the shared service; the last user closes it. */
  private release(): SharedService | undefined {
    const entry = this.entry;
    this.entry = undefined;
    this.service = undefined;
    if (!entry || --entry.users > 0) return undefined;
    if (shared.get(entry.root) === entry) shared.delete(entry.root);
    return entry;
  }

  private request(spec: ContainerSpec) {
    return parseImage(spec.rootfsPath, spec.image?.uri, this.defaultRootfs, this.sources);
  }

  validate(spec: ContainerSpec): void {
    this.request(spec);
  }

  async create(ctx: CreateContext): Promise<void> {
    const { spec, record } = ctx;
    const image = await this.prepareImage(this.request(spec), {
      owner: record.id,
      handle: record.handle,
      privileged: record.privileged,
      ...(spec.image?.username ? { username: spec.image.username } : {}),
      ...(spec.image?.password ? { password: spec.image.password } : {}),
    });
    record.image = image.record;
    // Image env first, then the spec's (a later entry wins when processes merge them).
    record.env = [...image.env, ...record.env];
    record.lowerDirs = image.lowers;
    record.lowerDir = image.lowers[0] as string;
    ctx.rootfs = mountOverlay(ctx.dir, image.lowers, record.privileged, ctx.volume);
  }

  /** Parses a pea's image URI (no default: a pea names its image). @throws as {@link parseImage} */
  peaRequest(uri: string): ImageRequest {
    return parseImage(undefined, uri, undefined, this.sources);
  }

  /**
   * The overlay lower directories (top first) and config env of an image, with references taken
   * for `owner` (a container id, or a pea's `<id>/pea/<process>`), and the record to take them
   * again after a restart ({@link adoptImage}) and to release them ({@link releaseImage}).
   * @throws GardenError with the image error's message (and the ImageError as `cause`).
   */
  async prepareImage(
    request: ImageRequest,
    o: { owner: string; handle: string; privileged: boolean; username?: string; password?: string },
  ): Promise<{ lowers: string[]; env: string[]; record: ImageRecord }> {
    const credentials = { username: o.username, password: o.password };
    if (request.kind === 'source') {
      const choice = await request.source.resolve(request.uri, credentials);
      // Unprivileged containers see it through an idmapped view, like any directory image.
      const view =
        choice.raw || o.privileged
          ? choice.path
          : await (await this.images()).views.dirPath(choice.path, UNPRIVILEGED, o.owner);
      return {
        lowers: [view],
        env: [],
        record: { uri: request.uri, layers: [], dirViews: view === choice.path ? [] : [view] },
      };
    }
    const images = await this.images();
    let prepared: PreparedImage;
    try {
      prepared = await images.prepare({
        uri: request.uri,
        ...(credentials.username ? { username: credentials.username } : {}),
        ...(credentials.password ? { password: credentials.password } : {}),
        owner: o.owner,
        mapping: o.privileged ? null : UNPRIVILEGED,
        onProgress: (p) => this.progress({ ...p, handle: o.handle }),
      });
    } catch (e) {
      if (e instanceof ImageError) throw new GardenError(e.message, { cause: e });
      throw e;
    }
    return { lowers: prepared.lowerDirs, env: prepared.env, record: prepared.record };
  }

  /** Takes the references of `record` again for `owner` (at startup, before the collection). */
  async adoptImage(owner: string, record: ImageRecord): Promise<void> {
    (await this.images()).adopt(owner, record);
  }

  /** Drops `owner`'s references (after its overlay is unmounted); unused layers are collected. */
  async releaseImage(owner: string): Promise<void> {
    if (!this.service) return;
    const images = await this.service;
    await images
      .release(owner)
      .catch((e) => this.log.warn({ owner, ...errorFields(e) }, 'releasing the image'));
  }

  destroy(ctx: DestroyContext): void {
    const dir = ctx.dir;
    const owner = ctx.id ?? ctx.record?.id;
    ctx.later(async () => {
      await unmountRootfs(dir);
      // Only after the unmount: a collected layer must not be below a mounted overlay.
      if (owner !== undefined) await this.releaseImage(owner);
    });
  }

  async restore(container: LinuxContainer): Promise<void> {
    const image = container.record.image;
    if (image) await this.adoptImage(container.record.id, image);
  }

  /** After every container took its layers back: collect what nobody uses (crashes included). */
  async reconcile(): Promise<void> {
    removeLegacyCopies(this.depot);
    const images = await this.images();
    await images.gc().catch((e) => this.log.warn(errorFields(e), 'image garbage collection'));
  }

  /**
   * The backend stops: the last user of the store closes it; with no container left, its views
   * are unmounted.
   */
  async stop(options: { containersLeft: boolean }): Promise<void> {
    const last = this.release();
    if (!last) return;
    const images = await last.service.catch(() => undefined);
    await images?.close({ unmountViews: !options.containersLeft });
  }
}

/** An image service shared by the backends of this process on one store. */
interface SharedService {
  root: string;
  /** The image options it was opened with (JSON). */
  options: string;
  service: Promise<ImageService>;
  users: number;
}

const shared = new Map<string, SharedService>();

/**
 * Unprivileged copies of directory images made before the image store existed
 * (`<depot>/images/`): half-built ones go; finished ones stay while an old container may still
 * have one below its overlay.
 */
function removeLegacyCopies(depot: string): void {
  const dir = join(depot, 'images');
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir))
    if (e.startsWith('.tmp-')) rmSync(join(dir, e), { recursive: true, force: true });
}
