/**
 * Security defaults of a process (reference §5): Guardian's capability sets, and for unprivileged
 * containers a seccomp filter compiled by native-ns (the one BPF assembler) that answers unknown
 * syscalls with ENOSYS (so new libc calls fall back instead of failing) and refuses the dangerous
 * list and every new namespace with EPERM. Privileged containers get all capabilities for root
 * and no filter. no_new_privs stays off, as Guardian's default (§5.6): setuid binaries of the
 * image work inside the container (`su`, `ping`, `sudo`); the filter is installed while the
 * process still holds CAP_SYS_ADMIN in the container's user namespace, which the kernel accepts
 * instead of no_new_privs.
 */
import type { ProcessSpec as NativeProcessSpec, SeccompFilter } from '@garden-ts/native-ns';
import {
  type CapabilityName,
  compileSeccomp,
  DANGEROUS_SYSCALLS,
  UNPRIVILEGED_CAPABILITIES,
} from '@garden-ts/native-ns';

/**
 * Caps 0–37 (through AUDIT_READ): Guardian's privileged root set `3fffffffff`. native-ns clamps
 * every requested set to the server's own bounding set, so a host lacking one still works.
 */
const ALL_GUARDIAN_CAPS = (1n << 38n) - 1n;

/** Capability sets for a process running as `uid` (Guardian tests the gid, we the uid: §5.1 beat). */
export function capabilitiesFor(
  uid: number,
  privileged: boolean,
): NonNullable<NativeProcessSpec['capabilities']> {
  if (privileged) {
    if (uid === 0)
      return {
        bounding: ALL_GUARDIAN_CAPS,
        effective: ALL_GUARDIAN_CAPS,
        permitted: ALL_GUARDIAN_CAPS,
        inheritable: ALL_GUARDIAN_CAPS,
      };
    const set: CapabilityName[] = [...UNPRIVILEGED_CAPABILITIES, 'CAP_SYS_ADMIN'];
    return { bounding: set, effective: [], permitted: [], inheritable: set };
  }
  const own = uid === 0 ? UNPRIVILEGED_CAPABILITIES : [];
  return {
    bounding: UNPRIVILEGED_CAPABILITIES,
    effective: own,
    permitted: own,
    inheritable: UNPRIVILEGED_CAPABILITIES,
  };
}

const EPERM = { errno: 1 };
const ENOSYS = { errno: 38 };

/**
 * The unprivileged profile (§5.2 with its "beat"): other architectures and x32 → ENOSYS; `clone`
 * with any namespace flag → EPERM; the dangerous list → EPERM; `clone3` → ENOSYS (its flags live
 * in memory a filter cannot read; libc falls back to `clone`); numbers newer than the reviewed
 * table → ENOSYS; everything else is allowed.
 */
export const UNPRIVILEGED_SECCOMP: SeccompFilter = {
  defaultAction: 'allow',
  foreignArchAction: ENOSYS,
  unknownSyscallAction: ENOSYS,
  denyCloneNamespaces: true,
  rules: [
    { syscalls: DANGEROUS_SYSCALLS, action: EPERM },
    { syscalls: ['clone3'], action: ENOSYS },
  ],
};

let compiled: Buffer | undefined;

/** {@link UNPRIVILEGED_SECCOMP} as a BPF program, compiled once. */
export function unprivilegedSeccomp(): Buffer {
  compiled ??= compileSeccomp(UNPRIVILEGED_SECCOMP);
  return compiled;
}

/**
 * Who a process runs as: the user's ids and the security settings that go with them in a
 * privileged or unprivileged container.
 */
export function runAs(
  user: { uid: number; gid: number; groups: number[] },
  privileged: boolean,
): Pick<NativeProcessSpec, 'user' | 'capabilities' | 'seccomp'> {
  return {
    user: { uid: user.uid, gid: user.gid, groups: user.groups },
    capabilities: capabilitiesFor(user.uid, privileged),
    ...(privileged ? {} : { seccomp: unprivilegedSeccomp() }),
  };
}
