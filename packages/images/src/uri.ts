/**
 * Image URIs as Guardian accepts them (reference §2.2) and what each one names. Parsing is pure:
 * whether a plain path is a directory or a tarball is decided when the image is prepared.
 */
import { ImageErrorCode, ImageUriError } from './errors.js';

/** Docker Hub's registry as image references name it (`docker.io/library/busybox`). */
export const DOCKER_HUB = 'docker.io';
const HUB_ALIASES = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** A reference to an image in a registry (docker://). */
export interface DockerReference {
  /** `host[:port]`, or {@link DOCKER_HUB} for Docker Hub (mirrors apply). */
  registry: string;
  /** Repository path, `library/` added for official Hub images. */
  repository: string;
  /** Tag (default `latest` when no digest is given). */
  tag?: string;
  /** `sha256:<hex>` when pinned by digest (then `tag` is informational only). */
  digest?: string;
}

/** What an image URI names. */
export type ImageSource =
  /** An absolute path: a directory (the rootfs) or a rootfs tarball, decided on preparing. */
  | { kind: 'path'; path: string }
  /** `raw://DIR`: the directory is the rootfs, used as is. */
  | { kind: 'raw'; path: string }
  | ({ kind: 'docker' } & DockerReference)
  /** `oci:///PATH[#TAG]`: an OCI image layout directory. */
  | { kind: 'oci'; path: string; tag?: string }
  /** `preloaded:NAME`: a rootfs installed on the host, named by configuration. */
  | { kind: 'preloaded'; name: string }
  /** `preloaded+layer:NAME?layer=URL&layer_path=DIR&layer_digest=SHA256` (Diego). */
  | { kind: 'preloaded+layer'; name: string; layer: { url: string; path: string; digest: string } };

const SCHEMES = 'raw://, docker://, oci://, preloaded:, preloaded+layer: or an absolute path';
// distribution's reference grammar: path components and tags.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * Parses an image URI (`image.uri` or the deprecated `rootfs`).
 * @throws ImageUriError (`code` IMAGE_INVALID_URI, or IMAGE_UNSUPPORTED_SCHEME naming the scheme).
 */
export function parseImageUri(uri: string): ImageSource {
  if (typeof uri !== 'string' || uri === '')
    throw new ImageUriError(String(uri), 'uri', 'image URI is empty');
  if (uri.includes('\0')) throw new ImageUriError(uri, 'uri', 'image URI contains a NUL byte');
  if (uri.startsWith('/')) return { kind: 'path', path: checkPath(uri, uri, 'path') };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1];
  if (scheme === undefined)
    throw new ImageUriError(
      uri,
      'uri',
      `image URI ${uri} is neither an absolute path nor a URI (${SCHEMES})`,
    );
  switch (scheme.toLowerCase()) {
    case 'raw':
      if (!uri.startsWith('raw://'))
        throw new ImageUriError(uri, 'uri', `raw image URI must be raw:///ABSOLUTE/PATH: ${uri}`);
      return { kind: 'raw', path: checkPath(uri, decodePath(uri, uri.slice('raw://'.length)), 'path') };
    case 'docker':
      return { kind: 'docker', ...parseDocker(uri) };
    case 'oci':
      return parseOci(uri);
    case 'preloaded':
      return { kind: 'preloaded', name: checkName(uri, uri.slice('preloaded:'.length)) };
    case 'preloaded+layer':
      return parsePreloadedLayer(uri);
    default:
      throw new ImageUriError(
        uri,
        'scheme',
        `unsupported image URI scheme "${scheme}" in ${uri} (supported: ${SCHEMES})`,
        ImageErrorCode.UnsupportedScheme,
      );
  }
}

function decodePath(uri: string, p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new ImageUriError(uri, 'path', `bad percent-encoding in ${uri}`);
  }
}

function checkPath(uri: string, path: string, field: string): string {
  if (!path.startsWith('/')) throw new ImageUriError(uri, field, `${field} must be absolute in ${uri}`);
  if (path.includes('\0')) throw new ImageUriError(uri, field, `${field} contains a NUL byte in ${uri}`);
  return path;
}

function checkName(uri: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name))
    throw new ImageUriError(
      uri,
      'name',
      `preloaded rootfs name "${name}" is invalid in ${uri} (letters, digits, '.', '_', '-')`,
    );
  return name;
}

/**
 * `docker://[HOST[:PORT]]/REPO[#TAG]`, `docker:///REPO[#TAG]` (Docker Hub). As Docker does, a
 * first component without '.' or ':' that is not `localhost` is a Hub namespace, not a host, so
 * `docker://busybox` and `docker://library/busybox` name Hub images. The tag may also follow the
 * repository after ':' and a digest after '@'; `#sha256:…` pins a digest.
 */
