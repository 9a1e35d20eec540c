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
  /** Names from {@link X86_64_SYSCALLS}, or x86_64 numbers (0..2^30-1; higher ones are x32's). */
  syscalls: (string | number)[];
  action: SeccompAction;
}

/**
 * A filter description. What it answers: other architectures and x32 → `foreignArchAction`; `clone`
 * with a namespace flag → EPERM (with `denyCloneNamespaces`); a number a rule names → the first
 * such rule's action; a number outside the reviewed table → `unknownSyscallAction`; else the default.
 */
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
const JA = 0x05;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
const CLONE_NS_FLAGS = 0x7e020000;
const X32_SYSCALL_BIT = 0x40000000;
const EPERM = 1;
/** Classic BPF's limit on a program's length (`BPF_MAXINSNS`). */
const MAX_INSTRUCTIONS = 4096;
/** How far a conditional jump reaches (`jt`/`jf` are one byte). */
const MAX_SHORT_JUMP = 255;

function ret(a: SeccompAction): number {
  if (a === 'allow') return RET_ALLOW;
  if (a === 'kill') return RET_KILL_PROCESS;
  if (!Number.isInteger(a.errno) || a.errno < 0 || a.errno > 4095)
    throw new NativeArgumentError('action.errno', 'must be in 0..4095');
  return (RET_ERRNO | a.errno) >>> 0;
}

function nr(s: string | number): number {
  if (typeof s === 'number') {
    if (!Number.isInteger(s) || s < 0 || s >= X32_SYSCALL_BIT)
      throw new NativeArgumentError('syscalls', `syscall number ${s} is not in 0..${X32_SYSCALL_BIT - 1}`);
    return s;
  }
  const n = X86_64_SYSCALLS[s];
  if (n === undefined) throw new NativeArgumentError('syscalls', `unknown syscall ${s} (pass its number)`);
  return n;
}

type Instruction = [code: number, jt: number, jf: number, k: number];

/**
 * What the filter answers for the syscall numbers from `start` up to the next interval's start: a
 * return value, or for `clone` under `denyCloneNamespaces` the namespace-flag check first.
 */
interface Interval {
  start: number;
  k: number;
  cloneCheck: boolean;
}

/** The filter as a step function over the syscall numbers 0..2^30-1, neighbours merged. */
function intervals(filter: SeccompFilter, fallback: number, unknown: number): Interval[] {
  const named = new Map<number, number>();
  for (const rule of filter.rules) {
    const action = ret(rule.action);
    // The first rule naming a number wins, as in a chain of comparisons.
    for (const s of rule.syscalls) {
      const n = nr(s);
      if (!named.has(n)) named.set(n, action);
    }
  }
  const clone = filter.denyCloneNamespaces ? (X86_64_SYSCALLS.clone as number) : -1;
  const starts = new Set<number>([0, ...(clone >= 0 ? [clone, clone + 1] : [])]);
  for (const n of named.keys()) starts.add(n).add(n + 1);
  for (const [first, last] of X86_64_SYSCALL_RANGES) starts.add(first).add(last + 1);
  const out: Interval[] = [];
  for (const start of [...starts].filter((n) => n < X32_SYSCALL_BIT).sort((a, b) => a - b)) {
    const inTable = X86_64_SYSCALL_RANGES.some(([first, last]) => start >= first && start <= last);
    const k = named.get(start) ?? (inTable ? fallback : unknown);
    const cloneCheck = start === clone;
    const prev = out[out.length - 1];
    if (prev && prev.k === k && prev.cloneCheck === cloneCheck) continue;
    out.push({ start, k, cloneCheck });
  }
  return out;
}

/** A leaf's instructions: its return, after the clone check when it has one. */
function leaf(iv: Interval): Instruction[] {
  const own: Instruction = [RET_K, 0, 0, iv.k];
  if (!iv.cloneCheck) return [own];
  // if (args[0] & NS flags) return EPERM
  return [
    [LD_W_ABS, 0, 0, 16],
    [JSET_K, 0, 1, CLONE_NS_FLAGS],
    [RET_K, 0, 0, (RET_ERRNO | EPERM) >>> 0],
    own,
  ];
}

const leafKey = (iv: Interval) => `${iv.cloneCheck ? 'c' : 'r'}${iv.k}`;

/**
 * A binary search over the intervals whose leaves are shared: one copy of each distinct answer
 * after the comparisons. Undefined when a jump would not reach (a large filter).
 */
