/**
 * Which image a create asks for (linux-backend-reference §2.2): `rootfsPath` or `image.uri`
 * (exclusive; neither = the configured default). Every form Guardian accepts — a directory, a
 * rootfs tarball, `raw://`, `docker://`, `oci://`, `preloaded:`, `preloaded+layer:` — is served by
 * @garden-ts/images (the rootfs part's image service). A scheme of a registered
 * {@link ImageSource} is handed to it instead (a plug for schemes of one's own); any other scheme
 * is a 400 naming it.
 */
import { GardenError, InvalidRequestError } from '@garden-ts/api-types';
import { ImageUriError, parseImageUri } from '@garden-ts/images';

/** The local directory an image source resolved to. */
export interface ImageChoice {
  /** The directory holding the image's root filesystem. */
  path: string;
  /** Used as is (`raw://`): never shown through an id-mapped view. */
  raw: boolean;
}

/**
 * A source of images for URI schemes of one's own. It resolves a URI to a local directory; the
 * rootfs part mounts an overlay over it like a directory image.
 */
export interface ImageSource {
  /** The schemes it serves, lower case, without `:`. */
  readonly schemes: readonly string[];
  /** @throws GardenError when the image cannot be had (pull and credential errors fail the create). */
  resolve(uri: string, credentials: { username?: string; password?: string }): Promise<ImageChoice>;
}

/** A parsed image request: which way it resolves. */
export type ImageRequest =
  | { kind: 'image'; uri: string }
  | { kind: 'source'; uri: string; scheme: string; source: ImageSource };

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Parses a create's image fields without touching the file system.
 * @throws GardenError for both fields given or no image and no default; InvalidRequestError
 *   (field `image.uri` or `rootfs`) for a URI @garden-ts/images refuses (an unknown scheme, a
 *   relative path, a bad reference) or a path the overlay cannot name (',', ':', '\', newline).
 */
export function parseImage(
  rootfsPath: string | undefined,
  imageUri: string | undefined,
  defaultRootfs: string | undefined,
  sources: readonly ImageSource[] = [],
): ImageRequest {
  if (rootfsPath && imageUri) throw new GardenError('Cannot provide both Image.URI and RootFSPath');
  const field = rootfsPath ? 'rootfs' : 'image.uri';
  let uri = rootfsPath || imageUri || '';
  if (uri === '') {
    if (!defaultRootfs) throw new GardenError('no rootfs given and no default rootfs configured');
    uri = defaultRootfs;
  }
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  const source = scheme === undefined ? undefined : sources.find((s) => s.schemes.includes(scheme));
  if (source && scheme) return { kind: 'source', uri, scheme, source };
  let parsed: ReturnType<typeof parseImageUri>;
  try {
    parsed = parseImageUri(uri);
  } catch (e) {
    if (!(e instanceof ImageUriError)) throw e;
    const err = new InvalidRequestError(field, e.message);
    Object.defineProperty(err, 'cause', { value: e, configurable: true, writable: true });
    throw err;
  }
  if ((parsed.kind === 'path' || parsed.kind === 'raw') && /[,:\\\n]/.test(parsed.path))
    throw new InvalidRequestError(field, `rootfs path must not contain ',', ':' or '\\': ${uri}`);
  return { kind: 'image', uri };
}
