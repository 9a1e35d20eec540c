/**
 * The content-addressed layer store shared by every container:
 *
 * ```
 * <root>/lock                    pid of the process using the store
 * <root>/layers/<id>/diff/       an unpacked layer (overlayfs format), never modified
 * <root>/layers/<id>/meta.json   { id, size, created, source }
 * <root>/layers/<id>/s-<map>/    the layer shifted for an id map (copy fallback of the views)
 * <root>/l/<short id>            -> ../layers/<id> (short overlay lowerdir paths)
 * <root>/tmp/                    unpacks in progress and deletions; emptied at open
 * ```
 *
 * `<id>` is 64 hex digits (the layer's diff id for registry and tarball layers). A layer is
 * unpacked into `tmp/` and renamed into `layers/` only when complete and verified, so a crash at
 * any point leaves either the whole layer or nothing. Reference counts are per owner (a
 * container handle) and held in memory: after a restart the owner of each layer is told again
 * by {@link LayerStore.acquire} from the containers' records, then {@link LayerStore.gc} runs.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from '@garden-ts/native-ns';
import { ImageError, ImageErrorCode } from './errors.js';

/** What the store knows about one layer. */
export interface LayerInfo {
  id: string;
  /** Bytes the layer takes (its uncompressed archive size). */
  size: number;
  /** When it was unpacked (ms since the epoch). */
  created: number;
  /** When its last user released it (or `created`). */
  lastUsed: number;
  /** Where it came from, for humans (`docker://…`, a tarball path). */
  source: string;
}

export interface LayerStoreOptions {
  /** The store directory (created when missing; must be on a filesystem with overlay support). */
  root: string;
  /**
   * Unreferenced layers kept for later creates, least recently used deleted first; 0 (default)
   * deletes a layer as soon as its last user releases it.
   */
  keepUnusedBytes?: number;
  logger?: { warn(obj: object, msg?: string): void };
}

/** Result of a garbage collection. */
export interface GcResult {
  removed: string[];
  bytes: number;
}

const ID = /^[a-f0-9]{64}$/;
/** Length of the short ids in `l/` (48 bits; a collision is detected and refused). */
export const SHORT_ID_LENGTH = 12;

const openRoots = new Set<string>();

