/**
 * The one classic-BPF assembler for seccomp filters in garden-ts (no libseccomp): deny lists,
 * allow lists, the namespace-flag rule for clone, an action for foreign architectures and one for
 * syscall numbers newer than the table reviewed here. The output is what `ProcessSpec.seccomp`
 * takes; {@link evaluateSeccomp} runs a program the way the kernel would, for tests.
 */
import { NativeArgumentError } from './errors.js';

/** x86_64 syscall numbers of the calls garden filters mention (extend as needed). */
export const X86_64_SYSCALLS: Record<string, number> = {
  read: 0,
  write: 1,
  open: 2,
  close: 3,
  clone: 56,
  fork: 57,
  vfork: 58,
  execve: 59,
  exit: 60,
  kill: 62,
  ptrace: 101,
  syslog: 103,
  setuid: 105,
  setgid: 106,
  personality: 135,
  mknod: 133,
  vhangup: 153,
  modify_ldt: 154,
  pivot_root: 155,
  _sysctl: 156,
  adjtimex: 159,
  chroot: 161,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  sethostname: 170,
  setdomainname: 171,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  lookup_dcookie: 212,
  clock_settime: 227,
  mbind: 237,
  set_mempolicy: 238,
  get_mempolicy: 239,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  move_pages: 279,
  perf_event_open: 298,
  fanotify_init: 300,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  finit_module: 313,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  clone3: 435,
  mount_setattr: 442,
  quotactl_fd: 443,
};

/**
 * The x86_64 syscall numbers reviewed for garden's filters (inclusive ranges: 0–334 and 424–466,
 * the 6.x table up to removexattrat). A number outside them is newer than this table (or not a
 * syscall): {@link SeccompFilter.unknownSyscallAction} answers it, so a filter never allows a
 * syscall nobody has looked at.
 */
export const X86_64_SYSCALL_RANGES: readonly (readonly [number, number])[] = [
  [0, 334],
  [424, 466],
];

/**
 * Guardian's dangerous list (linux-backend-reference §5.2) plus the calls of the new mount API,
 * `mount_setattr`, `quotactl_fd` and `lookup_dcookie`: what an unprivileged container must never
 * call (backend-linux refuses them with EPERM).
 */
export const DANGEROUS_SYSCALLS = [
  'mount',
  'umount2',
  'unshare',
  'setns',
  'pivot_root',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'quotactl',
  'open_by_handle_at',
  'name_to_handle_at',
  'sethostname',
  'setdomainname',
  'clock_settime',
  'settimeofday',
  'adjtimex',
  'clock_adjtime',
  'iopl',
  'ioperm',
  'vhangup',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'mbind',
  'get_mempolicy',
  'set_mempolicy',
  'fanotify_init',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'quotactl_fd',
  'lookup_dcookie',
];

/** What a rule does. */
export type SeccompAction = 'allow' | 'kill' | { errno: number };

/** One rule: these syscalls get `action`. */
export interface SeccompRule {
  syscalls: (string | number)[];
  action: SeccompAction;
}

/** A filter description. The program checks, in this order: architecture, clone flags, rules, the reviewed table. */
export interface SeccompFilter {
  /** Action for syscalls no rule names. */
  defaultAction: SeccompAction;
  rules: SeccompRule[];
  /**
   * EPERM for `clone` with any namespace flag (Guardian's mask `0x7C020000` plus
   * `CLONE_NEWCGROUP`); `clone` without one goes on to the rules.
   */
  denyCloneNamespaces?: boolean;
  /** Action for other architectures and for the x32 ABI (numbers with bit 30 set). Default `kill`. */
  foreignArchAction?: SeccompAction;
  /**
   * Action for numbers outside {@link X86_64_SYSCALL_RANGES} that no rule names (e.g.
   * `{ errno: ENOSYS }`: a new libc call then falls back instead of failing). Default: `defaultAction`.
   */
  unknownSyscallAction?: SeccompAction;
}

const AUDIT_ARCH_X86_64 = 0xc000003e;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
const CLONE_NS_FLAGS = 0x7e020000;
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;

function ret(a: SeccompAction): number {
  if (a === 'allow') return RET_ALLOW;
  if (a === 'kill') return RET_KILL_PROCESS;
  if (!Number.isInteger(a.errno) || a.errno < 0 || a.errno > 4095)
    throw new NativeArgumentError('action.errno', 'must be in 0..4095');
  return (RET_ERRNO | a.errno) >>> 0;
}

