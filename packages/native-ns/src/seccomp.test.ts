import { describe, expect, it } from 'vitest';
import { NativeArgumentError } from './errors.js';
import { compileSeccomp, evaluateSeccomp, X86_64_SYSCALL_RANGES, X86_64_SYSCALLS } from './seccomp.js';

const X86 = 0xc000003e;
const ALLOW = 0x7fff0000;
const KILL = 0x80000000;
const EPERM = 0x00050001;
const ENOSYS = 0x00050026;
const run = (prog: Buffer, nr: number, arch = X86, args?: number[]) =>
  evaluateSeccomp(prog, { nr, arch, ...(args ? { args } : {}) });

describe('compileSeccomp', () => {
  it('denies what it lists and allows the rest', () => {
    const prog = compileSeccomp({
      defaultAction: 'allow',
      rules: [{ syscalls: ['unshare', 'mount'], action: { errno: 1 } }],
    });
    expect(run(prog, X86_64_SYSCALLS.unshare as number)).toBe(EPERM);
    expect(run(prog, X86_64_SYSCALLS.mount as number)).toBe(EPERM);
    expect(run(prog, 0)).toBe(ALLOW);
  });

  it('kills other architectures and the x32 ABI by default, or answers them as told', () => {
    const prog = compileSeccomp({ defaultAction: 'allow', rules: [] });
    expect(run(prog, 0, 0x40000003)).toBe(KILL); // i386
    expect(run(prog, 0x40000000 + 165)).toBe(KILL); // x32 mount
    const enosys = compileSeccomp({ defaultAction: 'allow', rules: [], foreignArchAction: { errno: 38 } });
    expect(run(enosys, 1, 0x40000003)).toBe(ENOSYS);
    expect(run(enosys, 0x40000001)).toBe(ENOSYS);
    expect(run(enosys, 1)).toBe(ALLOW);
  });

  it('supports allow lists with an errno default', () => {
    const prog = compileSeccomp({
      defaultAction: { errno: 38 },
      rules: [{ syscalls: ['read', 1], action: 'allow' }],
    });
    expect(run(prog, 0)).toBe(ALLOW);
    expect(run(prog, 1)).toBe(ALLOW);
    expect(run(prog, 2)).toBe(ENOSYS);
  });

  it('refuses clone with any namespace flag only, then applies the rules', () => {
    const prog = compileSeccomp({
      defaultAction: 'allow',
      rules: [{ syscalls: ['setns'], action: { errno: 1 } }],
      denyCloneNamespaces: true,
    });
    const clone = X86_64_SYSCALLS.clone as number;
    expect(run(prog, clone, X86, [0x01200011])).toBe(ALLOW); // fork-style
    // NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
    for (const flag of [0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000])
      expect(run(prog, clone, X86, [flag | 0x11])).toBe(EPERM);
    expect(run(prog, X86_64_SYSCALLS.setns as number)).toBe(EPERM);
  });

  it('answers numbers outside the reviewed table with unknownSyscallAction; rules still win', () => {
    const prog = compileSeccomp({
      defaultAction: 'allow',
      rules: [{ syscalls: ['io_uring_setup'], action: { errno: 1 } }],
      unknownSyscallAction: { errno: 38 },
    });
    expect(X86_64_SYSCALL_RANGES).toEqual([
      [0, 334],
      [424, 466],
    ]);
    for (const nr of [0, 59, 334, 424, 435, 466]) expect(run(prog, nr)).toBe(ALLOW);
    for (const nr of [335, 400, 423, 467, 1000, 0x3fffffff]) expect(run(prog, nr)).toBe(ENOSYS);
    expect(run(prog, 425)).toBe(EPERM);
    // without it, the default answers everything no rule names
    expect(run(compileSeccomp({ defaultAction: 'allow', rules: [] }), 467)).toBe(ALLOW);
  });

  it('names bad input', () => {
    expect(() =>
      compileSeccomp({ defaultAction: 'allow', rules: [{ syscalls: ['nope'], action: 'kill' }] }),
    ).toThrow(NativeArgumentError);
    expect(() => compileSeccomp({ defaultAction: { errno: 5000 }, rules: [] })).toThrow(/errno/);
    expect(() =>
      compileSeccomp({ defaultAction: 'allow', rules: [], foreignArchAction: { errno: -1 } }),
    ).toThrow(/errno/);
    expect(() => evaluateSeccomp(Buffer.from([0x07, 0, 0, 0, 0, 0, 0, 0]), { nr: 0 })).toThrow(/opcode 7/);
  });
});
