/**
 * The image service: from an image URI and an owner (a container) to overlay lower directories
 * plus the image's environment, with every layer in the shared store, reference-counted per
 * owner, and pulls of one image by concurrent callers shared.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DigestMismatchError, ImageError, ImageErrorCode, RegistryError } from './errors.js';
import { unpackLayerStream } from './layer-stream.js';
import {
  checkLayerType,
  choosePlatform,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  parseConfig,
  parseManifest,
} from './manifest.js';
import { ProgressTracker, type PullProgress } from './progress.js';
import {
  type Credentials,
  isTransient,
  RegistryClient,
  type RegistryConfig,
  type RegistrySession,
  readLimited,
} from './registry.js';
import type { IdMapping } from './shift.js';
import { type GcResult, LayerStore } from './store.js';
import { type DockerReference, formatDockerReference, type ImageSource, parseImageUri } from './uri.js';
import { ViewManager, type ViewMode } from './views.js';

export interface ImageServiceOptions {
  /** The store directory (layers, image records, views). */
  root: string;
  registry?: RegistryConfig;
  /** `preloaded:NAME` → a directory or rootfs tarball on this host. */
  preloaded?: Record<string, string>;
  /** Unreferenced layers kept (LRU) for later creates; 0 (default) frees them with their last user. */
  keepUnusedBytes?: number;
  /** How unprivileged containers see the layers (default `auto`: idmapped mounts, else copies). */
  view?: ViewMode | 'auto';
  /**
   * How long a tag's resolution is trusted without asking the registry (default 0: every create
   * asks, as Guardian does; digests never need asking). When the registry cannot be reached, a
   * known resolution is used anyway and a warning logged.
   */
  tagTtlMs?: number;
  /** Layers downloaded at once per pull (default 3). */
  layerConcurrency?: number;
  logger?: {
    warn(obj: object, msg?: string): void;
    info?(obj: object, msg?: string): void;
  };
}

export interface PrepareRequest {
  uri: string;
  /** `ImageRef.username` / `password` for the registry. */
  username?: string;
  password?: string;
  /** Who uses the image (a container handle): references are counted per owner. */
  owner: string;
  /** The container's id map (unprivileged), or `null` to see the layers as stored (privileged). */
  mapping: IdMapping | null;
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
}

/** What a container records to get its references back after a restart ({@link ImageService.adopt}). */
export interface ImageRecord {
  uri: string;
  /** Store layer ids, bottom first. */
  layers: string[];
  /** Directory views in use (idmapped mounts of directory rootfses). */
  dirViews: string[];
  /** Manifest digest (registry and OCI layout images). */
  digest?: string;
}

export interface PreparedImage {
  /** Overlay lower directories, top-most first (as overlayfs's `lowerdir` lists them). */
  lowerDirs: string[];
  /** The image config's `Env` (empty for directories and tarballs). */
  env: string[];
  /** `raw://`: the one lower directory is the rootfs as is. */
  raw: boolean;
  record: ImageRecord;
}

/** A resolved image: the layers bottom first (store ids) and its config. */
interface Pulled {
  /** Entries bottom first: a store layer or a directory used directly. */
  lowers: ({ layer: string } | { dir: string })[];
  env: string[];
  digest?: string;
}

interface CachedResolution {
  ref: string;
  digest: string;
  env: string[];
  layers: string[];
  resolvedAt: number;
}

