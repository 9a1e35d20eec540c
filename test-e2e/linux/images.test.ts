/**
 * Images end to end (issue 12): `gardend --backend linux` as shipped, with the image flags
 * (`--insecure-docker-registry`, `--registry-mirror`, `--preloaded-rootfs`), driven by the
 * TypeScript client. Debian's docker-registry instances on 127.0.0.1 (one anonymous behind a
 * counting, fault-injecting proxy; one with htpasswd basic auth), a loopback HTTP server for
 * preloaded+layer, tarball and OCI-layout images; errors; shared pulls; layers freed on destroy.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Container, GardenEvent } from '@garden-ts/api-types';
import { defaultRunDir } from '@garden-ts/backend-linux';
import { createClient, type GardenClient } from '@garden-ts/client';
import { detectCgroupLayout } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Collector, leakCounts } from '../../packages/backend-linux/test/helpers.js';
import { type TestNetwork, testNetwork } from '../../packages/backend-linux/test/netns.js';
import { busyboxImage } from '../../packages/images/test/helpers/fixtures.js';
import {
  buildImage,
  Pusher,
  sha256,
  tarDirectory,
  writeOciLayout,
} from '../../packages/images/test/helpers/images.js';
import { FaultProxy } from '../../packages/images/test/helpers/proxy.js';
import {
  blobDataPath,
  startRegistry,
  type TestRegistry,
} from '../../packages/images/test/helpers/registry.js';
import { makeTar } from '../../packages/images/test/helpers/tar-writer.js';

const repo = join(import.meta.dirname, '..', '..');
const gardend = join(repo, 'packages', 'gardend', 'dist', 'bin', 'gardend.js');
const cgroupParent = `garden-e2e-images-${process.pid}`;
const IMAGE_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'IMAGE_VAR=from-image'];

let dir: string;
let depot: string;
let socketPath: string;
let child: ChildProcess | undefined;
let done: Promise<{ code: number | null; stderr: string }>;
let client: GardenClient;
let anon: TestRegistry;
let auth: TestRegistry;
let proxy: FaultProxy;
let http: Server;
let httpBase: string;
let tarball: string;
let layout: string;
// Network safety: the containers' bridges and nft tables live in a test-made namespace, while
// gardend itself stays in this one to reach the registries on loopback.
let net: TestNetwork | undefined;
const layerGz = gzipSync(
  makeTar([{ name: 'app/start.sh', data: '#!/bin/sh\necho droplet\n', mode: 0o755, uid: 2000, gid: 2000 }]),
);

/** gardend --backend linux on this test's depot and cgroup parent. */
function gardendLinux(): string[] {
  net ??= testNetwork('images');
  return [
    gardend,
    '--backend',
    'linux',
    '--depot',
    depot,
    '--cgroup-parent',
    cgroupParent,
    '--network-namespace',
    net.hostPath,
  ];
}

