/**
 * Security defaults of a process (reference §5): Guardian's capability sets, no_new_privs and a
 * seccomp allow-list for unprivileged containers that answers unknown syscalls with ENOSYS (so
 * new libc calls fall back instead of failing) and refuses the dangerous list and every new
 * namespace (EPERM). Privileged containers get all capabilities for root and no filter.
 */

import type { ProcessSpec as NativeProcessSpec } from '@garden-ts/native-ns';
import {
  type CapabilityName,
  DANGEROUS_SYSCALLS,
  UNPRIVILEGED_CAPABILITIES,
  X86_64_SYSCALLS,
} from '@garden-ts/native-ns';

/**
 * Caps 0–37 (through AUDIT_READ): Guardian's privileged root set `3fffffffff`. native-ns clamps
 * every requested set to the server's own bounding set, so a host lacking one still works.
 */
const ALL_GUARDIAN_CAPS = (1n << 38n) - 1n;

/** Capability sets for a process running as `uid` (Guardian tests the uid, we too; §5.1 beat). */
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
  if (uid === 0) {
    return {
      bounding: UNPRIVILEGED_CAPABILITIES,
      effective: UNPRIVILEGED_CAPABILITIES,
      permitted: UNPRIVILEGED_CAPABILITIES,
      inheritable: UNPRIVILEGED_CAPABILITIES,
    };
  }
  return {
    bounding: UNPRIVILEGED_CAPABILITIES,
    effective: [],
    permitted: [],
    inheritable: UNPRIVILEGED_CAPABILITIES,
  };
}

const AUDIT_ARCH_X86_64 = 0xc000003e;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
const CLONE_NS_FLAGS = 0x7e020000;
const X32_BIT = 0x40000000;

/** x86_64 syscall table ranges: 0–334 and 424–466 exist on 6.x kernels. */
const LEGACY_END = 335;
const MODERN_START = 424;
const MODERN_END = 467;

/** Extra syscalls refused with EPERM beyond native-ns's dangerous list (mount API, quotas). */
const EXTRA_DENIED: Record<string, number> = { mount_setattr: 442, quotactl_fd: 443, lookup_dcookie: 212 };

/** The syscall numbers refused with EPERM. */
export function deniedSyscalls(): number[] {
  const out = new Set<number>();
  for (const name of DANGEROUS_SYSCALLS) {
    const n = X86_64_SYSCALLS[name];
    if (n !== undefined) out.add(n);
  }
  for (const n of Object.values(EXTRA_DENIED)) out.add(n);
  return [...out].sort((a, b) => a - b);
}

/**
 * The unprivileged seccomp program (classic BPF, x86_64): other architectures and x32 get ENOSYS;
 * `clone` with a namespace flag and the dangerous list get EPERM; `clone3` gets ENOSYS (its flags
 * live in memory a filter cannot inspect; libc falls back to clone); numbers outside the known
 * table get ENOSYS; everything else is allowed.
 */
export function seccompProgram(): Buffer {
  const ins: [number, number, number, number][] = [];
  const eperm = (RET_ERRNO | EPERM) >>> 0;
  const enosys = (RET_ERRNO | ENOSYS) >>> 0;
  ins.push([LD_W_ABS, 0, 0, 4]);
  ins.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  ins.push([RET_K, 0, 0, enosys]);
  ins.push([LD_W_ABS, 0, 0, 0]);
  ins.push([JGE_K, 0, 1, X32_BIT]);
  ins.push([RET_K, 0, 0, enosys]);
  ins.push([JEQ_K, 0, 4, X86_64_SYSCALLS.clone as number]);
  ins.push([LD_W_ABS, 0, 0, 16]);
  ins.push([JSET_K, 0, 1, CLONE_NS_FLAGS]);
  ins.push([RET_K, 0, 0, eperm]);
  ins.push([RET_K, 0, 0, RET_ALLOW]);
  for (const n of deniedSyscalls()) {
    ins.push([JEQ_K, 0, 1, n]);
    ins.push([RET_K, 0, 0, eperm]);
  }
  ins.push([JEQ_K, 0, 1, X86_64_SYSCALLS.clone3 as number]);
  ins.push([RET_K, 0, 0, enosys]);
  ins.push([JGE_K, 0, 1, MODERN_END]);
  ins.push([RET_K, 0, 0, enosys]);
  ins.push([JGE_K, 0, 1, MODERN_START]);
  ins.push([RET_K, 0, 0, RET_ALLOW]);
  ins.push([JGE_K, 0, 1, LEGACY_END]);
  ins.push([RET_K, 0, 0, enosys]);
  ins.push([RET_K, 0, 0, RET_ALLOW]);
  const b = Buffer.alloc(ins.length * 8);
  ins.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

let cached: Buffer | undefined;
/** {@link seccompProgram}, built once. */
export function defaultSeccomp(): Buffer {
  cached ??= seccompProgram();
  return cached;
}
