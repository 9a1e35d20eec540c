/**
 * A small classic-BPF assembler for seccomp filters (no libseccomp): deny lists, allow lists and
 * the namespace-flag rule for clone. The output is what `ProcessSpec.seccomp` takes.
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
};

/** Guardian's dangerous list (§5.2), all refused with EPERM by {@link defaultDenyFilter}. */
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
];

/** What a rule does. */
export type SeccompAction = 'allow' | 'kill' | { errno: number };

/** One rule: these syscalls get `action`. */
export interface SeccompRule {
  syscalls: (string | number)[];
  action: SeccompAction;
}

/** A filter description. */
export interface SeccompFilter {
  /** Action for syscalls no rule names. */
  defaultAction: SeccompAction;
  rules: SeccompRule[];
  /** EPERM for clone with any namespace flag (mask 0x7C020000), as Guardian. */
  denyCloneNamespaces?: boolean;
}

const AUDIT_ARCH_X86_64 = 0xc000003e;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const RET_K = 0x06;
const CLONE_NS_FLAGS = 0x7c020000;

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

/**
 * Compiles a filter for x86_64 (other architectures are killed).
 * @throws NativeArgumentError for unknown names or bad errno values.
 */
export function compileSeccomp(filter: SeccompFilter): Buffer {
  const ins: [number, number, number, number][] = [];
  ins.push([LD_W_ABS, 0, 0, 4]); // seccomp_data.arch
  ins.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  ins.push([RET_K, 0, 0, RET_KILL_PROCESS]);
  ins.push([LD_W_ABS, 0, 0, 0]); // seccomp_data.nr
  if (filter.denyCloneNamespaces) {
    // if (nr == clone && (args[0] & NS flags)) return EPERM
    ins.push([JEQ_K, 0, 3, X86_64_SYSCALLS.clone as number]);
    ins.push([LD_W_ABS, 0, 0, 16]); // args[0], low 32 bits
    ins.push([JSET_K, 0, 1, CLONE_NS_FLAGS]);
    ins.push([RET_K, 0, 0, (RET_ERRNO | 1) >>> 0]);
    ins.push([LD_W_ABS, 0, 0, 0]);
  }
  for (const rule of filter.rules) {
    const action = ret(rule.action);
    for (const s of rule.syscalls) {
      ins.push([JEQ_K, 0, 1, nr(s)]);
      ins.push([RET_K, 0, 0, action]);
    }
  }
  ins.push([RET_K, 0, 0, ret(filter.defaultAction)]);
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

/** Allow everything except {@link DANGEROUS_SYSCALLS} (EPERM) and namespace clones (EPERM). */
export function defaultDenyFilter(): Buffer {
  return compileSeccomp({
    defaultAction: 'allow',
    rules: [{ syscalls: DANGEROUS_SYSCALLS, action: { errno: 1 } }],
    denyCloneNamespaces: true,
  });
}
