/**
 * Fixtures: a backend on a temp depot with its own cgroup parent, always cleaned up; leak counts;
 * a bundled child server to kill -9.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Container, ProcessSpec } from '@garden-ts/api-types';
import { btrfsFsid, detectCgroupLayout, listLinks, listQgroups, nft } from '@garden-ts/native-ns';
import tar from 'tar-stream';
import { inject } from 'vitest';
import {
  createLinuxBackend,
  defaultRunDir,
  type LinuxBackend,
  type LinuxBackendOptions,
} from '../src/index.js';
import { type TestNetwork, testNetwork } from './netns.js';

const layout = detectCgroupLayout();
const mounts = [...new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])];

/** A depot + cgroup parent + test-made host network namespace for one test file. */
export interface TestEnv {
  depot: string;
  cgroupParent: string;
  /**
   * The "host" and "outside" namespaces (network safety: backends of the tests network their
   * containers inside `net.hostPath`, never in the machine's own namespace).
   */
  net: TestNetwork;
  /** The network options every backend of this env gets (merged with `extra.network`). */
  networkOptions(): { hostNetns: string };
  backend(extra?: Partial<LinuxBackendOptions>): LinuxBackend;
  /** Destroys what the backends know, then removes every leftover (mounts, cgroups, depot). */
  cleanup(): Promise<void>;
}

let counter = 0;

export function testEnv(name: string): TestEnv {
  const depot = mkdtempSync(join(tmpdir(), `backend-linux-${name}-`));
  const cgroupParent = `garden-test-${process.pid}-${name}-${counter++}`;
  const backends: LinuxBackend[] = [];
  let network: TestNetwork | undefined;
  const net = () => {
    network ??= testNetwork(`${name}${counter}`.slice(0, 12));
    return network;
  };
  const networkOptions = () => ({ hostNetns: net().hostPath });
  const options = (extra: Partial<LinuxBackendOptions>): LinuxBackendOptions => ({
    depot,
    defaultRootfs: inject('rootfs'),
    cgroupParent,
    ...extra,
    network: extra.network === false ? false : { ...networkOptions(), ...(extra.network ?? {}) },
  });
  return {
    depot,
    cgroupParent,
    get net() {
      return net();
    },
    networkOptions,
    backend(extra = {}) {
      const b = createLinuxBackend(options(extra));
      backends.push(b);
      return b;
    },
    async cleanup() {
      for (const b of backends) {
        for (const h of b.handles()) await b.destroy(h).catch(() => undefined);
        await b.stop();
      }
      // Anything left (a test failed midway): a fresh backend reconciles, then destroy all.
      const sweeper = createLinuxBackend(options({ destroyContainersOnStartup: true }));
      await sweeper.start().catch(() => undefined);
      await sweeper.stop();
      for (const b of [...backends, sweeper]) await b.settled();
      for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
        const mp = line.split(' ')[4];
        if (mp?.startsWith(depot)) execFileSync('umount', ['-l', mp]);
      }
      for (const mnt of mounts) {
        const d = join(mnt, cgroupParent);
        if (!existsSync(d)) continue;
        for (const e of readdirSync(d, { withFileTypes: true }))
          if (e.isDirectory()) rmdirSync(join(d, e.name));
        rmdirSync(d);
      }
      rmSync(depot, { recursive: true, force: true });
      rmSync(sweeper.runDir, { recursive: true, force: true });
      network?.cleanup();
    },
  };
}

/** The disk store of a depot (default place): its mount, loop devices, volumes and qgroups. */
export function storeState(depot: string): {
  mounted: boolean;
  loops: number;
  volumes: number;
  qgroups: number;
} {
  const store = join(depot, 'store');
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === store);
  let loops = 0;
  const image = existsSync(`${store}.img`) ? realpathSync(`${store}.img`) : undefined;
  for (const dev of readdirSync('/sys/block')) {
    if (!dev.startsWith('loop')) continue;
    try {
      if (readFileSync(`/sys/block/${dev}/loop/backing_file`, 'utf8').trim() === image) loops++;
    } catch {
      // not attached
    }
  }
  if (!mounted) return { mounted, loops, volumes: 0, qgroups: 0 };
  const volumes = existsSync(join(store, 'volumes')) ? readdirSync(join(store, 'volumes')).length : 0;
  // Level-0 qgroups of subvolumes (0/5 is the filesystem's top level).
  const qgroups = listQgroups(btrfsFsid(store)).filter((q) => q.level === 0 && q.id >= 256n).length;
  return { mounted, loops, volumes, qgroups };
}