function hex(digest: string): string {
  return digest.slice('sha256:'.length);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const PREFIXED_LAYER = 'preloaded+layer';

/** One pull shared by concurrent prepares of the same image and credentials. */
interface Flight {
  tracker: ProgressTracker;
  promise: Promise<Pulled>;
  /** Pseudo-owner holding the pull's layers until every waiter has taken its own references. */
  pin: string;
  waiters: number;
}

export class ImageService {
  private readonly flights = new Map<string, Flight>();
  private readonly progressListeners = new Set<(p: PullProgress & { owner?: string }) => void>();
  private gcChain: Promise<unknown> = Promise.resolve();
  readonly registry: RegistryClient;

  private constructor(
    readonly store: LayerStore,
    readonly views: ViewManager,
    private readonly options: ImageServiceOptions,
  ) {
    this.registry = new RegistryClient(options.registry ?? {});
  }

  /** Opens the store (see {@link LayerStore.open}); no GC runs until {@link gc} is called. */
  static async open(options: ImageServiceOptions): Promise<ImageService> {
    const store = await LayerStore.open({
      root: options.root,
      ...(options.keepUnusedBytes !== undefined ? { keepUnusedBytes: options.keepUnusedBytes } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    for (const d of ['images', 'tarballs'])
      await mkdir(join(options.root, d), { recursive: true, mode: 0o711 });
    const views = new ViewManager(store, {
      ...(options.view ? { mode: options.view } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    return new ImageService(store, views, options);
  }

  /** Every pull's progress, with the owner whose prepare started it. */
  onProgress(fn: (p: PullProgress & { owner?: string }) => void): () => void {
    this.progressListeners.add(fn);
    return () => this.progressListeners.delete(fn);
  }

  /** Parses a URI (throws ImageUriError), without touching anything. */
  parse(uri: string): ImageSource {
    return parseImageUri(uri);
  }

  /**
   * Makes the image available for `owner`: pulls or unpacks what is missing (shared with
   * concurrent callers), takes references, and returns the lower directories as `mapping` sees
   * them. On failure the owner holds nothing.
   */
  async prepare(req: PrepareRequest): Promise<PreparedImage> {
    const source = parseImageUri(req.uri);
    if (source.kind === 'raw') {
      checkDir(req.uri, source.path);
      return {
        lowerDirs: [source.path],
        env: [],
        raw: true,
        record: { uri: req.uri, layers: [], dirViews: [] },
      };
    }
    const credentials =
      req.username || req.password
        ? { username: req.username ?? '', password: req.password ?? '' }
        : undefined;
    const key = `${req.uri}\0${credentials?.username ?? ''}\0${credentials ? sha256(credentials.password) : ''}`;
    let flight = this.flights.get(key);
    let start: (() => void) | undefined;
    if (!flight) {
      const tracker = new ProgressTracker(req.uri);
      const pin = `pull:${randomBytes(6).toString('hex')}`;
      const f: Flight = { tracker, pin, waiters: 0, promise: Promise.resolve({ lowers: [], env: [] }) };
      // Started once this caller listens, so it sees the first event too.
      start = () => {
        f.promise = this.pull(source, req.uri, credentials, tracker, pin, req.signal).finally(() =>
          this.flights.delete(key),
        );
      };
      flight = f;
      this.flights.set(key, flight);
    }
    const f = flight;
    f.waiters++;
    let counted = false;
    const leave = () => {
      if (counted) return;
      counted = true;
      if (--f.waiters === 0) this.store.release(f.pin);
    };
    const unsubscribe = f.tracker.subscribe((p) => {
      req.onProgress?.(p);
      for (const fn of this.progressListeners) fn({ ...p, owner: req.owner });
    });
    start?.();
    try {
      let pulled: Pulled;
      try {
        pulled = await f.promise;
      } finally {
        unsubscribe();
      }
      // The owner references the layers before the pull's pin goes, with no await in between: no
      // collection can take them between the pull and the create.
      const layers = pulled.lowers.flatMap((l) => ('layer' in l ? [l.layer] : []));
      this.store.acquire(req.owner, layers);
      leave();
      return await this.present(req, pulled, layers);
    } finally {
      leave();
    }
  }

  private async present(req: PrepareRequest, pulled: Pulled, layers: string[]): Promise<PreparedImage> {
    try {
      const lowerDirs: string[] = [];
      const dirViews: string[] = [];
      for (const l of pulled.lowers) {
        if ('layer' in l) {
          if (!this.store.has(l.layer))
            throw new ImageError(ImageErrorCode.Store, `layer ${l.layer} vanished from the store`);
          lowerDirs.push(await this.views.layerPath(l.layer, req.mapping));
        } else {
          const p = await this.views.dirPath(l.dir, req.mapping, req.owner);
          if (p !== l.dir && req.mapping) dirViews.push(p);
          lowerDirs.push(p);
        }
      }
      return {
        lowerDirs: lowerDirs.reverse(),
        env: pulled.env,
        raw: false,
        record: { uri: req.uri, layers, dirViews, ...(pulled.digest ? { digest: pulled.digest } : {}) },
      };
    } catch (e) {
      this.store.release(req.owner);
      this.views.releaseDirs(req.owner);
      throw e;
    }
  }

  /** After a restart: `owner` uses what `record` lists again (before {@link gc} runs). */
  adopt(owner: string, record: ImageRecord): void {
    this.store.acquire(
      owner,
      record.layers.filter((id) => this.store.has(id)),
    );
    for (const v of record.dirViews) this.views.adoptDir(v, owner);
  }

  /**
   * `owner` no longer uses its image: its references go and layers nobody uses are collected per
   * the policy. Directory views stay mounted for the next create ({@link close} with
   * `unmountViews`, or `views.unmountUnused()`, takes them down).
   */
  async release(owner: string): Promise<GcResult> {
    const unused = this.store.release(owner);
    this.views.releaseDirs(owner);
    if (unused.length === 0) return { removed: [], bytes: 0 };
    return this.gc();
  }

  /** Collects unused layers per the policy (serialised; never during a pull of them). */
  gc(keepUnusedBytes?: number): Promise<GcResult> {
    const run = this.gcChain.then(async () => {
      const r = await this.store.gc(keepUnusedBytes);
      if (r.removed.length) await this.forgetResolutions(new Set(r.removed));
      return r;
    });
    this.gcChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Waits for pulls and deletions in flight, then releases the store. Views stay mounted for the
   * containers (and the next process) unless `unmountViews` (only when no container uses them).
   */
  async close(options: { unmountViews?: boolean } = {}): Promise<void> {
    await Promise.allSettled([...this.flights.values()].map((f) => f.promise));
    await this.gcChain;
    if (options.unmountViews) await this.views.unmountAll();
    else this.views.closeNamespaces();
    await this.store.close();
    await this.registry.close();
  }

  /** Drops resolution records that name a removed layer (they would only cause a re-pull). */
  private async forgetResolutions(removed: Set<string>): Promise<void> {
    for (const dir of ['images', 'tarballs']) {
      const base = join(this.store.root, dir);
      for (const f of await readdir(base).catch(() => [] as string[])) {
        const r = readJson<{ layers?: string[]; id?: string }>(join(base, f));
        if (!r || r.layers?.some((id) => removed.has(id)) || (r.id && removed.has(r.id)))
          await rm(join(base, f), { force: true });
      }
    }
  }

  // ---- pulls ---------------------------------------------------------------------------------

  private async pull(
    source: ImageSource,
    uri: string,
    credentials: Credentials | undefined,
    tracker: ProgressTracker,
    pin: string,
    signal: AbortSignal | undefined,
  ): Promise<Pulled> {
    tracker.resolving();
    const pulled = await this.pullSource(source, uri, credentials, tracker, pin, signal);
    tracker.done();
    return pulled;
  }

  private async pullSource(
    source: ImageSource,
    uri: string,
    credentials: Credentials | undefined,
    tracker: ProgressTracker,
    pin: string,
    signal: AbortSignal | undefined,
  ): Promise<Pulled> {
    switch (source.kind) {
      case 'raw':
        return { lowers: [{ dir: source.path }], env: [] };
      case 'path':
        return this.pullPath(source.path, uri, tracker, pin);
      case 'preloaded':
        return this.pullPath(this.preloadedPath(uri, source.name), uri, tracker, pin);
      case 'preloaded+layer': {
        const base = await this.pullPath(this.preloadedPath(uri, source.name), uri, tracker, pin);
        const layer = await this.pullUrlLayer(uri, source.layer, tracker, pin, signal);
        return { lowers: [...base.lowers, { layer }], env: base.env };
      }
      case 'oci':
        return this.pullOciLayout(uri, source.path, source.tag, tracker, pin);
      case 'docker':
        return this.pullDocker(uri, source, credentials, tracker, pin, signal);
    }
  }

  private preloadedPath(uri: string, name: string): string {
    const p = this.options.preloaded?.[name];
    if (!p) {
      const known = Object.keys(this.options.preloaded ?? {});
      throw new ImageError(
        ImageErrorCode.NotFound,
        `${uri}: unknown preloaded rootfs "${name}" (configured: ${known.length ? known.join(', ') : 'none'})`,
      );
    }
    return p;
  }

  /** A directory (used directly) or a rootfs tarball (one layer). */
  private async pullPath(path: string, uri: string, tracker: ProgressTracker, pin: string): Promise<Pulled> {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(path);
    } catch (e) {
      throw new ImageError(ImageErrorCode.NotFound, `${uri}: ${path}: no such file or directory`, {
        cause: e,
      });
    }
    if (st.isDirectory()) {
      tracker.planned(0, 0, 0);
      return { lowers: [{ dir: path }], env: [] };
    }
    if (!st.isFile())
      throw new ImageError(
        ImageErrorCode.InvalidImage,
        `${uri}: ${path} is neither a directory nor a tarball`,
      );
    // Tarball: its layer id (the archive's sha256) is cached by path, size, mtime and inode.
    const cacheFile = join(this.store.root, 'tarballs', `${sha256(path)}.json`);
    const stamp = { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    let id: string | undefined;
    try {
      const c = JSON.parse(readFileSync(cacheFile, 'utf8')) as typeof stamp & { id: string };
      if (c.path === path && c.size === st.size && c.mtimeMs === st.mtimeMs && c.ino === st.ino) id = c.id;
    } catch {
      // not cached
    }
    tracker.planned(1, 0, st.size);
    if (id && this.store.has(id)) {
      this.store.acquire(pin, [id]);
      tracker.layersDone = 1;
      return { lowers: [{ layer: id }], env: [] };
    }
    const what = `${uri}: tarball ${path}`;
    const info = await this.store.ingest(
      uri,
      async (dir) => {
        const r = await unpackLayerStream(createReadStream(path, { highWaterMark: 1 << 20 }), dir, {
          what,
          onBytes: (n) => tracker.downloading(path, n, st.size),
        });
        return { id: hex(r.diffId), size: r.size };
      },
      pin,
    );
    tracker.layerDone(path, st.size);
    await writeJson(cacheFile, { ...stamp, id: info.id });
    return { lowers: [{ layer: info.id }], env: [] };
  }

  /** preloaded+layer's extra layer: one gzip blob over HTTP(S), verified, under `layer_path`. */
  private async pullUrlLayer(
    uri: string,
    layer: { url: string; path: string; digest: string },
    tracker: ProgressTracker,
    pin: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const id = sha256(`${PREFIXED_LAYER}\0${layer.digest}\0${layer.path}`);
    this.store.acquire(pin, [id]);
    tracker.planned(tracker.layersTotal + 1, tracker.layersDone, tracker.totalBytes);
    if (this.store.has(id)) {
      tracker.layersDone++;
      return id;
    }
    const what = `${uri}: layer ${layer.url}`;
    const prefix = layer.path.split('/').filter((c) => c !== '' && c !== '.');
    await this.withRetries(what, tracker, layer.digest, () =>
      this.store.ensure(id, uri, async (dir) => {
        const r = await this.registry.fetch(layer.url, { what, ...(signal ? { signal } : {}) });
        if (r.status === 404) {
          await r.body.dump();
          throw new RegistryError(ImageErrorCode.NotFound, `${what}: not found (HTTP 404)`, 404);
        }
        if (r.status !== 200) {
          await r.body.dump();
          throw new RegistryError(ImageErrorCode.RegistryError, `${what}: HTTP ${r.status}`, r.status);
        }
        const len = Number(r.headers['content-length']);
        const res = await unpackLayerStream(r.body, dir, {
          what,
          expectDigest: layer.digest,
          prefix,
          onBytes: (n) => tracker.downloading(layer.digest, n, Number.isFinite(len) ? len : undefined),
        });
        return { size: res.size };
      }),
    );
    tracker.layerDone(layer.digest, undefined);
    return id;
  }

  private async pullOciLayout(
    uri: string,
    path: string,
    tag: string | undefined,
    tracker: ProgressTracker,
    pin: string,
  ): Promise<Pulled> {
    const blob = (digest: string) => join(path, 'blobs', 'sha256', hex(digest));
    const readBlob = async (d: Descriptor, what: string): Promise<Buffer> => {
      let bytes: Buffer;
      try {
        bytes = await readFile(blob(d.digest));
      } catch (e) {
        throw new ImageError(ImageErrorCode.NotFound, `${what}: blob ${d.digest} missing from ${path}`, {
          cause: e,
        });
      }
      const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (actual !== d.digest) throw new DigestMismatchError(`${what}: blob ${d.digest}`, d.digest, actual);
      return bytes;
    };
    let indexBytes: Buffer;
    try {
      indexBytes = await readFile(join(path, 'index.json'));
    } catch (e) {
      throw new ImageError(
        ImageErrorCode.NotFound,
        `${uri}: ${path} is not an OCI image layout (no index.json)`,
        { cause: e },
      );
    }
    let parsed = parseManifest(uri, indexBytes, 'application/vnd.oci.image.index.v1+json');
    let digest: string | undefined;
    if (parsed.kind === 'index') {
      let entries = parsed.index.manifests;
      if (tag !== undefined) {
        entries = entries.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
        if (entries.length === 0)
          throw new ImageError(ImageErrorCode.NotFound, `${uri}: no image tagged "${tag}" in ${path}`);
      }
      if (entries.length === 0)
        throw new ImageError(ImageErrorCode.NotFound, `${uri}: ${path} holds no image`);
      // Descend through nested indexes to one manifest for this platform.
      for (let depth = 0; ; depth++) {
        const chosen =
          entries.length === 1 && !entries[0]?.platform
            ? (entries[0] as Descriptor)
            : choosePlatform(uri, { manifests: entries });
        const bytes = await readBlob(chosen, uri);
        parsed = parseManifest(uri, bytes, chosen.mediaType);
        digest = chosen.digest;
        if (parsed.kind === 'manifest') break;
        if (depth > 4) throw new ImageError(ImageErrorCode.InvalidImage, `${uri}: indexes nested too deeply`);
        entries = parsed.index.manifests;
      }
    }
    const manifest = parsed.manifest;
    const config = parseConfig(uri, await readBlob(manifest.config, uri), manifest.layers.length);
    const layers = await this.fetchLayers(uri, manifest, config, tracker, pin, async (d) => {
      try {
        statSync(blob(d.digest));
      } catch (e) {
        throw new ImageError(ImageErrorCode.NotFound, `${uri}: blob ${d.digest} missing from ${path}`, {
          cause: e,
        });
      }
      return { body: createReadStream(blob(d.digest), { highWaterMark: 1 << 20 }), size: d.size };
    });
    return { lowers: layers.map((layer) => ({ layer })), env: config.env, ...(digest ? { digest } : {}) };
  }

  private async pullDocker(
    uri: string,
    ref: DockerReference,
    credentials: Credentials | undefined,
    tracker: ProgressTracker,
    pin: string,
    signal: AbortSignal | undefined,
  ): Promise<Pulled> {
    const recordPath = (r: DockerReference) =>
      join(this.store.root, 'images', `${sha256(formatDockerReference(r))}.json`);
    const byDigest = (digest: string) =>
      recordPath({ registry: ref.registry, repository: ref.repository, digest });
    const cacheFile = recordPath(ref);
    const cached = readJson<CachedResolution>(cacheFile);
    const usable = (c: CachedResolution | undefined): c is CachedResolution =>
      c?.layers.every((id) => this.store.has(id)) === true;
    const fromCache = (c: CachedResolution): Pulled => {
      this.store.acquire(pin, c.layers);
      tracker.planned(c.layers.length, c.layers.length, 0);
      return { lowers: c.layers.map((layer) => ({ layer })), env: c.env, digest: c.digest };
    };
    if (usable(cached) && (ref.digest || Date.now() - cached.resolvedAt < (this.options.tagTtlMs ?? 0)))
      return fromCache(cached);
    const session = this.registry.session(ref, credentials);
    let fetched: Awaited<ReturnType<RegistrySession['manifest']>>;
    try {
      fetched = await session.manifest(ref.digest ?? (ref.tag as string), signal);
    } catch (e) {
      if (usable(cached) && e instanceof RegistryError && e.code === ImageErrorCode.RegistryUnavailable) {
        this.options.logger?.warn(
          { err: e, image: uri },
          'registry unreachable: using the image as last resolved',
        );
        return fromCache(cached);
      }
      throw e;
    }
    // Known by its digest (pulled under another tag, or by digest)? Then no config or layer fetch.
    const known = readJson<CachedResolution>(byDigest(fetched.digest));
    if (usable(known)) {
      // The tag's record changes only when it moved, or for the TTL's clock.
      if (cached?.digest !== known.digest || this.options.tagTtlMs)
        await writeJson(cacheFile, { ...known, ref: formatDockerReference(ref), resolvedAt: Date.now() });
      return fromCache(known);
    }
    let parsed = parseManifest(uri, fetched.bytes, fetched.mediaType);
    let digest = fetched.digest;
    if (parsed.kind === 'index') {
      const chosen = choosePlatform(uri, parsed.index);
      const m = await session.manifest(chosen.digest, signal);
      parsed = parseManifest(uri, m.bytes, m.mediaType || chosen.mediaType);
      digest = m.digest;
      if (parsed.kind !== 'manifest')
        throw new ImageError(ImageErrorCode.InvalidImage, `${uri}: nested manifest lists`);
    }
    const manifest = parsed.manifest;
    const configBlob = await session.blob(manifest.config.digest, signal, 'config');
    const configBytes = await readLimited(configBlob.body, 16 << 20, `${uri}: config`);
    const actual = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
    if (actual !== manifest.config.digest)
      throw new DigestMismatchError(`${uri}: config`, manifest.config.digest, actual);
    const config = parseConfig(uri, configBytes, manifest.layers.length);
    const layers = await this.fetchLayers(uri, manifest, config, tracker, pin, (d) =>
      session.blob(d.digest, signal, 'layer'),
    );
    const record: CachedResolution = {
      ref: formatDockerReference(ref),
      digest,
      env: config.env,
      layers,
      resolvedAt: Date.now(),
    };
    await writeJson(cacheFile, record);
    // Also under the digests (of the list and of the chosen manifest): a later pull by digest
    // or under another tag needs no request beyond the manifest.
    for (const d of new Set([fetched.digest, digest])) await writeJson(byDigest(d), record);
    return { lowers: layers.map((layer) => ({ layer })), env: config.env, digest };
  }

  /** Every layer of a manifest into the store (missing ones fetched, a few at a time); ids bottom first. */
  private async fetchLayers(
    uri: string,
    manifest: ImageManifest,
    config: ImageConfig,
    tracker: ProgressTracker,
    pin: string,
    open: (d: Descriptor) => Promise<{ body: AsyncIterable<Uint8Array>; size: number | undefined }>,
  ): Promise<string[]> {
    const ids = config.diffIds.map(hex);
    for (const l of manifest.layers) checkLayerType(uri, l);
    this.store.acquire(pin, ids);
    const missing = manifest.layers
      .map((d, i) => ({ d, i }))
      .filter(({ i }) => !this.store.has(ids[i] as string));
    tracker.planned(
      ids.length,
      ids.length - missing.length,
      missing.reduce((n, { d }) => n + d.size, 0),
    );
    const queue = [...missing];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { d, i } = next;
        const id = ids[i] as string;
        const what = `${uri}: layer ${d.digest}`;
        await this.withRetries(what, tracker, d.digest, () =>
          this.store.ensure(id, uri, async (dir) => {
            const { body } = await open(d);
            const r = await unpackLayerStream(body, dir, {
              what,
              expectDigest: d.digest,
              expectDiffId: config.diffIds[i] as string,
              onBytes: (n) => tracker.downloading(d.digest, n, d.size),
            });
            return { size: r.size };
          }),
        );
        tracker.layerDone(d.digest, d.size);
      }
    };
    const n = Math.max(1, Math.min(this.options.layerConcurrency ?? 3, missing.length));
    const results = await Promise.allSettled(Array.from({ length: n }, worker));
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) {
      queue.length = 0;
      throw failed.reason;
    }
    return ids;
  }

  /**
   * Runs a layer download, again from the start (in a fresh temp directory) when the connection
   * broke mid-stream, with the registry client's backoff.
   */
  private async withRetries<T>(
    what: string,
    tracker: ProgressTracker,
    layer: string,
    attempt: () => Promise<T>,
  ): Promise<T> {
    const { retries, retryBaseMs, retryMaxMs } = this.registry.config;
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (e) {
        // Content errors (digest mismatch, bad archive) and HTTP answers are final; a broken
        // connection mid-stream is not.
        if (!isTransient(e)) throw e;
        if (i >= retries)
          throw new RegistryError(
            ImageErrorCode.RegistryUnavailable,
            `${what}: download failed after ${i + 1} attempts: ${(e as Error).message}`,
            0,
            { cause: e },
          );
        tracker.restart(layer);
        await new Promise((r) => setTimeout(r, Math.min(retryMaxMs, retryBaseMs * 2 ** i)));
      }
    }
  }
}

function checkDir(uri: string, path: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new ImageError(ImageErrorCode.NotFound, `${uri}: ${path}: no such directory`, { cause: e });
  }
  if (!st.isDirectory())
    throw new ImageError(ImageErrorCode.InvalidImage, `${uri}: ${path} is not a directory`);
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, `${JSON.stringify(value)}\n`, { mode: 0o644 });
  await rename(tmp, path);
}