async function waitForPing(path: string): Promise<void> {
  const c = createClient({ socketPath: path });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await c.ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function push(
  reg: TestRegistry,
  repoName: string,
  tag: string,
  marker: string,
  credentials?: { username: string; password: string },
) {
  const pusher = new Pusher(reg.url, credentials);
  await pusher.push(repoName, tag, busyboxImage(inject('rootfs'), { env: IMAGE_ENV, marker }));
  await pusher.close();
}

/** The IPv4 addresses of a network namespace's links. */
function ipAddrs(netnsFile: string): string[] {
  return execFileSync('nsenter', [`--net=${netnsFile}`, 'ip', '-o', '-4', 'addr', 'show'], {
    encoding: 'utf8',
  })
    .split('\n')
    .map((l) => /inet (\S+)\//.exec(l)?.[1] ?? '')
    .filter(Boolean);
}

async function sh(c: Container, cmd: string): Promise<string> {
  const out = new Collector();
  const p = await c.run({ path: 'sh', args: ['-c', cmd] }, { stdout: out, stderr: out });
  expect(await p.wait()).toBe(0);
  return out.text();
}

const layers = () => readdirSync(join(depot, 'image-store', 'layers'));
const tmpOfStore = () => readdirSync(join(depot, 'image-store', 'tmp'));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gardend-images-'));
  chmodSync(dir, 0o711);
  depot = join(dir, 'depot');
  socketPath = join(dir, 'garden.sock');
  anon = await startRegistry();
  auth = await startRegistry({ auth: 'basic', users: { alice: 's3cret' } });
  proxy = await FaultProxy.start(Number(anon.host.split(':')[1]));
  await push(anon, 'garden/busybox', 'v1', 'anonymous');
  await push(anon, 'library/busybox', 'latest', 'via-mirror');
  await push(auth, 'private/busybox', 'v1', 'private', { username: 'alice', password: 's3cret' });
  tarball = join(dir, 'rootfs.tar');
  writeFileSync(tarball, tarDirectory(inject('rootfs')));
  layout = join(dir, 'layout');
  writeOciLayout(layout, [
    {
      tag: 'v1',
      image: buildImage({
        layers: [
          { tar: tarDirectory(inject('rootfs')) },
          { tar: makeTar([{ name: 'etc/oci', data: 'oci' }]) },
        ],
        env: ['FROM_OCI=1'],
      }),
    },
  ]);
  http = createServer((req, res) => {
    if (req.url === '/droplet.tgz') res.writeHead(200, { 'content-length': layerGz.length }).end(layerGz);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpBase = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const c = spawn(
    process.execPath,
    [
      ...gardendLinux(),
      '--bind-socket',
      socketPath,
      '--log-level',
      'warn',
      '--insecure-docker-registry',
      proxy.host,
      '--insecure-docker-registry',
      auth.host,
      '--registry-mirror',
      `http://${proxy.host}`,
      '--preloaded-rootfs',
      `busybox:${tarball}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child = c;
  let stderr = '';
  c.stderr!.on('data', (d) => (stderr += d));
  done = new Promise((resolve) => c.on('close', (code) => resolve({ code, stderr })));
  await waitForPing(socketPath);
  client = createClient({ socketPath });
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await done;
  }
  if (existsSync(join(depot, 'containers')) && readdirSync(join(depot, 'containers')).length > 0) {
    const sweep = spawn(process.execPath, [
      ...gardendLinux(),
      '--destroy-containers-on-startup',
      '--bind-socket',
      join(dir, 'sweep.sock'),
    ]);
    await waitForPing(join(dir, 'sweep.sock')).catch(() => undefined);
    sweep.kill('SIGTERM');
    await new Promise((r) => sweep.on('close', r));
  }
  const layout2 = detectCgroupLayout();
  for (const mnt of new Set([...Object.values(layout2.v1), ...(layout2.v2 ? [layout2.v2] : [])])) {
    const d = join(mnt, cgroupParent);
    if (existsSync(d)) rmdirSync(d);
  }
  await proxy?.stop();
  await anon?.stop();
  await auth?.stop();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
  rmSync(defaultRunDir(depot), { recursive: true, force: true });
  net?.cleanup();
});

describe('gardend with images', () => {
  it('creates from docker:// anonymously and with credentials; a wrong password fails clearly', async () => {
    const a = await client.create({ image: { uri: `docker://${proxy.host}/garden/busybox#v1` } });
    expect(await sh(a, 'cat /home/app/data; echo; echo $IMAGE_VAR; stat -c %u /bin/busybox')).toBe(
      'anonymous\nfrom-image\n0\n',
    );
    // Its network is in the test-made namespace (--network-namespace), not in this one.
    const { containerIP } = await a.info();
    expect(ipAddrs(net!.hostPath)).toContain(containerIP.replace(/\d+$/, (n) => String(Number(n) - 1)));
    expect(ipAddrs('/proc/self/ns/net')).not.toContain(
      containerIP.replace(/\d+$/, (n) => String(Number(n) - 1)),
    );
    const uri = `docker://${auth.host}/private/busybox#v1`;
    const b = await client.create({ image: { uri, username: 'alice', password: 's3cret' } });
    expect(await sh(b, 'cat /home/app/data')).toBe('private');
    const wrong = await client
      .create({ image: { uri, username: 'alice', password: 'nope' } })
      .catch((e) => e);
    expect(wrong).toBeInstanceOf(Error);
    expect(wrong.message).toContain('the registry refused the credentials of user "alice"');
    const none = await client.create({ image: { uri } }).catch((e) => e);
    expect(none.message).toMatch(/authentication required/);
    expect((await client.containers()).map((c) => c.handle).sort()).toEqual([a.handle, b.handle].sort());
    for (const c of [a, b]) await client.destroy(c.handle);
  });

  it('sends docker:///busybox to the --registry-mirror', async () => {
    proxy.requests.length = 0;
    const c = await client.create({ image: { uri: 'docker:///busybox' } });
    expect(await sh(c, 'cat /home/app/data')).toBe('via-mirror');
    expect(proxy.requests[0]).toBe('GET /v2/library/busybox/manifests/latest HTTP/1.1');
    await client.destroy(c.handle);
  });

  it('creates from preloaded+layer (layer over loopback HTTP), preloaded:, tarball and OCI-layout images', async () => {
    const digest = sha256(layerGz).slice(7);
    const pl = await client.create({
      image: {
        uri: `preloaded+layer:busybox?layer=${encodeURIComponent(`${httpBase}/droplet.tgz`)}&layer_path=/home/vcap&layer_digest=${digest}`,
      },
    });
    expect(await sh(pl, '/home/vcap/app/start.sh; stat -c %u /home/vcap/app/start.sh')).toBe(
      'droplet\n2000\n',
    );
    const pre = await client.create({ image: { uri: 'preloaded:busybox' } });
    const tb = await client.create({ rootfsPath: tarball });
    const oci = await client.create({ image: { uri: `oci://${layout}#v1` } });
    expect(await sh(oci, 'cat /etc/oci; echo; echo $FROM_OCI')).toBe('oci\n1\n');
    for (const c of [pre, tb]) expect(await sh(c, 'stat -c %u /etc/passwd')).toBe('0\n');
    const wrongDigest = await client
      .create({
        image: {
          uri: `preloaded+layer:busybox?layer=${encodeURIComponent(`${httpBase}/droplet.tgz`)}&layer_path=/x&layer_digest=${'0'.repeat(64)}`,
        },
      })
      .catch((e) => e);
    expect(wrongDigest.message).toContain('digest mismatch');
    for (const c of [pl, pre, tb, oci]) await client.destroy(c.handle);
  });

  it('fails clearly for a missing tag, a corrupt layer, an unknown scheme and a registry down mid-pull, leaving no layer', async () => {
    const missing = await client
      .create({ image: { uri: `docker://${proxy.host}/garden/busybox#nope` } })
      .catch((e) => e);
    expect(missing.message).toMatch(/image not found \(tag nope/);
    const scheme = await client.create({ image: { uri: 's3://bucket/x.tar' } }).catch((e) => e);
    expect(scheme.message).toContain('unsupported image URI scheme "s3"');
    // A corrupt blob in the registry's storage.
    const img = buildImage({ layers: [{ tar: makeTar([{ name: 'big', data: 'x'.repeat(300_000) }]) }] });
    const pusher = new Pusher(anon.url);
    await pusher.push('garden/corrupt', 'v1', img);
    const big = Buffer.alloc(4 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const bigImage = buildImage({ layers: [{ tar: makeTar([{ name: 'blob', data: big }]) }] });
    await pusher.push('garden/big', 'v1', bigImage);
    await pusher.close();
    const data = blobDataPath(anon.storage, img.layers[0]?.digest as string);
    const bytes = readFileSync(data);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0x55;
    writeFileSync(data, bytes);
    const corrupt = await client
      .create({ image: { uri: `docker://${proxy.host}/garden/corrupt#v1` } })
      .catch((e) => e);
    expect(corrupt.message).toContain(`layer ${img.layers[0]?.digest}: digest mismatch`);
    proxy.cutBlobAfter = 1 << 20;
    try {
      const down = await client
        .create({ image: { uri: `docker://${proxy.host}/garden/big#v1` } })
        .catch((e) => e);
      expect(down.message).toMatch(/failed after 4 attempts/);
    } finally {
      proxy.cutBlobAfter = 0;
      proxy.down = false;
    }
    expect(await client.containers()).toEqual([]);
    // No part of the failed pulls (earlier tests' layers may still be being collected).
    for (const l of [...img.layers, ...bigImage.layers]) expect(layers()).not.toContain(l.diffId.slice(7));
    expect(tmpOfStore().filter((e) => !e.startsWith('delete-'))).toEqual([]);
  });

  it('downloads once for two concurrent creates and frees the layers when the last one is destroyed', async () => {
    const pusher = new Pusher(anon.url);
    await pusher.push(
      'garden/shared',
      'v1',
      busyboxImage(inject('rootfs'), { env: IMAGE_ENV, marker: 'shared' }),
    );
    await pusher.close();
    proxy.requests.length = 0;
    const uri = `docker://${proxy.host}/garden/shared#v1`;
    // Pull progress reaches clients as image.progress events on GET /events.
    const watching = new AbortController();
    const stream = client.events({ signal: watching.signal });
    await stream.ready;
    const progress: GardenEvent[] = [];
    const reading = (async () => {
      for await (const e of stream) if (e.type === 'image.progress') progress.push(e);
    })();
    const [a, b] = await Promise.all([client.create({ image: { uri } }), client.create({ image: { uri } })]);
    expect(proxy.blobGets()).toHaveLength(3); // config + 2 layers
    const deadlineDone = Date.now() + 5_000;
    while (
      progress.filter((e) => 'phase' in e && e.phase === 'done').length < 2 &&
      Date.now() < deadlineDone
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    watching.abort();
    await reading;
    expect(new Set(progress.map((e) => ('handle' in e ? e.handle : '')))).toEqual(
      new Set([a.handle, b.handle]),
    );
    const finished = progress.filter((e) => e.type === 'image.progress' && e.phase === 'done');
    expect(finished).toHaveLength(2);
    expect(finished[0]).toMatchObject({ image: uri, layersDone: 2, layersTotal: 2 });
    expect(
      progress.some(
        (e) => e.type === 'image.progress' && e.phase === 'downloading' && (e.layerBytes ?? 0) > 0,
      ),
    ).toBe(true);
    expect(await sh(b, 'cat /home/app/data')).toBe('shared');
    const withShared = layers();
    expect(withShared.length).toBeGreaterThanOrEqual(2);
    await client.destroy(a.handle);
    await new Promise((r) => setTimeout(r, 300));
    expect(layers()).toEqual(withShared);
    await client.destroy(b.handle);
    const deadline = Date.now() + 10_000;
    while (layers().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(layers()).toEqual([]);
  });

  it('stops cleanly and leaves nothing mounted', async () => {
    child?.kill('SIGTERM');
    const { code } = await done;
    expect(code).toBe(0);
    expect(leakCounts({ depot, cgroupParent })).toEqual({
      cgroups: 0,
      mounts: 0,
      depot: 0,
      runDirs: 0,
      shims: 0,
      volumes: 0,
      qgroups: 0,
    });
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4]?.startsWith(depot));
    expect(mounted).toEqual([]);
  });
});
