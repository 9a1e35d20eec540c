/** The unprivileged seccomp program as the kernel runs it (native-ns's evaluator), and capabilities. */
import { evaluateSeccomp, UNPRIVILEGED_CAPABILITIES, X86_64_SYSCALLS } from '@garden-ts/native-ns';
import { describe, expect, it } from 'vitest';
import { capabilitiesFor, runAs, UNPRIVILEGED_SECCOMP, unprivilegedSeccomp } from './security.js';

const ALLOW = 0x7fff0000;
const EPERM = 0x50001;
const ENOSYS = 0x50026;
const run = (nr: number, arch?: number, arg0?: number) =>
  evaluateSeccomp(unprivilegedSeccomp(), {
    nr,
    ...(arch ? { arch } : {}),
    ...(arg0 ? { args: [arg0] } : {}),
  });

describe('seccomp program', () => {
  it('allows ordinary syscalls, refuses dangerous ones with EPERM', () => {
    for (const nr of [0, 1, 2, 59, 231, 334, 424, 437, 439]) expect(run(nr)).toBe(ALLOW);
    const denied = UNPRIVILEGED_SECCOMP.rules[0]?.syscalls ?? [];
    expect(denied.length).toBeGreaterThan(40);
    for (const name of denied) expect(run(X86_64_SYSCALLS[name as string] as number)).toBe(EPERM);
    expect(run(165)).toBe(EPERM); // mount
    expect(run(272)).toBe(EPERM); // unshare
    for (const nr of [212, 442, 443]) expect(run(nr)).toBe(EPERM); // lookup_dcookie, mount_setattr, quotactl_fd
  });
  it('answers unknown syscalls, clone3, x32 and foreign architectures with ENOSYS', () => {
    for (const nr of [335, 400, 423, 467, 1000]) expect(run(nr)).toBe(ENOSYS);
    expect(run(435)).toBe(ENOSYS); // clone3
    expect(run(0x40000000 + 1)).toBe(ENOSYS);
    expect(run(1, 0x40000003)).toBe(ENOSYS); // i386
  });
  it('allows clone without namespace flags, refuses it with any', () => {
    expect(run(56, undefined, 0x01200011)).toBe(ALLOW); // fork-like flags
    for (const flag of [0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000])
      expect(run(56, undefined, flag | 0x11)).toBe(EPERM);
  });
  it('is compiled once', () => {
    expect(unprivilegedSeccomp()).toBe(unprivilegedSeccomp());
  });
});

describe('capabilities and identity (§5.1)', () => {
  it("gives Guardian's sets by uid and privilege", () => {
    expect(capabilitiesFor(0, false)).toEqual({
      bounding: UNPRIVILEGED_CAPABILITIES,
      effective: UNPRIVILEGED_CAPABILITIES,
      permitted: UNPRIVILEGED_CAPABILITIES,
      inheritable: UNPRIVILEGED_CAPABILITIES,
    });
    expect(capabilitiesFor(1000, false)).toMatchObject({ effective: [], permitted: [] });
    expect(capabilitiesFor(0, true).bounding).toBe((1n << 38n) - 1n);
    expect(capabilitiesFor(1000, true).bounding).toContain('CAP_SYS_ADMIN');
  });
  it('filters only unprivileged processes, and sets no_new_privs for none (setuid works, as in Guardian)', () => {
    const user = { uid: 7, gid: 8, groups: [8, 9] };
    const unprivileged = runAs(user, false);
    expect(unprivileged).toMatchObject({ user, seccomp: unprivilegedSeccomp() });
    expect('noNewPrivileges' in unprivileged).toBe(false);
    const privileged = runAs(user, true);
    expect(privileged.seccomp).toBeUndefined();
    expect('noNewPrivileges' in privileged).toBe(false);
  });
});
