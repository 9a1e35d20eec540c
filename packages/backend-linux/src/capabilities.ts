/** What this backend supports, for the backend contract suite (api-types' BackendCapabilities). */
import type { BackendCapabilities } from '@garden-ts/api-types';
import type { LinuxBackendOptions } from './options.js';
import { cgroupLayout } from './runtime/cgroups.js';

/**
 * The capability manifest on this host for a backend made with `options`: limits, TTYs,
 * privileged containers and real metrics from the cgroup; process exits and OOM kills through
 * `events()`; disk limits enforced by the disk store (unless `diskStore: false`: then stored and
 * reported only); peas; networking (container IPs, NetIn/NetOut, network stats) unless the
 * backend is made with `network: false`. CPU limits read back as shares where the cpu controller
 * is on cgroup v1, as the v2 weight otherwise (reference §6.2).
 */
export function linuxBackendCapabilities(
  options: Pick<LinuxBackendOptions, 'diskStore' | 'network'> = {},
): BackendCapabilities {
  return {
    limits: true,
    networking: options.network !== false,
    tty: true,
    privileged: true,
    diskLimits: true,
    diskQuotas: options.diskStore !== false,
    metrics: true,
    cpuLimitsReadBack: cgroupLayout().v1.cpu ? 'shares' : 'v2-weight',
    events: true,
    oomEvents: true,
    peas: true,
  };
}
