/**
 * @garden-ts/backend-linux — a Garden `Backend` running real, isolated Linux containers on
 * @garden-ts/native-ns: overlayfs rootfs, cgroup limits and metrics, user namespaces, Guardian's
 * security defaults, write-through state for restart survival.
 */
export {
  type BackendLogger,
  createLinuxBackend,
  type LinuxBackend,
  type LinuxBackendOptions,
} from './linux-backend.js';
export { MAPPED_ROOT } from './rootfs.js';
export { defaultRunDir, RUN_ROOT } from './run-dir.js';
