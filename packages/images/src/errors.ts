/**
 * Image errors: one class with a stable `code` per failure a caller may act on, the original
 * error kept as `cause`. `instanceof` works across two installed copies through a `Symbol.for`
 * brand. The backend turns them into Garden errors (a bad URI into a 400 naming `image.uri`).
 */

const BRAND = Symbol.for('@garden-ts/images.ImageError');

/** Stable codes of {@link ImageError}. */
export const ImageErrorCode = {
  /** The URI cannot be parsed, or a part of it is invalid. */
  InvalidUri: 'IMAGE_INVALID_URI',
  /** The URI's scheme is not one we know. */
  UnsupportedScheme: 'IMAGE_UNSUPPORTED_SCHEME',
  /** The image, tag, preloaded name, file or directory does not exist. */
  NotFound: 'IMAGE_NOT_FOUND',
  /** The registry (or its token service) refused the credentials, or needs some. */
  Unauthorized: 'IMAGE_UNAUTHORIZED',
  /** Content did not match its digest (manifest, config or layer). */
  DigestMismatch: 'IMAGE_DIGEST_MISMATCH',
  /** The image is for another OS or CPU architecture. */
  PlatformMismatch: 'IMAGE_PLATFORM_MISMATCH',
  /** The registry could not be reached or kept failing (after retries). */
  RegistryUnavailable: 'IMAGE_REGISTRY_UNAVAILABLE',
  /** The registry answered with an error we do not retry (4xx other than 401/404/429). */
  RegistryError: 'IMAGE_REGISTRY_ERROR',
  /** A manifest, config or layer archive is malformed or unsupported. */
  InvalidImage: 'IMAGE_INVALID',
  /** The layer store failed (disk, mounts) or is used by another process. */
  Store: 'IMAGE_STORE',
} as const;
export type ImageErrorCode = (typeof ImageErrorCode)[keyof typeof ImageErrorCode];

/** Any failure of the image machinery. */
export class ImageError extends Error {
  readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    const chain: string[] = [];
    for (let p: { readonly name: string } | null = new.target; p && p !== Error; p = Object.getPrototypeOf(p))
      chain.push(p.name);
    Object.defineProperty(this, BRAND, { value: chain, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const chain = (value as Record<symbol, string[] | undefined>)[BRAND];
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being tested against.
    return chain?.includes(this.name) === true;
  }
}

/** A bad image URI: `field` is the part that is wrong (`uri`, `tag`, `layer_digest`, …). */
export class ImageUriError extends ImageError {
  constructor(
    readonly uri: string,
    readonly field: string,
    message: string,
    code: ImageErrorCode = ImageErrorCode.InvalidUri,
  ) {
    super(code, message);
  }
}

/** Content whose digest is not the one it was asked for by. */
export class DigestMismatchError extends ImageError {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(ImageErrorCode.DigestMismatch, `${what}: digest mismatch: expected ${expected}, got ${actual}`);
  }
}

/** An HTTP failure talking to a registry; `status` is 0 for transport errors. */
export class RegistryError extends ImageError {
  constructor(
    code: ImageErrorCode,
    message: string,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}