function sharedLeavesTree(ivs: Interval[]): Instruction[] | undefined {
  type Node = { start: number; below: Node | Interval; above: Node | Interval };
  const nodes: Node[] = [];
  const build = (lo: number, hi: number): Node | Interval => {
    if (lo === hi) return ivs[lo] as Interval;
    const mid = (lo + hi + 1) >> 1;
    // Preorder: a node, then all nodes of its lower half, then those of its upper half.
    const node = { start: (ivs[mid] as Interval).start } as Node;
    nodes.push(node);
    node.below = build(lo, mid - 1);
    node.above = build(mid, hi);
    return node;
  };
  build(0, ivs.length - 1);
  const leafAt = new Map<string, number>();
  const leaves: Instruction[] = [];
  for (const iv of ivs) {
    const key = leafKey(iv);
    if (leafAt.has(key)) continue;
    leafAt.set(key, nodes.length + leaves.length);
    leaves.push(...leaf(iv));
  }
  const nodeAt = new Map(nodes.map((n, i) => [n, i]));
  const at = (x: Node | Interval) => ('k' in x ? leafAt.get(leafKey(x)) : nodeAt.get(x)) as number;
  const ins: Instruction[] = [];
  for (const [i, node] of nodes.entries()) {
    const jt = at(node.above) - i - 1;
    const jf = at(node.below) - i - 1;
    if (jt > MAX_SHORT_JUMP || jf > MAX_SHORT_JUMP) return undefined;
    ins.push([JGE_K, jt, jf, node.start]);
  }
  return [...ins, ...leaves];
}

/** The same search with each leaf in place; a comparison whose lower half is too long to jump over takes a `JA`. */
function inlineTree(ivs: Interval[], lo: number, hi: number): Instruction[] {
  if (lo === hi) return leaf(ivs[lo] as Interval);
  const mid = (lo + hi + 1) >> 1;
  const start = (ivs[mid] as Interval).start;
  const below = inlineTree(ivs, lo, mid - 1);
  const above = inlineTree(ivs, mid, hi);
  if (below.length <= MAX_SHORT_JUMP) return [[JGE_K, below.length, 0, start], ...below, ...above];
  return [[JGE_K, 0, 1, start], [JA, 0, 0, below.length], ...below, ...above];
}

/**
 * Compiles a filter for x86_64: the architecture and x32 checks, then a binary search over the
 * syscall number (a few comparisons for any number, not one per listed syscall). Why a search and
 * not a chain: the kernel runs the program for every syscall number when the filter is installed
 * (to find the always-allowed ones) and JIT-compiles it, so install time grows with the chain —
 * ~125 µs for Guardian's profile as a chain against ~45 µs as this search, measured on the
 * benchmark VM, paid by every process an unprivileged container starts.
 * @throws NativeArgumentError for unknown names, numbers outside 0..2^30-1 or bad errno values.
 */
export function compileSeccomp(filter: SeccompFilter): Buffer {
  const foreign = ret(filter.foreignArchAction ?? 'kill');
  const fallback = ret(filter.defaultAction);
  const unknown = filter.unknownSyscallAction === undefined ? fallback : ret(filter.unknownSyscallAction);
  const ivs = intervals(filter, fallback, unknown);
  const ins: Instruction[] = [
    [LD_W_ABS, 0, 0, 4], // seccomp_data.arch
    [JEQ_K, 1, 0, AUDIT_ARCH_X86_64],
    [RET_K, 0, 0, foreign],
    [LD_W_ABS, 0, 0, 0], // seccomp_data.nr
    // x32 calls arrive with arch x86_64 and bit 30 set: they would slip past every number below.
    [JGE_K, 0, 1, X32_SYSCALL_BIT],
    [RET_K, 0, 0, foreign],
    ...(sharedLeavesTree(ivs) ?? inlineTree(ivs, 0, ivs.length - 1)),
  ];
  if (ins.length > MAX_INSTRUCTIONS)
    throw new NativeArgumentError('rules', 'program exceeds 4096 instructions');
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
  return runSeccomp(program, data).action;
}

/**
 * @internal {@link evaluateSeccomp} with the number of instructions it executed (what the kernel's
 * filter costs per syscall, and per syscall number when a filter is installed).
 */
export function runSeccomp(program: Buffer, data: SeccompData): { action: number; steps: number } {
  const mem = Buffer.alloc(64);
  mem.writeUInt32LE(data.nr >>> 0, 0);
  mem.writeUInt32LE((data.arch ?? AUDIT_ARCH_X86_64) >>> 0, 4);
  for (const [i, a] of (data.args ?? []).entries()) mem.writeUInt32LE(a >>> 0, 16 + i * 8);
  let acc = 0;
  let steps = 0;
  for (let pc = 0; pc < program.length / 8; pc++) {
    steps++;
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    if (code === LD_W_ABS) acc = mem.readUInt32LE(k);
    else if (code === JEQ_K) pc += acc === k ? jt : jf;
    else if (code === JGE_K) pc += acc >= k ? jt : jf;
    else if (code === JSET_K) pc += (acc & k) !== 0 ? jt : jf;
    else if (code === JA) pc += k;
    else if (code === RET_K) return { action: k, steps };
    else throw new NativeArgumentError('program', `instruction ${pc} has opcode ${code}`);
  }
  throw new NativeArgumentError('program', 'runs past its last instruction');
}
