/**
 * What a backend declares it supports: its capability manifest. The backend itself exports it
 * (backend-fake's `FAKE_BACKEND_CAPABILITIES`, backend-linux's `linuxBackendCapabilities()`), and
 * the backend contract suite (`@garden-ts/backend-contract`) reads it to decide which of its tests
 * apply and what values to expect, so a test file cannot claim more (or less) than the backend
 * does.
 */
export interface BackendCapabilities {
  /** Memory, CPU and bandwidth limits set at create are reported back by `current*Limits`. */
  limits: boolean;
  /**
   * The backend gives containers a network: container IPs in `info`, `netIn` port mappings from a
   * port pool, `netOut`/`bulkNetOut` rules, and `networkStat` in metrics.
   */
  networking: boolean;
  /**
   * Processes can run with a TTY (`ProcessSpec.tty`): stderr merged into stdout, and the window
   * size (at run and after `Process.setTTY`) is what the process sees (`stty size`).
   */
  tty: boolean;
  /** Containers can be created with `privileged: true`. */
  privileged: boolean;
  /** Disk limits set at create are reported back by `currentDiskLimits`. */
  diskLimits: boolean;
  /**
   * Disk limits are enforced, each container with a quota of its own: a process writing beyond
   * an exclusive `byteHard` fails with `Disk quota exceeded` (EDQUOT), and
   * `metrics().diskStat.exclusiveBytesUsed` follows what the container wrote (needs `sh`, `dd`
   * and `rm` in the default image). Default false (limits only reported, as Guardian without an
   * image plugin).
   */
  diskQuotas?: boolean;
  /**
   * Peas: `run` with `image` starts the process in that image's root filesystem and its own mount
   * namespace, sharing the container's network and pid namespaces. The contract runs them from
   * its option `peaImage` (an image URI the backend can use). Default false.
   */
  peas?: boolean;
  /**
   * `metrics`/`bulkMetrics` report real figures: memory in use and CPU time spent by the
   * container's processes (> 0 once something ran), pids current ≥ 1 (its init), a growing age.
   */
  metrics: boolean;
  /**
   * How `currentCPULimits` reports CPU shares S (the request's `weight`, else its
   * `limitInShares`; Guardian, linux-backend-reference §6.2): `shares` = `{ limitInShares: S }`
   * (cgroup v1), `v2-weight` = `{ limitInShares: W(S) }`, the cgroup v2 weight the kernel holds
   * (1024 → 100). `weight` is always 0 (absent) in the reply.
   */
  cpuLimitsReadBack: 'shares' | 'v2-weight';
  /**
   * The target has `events()` (a garden-ts extension) and reports `process.exited` for every
   * process with its exit status: a Backend implementing the optional `Backend.events`, or the
   * client of a garden-ts server over such a backend. Default false.
   */
  events?: boolean;
  /**
   * `events()` also reports `container.created`, `container.destroyed` and `container.reaped`:
   * what the garden-ts server adds (so: targets reached through a server). Default false.
   */
  containerEvents?: boolean;
  /** `events()` reports `container.oom` when the OOM killer fires in a container. Default false. */
  oomEvents?: boolean;
}
