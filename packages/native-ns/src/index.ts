/**
 * @garden-ts/native-ns — namespaces, cgroups, process spawning and crash-safe supervision.
 * See docs/architecture.md ("native-ns") for who does what.
 */
export {
  CAPABILITIES,
  type CapabilityName,
  type CapabilitySet,
  capabilityMask,
  UNPRIVILEGED_CAPABILITIES,
} from './capabilities.js';
export {
  allCgroupDirs,
  applyCgroupLimits,
  type CgroupLayout,
  type CgroupLimits,
  type CgroupPidsOptions,
  type CgroupSet,
  type CgroupStats,
  cgroupChildren,
  cgroupDirs,
  cgroupOomKills,
  cgroupPids,
  cgroupSet,
  createCgroup,
  detectCgroupLayout,
  freezeCgroup,
  parseFlatKeyed,
  readCgroup,
  readCgroupStats,
  removeCgroup,
  sharesToWeight,
  signalCgroup,
  writeCgroup,
} from './cgroups.js';
export {
  type CgroupfsMount,
  Container,
  type CreateContainerOptions,
  createContainer,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  type DeviceNode,
  defaultIdMap,
  type IdMapEntry,
  MAX_HOST_ID,
  PRIVILEGED_INIT_CAPABILITIES,
  planCgroupfs,
} from './container.js';
export { ExecutableNotFoundError, NativeArgumentError, NativeError } from './errors.js';
export {
  getXattr,
  idmapMount,
  listXattrs,
  mknod,
  type NodeType,
  openUserNamespace,
  setXattr,
} from './fsops.js';
export {
  createOverlay,
  mountTmpfs,
  RemoveTreeError,
  removeTree,
  unmount,
  unmountAsync,
} from './mounts.js';
export {
  type AddressInfo,
  type BandwidthOptions,
  type BridgeOptions,
  type ContainerLinkOptions,
  checkInterfaceName,
  createContainerLink,
  deleteLinks,
  ensureBridge,
  type LinkInfo,
  listAddresses,
  listLinks,
  listRoutes,
  type NetnsOption,
  NftError,
  nft,
  type RouteInfo,
  randomMac,
  readNetSysctl,
  setBandwidth,
  writeNetSysctl,
} from './network.js';
export {
  type AttachFrom,
  type AttachOptions,
  attach,
  drainShimPool,
  type ExitStatus,
  type OutputDelivery,
  ProcessLostError,
  ShimProcess,
  type SpawnLocation,
  setShimPoolSize,
  spawn,
} from './process.js';
export {
  compileSeccomp,
  DANGEROUS_SYSCALLS,
  evaluateSeccomp,
  type SeccompAction,
  type SeccompData,
  type SeccompFilter,
  type SeccompRule,
  X86_64_SYSCALL_RANGES,
  X86_64_SYSCALLS,
} from './seccomp.js';
export { type ProcessSpec, RLIMITS, type RlimitName, type RlimitValue } from './spec.js';
