/**
 * Test images built here from tar archives (makeTar, or GNU tar over the busybox rootfs):
 * gzip / zstd / uncompressed layers, OCI or Docker schema 2 manifests, manifest lists, written as
 * OCI layouts or pushed to a registry (monolithic blob uploads, with basic or token auth).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { parseChallenge } from '../../src/registry.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface Blob {
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

export interface BuiltImage {
  manifest: Blob;
  config: Blob;
  layers: (Blob & { diffId: string })[];
}

export interface BuiltIndex {
  index: Blob;
  images: BuiltImage[];
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export function compress(tar: Buffer, c: LayerCompression): Buffer {
  if (c === 'gzip') return gzipSync(tar);
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
  return tar;
}

/** A layer tar of a directory as GNU tar writes it (xattrs and capabilities included). */
export function tarDirectory(dir: string): Buffer {
  return execFileSync(
    'tar',
    ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', dir, '-cf', '-', '.'],
    {
      maxBuffer: 1 << 30,
    },
  );
}

export function buildImage(options: {
  layers: { tar: Buffer; compression?: LayerCompression }[];
  env?: string[];
  os?: string;
  architecture?: string;
  format?: 'oci' | 'docker';
}): BuiltImage {
  const oci = (options.format ?? 'oci') === 'oci';
  const layers = options.layers.map(({ tar, compression = 'gzip' }) => {
    const bytes = compress(tar, compression);
    const suffix =
      compression === 'none' ? '' : oci ? `+${compression}` : compression === 'gzip' ? '.gzip' : '.zstd';
    const mediaType = oci
      ? `application/vnd.oci.image.layer.v1.tar${suffix}`
      : `application/vnd.docker.image.rootfs.diff.tar${suffix}`;
    return { digest: sha256(bytes), bytes, mediaType, diffId: sha256(tar) };
  });
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: options.architecture ?? 'amd64',
      os: options.os ?? 'linux',
      config: { Env: options.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const config = {
    digest: sha256(configBytes),
    bytes: configBytes,
    mediaType: oci
      ? 'application/vnd.oci.image.config.v1+json'
      : 'application/vnd.docker.container.image.v1+json',
  };
  const manifestType = oci
    ? 'application/vnd.oci.image.manifest.v1+json'
    : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: config.mediaType, digest: config.digest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
    }),
  );
  return {
    manifest: { digest: sha256(manifestBytes), bytes: manifestBytes, mediaType: manifestType },
    config,
    layers,
  };
}

export function buildIndex(
  entries: { image: BuiltImage; os: string; architecture: string; variant?: string }[],
  format: 'oci' | 'docker' = 'oci',
): BuiltIndex {
  const mediaType =
    format === 'oci'
      ? 'application/vnd.oci.image.index.v1+json'
      : 'application/vnd.docker.distribution.manifest.list.v2+json';
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: entries.map((e) => ({
        mediaType: e.image.manifest.mediaType,
        digest: e.image.manifest.digest,
        size: e.image.manifest.bytes.length,
        platform: { os: e.os, architecture: e.architecture, ...(e.variant ? { variant: e.variant } : {}) },
      })),
    }),
  );
  return { index: { digest: sha256(bytes), bytes, mediaType }, images: entries.map((e) => e.image) };
}

/** Writes an OCI image layout holding `images` (each tagged through the ref.name annotation). */
export function writeOciLayout(
  dir: string,
  tagged: { tag?: string; image: BuiltImage | BuiltIndex }[],
): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Blob) => writeFileSync(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes);
  const manifests = [];
  for (const { tag, image } of tagged) {
    const imgs = 'index' in image ? image.images : [image];
    for (const i of imgs) for (const b of [i.manifest, i.config, ...i.layers]) put(b);
    const top = 'index' in image ? image.index : image.manifest;
    put(top);
    manifests.push({
      mediaType: top.mediaType,
      digest: top.digest,
      size: top.bytes.length,
      ...(tag ? { annotations: { 'org.opencontainers.image.ref.name': tag } } : {}),
    });
  }
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

/** Pushes blobs and manifests with the registry API (monolithic uploads). */
export class Pusher {
  private auth: string | undefined;
  private readonly agent = new Agent({ connect: { rejectUnauthorized: false } });

  constructor(
    private readonly url: string,
    private readonly credentials?: { username: string; password: string },
  ) {}

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    url: string,
    repo: string,
    body?: Buffer,
    headers: Record<string, string> = {},
  ) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await request(url, {
        method,
        headers: { ...headers, ...(this.auth ? { authorization: this.auth } : {}) },
        ...(body ? { body } : {}),
        dispatcher: this.agent,
      });
      if (r.statusCode !== 401 || attempt > 0) return r;
      await r.body.dump();
      const ch = parseChallenge(String(r.headers['www-authenticate'] ?? ''));
      const basic = this.credentials
        ? `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`
        : undefined;
      if (ch.scheme === 'basic') this.auth = basic;
      else {
        const t = new URL(ch.params.realm as string);
        t.searchParams.set('service', ch.params.service ?? '');
        t.searchParams.set('scope', `repository:${repo}:pull,push`);
        const tr = await request(t, {
          headers: basic ? { authorization: basic } : {},
          dispatcher: this.agent,
        });
        this.auth = `Bearer ${((await tr.body.json()) as { token: string }).token}`;
      }
    }
    throw new Error('unreachable');
  }

  async blob(repo: string, b: Blob): Promise<void> {
    const head = await this.call('HEAD', `${this.url}/v2/${repo}/blobs/${b.digest}`, repo);
    await head.body.dump();
    if (head.statusCode === 200) return;
    const start = await this.call('POST', `${this.url}/v2/${repo}/blobs/uploads/`, repo);
    await start.body.dump();
    if (start.statusCode !== 202) throw new Error(`upload start: HTTP ${start.statusCode}`);
    const loc = new URL(String(start.headers.location), this.url);
    loc.searchParams.set('digest', b.digest);
    const put = await this.call('PUT', loc.toString(), repo, b.bytes, {
      'content-type': 'application/octet-stream',
    });
    const text = await put.body.text();
    if (put.statusCode !== 201) throw new Error(`upload ${b.digest}: HTTP ${put.statusCode} ${text}`);
  }

  async manifest(repo: string, reference: string, m: Blob): Promise<void> {
    const r = await this.call('PUT', `${this.url}/v2/${repo}/manifests/${reference}`, repo, m.bytes, {
      'content-type': m.mediaType,
    });
    const text = await r.body.text();
    if (r.statusCode !== 201) throw new Error(`manifest ${repo}:${reference}: HTTP ${r.statusCode} ${text}`);
  }

  /** Pushes an image or an index (with its images) under `tag`. */
  async push(repo: string, tag: string, image: BuiltImage | BuiltIndex): Promise<void> {
    const imgs = 'index' in image ? image.images : [image];
    for (const i of imgs) {
      for (const b of [i.config, ...i.layers]) await this.blob(repo, b);
      await this.manifest(repo, 'index' in image ? i.manifest.digest : tag, i.manifest);
    }
    if ('index' in image) await this.manifest(repo, tag, image.index);
  }
}