function nr(s: string | number): number {
  if (typeof s === 'number') return s;
  const n = X86_64_SYSCALLS[s];
  if (n === undefined) throw new NativeArgumentError('syscalls', `unknown syscall ${s} (pass its number)`);
  return n;
}

type Instruction = [code: number, jt: number, jf: number, k: number];

/**
 * Compiles a filter for x86_64.
 * @throws NativeArgumentError for unknown names or bad errno values.
 */
export function compileSeccomp(filter: SeccompFilter): Buffer {
  const foreign = ret(filter.foreignArchAction ?? 'kill');
  const fallback = ret(filter.defaultAction);
  const ins: Instruction[] = [];
  ins.push([LD_W_ABS, 0, 0, 4]); // seccomp_data.arch
  ins.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  ins.push([RET_K, 0, 0, foreign]);
  ins.push([LD_W_ABS, 0, 0, 0]); // seccomp_data.nr
  // x32 calls arrive with arch x86_64 and bit 30 set: they would slip past every number below.
  ins.push([JGE_K, 0, 1, X32_SYSCALL_BIT]);
  ins.push([RET_K, 0, 0, foreign]);
  if (filter.denyCloneNamespaces) {
    // if (nr == clone && (args[0] & NS flags)) return EPERM
    ins.push([JEQ_K, 0, 3, X86_64_SYSCALLS.clone as number]);
    ins.push([LD_W_ABS, 0, 0, 16]); // args[0], low 32 bits
    ins.push([JSET_K, 0, 1, CLONE_NS_FLAGS]);
    ins.push([RET_K, 0, 0, (RET_ERRNO | EPERM) >>> 0]);
    ins.push([LD_W_ABS, 0, 0, 0]);
  }
  for (const rule of filter.rules) {
    const action = ret(rule.action);
    for (const s of rule.syscalls) {
      ins.push([JEQ_K, 0, 1, nr(s)]);
      ins.push([RET_K, 0, 0, action]);
    }
  }
  if (filter.unknownSyscallAction !== undefined) {
    // From the top of the table down: above a range → unknown, inside it → the default.
    const unknown = ret(filter.unknownSyscallAction);
    const ranges = [...X86_64_SYSCALL_RANGES].sort((a, b) => b[0] - a[0]);
    for (const [first, last] of ranges) {
      ins.push([JGE_K, 0, 1, last + 1]);
      ins.push([RET_K, 0, 0, unknown]);
      if (first === 0) break;
      ins.push([JGE_K, 0, 1, first]);
      ins.push([RET_K, 0, 0, fallback]);
    }
  }
  ins.push([RET_K, 0, 0, fallback]);
  if (ins.length > 4096) throw new NativeArgumentError('rules', 'program exceeds 4096 instructions');
  const b = Buffer.alloc(ins.length * 8);
  ins.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

/** What a filter sees of a syscall (`struct seccomp_data`; arguments by their low 32 bits). */
export interface SeccompData {
  nr: number;
  /** `AUDIT_ARCH_*`; default x86_64. */
  arch?: number;
  args?: number[];
}

/**
 * Runs a program from {@link compileSeccomp} on one syscall, as the kernel would, and returns the
 * `SECCOMP_RET_*` value (`0x7fff0000` allow, `0x80000000` kill, `0x0005xxxx` errno xxxx). For
 * tests and for answering "what would this filter do with syscall N?".
 * @throws NativeArgumentError for an instruction the assembler never emits.
 */
export function evaluateSeccomp(program: Buffer, data: SeccompData): number {
  const mem = Buffer.alloc(64);
  mem.writeUInt32LE(data.nr >>> 0, 0);
  mem.writeUInt32LE((data.arch ?? AUDIT_ARCH_X86_64) >>> 0, 4);
  for (const [i, a] of (data.args ?? []).entries()) mem.writeUInt32LE(a >>> 0, 16 + i * 8);
  let acc = 0;
  for (let pc = 0; pc < program.length / 8; pc++) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    if (code === LD_W_ABS) acc = mem.readUInt32LE(k);
    else if (code === JEQ_K) pc += acc === k ? jt : jf;
    else if (code === JGE_K) pc += acc >= k ? jt : jf;
    else if (code === JSET_K) pc += (acc & k) !== 0 ? jt : jf;
    else if (code === RET_K) return k;
    else throw new NativeArgumentError('program', `instruction ${pc} has opcode ${code}`);
  }
  throw new NativeArgumentError('program', 'runs past its last instruction');
}
