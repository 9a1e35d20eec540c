/**
 * @garden-ts/backend-linux — a Garden `Backend` running real, isolated Linux containers on
 * @garden-ts/native-ns: overlayfs rootfs, cgroup limits and metrics, user namespaces, Guardian's
 * security defaults, write-through state for restart survival.
 */
export { linuxBackendCapabilities } from './capabilities.js';
export { defaultRunDir, RUN_ROOT } from './depot/run-dir.js';
export { createLinuxBackend } from './linux-backend.js';
export type { NetworkOptions } from './network/types.js';
export type { BackendLogger, ImageOptions, LinuxBackend, LinuxBackendOptions } from './options.js';
export type { ImageChoice, ImageSource } from './rootfs/image-uri.js';
export { MAPPED_ROOT } from './runtime/users.js';
export type { DiskStoreOptions } from './store/disk-store.js';
