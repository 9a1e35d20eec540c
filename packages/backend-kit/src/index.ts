/**
 * @garden-ts/backend-kit — the Garden/Guardian rules every backend shares, with no backend in
 * them: the NetIn port pool, NetOut rule validation, process env, passwd/group user resolution,
 * handle and process-id rules, the limits a container can run with, and error-chain log fields.
 */
export { defaultPath, mergeEnv, processEnv, ROOT_PATH, USER_PATH } from './env.js';
export { type ErrorFields, errorFields } from './errors.js';
export {
  checkContainerLimits,
  checkProcessLimits,
  MAX_CPU_SHARES,
  MAX_PIDS_LIMIT,
  MIN_CPU_SHARES,
  MIN_MEMORY_LIMIT,
} from './limits.js';
export { checkName, generateName, hostnameOf } from './names.js';
export { validateNetOutRule } from './net-out-rules.js';
export { PortPool } from './port-pool.js';
export {
  type GroupEntry,
  MAX_ID,
  type PasswdEntry,
  parseGroup,
  parsePasswd,
  type ResolvedUser,
  resolveStreamUser,
  resolveUser,
} from './users.js';
