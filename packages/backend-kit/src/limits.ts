/**
 * Limits a container can actually run with (issue 10, item 9). Guardian passes them to the kernel
 * and answers whatever goes wrong afterwards (`exec-init: No child processes` for a 1-byte memory
 * limit, a 500 `ERANGE` for pids.max 2^64−1); these rules refuse them before anything is made,
 * naming the field (its wire name) and the accepted range. 0 always means "no limit".
 *
 * The ranges come from the kernel: `pids.max` accepts 0..PID_MAX_LIMIT (2^22 on 64-bit; a value
 * above `kernel.pid_max` is accepted and just never reached); cgroup v1 `cpu.shares` is clamped to
 * 2..262144 (so another value would read back as something else; runc refuses it likewise) and v2
 * `cpu.weight` 1..10000 is the image of that range; `memory.limit_in_bytes` takes any value
 * (rounded down to pages, 1 byte → 0 pages), but below 1 MiB the container's init and a shell
 * cannot start (measured: 512 KiB lets init start and kills the first process).
 */
import { InvalidRequestError, type Limits, type ProcessLimits } from '@garden-ts/api-types';

/** The smallest memory limit accepted (0 = none). */
export const MIN_MEMORY_LIMIT = 1n << 20n;
/** The kernel's largest `pids.max` (PID_MAX_LIMIT on 64-bit). */
export const MAX_PIDS_LIMIT = 1n << 22n;
/** cgroup v1 `cpu.shares` bounds (the kernel's MIN_SHARES / MAX_SHARES). */
export const MIN_CPU_SHARES = 2n;
export const MAX_CPU_SHARES = 1n << 18n;

function inRange(
  field: string,
  value: bigint | undefined,
  min: bigint,
  max: bigint | undefined,
  what: string,
) {
  if (value === undefined || value === 0n) return;
  if (value >= min && (max === undefined || value <= max)) return;
  const range = max === undefined ? `at least ${min}` : `${min}..${max}`;
  throw new InvalidRequestError(field, `${field} must be 0 (no limit) or ${range} (${what}), got ${value}`);
}

function checkMemoryAndCpu(prefix: string, limits: Limits | ProcessLimits | undefined): void {
  inRange(
    `${prefix}.memory_limits.limit_in_bytes`,
    limits?.memory?.limitInBytes,
    MIN_MEMORY_LIMIT,
    undefined,
    'bytes; a container does not start below 1 MiB',
  );
  for (const [key, value] of [
    ['weight', limits?.cpu?.weight],
    ['limit_in_shares', limits?.cpu?.limitInShares],
  ] as const) {
    inRange(`${prefix}.cpu_limits.${key}`, value, MIN_CPU_SHARES, MAX_CPU_SHARES, 'cgroup CPU shares');
  }
}

/**
 * Refuses container limits the kernel cannot take.
 * @throws InvalidRequestError naming the field (`limits.pid_limits.max`, …) and the range.
 */
export function checkContainerLimits(limits: Limits | undefined): void {
  checkMemoryAndCpu('limits', limits);
  inRange('limits.pid_limits.max', limits?.pid?.max, 1n, MAX_PIDS_LIMIT, "the kernel's largest pids.max");
}

/**
 * Refuses a process's own limits (`ProcessSpec.overrideContainerLimits`, wire `limits`) the kernel
 * cannot take.
 * @throws InvalidRequestError naming the field and the range.
 */
export function checkProcessLimits(limits: ProcessLimits | undefined): void {
  checkMemoryAndCpu('limits', limits);
}
