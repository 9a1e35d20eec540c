/**
 * Which image a create asks for (linux-backend-reference §2.2): `rootfsPath` or `image.uri`
 * (exclusive; neither = the configured default), chosen by URI scheme. Built in: a plain
 * directory (no scheme) and `raw://DIR` (the directory *is* the rootfs, never copied or shifted).
 * Any other scheme (`docker://`, `oci://`, `preloaded:`, …) goes to an {@link ImageSource}
 * registered for it (`LinuxBackendOptions.imageSources`); without one the create fails with
 * Guardian's `no image plugin configured`, naming the scheme.
 */
import { realpathSync, statSync } from 'node:fs';
import { GardenError, InvalidRequestError } from '@garden-ts/api-types';

/** The local directory an image resolved to. */
export interface ImageChoice {
  /** The directory holding the image's root filesystem. */
  path: string;
  /** Used as is (`raw://`): never copied for an unprivileged container. */
  raw: boolean;
}

/**
 * A source of images for one or more URI schemes, e.g. an OCI registry client for `docker://`.
 * It resolves a URI to a local directory (pulling and unpacking as needed); the rootfs part
 * mounts an overlay over it like any directory image.
 */
export interface ImageSource {
  /** The schemes it serves, lower case, without `:` (`docker`, `oci`). */
  readonly schemes: readonly string[];
  /** @throws GardenError when the image cannot be had (pull and credential errors fail the create). */
  resolve(uri: string, credentials: { username?: string; password?: string }): Promise<ImageChoice>;
}

/** A parsed image request: which way it resolves. */
export type ImageRequest =
  | { kind: 'dir' | 'raw'; uri: string; path: string }
  | { kind: 'source'; uri: string; scheme: string; source: ImageSource };

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Parses a create's image fields without touching the file system.
 * @throws GardenError for both fields given, no image and no default, or a scheme no source
 *   serves (`no image plugin configured for docker:// images`); InvalidRequestError for a
 *   relative path or one the overlay cannot name (',', ':', '\', newline).
 */
export function parseImage(
  rootfsPath: string | undefined,
  imageUri: string | undefined,
  defaultRootfs: string | undefined,
  sources: readonly ImageSource[] = [],
): ImageRequest {
  if (rootfsPath && imageUri) throw new GardenError('Cannot provide both Image.URI and RootFSPath');
  let uri = rootfsPath || imageUri || '';
  if (uri === '') {
    if (!defaultRootfs) throw new GardenError('no rootfs given and no default rootfs configured');
    uri = defaultRootfs;
  }
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  let kind: 'dir' | 'raw' = 'dir';
  let path = uri;
  if (scheme === 'raw' && uri.startsWith('raw://')) {
    kind = 'raw';
    path = uri.slice('raw://'.length);
  } else if (scheme !== undefined) {
    const source = sources.find((s) => s.schemes.includes(scheme));
    if (!source) throw new GardenError(`no image plugin configured for ${scheme}:// images (${uri})`);
    return { kind: 'source', uri, scheme, source };
  }
  if (!path.startsWith('/'))
    throw new InvalidRequestError(
      'rootfs',
      `rootfs must be an absolute directory path or raw:// URI: ${uri}`,
    );
  if (/[,:\\\n]/.test(path))
    throw new InvalidRequestError('rootfs', `rootfs path must not contain ',', ':' or '\\': ${uri}`);
  return { kind, uri, path };
}

/**
 * Resolves a parsed request to a directory: a directory image must exist (tarballs need an image
 * source); a source's image is fetched by the source.
 * @throws GardenError `rootfs X: no such directory` / `not a directory`, or the source's error.
 */
export async function resolveImage(
  request: ImageRequest,
  credentials: { username?: string; password?: string } = {},
): Promise<ImageChoice> {
  if (request.kind === 'source') return request.source.resolve(request.uri, credentials);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(request.path);
  } catch {
    throw new GardenError(`rootfs ${request.path}: no such directory`);
  }
  if (!st.isDirectory())
    throw new GardenError(`rootfs ${request.path}: not a directory (tarball images need an image plugin)`);
  return { path: realpathSync(request.path), raw: request.kind === 'raw' };
}
