/**
 * @garden-ts/images — container images for garden-ts: image URIs (directories, `raw://`, rootfs
 * tarballs, `docker://`, `oci://`, `preloaded:`, `preloaded+layer:`), an OCI distribution client,
 * a content-addressed layer store shared by all containers with idmapped views for unprivileged
 * ones, and pull progress. See the README for the design.
 */
export {
  DigestMismatchError,
  ImageError,
  ImageErrorCode,
  ImageUriError,
  RegistryError,
} from './errors.js';
export {
  type Compression,
  type LayerStreamResult,
  sniffCompression,
  unpackLayerStream,
} from './layer-stream.js';
export {
  choosePlatform,
  type Descriptor,
  hostArchitecture,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  parseConfig,
  parseManifest,
} from './manifest.js';
export type { PullProgress } from './progress.js';
export {
  type Credentials,
  type Endpoint,
  parseChallenge,
  RegistryClient,
  type RegistryConfig,
  RegistrySession,
} from './registry.js';
export {
  type ImageRecord,
  ImageService,
  type ImageServiceOptions,
  type PreparedImage,
  type PrepareRequest,
} from './service.js';
export { type IdMapping, mapId, OVERFLOW_ID, shiftedCopy } from './shift.js';
export { type GcResult, type LayerInfo, LayerStore, type LayerStoreOptions } from './store.js';
export { type TarEntryType, type TarHeader, TarParser, type TarSink } from './tar.js';
export { DirWriter, entryComponents, type UnpackStats } from './unpack.js';
export {
  DOCKER_HUB,
  type DockerReference,
  formatDockerReference,
  type ImageSource,
  parseDocker,
  parseImageUri,
} from './uri.js';
export { mappingKey, ViewManager, type ViewMode } from './views.js';
