import { describe, expect, it } from 'vitest';
import { NativeArgumentError } from './errors.js';
import { compileSeccomp, defaultDenyFilter, X86_64_SYSCALLS } from './seccomp.js';

/** A tiny classic-BPF interpreter for the instructions compileSeccomp emits. */
function runBpf(prog: Buffer, data: { nr: number; arch: number; args?: number[] }): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr, 0);
  mem.writeUInt32LE(data.arch, 4);
  for (const [i, a] of (data.args ?? []).entries()) mem.writeUInt32LE(a >>> 0, 16 + i * 8);
  let acc = 0;
  for (let pc = 0; pc < prog.length / 8; pc++) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) acc = mem.readUInt32LE(k);
    else if (code === 0x15) pc += acc === k ? jt : jf;
    else if (code === 0x45) pc += (acc & k) !== 0 ? jt : jf;
    else if (code === 0x06) return k;
    else throw new Error(`bad opcode ${code}`);
  }
  throw new Error('fell off the end');
}

const X86 = 0xc000003e;
const ALLOW = 0x7fff0000;

describe('compileSeccomp', () => {
  it('denies what it lists and allows the rest', () => {
    const prog = compileSeccomp({
      defaultAction: 'allow',
      rules: [{ syscalls: ['unshare', 'mount'], action: { errno: 1 } }],
    });
    expect(runBpf(prog, { nr: X86_64_SYSCALLS.unshare as number, arch: X86 })).toBe(0x00050001);
    expect(runBpf(prog, { nr: X86_64_SYSCALLS.mount as number, arch: X86 })).toBe(0x00050001);
    expect(runBpf(prog, { nr: 0, arch: X86 })).toBe(ALLOW);
  });

  it('kills other architectures', () => {
    const prog = compileSeccomp({ defaultAction: 'allow', rules: [] });
    expect(runBpf(prog, { nr: 0, arch: 0x40000003 })).toBe(0x80000000);
  });

  it('supports allow lists with an errno default', () => {
    const prog = compileSeccomp({
      defaultAction: { errno: 38 },
      rules: [{ syscalls: ['read', 1], action: 'allow' }],
    });
    expect(runBpf(prog, { nr: 0, arch: X86 })).toBe(ALLOW);
    expect(runBpf(prog, { nr: 1, arch: X86 })).toBe(ALLOW);
    expect(runBpf(prog, { nr: 2, arch: X86 })).toBe(0x00050026);
  });

  it('refuses clone with namespace flags only', () => {
    const prog = defaultDenyFilter();
    const clone = X86_64_SYSCALLS.clone as number;
    expect(runBpf(prog, { nr: clone, arch: X86, args: [0x01200011] })).toBe(ALLOW); // fork-style
    expect(runBpf(prog, { nr: clone, arch: X86, args: [0x10000000] })).toBe(0x00050001); // CLONE_NEWUSER
    expect(runBpf(prog, { nr: X86_64_SYSCALLS.setns as number, arch: X86 })).toBe(0x00050001);
  });

  it('names bad input', () => {
    expect(() =>
      compileSeccomp({ defaultAction: 'allow', rules: [{ syscalls: ['nope'], action: 'kill' }] }),
    ).toThrow(NativeArgumentError);
    expect(() => compileSeccomp({ defaultAction: { errno: 5000 }, rules: [] })).toThrow(/errno/);
  });
});
