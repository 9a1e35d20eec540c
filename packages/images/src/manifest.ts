/**
 * Manifests, indexes and image configs (OCI and Docker schema 2): parsing, validation and the
 * platform choice (linux + this CPU).
 */
import { ImageError, ImageErrorCode } from './errors.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  manifests: Descriptor[];
}

export interface ImageConfig {
  os: string;
  architecture: string;
  variant?: string;
  env: string[];
  diffIds: string[];
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function invalid(what: string, msg: string): ImageError {
  return new ImageError(ImageErrorCode.InvalidImage, `${what}: ${msg}`);
}

function descriptor(what: string, d: unknown): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== 'object') throw invalid(what, 'descriptor is not an object');
  if (typeof o.digest !== 'string' || !DIGEST.test(o.digest))
    throw invalid(what, `unsupported digest ${JSON.stringify(o.digest)} (sha256 only)`);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0)
    throw invalid(what, 'bad size');
  return { ...o, mediaType: typeof o.mediaType === 'string' ? o.mediaType : '' } as Descriptor;
}

/** Parses manifest bytes into an index or an image manifest. */
export function parseManifest(
  what: string,
  bytes: Buffer,
  contentType = '',
): { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest } {
  let j: {
    schemaVersion?: number;
    mediaType?: string;
    manifests?: unknown[];
    config?: unknown;
    layers?: unknown[];
  };
  try {
    j = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(what, 'manifest is not JSON');
  }
  const type = j.mediaType || contentType;
  if (j.schemaVersion === 1 || /distribution\.manifest\.v1\+/.test(type))
    throw invalid(
      what,
      'Docker schema 1 manifests are not supported (push the image again with a current client)',
    );
  if (INDEX_TYPES.has(type) || (Array.isArray(j.manifests) && j.config === undefined)) {
    if (!Array.isArray(j.manifests)) throw invalid(what, 'index without manifests');
    return { kind: 'index', index: { manifests: j.manifests.map((m) => descriptor(what, m)) } };
  }
  if (MANIFEST_TYPES.has(type) || (j.config !== undefined && Array.isArray(j.layers))) {
    if (!Array.isArray(j.layers)) throw invalid(what, 'manifest without layers');
    return {
      kind: 'manifest',
      manifest: { config: descriptor(what, j.config), layers: j.layers.map((l) => descriptor(what, l)) },
    };
  }
  throw invalid(what, `unsupported manifest media type ${JSON.stringify(type)}`);
}

/** Go's GOARCH for this process's CPU (what image platforms name). */
export function hostArchitecture(arch: string = process.arch): string {
  return (
    (
      {
        x64: 'amd64',
        ia32: '386',
        arm64: 'arm64',
        arm: 'arm',
        ppc64: 'ppc64le',
        s390x: 's390x',
        riscv64: 'riscv64',
      } as Record<string, string>
    )[arch] ?? arch
  );
}

function platformText(p: Descriptor['platform']): string {
  return `${p?.os ?? '?'}/${p?.architecture ?? '?'}${p?.variant ? `/${p.variant}` : ''}`;
}

/** The index entry for linux + this architecture. @throws ImageError (IMAGE_PLATFORM_MISMATCH). */
export function choosePlatform(what: string, index: ImageIndex, arch = hostArchitecture()): Descriptor {
  const candidates = index.manifests.filter(
    (m) => m.platform?.os === 'linux' && m.platform.architecture === arch && !MANIFEST_SKIP.has(m.mediaType),
  );
  const found =
    candidates.find((m) => arch !== 'arm64' || !m.platform?.variant || m.platform.variant === 'v8') ??
    candidates[0];
  if (found) return found;
  const available = index.manifests.filter((m) => m.platform).map((m) => platformText(m.platform));
  throw new ImageError(
    ImageErrorCode.PlatformMismatch,
    `${what}: no image for linux/${arch} in the manifest list (available: ${available.join(', ') || 'none'})`,
  );
}

const MANIFEST_SKIP = new Set(['application/vnd.oci.image.index.v1+json']);

/** Parses an image config and checks it is for linux on this architecture. */
export function parseConfig(
  what: string,
  bytes: Buffer,
  layerCount: number,
  arch = hostArchitecture(),
): ImageConfig {
  let j: {
    os?: string;
    architecture?: string;
    variant?: string;
    config?: { Env?: unknown } | null;
    rootfs?: { type?: string; diff_ids?: unknown };
  };
  try {
    j = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(what, 'image config is not JSON');
  }
  const os = j.os ?? '';
  const architecture = j.architecture ?? '';
  if (os !== 'linux' || architecture !== arch)
    throw new ImageError(
      ImageErrorCode.PlatformMismatch,
      `${what}: the image is for ${os || 'an unknown OS'}/${architecture || 'an unknown architecture'}, this host runs linux/${arch}`,
    );
  const env = j.config?.Env ?? [];
  if (!Array.isArray(env) || env.some((e) => typeof e !== 'string'))
    throw invalid(what, 'config Env is not a list of strings');
  const diffIds = j.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !DIGEST.test(d)))
    throw invalid(what, 'config rootfs.diff_ids missing or not sha256 digests');
  if (diffIds.length !== layerCount)
    throw invalid(what, `config lists ${diffIds.length} diff ids for ${layerCount} layers`);
  return {
    os,
    architecture,
    ...(j.variant ? { variant: j.variant } : {}),
    env: env as string[],
    diffIds: diffIds as string[],
  };
}

/** Layer media types we can unpack (compression is sniffed from the bytes anyway). */
export function checkLayerType(what: string, d: Descriptor): void {
  const t = d.mediaType;
  if (
    t === '' ||
    /(^application\/vnd\.(oci\.image\.layer\.(nondistributable\.)?v1\.tar|docker\.image\.rootfs\.(foreign\.)?diff\.tar))/.test(
      t,
    )
  )
    return;
  throw invalid(what, `layer ${d.digest} has unsupported media type ${t}`);
}
