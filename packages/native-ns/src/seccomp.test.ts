import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NativeArgumentError } from './errors.js';
import {
  compileSeccomp,
  DANGEROUS_SYSCALLS,
  evaluateSeccomp,
  runSeccomp,
  type SeccompAction,
  type SeccompFilter,
  X86_64_SYSCALL_RANGES,
  X86_64_SYSCALLS,
} from './seccomp.js';

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
    for (const n of [-1, 1.5, 0x40000000])
      expect(() =>
        compileSeccomp({ defaultAction: 'allow', rules: [{ syscalls: [n], action: 'kill' }] }),
      ).toThrow(/syscall number/);
  });

  it("searches instead of chaining: Guardian's profile is short and any number takes a few steps", () => {
    const prog = compileSeccomp({
      defaultAction: 'allow',
      foreignArchAction: { errno: 38 },
      unknownSyscallAction: { errno: 38 },
      denyCloneNamespaces: true,
      rules: [
        { syscalls: DANGEROUS_SYSCALLS, action: { errno: 1 } },
        { syscalls: ['clone3'], action: { errno: 38 } },
      ],
    });
    // A chain of comparisons was 122 instructions, and an allowed call walked nearly all of them.
    expect(prog.length / 8).toBeLessThanOrEqual(64);
    for (let n = 0; n < 600; n++) expect(runSeccomp(prog, { nr: n }).steps).toBeLessThanOrEqual(16);
  });

  it('answers every number as the description says, for small and for large filters', () => {
    const action = fc.oneof(
      fc.constant<SeccompAction>('allow'),
      fc.constant<SeccompAction>('kill'),
      fc.integer({ min: 0, max: 4095 }).map((errno): SeccompAction => ({ errno })),
    );
    const number = fc.oneof(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 0x3fffffff }));
    const filter = fc.record({
      defaultAction: action,
      // up to 400 numbers per rule: large enough that some jumps need the long form
      rules: fc.array(fc.record({ syscalls: fc.array(number, { maxLength: 400 }), action }), {
        maxLength: 4,
      }),
      denyCloneNamespaces: fc.boolean(),
      foreignArchAction: fc.option(action, { nil: undefined }),
      unknownSyscallAction: fc.option(action, { nil: undefined }),
    });
    fc.assert(
      fc.property(filter, fc.array(number, { maxLength: 30 }), (f, probes) => {
        const prog = compileSeccomp(f as SeccompFilter);
        const named = f.rules.flatMap((r) => r.syscalls);
        const clone = X86_64_SYSCALLS.clone as number;
        for (const n of [
          ...probes,
          ...named,
          ...named.map((x) => x + 1),
          clone,
          0,
          334,
          335,
          423,
          424,
          466,
          467,
        ]) {
          for (const args of [[0x11], [0x10000000]])
            expect(run(prog, n, X86, args)).toBe(expected(f as SeccompFilter, n, X86, args));
        }
        expect(run(prog, 1, 0x40000003)).toBe(expected(f as SeccompFilter, 1, 0x40000003, [0]));
        expect(run(prog, 0x40000000 + 1)).toBe(expected(f as SeccompFilter, 0x40000001, X86, [0]));
      }),
      { numRuns: 200 },
    );
  });

  it('reaches every leaf of a filter too large for one-byte jumps', () => {
    const listed = Array.from({ length: 300 }, (_, i) => i * 3);
    const prog = compileSeccomp({
      defaultAction: { errno: 1 },
      rules: [{ syscalls: listed, action: 'allow' }],
    });
    expect(prog.length / 8).toBeGreaterThan(255);
    for (let n = 0; n < 1000; n++) expect(run(prog, n)).toBe(listed.includes(n) ? ALLOW : EPERM);
  });
});

/** The answer the description asks for (the reference the compiled program is checked against). */
function expected(f: SeccompFilter, nr: number, arch: number, args: number[]): number {
  const code = (a: SeccompAction) =>
    a === 'allow' ? ALLOW : a === 'kill' ? KILL : (0x00050000 | a.errno) >>> 0;
  const foreign = code(f.foreignArchAction ?? 'kill');
  if (arch !== X86 || nr >= 0x40000000) return foreign;
  if (f.denyCloneNamespaces && nr === X86_64_SYSCALLS.clone && ((args[0] ?? 0) & 0x7e020000) !== 0)
    return EPERM;
  for (const rule of f.rules)
    if (rule.syscalls.some((s) => (typeof s === 'number' ? s : X86_64_SYSCALLS[s]) === nr))
      return code(rule.action);
  const inTable = X86_64_SYSCALL_RANGES.some(([a, b]) => nr >= a && nr <= b);
  return code(inTable || f.unknownSyscallAction === undefined ? f.defaultAction : f.unknownSyscallAction);
}
