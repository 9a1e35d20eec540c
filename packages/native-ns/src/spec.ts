/** Validation and binary encoding of a process spec for garden-shim (mirrors native/spec.h). */
import { type CapabilitySet, capabilityMask } from './capabilities.js';
import { NativeArgumentError } from './errors.js';

/** The 16 RLIMIT_* resources, by the names Garden uses. */
export const RLIMITS = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
} as const;
/** An rlimit name. */
export type RlimitName = keyof typeof RLIMITS;
/** A value sets soft = hard; a pair sets them separately. `Infinity` is RLIM_INFINITY. */
export type RlimitValue = number | bigint | { soft: number | bigint; hard: number | bigint };

/** What to run inside a container. */
export interface ProcessSpec {
  /** Executable: absolute, or searched in the `PATH` of `env` (default by uid, as Guardian). */
  path: string;
  /** argv, including argv[0]; defaults to `[path]`. */
  args?: string[];
  /** The complete environment, `KEY=value`. */
  env?: string[];
  /** Working directory; must exist (a missing one fails with stage `chdir`). */
  cwd?: string;
  /** Numeric ids (the caller resolves names). Default 0:0 without supplementary groups. */
  user?: { uid: number; gid: number; groups?: number[] };
  rlimits?: Partial<Record<RlimitName, RlimitValue>>;
  noNewPrivileges?: boolean;
  /**
   * Capability sets; without it the process keeps what the container's root has. Every set is
   * intersected with the bounding set of the shim (inherited from the server), since a capability
   * the server itself lacks can be neither kept nor raised: asking for it is not an error, the
   * process simply does not get it.
   */
  capabilities?: {
    bounding: CapabilitySet;
    effective: CapabilitySet;
    permitted: CapabilitySet;
    inheritable: CapabilitySet;
    ambient?: CapabilitySet;
  };
  /** A classic BPF program (`struct sock_filter[]`, 8 bytes each), e.g. from {@link compileSeccomp}. */
  seccomp?: Buffer;
  /** A pty instead of pipes; stderr merges into stdout. */
  tty?: { columns?: number; rows?: number };
  /** Host cgroup directories to join; `spawn` defaults to the container's (pass [] for none). */
  cgroups?: string[];
  /** Bytes kept per output stream while nobody reads (default 1 MiB). */
  ringCapacity?: number;
  /**
   * Run this *host* executable instead of looking `path` up inside the container: an absolute
   * path to a statically linked binary (its libraries would have to come from the image). The
   * shim opens it before entering the container and execs a sealed in-memory copy, so nothing of
   * the host is mounted into the container and the process cannot write the host's file through
   * `/proc/self/exe`. `path` then only names it in errors; `args[0]` is its argv[0].
   */
  hostExecutable?: string;
}

const T = {
  path: 1,
  arg: 2,
  env: 3,
  cwd: 4,
  uid: 5,
  gid: 6,
  groups: 7,
  rlimit: 8,
  nnp: 9,
  caps: 10,
  seccomp: 11,
  tty: 12,
  cgroup: 13,
  ring: 14,
  container: 15,
  dir: 16,
  hostExec: 17,
  stdioOwner: 18,
} as const;

const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

function rec(tag: number, data: Buffer): Buffer {
  const h = Buffer.allocUnsafe(6);
  h.writeUInt16LE(tag, 0);
  h.writeUInt32LE(data.length, 2);
  return Buffer.concat([h, data]);
}
function str(field: string, v: unknown): Buffer {
  if (typeof v !== 'string') throw new NativeArgumentError(field, 'must be a string');
  if (v.includes('\0')) throw new NativeArgumentError(field, 'must not contain NUL');
  return Buffer.from(v);
}
function u32(field: string, v: unknown, max = 0xffff_ffff): Buffer {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new NativeArgumentError(field, `must be an integer in 0..${max}`);
  }
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(v, 0);
  return b;
}
function u64(field: string, v: unknown): bigint {
  if (v === Number.POSITIVE_INFINITY) return RLIM_INFINITY;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v <= RLIM_INFINITY) return v;
  throw new NativeArgumentError(field, 'must be a non-negative integer or Infinity');
}

/**
 * Validates and encodes a spec.
 * @throws NativeArgumentError naming the bad field.
 */