export function parseDocker(uri: string): DockerReference {
  const body = uri.slice(uri.indexOf(':') + 1);
  if (!body.startsWith('//'))
    throw new ImageUriError(uri, 'uri', `docker image URI must start with docker://: ${uri}`);
  let rest = body.slice(2);
  let fragment: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    fragment = decodePath(uri, rest.slice(hash + 1));
    rest = rest.slice(0, hash);
  }
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q); // other parts of the URI are ignored (seed docs)
  const slash = rest.indexOf('/');
  let host = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : decodePath(uri, rest.slice(slash + 1));
  if (host !== '' && !/[.:[]/.test(host) && host !== 'localhost') {
    path = path === '' ? host : `${host}/${path}`;
    host = '';
  }
  let digest: string | undefined;
  let tag: string | undefined;
  const at = path.indexOf('@');
  if (at >= 0) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
  }
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  if (fragment !== undefined && fragment !== '') {
    if (fragment.startsWith('sha256:')) digest = fragment;
    else tag = fragment;
  }
  path = path.replace(/\/+$/, '');
  if (path === '') throw new ImageUriError(uri, 'repository', `no repository in ${uri}`);
  const components = path.split('/');
  for (const c of components) {
    if (!COMPONENT.test(c))
      throw new ImageUriError(
        uri,
        'repository',
        `invalid repository "${path}" in ${uri} (lowercase letters, digits and separators '.', '_', '__', '-')`,
      );
  }
  if (tag !== undefined && !TAG.test(tag))
    throw new ImageUriError(uri, 'tag', `invalid tag "${tag}" in ${uri}`);
  if (digest !== undefined && !DIGEST.test(digest))
    throw new ImageUriError(uri, 'digest', `invalid digest "${digest}" in ${uri} (sha256:<64 hex>)`);
  let registry = host.toLowerCase();
  if (registry !== '' && !/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/.test(registry))
    throw new ImageUriError(uri, 'host', `invalid registry host "${host}" in ${uri}`);
  if (registry === '' || HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB;
    if (components.length === 1) path = `library/${path}`;
  }
  return {
    registry,
    repository: path,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `docker://…` text of a reference, normalised (for messages and cache keys). */
export function formatDockerReference(r: DockerReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

function parseOci(uri: string): ImageSource {
  if (!uri.startsWith('oci://'))
    throw new ImageUriError(uri, 'uri', `OCI layout URI must be oci:///ABSOLUTE/PATH: ${uri}`);
  let rest = uri.slice('oci://'.length);
  let tag: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    tag = decodePath(uri, rest.slice(hash + 1));
    rest = rest.slice(0, hash);
  }
  if (!rest.startsWith('/'))
    throw new ImageUriError(uri, 'path', `OCI layout URI must be oci:///ABSOLUTE/PATH (no host): ${uri}`);
  const path = checkPath(uri, decodePath(uri, rest), 'path');
  if (tag !== undefined && (tag === '' || /[\0\n]/.test(tag)))
    throw new ImageUriError(uri, 'tag', `invalid tag in ${uri}`);
  return { kind: 'oci', path, ...(tag !== undefined ? { tag } : {}) };
}

function parsePreloadedLayer(uri: string): ImageSource {
  const rest = uri.slice('preloaded+layer:'.length);
  const q = rest.indexOf('?');
  if (q < 0)
    throw new ImageUriError(
      uri,
      'layer',
      `preloaded+layer URI needs ?layer=URL&layer_path=DIR&layer_digest=SHA256: ${uri}`,
    );
  const name = checkName(uri, rest.slice(0, q));
  const params = new URLSearchParams(rest.slice(q + 1));
  const url = params.get('layer') ?? '';
  const path = params.get('layer_path') ?? '';
  let digest = (params.get('layer_digest') ?? '').toLowerCase();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ImageUriError(uri, 'layer', `layer must be an http(s) URL in ${uri}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ImageUriError(uri, 'layer', `layer must be an http(s) URL in ${uri}`);
  checkPath(uri, path, 'layer_path');
  if (path.split('/').includes('..'))
    throw new ImageUriError(uri, 'layer_path', `layer_path must not contain '..' in ${uri}`);
  if (/^[a-f0-9]{64}$/.test(digest)) digest = `sha256:${digest}`;
  if (!DIGEST.test(digest))
    throw new ImageUriError(uri, 'layer_digest', `layer_digest must be a sha256 (64 hex digits) in ${uri}`);
  return { kind: 'preloaded+layer', name, layer: { url, path, digest } };
}
