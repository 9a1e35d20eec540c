// Shared by the image benches: Debian's docker-registry on 127.0.0.1 (temp storage, generated
// config) holding a 2-layer image built here — the repo's busybox rootfs (GNU tar, gzip) and a
// ~24 MiB layer of ~700 mixed files (gzip) — pushed with skopeo from an OCI layout.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const ROOTFS = process.env.GARDEN_TEST_ROOTFS ?? join(repo, '.rootfs', 'busybox');

/** @param {string} name */
export function which(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = /** @type {import('node:net').AddressInfo} */ (s.address()).port;
      s.close(() => resolve(port));
    });
  });
}

/** @param {Buffer} b */
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Deterministic, moderately compressible file contents (words from a small PRNG). */
function contents(/** @type {number} */ seed, /** @type {number} */ size) {
  const words = [
    'garden',
    'container',
    'layer',
    'overlay',
    'registry',
    'digest',
    'rootfs',
    'image',
    'busybox',
    'kernel',
  ];
  let x = seed >>> 0 || 1;
  const parts = [];
  let n = 0;
  while (n < size) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const w = `${words[x % words.length]}${(x >>> 8) % 1000} `;
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('').slice(0, size));
}

/** A directory of ~700 files: many small, some medium, a few large (about 24 MiB in all). */
function appTree(/** @type {string} */ dir) {
  let seed = 1;
  for (let d = 0; d < 20; d++) {
    const sub = join(dir, 'opt', 'app', `module${d}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 30; f++)
      writeFileSync(join(sub, `file${f}.txt`), contents(seed++, 2048 + ((seed * 7919) % 16384)));
    writeFileSync(join(sub, 'data.bin'), contents(seed++, 400 * 1024));
  }
  for (let f = 0; f < 4; f++)
    writeFileSync(join(dir, 'opt', 'app', `big${f}.dat`), contents(seed++, 2 * 1024 * 1024));
}

/**
 * Starts a registry and pushes `bench/pull:v1`.
 * @returns {Promise<{ host: string, uri: string, digestUri: string, image: string, layerBytes: number, stop(): Promise<void> }>}
 */
export async function startRegistryWithImage() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-image-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomUUID()}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (i > 200 || child.exitCode !== null) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  // The image, as an OCI layout, then pushed by skopeo.
  const app = join(dir, 'app');
  appTree(app);
  const tars = [ROOTFS, app].map((d) =>
    execFileSync('tar', ['--numeric-owner', '-C', d, '-cf', '-', '.'], { maxBuffer: 1 << 30 }),
  );
  const layout = join(dir, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  /** @param {Buffer} b */
  const put = (b) => {
    const d = sha256(b);
    writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layers = tars.map((t) => {
    const gz = gzipSync(t);
    return {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: put(gz),
      size: gz.length,
      diffId: sha256(t),
    };
  });
  const cfg = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(cfg), size: cfg.length },
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  const md = put(manifest);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: md,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  execFileSync('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${layout}:v1`,
    `docker://${host}/bench/pull:v1`,
  ]);
  return {
    host,
    uri: `docker://${host}/bench/pull#v1`,
    digestUri: `docker://${host}/bench/pull@${md}`,
    image: `${host}/bench/pull:v1`,
    layerBytes: layers.reduce((n, l) => n + l.size, 0),
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