export function encodeSpec(
  spec: ProcessSpec,
  container: { joinUserNs: boolean } | null,
  dir: string,
  /** Host ids the stdio pipes are given to (the process's user through the container's map). */
  stdioOwner?: { uid: number; gid: number },
): Buffer {
  if (typeof spec !== 'object' || spec === null) throw new NativeArgumentError('spec', 'must be an object');
  if (!spec.path) throw new NativeArgumentError('path', 'must be a non-empty string');
  const parts: Buffer[] = [rec(T.path, str('path', spec.path))];
  for (const [i, a] of (spec.args ?? [spec.path]).entries()) parts.push(rec(T.arg, str(`args[${i}]`, a)));
  for (const [i, e] of (spec.env ?? []).entries()) {
    const b = str(`env[${i}]`, e);
    if (!e.includes('=')) throw new NativeArgumentError(`env[${i}]`, 'must look like KEY=value');
    parts.push(rec(T.env, b));
  }
  if (spec.cwd !== undefined) parts.push(rec(T.cwd, str('cwd', spec.cwd)));
  {
    // Always switch ids: the shim runs as host root, which a user namespace leaves unmapped.
    const user = spec.user ?? { uid: 0, gid: 0, groups: [] };
    parts.push(rec(T.uid, u32('user.uid', user.uid, 0x7fff_ffff)));
    parts.push(rec(T.gid, u32('user.gid', user.gid, 0x7fff_ffff)));
    const groups = user.groups ?? [];
    parts.push(rec(T.groups, Buffer.concat(groups.map((g, i) => u32(`user.groups[${i}]`, g, 0x7fff_ffff)))));
  }
  for (const [name, value] of Object.entries(spec.rlimits ?? {})) {
    const res = RLIMITS[name as RlimitName];
    if (res === undefined) throw new NativeArgumentError(`rlimits.${name}`, 'unknown rlimit');
    if (value === undefined) continue;
    const pair =
      typeof value === 'object' && typeof value !== 'bigint' ? value : { soft: value, hard: value };
    const soft = u64(`rlimits.${name}.soft`, pair.soft);
    const hard = u64(`rlimits.${name}.hard`, pair.hard);
    if (soft > hard) throw new NativeArgumentError(`rlimits.${name}`, 'soft must not exceed hard');
    const b = Buffer.allocUnsafe(20);
    b.writeUInt32LE(res, 0);
    b.writeBigUInt64LE(soft, 4);
    b.writeBigUInt64LE(hard, 12);
    parts.push(rec(T.rlimit, b));
  }
  if (spec.noNewPrivileges) parts.push(rec(T.nnp, Buffer.alloc(0)));
  if (spec.capabilities) {
    const c = spec.capabilities;
    const b = Buffer.allocUnsafe(40);
    const sets: [string, CapabilitySet | undefined][] = [
      ['bounding', c.bounding],
      ['effective', c.effective],
      ['permitted', c.permitted],
      ['inheritable', c.inheritable],
      ['ambient', c.ambient ?? 0n],
    ];
    for (const [i, [name, set]] of sets.entries()) {
      if (set === undefined) throw new NativeArgumentError(`capabilities.${name}`, 'is required');
      let m: bigint;
      try {
        m = capabilityMask(set);
      } catch (e) {
        throw new NativeArgumentError(`capabilities.${name}`, (e as Error).message);
      }
      b.writeBigUInt64LE(m, i * 8);
    }
    parts.push(rec(T.caps, b));
  }
  if (spec.seccomp !== undefined) {
    if (!Buffer.isBuffer(spec.seccomp) || spec.seccomp.length === 0 || spec.seccomp.length % 8 !== 0) {
      throw new NativeArgumentError('seccomp', 'must be a non-empty Buffer of 8-byte sock_filter entries');
    }
    parts.push(rec(T.seccomp, spec.seccomp));
  }
  if (spec.tty) {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt16LE(u32('tty.columns', spec.tty.columns ?? 80, 0xffff).readUInt32LE(0), 0);
    b.writeUInt16LE(u32('tty.rows', spec.tty.rows ?? 24, 0xffff).readUInt32LE(0), 2);
    parts.push(rec(T.tty, b));
  }
  for (const [i, c] of (spec.cgroups ?? []).entries()) {
    if (!c.startsWith('/')) throw new NativeArgumentError(`cgroups[${i}]`, 'must be an absolute path');
    parts.push(rec(T.cgroup, str(`cgroups[${i}]`, c)));
  }
  if (spec.ringCapacity !== undefined) {
    const cap = spec.ringCapacity;
    if (!Number.isInteger(cap) || cap < 4096 || cap > 2 ** 32) {
      throw new NativeArgumentError('ringCapacity', 'must be an integer in 4096..2^32');
    }
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt(cap), 0);
    parts.push(rec(T.ring, b));
  }
  if (spec.hostExecutable !== undefined) {
    if (typeof spec.hostExecutable !== 'string' || !spec.hostExecutable.startsWith('/'))
      throw new NativeArgumentError('hostExecutable', 'must be an absolute host path');
    parts.push(rec(T.hostExec, str('hostExecutable', spec.hostExecutable)));
  }
  if (stdioOwner) {
    parts.push(
      rec(
        T.stdioOwner,
        Buffer.concat([u32('stdioOwner.uid', stdioOwner.uid), u32('stdioOwner.gid', stdioOwner.gid)]),
      ),
    );
  }
  if (container) parts.push(rec(T.container, u32('container', container.joinUserNs ? 1 : 0)));
  if (typeof dir !== 'string' || !dir.startsWith('/'))
    throw new NativeArgumentError('dir', 'must be an absolute path');
  parts.push(rec(T.dir, str('dir', dir)));
  return Buffer.concat(parts);
}