function storeError(msg: string, cause?: unknown): ImageError {
  return new ImageError(ImageErrorCode.Store, msg, cause ? { cause } : undefined);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LayerStore {
  private readonly layers = new Map<string, LayerInfo>();
  private readonly owners = new Map<string, Set<string>>();
  private readonly refs = new Map<string, number>();
  private readonly creating = new Map<string, Promise<LayerInfo>>();
  private readonly committing = new Map<string, Promise<LayerInfo>>();
  private readonly deleting = new Set<Promise<void>>();
  private readonly removeHooks: ((id: string) => void)[] = [];
  private closed = false;
  private readonly logger: LayerStoreOptions['logger'];
  readonly keepUnusedBytes: number;

  private constructor(
    readonly root: string,
    options: LayerStoreOptions,
  ) {
    this.keepUnusedBytes = options.keepUnusedBytes ?? 0;
    this.logger = options.logger;
  }

  /**
   * Opens (creating) the store: takes its lock, deletes leftovers of interrupted unpacks and
   * deletions, and loads the layers.
   * @throws ImageError (IMAGE_STORE) when another live process holds the store.
   */
  static async open(options: LayerStoreOptions): Promise<LayerStore> {
    const root = options.root;
    if (!root.startsWith('/')) throw storeError(`image store path must be absolute: ${root}`);
    if (openRoots.has(root)) throw storeError(`image store ${root} is already open in this process`);
    for (const d of ['', 'layers', 'l', 'tmp']) await mkdir(join(root, d), { recursive: true, mode: 0o711 });
    const lock = join(root, 'lock');
    if (existsSync(lock)) {
      const pid = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid))
        throw storeError(`image store ${root} is in use by process ${pid}`);
    }
    writeFileSync(lock, `${process.pid}\n`);
    openRoots.add(root);
    const store = new LayerStore(root, options);
    try {
      await store.load();
    } catch (e) {
      openRoots.delete(root);
      throw e;
    }
    return store;
  }

  private async load(): Promise<void> {
    for (const e of await readdir(join(this.root, 'tmp'))) await removeTree(join(this.root, 'tmp', e));
    for (const id of await readdir(join(this.root, 'layers'))) {
      const dir = join(this.root, 'layers', id);
      let meta: LayerInfo | undefined;
      try {
        meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as LayerInfo;
      } catch {
        meta = undefined;
      }
      if (!ID.test(id) || !meta || meta.id !== id) {
        // Never made by a complete unpack (a rename is the only way in): remove.
        await this.discard(dir);
        continue;
      }
      this.layers.set(id, { ...meta, lastUsed: meta.lastUsed ?? meta.created });
    }
    // Short links: drop dangling or foreign ones, add missing ones.
    const wanted = new Map([...this.layers.keys()].map((id) => [id.slice(0, SHORT_ID_LENGTH), id]));
    for (const s of readdirSync(join(this.root, 'l'))) {
      let target = '';
      try {
        target = readlinkSync(join(this.root, 'l', s));
      } catch {
        // not a symlink
      }
      if (target !== `../layers/${wanted.get(s)}`)
        await rm(join(this.root, 'l', s), { recursive: true, force: true });
      else wanted.delete(s);
    }
    for (const id of wanted.values()) await this.link(id);
  }

  /** The store's lock file is released and further calls fail; deletions in flight finish first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.deleting);
    openRoots.delete(this.root);
    await rm(join(this.root, 'lock'), { force: true });
  }

  private check(): void {
    if (this.closed) throw storeError(`image store ${this.root} is closed`);
  }

  has(id: string): boolean {
    return this.layers.has(id);
  }

  info(id: string): LayerInfo | undefined {
    return this.layers.get(id);
  }

  list(): LayerInfo[] {
    return [...this.layers.values()];
  }

  /** The layer's directory (`<root>/layers/<id>`). */
  dir(id: string): string {
    return join(this.root, 'layers', id);
  }

  /** The unpacked tree, by its full path. */
  diffPath(id: string): string {
    return join(this.root, 'layers', id, 'diff');
  }

  /** `<root>/l/<short id>`: the layer directory by a short path (for overlay's lowerdir string). */
  shortPath(id: string): string {
    return join(this.root, 'l', id.slice(0, SHORT_ID_LENGTH));
  }

  /** Called with the id of each layer removed by GC (views delete their copies). */
  onRemove(hook: (id: string) => void): void {
    this.removeHooks.push(hook);
  }

  /**
   * The layer `id`, unpacking it with `fill` when missing. `fill` gets an empty directory to
   * populate and resolves with the size; the directory becomes the layer only if it resolves.
   * Concurrent calls for one id share one `fill`.
   */
  ensure(id: string, source: string, fill: (dir: string) => Promise<{ size: number }>): Promise<LayerInfo> {
    this.check();
    if (!ID.test(id)) throw storeError(`invalid layer id ${id}`);
    const have = this.layers.get(id);
    if (have) return Promise.resolve(have);
    let p = this.creating.get(id);
    if (!p) {
      p = this.unpackNew(id, source, fill).finally(() => this.creating.delete(id));
      this.creating.set(id, p);
    }
    return p;
  }

  /** Whether a {@link ensure} of `id` is running. */
  inFlight(id: string): boolean {
    return this.creating.has(id);
  }

  /**
   * Unpacks a layer whose id is known only afterwards (a tarball: its diff id is the hash of what
   * was read). `fill` resolves with the id; an id already present keeps the existing copy.
   */
  async ingest(
    source: string,
    fill: (dir: string) => Promise<{ id: string; size: number }>,
    owner?: string,
  ): Promise<LayerInfo> {
    this.check();
    const tmp = await this.tempDir();
    try {
      const { id, size } = await fill(join(tmp, 'diff'));
      if (!ID.test(id)) throw storeError(`invalid layer id ${id}`);
      // `owner` references it in the same tick it is known to exist: no collection in between.
      if (owner) this.acquire(owner, [id]);
      const have = this.layers.get(id);
      if (have) return have;
      return await this.commit(tmp, id, size, source);
    } finally {
      if (existsSync(tmp)) await this.discard(tmp);
    }
  }

  private async tempDir(): Promise<string> {
    const tmp = join(this.root, 'tmp', `unpack-${randomBytes(8).toString('hex')}`);
    await mkdir(tmp, { mode: 0o700 });
    await mkdir(join(tmp, 'diff'), { mode: 0o755 });
    return tmp;
  }

  private async unpackNew(
    id: string,
    source: string,
    fill: (dir: string) => Promise<{ size: number }>,
  ): Promise<LayerInfo> {
    const tmp = await this.tempDir();
    try {
      const { size } = await fill(join(tmp, 'diff'));
      return await this.commit(tmp, id, size, source);
    } finally {
      if (existsSync(tmp)) await this.discard(tmp);
    }
  }

  /** Renames a complete unpack into place; concurrent commits of one id (two tarballs with the
   *  same content, or a tarball and a registry layer) keep the first. */
  private commit(tmp: string, id: string, size: number, source: string): Promise<LayerInfo> {
    this.check();
    const have = this.layers.get(id);
    if (have) return Promise.resolve(have);
    let p = this.committing.get(id);
    if (!p) {
      p = (async () => {
        const now = Date.now();
        const info: LayerInfo = { id, size, created: now, lastUsed: now, source };
        await writeFile(join(tmp, 'meta.json'), `${JSON.stringify(info)}\n`, { mode: 0o644 });
        await rename(tmp, this.dir(id));
        await this.link(id);
        this.layers.set(id, info);
        return info;
      })().finally(() => this.committing.delete(id));
      this.committing.set(id, p);
    }
    return p;
  }

  private async link(id: string): Promise<void> {
    const short = this.shortPath(id);
    try {
      await symlink(`../layers/${id}`, short);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (readlinkSync(short) !== `../layers/${id}`)
        throw storeError(`layer ${id} and ${readlinkSync(short)} share the short id ${short}`);
    }
  }

  /** Adds `owner` as a user of `ids` (idempotent per owner and id). */
  acquire(owner: string, ids: readonly string[]): void {
    this.check();
    let set = this.owners.get(owner);
    if (!set) {
      set = new Set();
      this.owners.set(owner, set);
    }
    for (const id of ids) {
      if (set.has(id)) continue;
      set.add(id);
      this.refs.set(id, (this.refs.get(id) ?? 0) + 1);
    }
  }

  /** Drops every reference of `owner`; returns the layers nobody uses any more. */
  release(owner: string): string[] {
    const set = this.owners.get(owner);
    if (!set) return [];
    this.owners.delete(owner);
    const unused: string[] = [];
    const now = Date.now();
    for (const id of set) {
      const n = (this.refs.get(id) ?? 1) - 1;
      if (n > 0) {
        this.refs.set(id, n);
        continue;
      }
      this.refs.delete(id);
      unused.push(id);
      const info = this.layers.get(id);
      if (info) {
        info.lastUsed = now;
        // Remembered across restarts for the LRU order (best effort).
        utimes(join(this.dir(id), 'meta.json'), now / 1000, now / 1000).catch(() => undefined);
      }
    }
    return unused;
  }

  /** Owners currently holding references. */
  ownerIds(): string[] {
    return [...this.owners.keys()];
  }

  /** Number of owners using layer `id`. */
  refCount(id: string): number {
    return this.refs.get(id) ?? 0;
  }

  /** Totals: every layer, and those no owner uses. */
  usage(): { layers: number; bytes: number; unusedLayers: number; unusedBytes: number } {
    let bytes = 0;
    let unusedBytes = 0;
    let unusedLayers = 0;
    for (const l of this.layers.values()) {
      bytes += l.size;
      if (!this.refs.get(l.id)) {
        unusedBytes += l.size;
        unusedLayers++;
      }
    }
    return { layers: this.layers.size, bytes, unusedLayers, unusedBytes };
  }

  /**
   * Deletes unreferenced layers, least recently used first, until at most `keepUnusedBytes`
   * (default: the store's policy) of them remain. A layer disappears from `layers/` with one
   * rename; its files are deleted in the background.
   */
  async gc(keepUnusedBytes = this.keepUnusedBytes): Promise<GcResult> {
    this.check();
    const unused = [...this.layers.values()]
      .filter((l) => !this.refs.get(l.id) && !this.creating.has(l.id) && !this.committing.has(l.id))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    let total = unused.reduce((n, l) => n + l.size, 0);
    const removed: string[] = [];
    let bytes = 0;
    for (const l of unused) {
      if (total <= keepUnusedBytes) break;
      // Taken again while earlier removals ran?
      if (this.refs.get(l.id) || this.creating.has(l.id) || !this.layers.has(l.id)) {
        total -= l.size;
        continue;
      }
      this.remove(l.id);
      total -= l.size;
      bytes += l.size;
      removed.push(l.id);
    }
    return { removed, bytes };
  }

  private remove(id: string): void {
    // Synchronously, all three: a pull of the same layer that starts right after must find
    // neither the map entry nor the directory nor the short link (it makes them anew).
    this.layers.delete(id);
    const doomed = join(
      this.root,
      'tmp',
      `delete-${id.slice(0, SHORT_ID_LENGTH)}-${randomBytes(4).toString('hex')}`,
    );
    renameSync(this.dir(id), doomed);
    try {
      unlinkSync(this.shortPath(id));
    } catch {
      // already gone
    }
    for (const hook of this.removeHooks) hook(id);
    this.discardInBackground(doomed);
  }

  private discardInBackground(path: string): void {
    const p = this.discard(path)
      .catch((e) => this.logger?.warn({ err: e, path }, 'deleting a layer failed; the next open retries'))
      .finally(() => this.deleting.delete(p));
    this.deleting.add(p);
  }

  private async discard(path: string): Promise<void> {
    try {
      await removeTree(path);
    } catch {
      await rm(path, { recursive: true, force: true });
    }
  }

  /** Resolves once background deletions have finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.deleting.size) await Promise.all(this.deleting);
  }
}
