import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Checks for the environment needs a case can declare in `requires`. Each check returns
 * null when met, or a short human reason shown as "skipped: <reason>".
 * @type {Readonly<Record<string, () => string | null>>}
 */
export const REQUIREMENT_CHECKS = Object.freeze({
  root: () => {
    const uid = process.getuid?.();
    return uid === 0 ? null : `needs root (running as uid ${uid ?? 'unknown'})`;
  },
  go: () => {
    const probe = spawnSync('go', ['version'], { stdio: 'ignore', timeout: 10_000 });
    return probe.status === 0 ? null : 'needs the go toolchain on PATH';
  },
  linux: () => (process.platform === 'linux' ? null : `needs Linux (running on ${process.platform})`),
  cgroup2: () =>
    existsSync('/sys/fs/cgroup/cgroup.controllers') ? null : 'needs a cgroup v2 hierarchy at /sys/fs/cgroup',
});

/** Thrown for a requirement name the harness does not know: a typo must not pass as "skipped". */
export class UnknownRequirementError extends Error {
  /** @param {string} requirement */
  constructor(requirement) {
    super(`unknown requirement '${requirement}' (known: ${Object.keys(REQUIREMENT_CHECKS).join(', ')})`);
    this.name = 'UnknownRequirementError';
  }
}

/**
 * The reasons the unmet requirements in `requires` are unmet; empty when all are met.
 * @param {readonly string[]} requires
 * @param {Readonly<Record<string, () => string | null>>} [checks]
 * @returns {string[]}
 * @throws {UnknownRequirementError} for a name missing from `checks`
 */
export function unmetRequirements(requires, checks = REQUIREMENT_CHECKS) {
  const reasons = [];
  for (const requirement of requires) {
    const check = checks[requirement];
    if (check === undefined) throw new UnknownRequirementError(requirement);
    const reason = check();
    if (reason !== null) reasons.push(reason);
  }
  return reasons;
}