/** What containers leave behind in a test host namespace: our links and nft tables. */
export async function networkLeaks(env: TestEnv): Promise<{ links: string[]; tables: string }> {
  const links = (await listLinks({ netns: env.net.hostPath }))
    .map((l) => l.name)
    .filter((n) => /^gt[bvi]-/.test(n));
  return { links, tables: (await nft('list tables', { netns: env.net.hostPath })).trim() };
}

/** Mount points below the depot (the rootfs overlays, the image store's views). */
export function depotMounts(depot: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp.startsWith(depot));
}

/** Counts of what containers leave behind on the host (the disk store's own mount not counted). */
export function leakCounts(env: { depot: string; cgroupParent: string }): {
  cgroups: number;
  mounts: number;
  depot: number;
  runDirs: number;
  shims: number;
  volumes: number;
  qgroups: number;
} {
  let cgroups = 0;
  for (const mnt of mounts) {
    const d = join(mnt, env.cgroupParent);
    if (existsSync(d))
      cgroups += readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
  }
  // Per-container mounts; the image store's idmapped views are shared and stay until stop(), the
  // disk store while containers exist.
  const store = join(env.depot, 'store');
  const mountCount = depotMounts(env.depot).filter(
    (mp) => !mp.startsWith(join(env.depot, 'image-store')) && mp !== store,
  ).length;
  const containersDir = join(env.depot, 'containers');
  let depot = existsSync(containersDir) ? readdirSync(containersDir).length : 0;
  const trash = join(env.depot, 'trash');
  if (existsSync(trash)) depot += readdirSync(trash).length;
  const runDir = defaultRunDir(env.depot);
  const runDirs = existsSync(runDir) ? readdirSync(runDir).length : 0;
  let shims = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(env.depot)) shims++;
    } catch {
      // gone
    }
  }
  const { volumes, qgroups } = storeState(env.depot);
  return { cgroups, mounts: mountCount, depot, runDirs, shims, volumes, qgroups };
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Bundles a child server script of this directory (self-contained, in a temp dir) for the kill -9
 * tests. Returns the bundle's path and a function removing it.
 */
export async function bundleChild(script: string): Promise<{ path: string; dispose(): void }> {
  const work = mkdtempSync(join(tmpdir(), 'backend-linux-bundle-'));
  const { build } = await import('tsup');
  await build({
    entry: { child: join(here, script) },
    format: ['esm'],
    outDir: work,
    platform: 'node',
    target: 'node20',
    silent: true,
    config: false,
    dts: false,
    noExternal: [/.*/], // self-contained: the bundle lives in a temp dir without node_modules
    // Bundled CommonJS dependencies call require(): give the ESM bundle one.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    esbuildOptions(o) {
      o.conditions = ['@garden-ts/source'];
    },
  });
  return { path: join(work, 'child.js'), dispose: () => rmSync(work, { recursive: true, force: true }) };
}

/** Runs a bundled child server until it prints READY, then kills it with SIGKILL. */
export async function crashAfterReady(bundle: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [bundle, ...args], {
    env: { ...process.env, GARDEN_NATIVE_NS_BUILD: join(here, '..', '..', 'native-ns', 'build', 'Release') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** A writable collecting bytes. */
export class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/** Runs to completion. */
export async function exec(
  container: Container,
  spec: ProcessSpec,
  stdin?: string,
): Promise<{ status: number; stdout: string; stderr: string }> {
  const stdout = new Collector();
  const stderr = new Collector();
  const { PassThrough } = await import('node:stream');
  const input = stdin === undefined ? undefined : new PassThrough().end(stdin);
  const p = await container.run(spec, { stdout, stderr, ...(input ? { stdin: input } : {}) });
  const status = await p.wait();
  return { status, stdout: stdout.text(), stderr: stderr.text() };
}

/** One entry of {@link packTar}. */
export interface TarEntry {
  name: string;
  type?: 'file' | 'symlink' | 'link' | 'directory' | 'character-device';
  linkname?: string;
  content?: string | Buffer;
  devmajor?: number;
  devminor?: number;
}

/** A tar archive of `entries` (files 0644, directories 0755), read while written: any size. */
export async function packTar(entries: TarEntry[]): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  p.on('data', (chunk) => {
    chunks.push(chunk as Buffer);
  });
  const ended = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) =>
      p.entry({ mode: header.type === 'directory' ? 0o755 : 0o644, ...header }, content ?? '', (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}
