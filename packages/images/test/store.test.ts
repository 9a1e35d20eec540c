/** The layer store (crash safety, references, GC policy, lock) and the unprivileged views (root). */
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultIdMap, getXattr, unmount } from '@garden-ts/native-ns';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type IdMapping, ImageError, LayerStore, unpackLayerStream, ViewManager } from '../src/index.js';
import { mountPointsUnder } from '../src/views.js';
import { makeTar, type TestEntry } from './helpers/tar-writer.js';

const work = mkdtempSync(join(tmpdir(), 'images-store-'));
const MAP: IdMapping = { uidMap: defaultIdMap(), gidMap: defaultIdMap() };
const MAXUID = 4294967294;
let n = 0;
const stores: LayerStore[] = [];

async function openStore(root = join(work, `s${n++}`), keepUnusedBytes = 0): Promise<LayerStore> {
  const s = await LayerStore.open({ root, keepUnusedBytes });
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) {
    await s.close().catch(() => undefined);
    for (const mp of mountPointsUnder(`${s.root}/`))
      for (let i = 0; i < 3 && unmount(mp, { detach: true }); i++);
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hex = (c: string) => c.repeat(64);

async function layer(store: LayerStore, id: string, entries: TestEntry[]) {
  const tar = makeTar(entries);
  return store.ensure(id, 'test', async (dir) => {
    const r = await unpackLayerStream(
      (async function* () {
        yield tar;
      })(),
      dir,
      { what: id },
    );
    return { size: r.size };
  });
}

describe('LayerStore', () => {
  it('unpacks a layer once for concurrent callers and keeps nothing of a failed unpack', async () => {
    const store = await openStore();
    let fills = 0;
    const fill = async (dir: string) => {
      fills++;
      writeFileSync(join(dir, 'f'), 'x');
      await new Promise((r) => setTimeout(r, 50));
      return { size: 1 };
    };
    const [a, b] = await Promise.all([store.ensure(hex('a'), 't', fill), store.ensure(hex('a'), 't', fill)]);
    expect(fills).toBe(1);
    expect(a).toBe(b);
    expect(readFileSync(join(store.diffPath(hex('a')), 'f'), 'utf8')).toBe('x');
    expect(readFileSync(join(store.shortPath(hex('a')), 'diff', 'f'), 'utf8')).toBe('x');
    await expect(
      store.ensure(hex('b'), 't', async (dir) => {
        writeFileSync(join(dir, 'half'), 'x');
        throw new Error('connection lost');
      }),
    ).rejects.toThrow('connection lost');
    expect(store.has(hex('b'))).toBe(false);
    expect(existsSync(store.dir(hex('b')))).toBe(false);
    expect(readdirSync(join(store.root, 'tmp'))).toEqual([]);
    expect(() => store.ensure('nothex', 't', fill)).toThrow(ImageError);
  });

  it('opens over a crashed one: temp dirs, incomplete layers and stale links go, links come back', async () => {
    const root = join(work, 'crashed');
    const s1 = await openStore(root);
    await layer(s1, hex('c'), [{ name: 'ok', data: 'y' }]);
    await s1.close();
    // What a kill -9 can leave: an unpack in progress, a layer dir without its meta (cannot
    // happen through rename, but a hand-made one must not be trusted), links gone or stale.
    mkdirSync(join(root, 'tmp', 'unpack-dead', 'diff'), { recursive: true });
    writeFileSync(join(root, 'tmp', 'unpack-dead', 'diff', 'partial'), 'x');
    mkdirSync(join(root, 'layers', hex('d'), 'diff'), { recursive: true });
    rmSync(join(root, 'l', hex('c').slice(0, 12)));
    symlinkSync(`../layers/${hex('e')}`, join(root, 'l', hex('e').slice(0, 12)));
    writeFileSync(join(root, 'lock'), '999999999\n'); // a dead pid
    const s2 = await openStore(root);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(s2.has(hex('c'))).toBe(true);
    expect(s2.has(hex('d'))).toBe(false);
    expect(existsSync(join(root, 'layers', hex('d')))).toBe(false);
    expect(readdirSync(join(root, 'l'))).toEqual([hex('c').slice(0, 12)]);
    expect(readFileSync(join(s2.shortPath(hex('c')), 'diff', 'ok'), 'utf8')).toBe('y');
  });

  it('is used by one process at a time', async () => {
    const root = join(work, 'locked');
    await openStore(root);
    await expect(LayerStore.open({ root })).rejects.toThrow(/already open in this process/);
    const other = join(work, 'locked2');
    mkdirSync(other);
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(other, 'lock'), `${sleeper.pid}\n`);
      await expect(LayerStore.open({ root: other })).rejects.toThrow(`in use by process ${sleeper.pid}`);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('counts references per owner and collects unused layers per the policy (LRU beyond keepUnusedBytes)', async () => {
    const store = await openStore(undefined, 0);
    for (const c of ['1', '2', '3']) await layer(store, hex(c), [{ name: 'f', data: c.repeat(1000) }]);
    const size = store.info(hex('1'))?.size as number;
    store.acquire('c1', [hex('1'), hex('2')]);
    store.acquire('c2', [hex('2')]);
    store.acquire('c2', [hex('2')]); // idempotent per owner
    expect(store.refCount(hex('2'))).toBe(2);
    expect((await store.gc()).removed).toEqual([hex('3')]); // never used
    expect(store.release('c1')).toEqual([hex('1')]);
    expect(store.release('c1')).toEqual([]);
    const r = await store.gc();
    expect(r.removed).toEqual([hex('1')]);
    expect(r.bytes).toBe(size);
    await store.settled();
    expect(existsSync(store.dir(hex('1')))).toBe(false);
    expect(readdirSync(join(store.root, 'tmp'))).toEqual([]);
    expect(store.has(hex('2'))).toBe(true);
    expect(store.usage()).toMatchObject({ layers: 1, unusedLayers: 0 });
    // A layer collected and pulled again at once (its deletion still running in the background)
    // comes back whole, short link included.
    store.release('c2');
    const gcRun = store.gc();
    const again = layer(store, hex('2'), [{ name: 'f', data: 'again' }]);
    await gcRun;
    await again;
    expect(readFileSync(join(store.shortPath(hex('2')), 'diff', 'f'), 'utf8')).toBe('again');
    await store.settled();
    expect(readFileSync(join(store.shortPath(hex('2')), 'diff', 'f'), 'utf8')).toBe('again');

    // keepUnusedBytes: unused layers stay up to the budget, least recently used go first.
    const keep = await openStore(undefined, size);
    for (const c of ['4', '5']) await layer(keep, hex(c), [{ name: 'f', data: c.repeat(1000) }]);
    keep.acquire('a', [hex('4')]);
    keep.acquire('b', [hex('5')]);
    keep.release('a');
    await new Promise((r) => setTimeout(r, 5));
    keep.release('b');
    // Both unused, budget for one: the least recently released goes.
    expect((await keep.gc()).removed).toEqual([hex('4')]);
    expect((await keep.gc()).removed).toEqual([]);
    expect((await keep.gc(0)).removed).toEqual([hex('5')]);
  });
});

describe('views for unprivileged containers', () => {
  const lower: TestEntry[] = [
    { name: 'etc/', type: 'dir' },
    { name: 'etc/motd', data: 'welcome' },
    { name: 'etc/hostname', data: 'base' },
    { name: 'var/cache/', type: 'dir' },
    { name: 'var/cache/old', data: 'stale' },
    { name: 'home/alice/', type: 'dir', uid: 1001, gid: 1001, mode: 0o700 },
    { name: 'home/alice/f', data: 'a', uid: 1001, gid: 1001 },
    {
      name: 'bin/ping',
      data: 'ELF',
      mode: 0o4755,
      xattrs: { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') },
    },
    { name: 'bin/ping6', type: 'link', linkname: 'bin/ping' },
  ];
  const upperLayer: TestEntry[] = [
    { name: 'etc/.wh.motd', data: '' },
    { name: 'var/cache/.wh..wh..opq', data: '' },
    { name: 'var/cache/new', data: 'fresh' },
    { name: 'etc/hostname', data: 'top' },
  ];

  async function mountThrough(views: ViewManager, store: LayerStore, mapping: IdMapping | null) {
    const lowers = [await views.layerPath(hex('f'), mapping), await views.layerPath(hex('0'), mapping)];
    const c = join(work, `c${n++}`);
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(c, d), { recursive: true });
    if (mapping) execFileSync('chown', [`${MAXUID}:${MAXUID}`, join(c, 'upper')]);
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lowers.join(':')},upperdir=${c}/upper,workdir=${c}/work`,
      `${c}/rootfs`,
    ]);
    return { rootfs: join(c, 'rootfs'), lowers, store };
  }

  for (const mode of ['idmap', 'copy'] as const) {
    it(`${mode}: root-owned files read as the mapped root, other ids unchanged; overlay semantics hold`, async () => {
      const store = await openStore();
      await layer(store, hex('0'), lower);
      await layer(store, hex('f'), upperLayer);
      const views = new ViewManager(store, { mode });
      const { rootfs, lowers } = await mountThrough(views, store, MAP);
      try {
        if (mode === 'idmap')
          expect(lowers[0]).toBe(
            join(store.root, 'v', lowers[0]?.split('/').at(-4) as string, 'l', hex('f').slice(0, 12), 'diff'),
          );
        else expect(lowers[0]).toMatch(/\/l\/f{12}\/s-[0-9a-f]{8}$/);
        const st = (p: string) => lstatSync(join(rootfs, p));
        expect([st('etc/hostname').uid, st('etc/hostname').gid]).toEqual([MAXUID, MAXUID]);
        expect(readFileSync(join(rootfs, 'etc/hostname'), 'utf8')).toBe('top');
        expect(existsSync(join(rootfs, 'etc/motd'))).toBe(false); // whited out
        expect(readdirSync(join(rootfs, 'var/cache'))).toEqual(['new']); // opaque
        expect([st('home/alice/f').uid, st('home/alice').mode & 0o777]).toEqual([1001, 0o700]);
        expect(st('bin/ping').mode & 0o7777).toBe(0o4755);
        expect(st('bin/ping6').ino).toBe(st('bin/ping').ino);
        expect(getXattr(join(rootfs, 'bin/ping'), 'security.capability')).not.toBeNull();
        // The store itself is untouched: real root owns it.
        expect(statSync(join(store.diffPath(hex('0')), 'etc/hostname')).uid).toBe(0);
        // A write copies up with the mapped owner, into the container's upper dir only.
        writeFileSync(join(rootfs, 'etc/hostname'), 'changed');
        expect(statSync(join(rootfs, '..', 'upper', 'etc/hostname')).uid).toBe(MAXUID);
        expect(readFileSync(join(store.diffPath(hex('f')), 'etc/hostname'), 'utf8')).toBe('top');
        if (mode === 'idmap') {
          // Overlayfs holds private clones of its layers: the view can go, the container stays.
          await views.unmountAll();
          expect(readFileSync(join(rootfs, 'etc/hostname'), 'utf8')).toBe('changed');
          expect(readFileSync(join(rootfs, 'home/alice/f'), 'utf8')).toBe('a');
        } else {
          // The shifted copy lives in the layer's directory and goes with it.
          expect(existsSync(join(store.dir(hex('0')), `s-${lowers[0]?.slice(-8)}`))).toBe(true);
        }
      } finally {
        unmount(rootfs, { detach: true });
      }
      // Privileged: the layers as stored.
      expect(await views.layerPath(hex('0'), null)).toBe(join(store.shortPath(hex('0')), 'diff'));
    });
  }

  it('shows a directory rootfs through an idmapped mount while an owner uses it', async () => {
    const store = await openStore();
    const views = new ViewManager(store, { mode: 'idmap' });
    const dir = join(work, 'plain-rootfs');
    mkdirSync(join(dir, 'etc'), { recursive: true });
    writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    const a = await views.dirPath(dir, MAP, 'c1');
    const b = await views.dirPath(dir, MAP, 'c2');
    expect(a).toBe(b);
    expect(statSync(join(a, 'etc', 'passwd')).uid).toBe(MAXUID);
    expect(await views.dirPath(dir, null, 'c3')).toBe(dir);
    views.releaseDirs('c1');
    views.unmountUnused();
    expect(mountPointsUnder(a).has(a)).toBe(true); // c2 still uses it
    views.releaseDirs('c2');
    expect(mountPointsUnder(a).has(a)).toBe(true); // kept for the next create
    views.unmountUnused();
    expect(mountPointsUnder(a).has(a)).toBe(false);
    views.closeNamespaces();
  });
});
