/**
 * Processes supervised by garden-shim: spawn, attach (also from a new server process after a
 * crash), stdin, signals, resize, exit status, with an on-disk fallback once the shim is gone.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Container } from './container.js';
import { ExecutableNotFoundError, NativeArgumentError, NativeError } from './errors.js';
import { loadBinding, nativeArtifacts } from './native.js';
import {
  ATTACH_STATUS_ONLY,
  ClientFrame,
  encodeFrame,
  FROM_UNDELIVERED,
  FrameDecoder,
  ShimFrame,
} from './protocol.js';
import { encodeSpec, type ProcessSpec } from './spec.js';

/** How a process ended. `exitStatus` is the code, or 128 + signal. */
export interface ExitStatus {
  exitStatus: number;
  code: number | null;
  signal: number | null;
}

/** Where an attacher starts reading each stream. */
export type AttachFrom = 'start' | 'undelivered';

/** Thrown by `wait()` when neither the shim nor an exit file exists. */
export class ProcessLostError extends Error {
  constructor(dir: string) {
    super(`could not find the exitcode file for the process: ${join(dir, 'exit')}`);
    this.name = 'ProcessLostError';
  }
}

const RING_HEADER = 32;

/** Reads a ring file from `from`; returns the bytes still kept and the new offset. */
export function readRingFile(path: string, from: bigint): { data: Buffer; next: bigint; lost: bigint } {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(RING_HEADER);
    readSync(fd, h, 0, RING_HEADER, 0);
    if (h.subarray(0, 8).toString('latin1') !== 'GRDNRING') throw new Error(`${path}: not a ring file`);
    const cap = h.readBigUInt64LE(8);
    const head = h.readBigUInt64LE(16);
    const oldest = head > cap ? head - cap : 0n;
    const start = from < oldest ? oldest : from;
    const parts: Buffer[] = [];
    let pos = start;
    while (pos < head) {
      const at = pos % cap;
      const left = head - pos;
      // biome-ignore lint/complexity/useMathMinMax: bigint operands (Math.min takes numbers)
      const n = Number(left < cap - at ? left : cap - at);
      const b = Buffer.alloc(n);
      readSync(fd, b, 0, n, Number(BigInt(RING_HEADER) + at));
      parts.push(b);
      pos += BigInt(n);
    }
    return { data: Buffer.concat(parts), next: head > start ? head : start, lost: start - from };
  } finally {
    closeSync(fd);
  }
}

/**
 * When output counts as delivered, i.e. what a later `attach(dir, { from: 'undelivered' })` (a
 * server restarted after a crash) no longer gets:
 * - `'read'` (default): once this attachment's consumer has taken the bytes from `stdout` /
 *   `stderr` (their `'data'` listeners have returned, or `read()` returned them). A consumer that
 *   writes them on synchronously (`pipe()`, a `'data'` listener) has handed them to the kernel
 *   by then, unless its destination buffers in memory (a writable's queue while it is full).
 * - `'manual'`: only what {@link ShimProcess.markDelivered} reports, e.g. from the callback of
 *   the destination's `write()` — nothing a dying server still held in memory is lost.
 */
export type OutputDelivery = 'read' | 'manual';

function checkDelivery(v: unknown): OutputDelivery {
  if (v === undefined) return 'read';
  if (v !== 'read' && v !== 'manual') throw new NativeArgumentError('delivery', "must be 'read' or 'manual'");
  return v;
}

/**
 * The delivered marks of the ring files this process writes (header bytes 24..31: consumers own
 * them, the shim only reads them for an 'undelivered' attacher). One fd per ring, shared by every
 * attachment in this process, opened on first use and closed when a stream is done or idle; a
 * mark only moves forward. One pwrite per consumed chunk, synchronously right after the hand-off,
 * so a server killed at any moment has marked exactly what it handed on (docs/architecture.md,
 * "What survives a server crash", for the one gap: between the hand-off's syscall and this one).
 */
interface RingMark {
  fd: number;
  mark: bigint;
  used: number;
}
const ringMarks = new Map<string, RingMark>();
const markBuf = Buffer.alloc(8);
let markSweeper: NodeJS.Timeout | undefined;

function writeMark(path: string, offset: bigint): void {
  let m = ringMarks.get(path);
  if (!m) {
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch {
      return; // the process dir is gone: nobody can attach to it any more
    }
    readSync(fd, markBuf, 0, 8, 24);
    m = { fd, mark: markBuf.readBigUInt64LE(0), used: 0 };
    ringMarks.set(path, m);
    markSweeper ??= setInterval(sweepMarks, 5000).unref();
  }
  m.used = Date.now();
  if (offset <= m.mark) return;
  markBuf.writeBigUInt64LE(offset, 0);
  try {
    writeSync(m.fd, markBuf, 0, 8, 24);
    m.mark = offset;
  } catch {
    releaseMark(path); // unmarked bytes are only sent again, never lost
  }
}

function releaseMark(path: string): void {
  const m = ringMarks.get(path);
  if (m) {
    ringMarks.delete(path);
    closeSync(m.fd);
  }
  if (ringMarks.size === 0 && markSweeper) {
    clearInterval(markSweeper);
    markSweeper = undefined;
  }
}

/** Closes the fds of rings nobody marked for a while (a 'manual' consumer that stopped). */
function sweepMarks(): void {
  const idle = Date.now() - 5000;
  for (const [path, m] of ringMarks) if (m.used < idle) releaseMark(path);
}

/** A PassThrough that reports how many bytes its consumer took, after each 'data' emission. */
class OutputStream extends PassThrough {
  constructor(private readonly onTaken: (bytes: number) => void) {
    super();
  }

  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override emit(event: string | symbol, ...args: any[]): boolean {
    const handled = super.emit(event, ...args);
    if (event === 'data') {
      const chunk = args[0] as Buffer | string;
      this.onTaken(
        typeof chunk === 'string'
          ? Buffer.byteLength(chunk, (this.readableEncoding ?? 'utf8') as BufferEncoding)
          : chunk.length,
      );
    }
    return handled;
  }
}

function signalNumber(sig: number | NodeJS.Signals): number {
  const n = typeof sig === 'number' ? sig : osConstants.signals[sig];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64) {
    throw new NativeArgumentError('signal', `unknown signal ${String(sig)}`);
  }
  return n;
}

/**
 * A process supervised by a garden-shim. Output arrives on `stdout` / `stderr` (stdout only for
 * a tty); `wait()` resolves once the process exited and both streams ended.
 */
export class ShimProcess {
  /** Host pid of the process (0 until known). */
  pid = 0;
  /** Host pid of the supervising garden-shim when this server spawned it (0 otherwise). */
  shimPid = 0;
  readonly stdout = new OutputStream((n) => this.taken(0, n));
  readonly stderr = new OutputStream((n) => this.taken(1, n));
  /** Bytes skipped per stream because the ring overwrote them before we read them. */
  readonly lostBytes: [bigint, bigint] = [0n, 0n];
  private readonly offsets: [bigint, bigint] = [0n, 0n];
  private readonly ended: [boolean, boolean] = [false, false];
  private readonly decoder = new FrameDecoder();
  private exit: ExitStatus | undefined;
  private readonly exitPromise: Promise<ExitStatus>;
  private resolveExit!: (e: ExitStatus) => void;
  private rejectExit!: (e: Error) => void;
  private startResolve?: (pid: number) => void;
  private startReject?: (e: Error) => void;
  private detached = false;
  private outputless = false;
  /** Streams whose consumer asked for backpressure; the socket is paused while any is listed. */
  private readonly backedUp = new Set<0 | 1>();
  /** Pending wait for the socket to drain our stdin frames (one shared by all writers). */
  private socketDrain: Promise<void> | undefined;
  /** Ring offsets of the bytes in each stream not yet marked delivered, in order. */
  private readonly unmarked: [{ offset: bigint; length: number }[], { offset: bigint; length: number }[]] = [
    [],
    [],
  ];
  private readonly rings: [string, string];

  /** @internal */
  constructor(
    readonly dir: string,
    private socket: Socket | null,
    private readonly execPath = '',
    /** When output counts as delivered ({@link OutputDelivery}). */
    readonly delivery: OutputDelivery = 'read',
  ) {
    this.rings = [join(dir, 'stdout.ring'), join(dir, 'stderr.ring')];
    for (const i of [0, 1] as const) {
      // 'read': all taken and marked by now; 'manual': whatever is still unmarked stays so.
      (i === 0 ? this.stdout : this.stderr).once('end', () => {
        if (this.delivery === 'read' || this.unmarked[i].length === 0) releaseMark(this.rings[i]);
      });
    }
    this.exitPromise = new Promise((resolve, reject) => {
      this.resolveExit = resolve;
      this.rejectExit = reject;
    });
    this.exitPromise.catch(() => {}); // observed through wait()
    if (socket) this.bind(socket);
  }

  /** @internal resolves with the pid once the shim reports STARTED, or rejects with its error. */
  started(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.startResolve = resolve;
      this.startReject = reject;
    });
  }

  /** @internal */
  bind(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      let frames: ReturnType<FrameDecoder['push']>;
      try {
        frames = this.decoder.push(chunk);
      } catch (e) {
        socket.destroy(e as Error);
        return;
      }
      for (const f of frames) this.onFrame(f.type, f.stream, f.value, f.payload);
    });
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.onClose());
  }

  private onFrame(type: number, stream: number, value: bigint, payload: Buffer): void {
    switch (type) {
      case ShimFrame.Started:
        this.pid = Number(value);
        this.startResolve?.(this.pid);
        this.startResolve = this.startReject = undefined;
        break;
      case ShimFrame.Error: {
        const stage = payload.toString();
        const errno = Number(value);
        const err =
          stage === 'exec' && errno === osConstants.errno.ENOENT
            ? new ExecutableNotFoundError(this.execPath)
            : new NativeError(stage, errno, stage === 'exec' ? 'execve' : '');
        this.startReject?.(err);
        this.startResolve = this.startReject = undefined;
        this.rejectExit(err);
        break;
      }
      case ShimFrame.Output:
        if (stream === 1 || stream === 2) this.deliver(stream - 1, value, payload);
        break;
      case ShimFrame.Eof:
        if (stream === 1 || stream === 2) this.endStream(stream - 1);
        break;
      case ShimFrame.Exit:
        this.finish(Number(value));
        break;
      default:
        this.socket?.destroy(new Error(`unknown shim frame ${type}`));
    }
  }

  private deliver(i: 0 | 1 | number, offset: bigint, data: Buffer): void {
    const idx = i as 0 | 1;
    if (this.ended[idx]) return;
    if (offset > this.offsets[idx]) this.lostBytes[idx] += offset - this.offsets[idx];
    if (offset + BigInt(data.length) <= this.offsets[idx]) return; // already have it
    const skip = offset < this.offsets[idx] ? Number(this.offsets[idx] - offset) : 0;
    this.offsets[idx] = offset + BigInt(data.length);
    const queue = this.unmarked[idx];
    const last = queue[queue.length - 1];
    const from = offset + BigInt(skip);
    if (last && last.offset + BigInt(last.length) === from) last.length += data.length - skip;
    else queue.push({ offset: from, length: data.length - skip });
    const stream = idx === 0 ? this.stdout : this.stderr;
    if (!stream.write(skip ? data.subarray(skip) : data) && this.socket && !this.backedUp.has(idx)) {
      // Backpressure: stop reading the socket until this consumer drains. The shim then keeps
      // the bytes in its ring and, once the ring is full, stops reading the process's pipe, so
      // the process blocks in write() instead of losing output.
      const s = this.socket;
      this.backedUp.add(idx);
      s.pause();
      const resume = (): void => {
        stream.off('drain', resume);
        stream.off('close', resume);
        this.backedUp.delete(idx);
        if (this.backedUp.size === 0 && !s.destroyed) s.resume();
      };
      stream.on('drain', resume);
      stream.on('close', resume);
    }
  }

  /** `bytes` more of stream `i` were handed on: mark them delivered in its ring. */
  private advance(i: 0 | 1, bytes: number): void {
    const queue = this.unmarked[i];
    let left = bytes;
    let mark: bigint | undefined;
    while (left > 0 && queue.length > 0) {
      const seg = queue[0] as { offset: bigint; length: number };
      const n = Math.min(left, seg.length);
      seg.offset += BigInt(n);
      seg.length -= n;
      left -= n;
      mark = seg.offset;
      if (seg.length === 0) queue.shift();
    }
    if (mark !== undefined) writeMark(this.rings[i], mark);
  }

  private taken(i: 0 | 1, bytes: number): void {
    if (this.delivery === 'read') this.advance(i, bytes);
  }

  /**
   * With `delivery: 'manual'`: the next `bytes` bytes of `stream` (in the order they were read
   * from it) have been handed on, so a later `from: 'undelivered'` attacher does not get them
   * again. Call it once they are safe, e.g. from the destination's write callback.
   * @throws NativeArgumentError with `delivery: 'read'` (marking is automatic), or for a count
   * that is not a non-negative integer.
   */
  markDelivered(stream: 'stdout' | 'stderr', bytes: number): void {
    if (this.delivery !== 'manual')
      throw new NativeArgumentError('delivery', "markDelivered needs delivery: 'manual'");
    if (!Number.isSafeInteger(bytes) || bytes < 0)
      throw new NativeArgumentError('bytes', 'must be a non-negative integer');
    const i = stream === 'stderr' ? 1 : 0;
    this.advance(i, bytes);
    const s = i === 0 ? this.stdout : this.stderr;
    if (this.unmarked[i].length === 0 && s.readableEnded) releaseMark(this.rings[i]);
  }

  private endStream(i: number): void {
    const idx = i as 0 | 1;
    if (this.ended[idx]) return;
    this.ended[idx] = true;
    (idx === 0 ? this.stdout : this.stderr).end();
  }

  private finish(exitStatus: number): void {
    this.exit = {
      exitStatus,
      code: exitStatus < 128 ? exitStatus : null,
      signal: exitStatus >= 128 ? exitStatus - 128 : null,
    };
    this.endStream(0);
    this.endStream(1);
    this.resolveExit(this.exit);
    this.socket?.end();
  }

  private onClose(): void {
    this.socket = null;
    if (this.startReject) {
      this.startReject(
        new NativeError(
          'spawn',
          osConstants.errno.EPIPE,
          '',
          'garden-shim exited before starting the process',
        ),
      );
      this.startResolve = this.startReject = undefined;
    }
    if (this.exit || this.detached) return;
    this.readFromDisk();
  }

  /** Replays what the rings still hold from our offsets and finishes from the exit file. */
  /** @internal starts both streams at the rings' delivered offsets. */
  startAtDelivered(): void {
    for (const [i, name] of (['stdout.ring', 'stderr.ring'] as const).entries()) {
      const path = join(this.dir, name);
      if (!existsSync(path)) continue;
      const h = Buffer.alloc(RING_HEADER);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, h, 0, RING_HEADER, 0);
      } finally {
        closeSync(fd);
      }
      this.offsets[i as 0 | 1] = h.readBigUInt64LE(24);
    }
  }

  /** @internal status-only attachment: both streams end empty at once, only the exit is awaited. */
  statusOnly(): void {
    this.outputless = true;
    this.endStream(0);
    this.endStream(1);
  }

  /** @internal */
  readFromDisk(): void {
    const exitFile = join(this.dir, 'exit');
    if (!existsSync(exitFile)) {
      this.endStream(0);
      this.endStream(1);
      this.rejectExit(new ProcessLostError(this.dir));
      return;
    }
    for (const [i, name] of (['stdout.ring', 'stderr.ring'] as const).entries()) {
      const path = join(this.dir, name);
      if (this.outputless || !existsSync(path)) continue;
      const r = readRingFile(path, this.offsets[i as 0 | 1]);
      if (r.data.length) this.deliver(i, r.next - BigInt(r.data.length), r.data);
    }
    const parsed = JSON.parse(readFileSync(exitFile, 'utf8')) as ExitStatus;
    this.finish(parsed.exitStatus);
  }

  /** Queues a frame; returns false when the socket asks the caller to wait for 'drain'. */
  private send(frame: Buffer): boolean {
    if (!this.socket || this.socket.destroyed) {
      throw new NativeError(
        'attach',
        osConstants.errno.EPIPE,
        '',
        'not attached to the process (it may have exited)',
      );
    }
    return this.socket.write(frame);
  }

  /** Settles once the socket drained (or closed); shared by concurrent writers. */
  private drained(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed || !socket.writableNeedDrain) return Promise.resolve();
    this.socketDrain ??= new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        this.socketDrain = undefined;
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
    return this.socketDrain;
  }

  /**
   * Writes to the process's stdin. The returned promise settles once the bytes left our socket
   * buffer (at once when it has room; after 'drain' otherwise, or when the connection closes):
   * a producer that awaits it is slowed down to what the process reads, because the shim stops
   * reading our socket while its own stdin queue is full.
   * @throws NativeError (synchronously) when not attached any more.
   */
  write(data: Buffer | string): Promise<void> {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    let ok = true;
    for (let off = 0; off < b.length; off += 65536) {
      ok = this.send(encodeFrame(ClientFrame.Stdin, 0, 0n, b.subarray(off, off + 65536)));
    }
    return ok ? Promise.resolve() : this.drained();
  }

  /** Closes the process's stdin (for a tty: sends the EOF character, then closes). */
  end(): void {
    this.send(encodeFrame(ClientFrame.StdinEof, 0, 0n));
  }

  /**
   * Sends a signal through the shim's pidfd (race-free with pid reuse). It goes on a connection of
   * its own, so it never waits behind stdin the process is not reading (the shim stops reading a
   * connection whose stdin it cannot queue). Resolves once the shim has it, or when the shim is
   * gone (the process has exited: nothing left to signal). Never rejects.
   * @throws NativeArgumentError (synchronously) for an unknown signal; NativeError when not
   * attached any more.
   */
  signal(sig: number | NodeJS.Signals): Promise<void> {
    const frame = encodeFrame(ClientFrame.Signal, 0, BigInt(signalNumber(sig)));
    if (!this.socket || this.socket.destroyed) this.send(frame); // throws: not attached
    return connectShim(this.dir).then((side) => {
      if (!side) {
        // No listening socket: the shim finished (the process exited), or never could bind one.
        if (this.socket && !this.socket.destroyed) this.socket.write(frame);
        return;
      }
      return new Promise<void>((resolve) => {
        side.on('error', () => {}); // 'close' follows
        side.once('close', () => resolve());
        side.end(frame); // the shim handles it, sees EOF and closes
      });
    });
  }

  /** Sets the tty window size (no-op without a tty). */
  resize(columns: number, rows: number): void {
    for (const [f, v] of [
      ['columns', columns],
      ['rows', rows],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 0xffff)
        throw new NativeArgumentError(f, 'must be an integer in 1..65535');
    }
    this.send(encodeFrame(ClientFrame.Resize, 0, (BigInt(columns) << 16n) | BigInt(rows)));
  }

  /** Resolves with the exit status once the process exited and its output ended. */
  wait(): Promise<ExitStatus> {
    return this.exitPromise;
  }

  /** Drops this attachment; the process and its shim go on. Streams end, `wait()` never settles. */
  detach(): void {
    this.detached = true;
    for (const r of this.rings) releaseMark(r);
    this.socket?.destroy();
    this.stdout.end();
    this.stderr.end();
  }
}

/** Where the shim's files live. */
export interface SpawnLocation {
  /** The process's own directory (exists, 0700, outside every container; best on a tmpfs). */
  dir: string;
  /** When this attachment's output counts as delivered (default `'read'`; {@link OutputDelivery}). */
  delivery?: OutputDelivery;
}

/**
 * Starts a process in a container (or on the host with `container: null`) under a new shim.
 * Resolves once the process was exec'd.
 * @throws NativeArgumentError for a bad spec; NativeError / ExecutableNotFoundError (rejected)
 * when a pre-exec step fails.
 */
/** An exec'd garden-shim waiting for its spec on `fd` (our end of its socketpair). */
export interface IdleShim {
  pid: number;
  fd: number;
}

const pool: IdleShim[] = [];
let poolSize = 2;
let refillScheduled = false;

function launchShim(): IdleShim {
  const b = loadBinding();
  const [mine, theirs] = b.socketpair();
  let launched: { pid: number; pidfd: number };
  try {
    launched = b.spawnHelper(nativeArtifacts().shim, ['garden-shim'], [], [-1, -1, -1, theirs]);
  } catch (e) {
    b.closeFd(mine);
    throw NativeError.from(e);
  } finally {
    b.closeFd(theirs);
  }
  // The shim is our child: reap it whenever it ends, without holding the event loop open.
  void b.watchExit(launched.pidfd, false).finally(() => b.closeFd(launched.pidfd));
  return { pid: launched.pid, fd: mine };
}

/** Launches on the thread pool: the event loop never waits for a pooled shim's exec. */
async function launchShimAsync(): Promise<IdleShim> {
  const b = loadBinding();
  const [mine, theirs] = b.socketpair();
  let launched: { pid: number; pidfd: number };
  try {
    launched = await b.spawnHelperAsync(nativeArtifacts().shim, ['garden-shim'], [], [-1, -1, -1, theirs]);
  } catch (e) {
    b.closeFd(mine);
    throw NativeError.from(e);
  } finally {
    b.closeFd(theirs);
  }
  void b.watchExit(launched.pidfd, false).finally(() => b.closeFd(launched.pidfd));
  return { pid: launched.pid, fd: mine };
}

/** Shims being launched for the pool. */
let launching = 0;
/** Bumped by a drain: launches started before it close their shim on arrival. */
let generation = 0;

function refill(): void {
  refillScheduled = false;
  const gen = generation;
  while (pool.length + launching < poolSize) {
    launching++;
    launchShimAsync().then(
      (shim) => {
        launching--;
        // The pool may have been shrunk or drained meanwhile.
        if (gen === generation && pool.length < poolSize) pool.push(shim);
        else loadBinding().closeFd(shim.fd);
      },
      () => {
        launching--; // the next job launches its own shim and reports the error
      },
    );
  }
}

/**
 * @internal An exec'd shim for one job (a process, or a container create): from the pool when it
 * has one, else launched now. The caller owns its fd, and calls {@link scheduleRefill} once its
 * latency-critical part is over (a launch competes for the CPU) unless it gives the shim back. A
 * pooled shim may have died meanwhile: sending to it then fails with EPIPE/ECONNRESET.
 */
export function takeShim(): IdleShim {
  return pool.shift() ?? launchShim();
}

/** @internal Tops the pool up again (on the thread pool, after the current I/O callbacks). */
export function scheduleRefill(): void {
  if (poolSize > 0 && !refillScheduled && pool.length + launching < poolSize) {
    refillScheduled = true;
    setImmediate(refill);
  }
}

/** @internal Gives back a shim that served a container create and is generic again. */
export function returnShim(shim: IdleShim): void {
  if (pool.length < poolSize) pool.push(shim);
  else loadBinding().closeFd(shim.fd);
  scheduleRefill();
}

/**
 * Sets how many exec'd shims wait idle for their next process (default 2; 0 disables). Taking
 * one from the pool keeps the shim's exec off the spawn latency. Idle shims exit as soon as
 * this process closes its end (also when it dies), so they never outlive the server.
 */
export function setShimPoolSize(size: number): void {
  if (!Number.isInteger(size) || size < 0 || size > 64)
    throw new NativeArgumentError('size', 'must be an integer in 0..64');
  poolSize = size;
  drainShimPool(size);
}

/** Lets idle shims beyond `keep` exit (all by default). */
export function drainShimPool(keep = 0): void {
  generation++;
  while (pool.length > keep) {
    const idle = pool.pop() as IdleShim;
    loadBinding().closeFd(idle.fd);
  }
}

/**
 * The host ids the process's stdio pipes must belong to so that it can reopen /dev/stdin,
 * /dev/stdout and /dev/stderr (as runc arranges): its uid/gid through the container's user
 * namespace map. Undefined when the shim's own (host root) ownership already fits, or when the
 * ids are not mapped (the spawn then fails at setuid anyway). A pty is chowned in the child.
 */
function stdioOwner(
  container: Container | null,
  spec: ProcessSpec,
): { uid: number; gid: number } | undefined {
  const uid = spec.user?.uid ?? 0;
  const gid = spec.user?.gid ?? 0;
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined; // encodeSpec says why
  const host = container ? container.hostIds(uid, gid) : { uid, gid };
  return host && (host.uid !== 0 || host.gid !== 0) ? host : undefined;
}

/**
 * Starts a process in a container (or on the host with `container: null`) under a garden-shim
 * (a pre-started one when the pool has one). Resolves once the process was exec'd.
 * @throws NativeArgumentError for a bad spec; NativeError / ExecutableNotFoundError (rejected)
 * when a pre-exec step fails.
 */
export async function spawn(
  container: Container | null,
  spec: ProcessSpec,
  where: SpawnLocation,
): Promise<ShimProcess> {
  if (typeof where?.dir !== 'string' || !where.dir.startsWith('/')) {
    throw new NativeArgumentError('dir', 'must be an absolute path');
  }
  const delivery = checkDelivery(where.delivery);
  const full = spec.cgroups === undefined && container ? { ...spec, cgroups: container.cgroups } : spec;
  const encoded = encodeSpec(
    full,
    container ? { joinUserNs: !container.privileged } : null,
    where.dir,
    spec.tty ? undefined : stdioOwner(container, spec),
  );
  const frame = encodeFrame(ClientFrame.Spec, 0, 0n, encoded);
  const b = loadBinding();
  const passFd = container ? container.pidfd : -1;
  let shim: IdleShim | undefined;
  while (!shim) {
    const candidate = takeShim();
    try {
      b.sendFrame(candidate.fd, frame, passFd);
      shim = candidate;
    } catch (e) {
      b.closeFd(candidate.fd);
      // an idle shim that died meanwhile: take the next one (a fresh one cannot have died yet)
      if ((e as { code?: string }).code !== 'EPIPE' && (e as { code?: string }).code !== 'ECONNRESET') {
        scheduleRefill();
        throw NativeError.from(e);
      }
    }
  }
  const socket = new Socket({ fd: shim.fd, readable: true, writable: true });
  const proc = new ShimProcess(where.dir, socket, spec.path, delivery);
  proc.shimPid = shim.pid;
  try {
    await proc.started();
  } finally {
    scheduleRefill();
  }
  return proc;
}

function frameFrom(from: AttachFrom | { stdout: bigint; stderr: bigint }, statusOnly = false): Buffer {
  const p = Buffer.alloc(16);
  const [o, e] =
    from === 'start'
      ? [0n, 0n]
      : from === 'undelivered'
        ? [FROM_UNDELIVERED, FROM_UNDELIVERED]
        : [from.stdout, from.stderr];
  p.writeBigUInt64LE(o, 0);
  p.writeBigUInt64LE(e, 8);
  return encodeFrame(ClientFrame.Attach, 0, statusOnly ? ATTACH_STATUS_ONLY : 0n, p);
}

/** Options of {@link attach}. */
export interface AttachOptions {
  /** Where each stream starts (default `'start'`); ignored with `statusOnly`. */
  from?: AttachFrom;
  /**
   * Only learn the exit: `stdout`/`stderr` end empty at once, the shim sends nothing but the exit
   * status and the rings' delivered marks do not move (a later `from: 'undelivered'` attacher
   * still gets everything). stdin, signals and resize work as on any attachment.
   */
  statusOnly?: boolean;
  /** When this attachment's output counts as delivered (default `'read'`; {@link OutputDelivery}). */
  delivery?: OutputDelivery;
}

/** Connects to a shim's `<dir>/sock`; null when nothing listens there (the shim finished). */
async function connectShim(dir: string): Promise<Socket | null> {
  let sockPath = join(dir, 'sock');
  let dirFd: number | undefined;
  if (Buffer.byteLength(sockPath) > 100) {
    // sun_path is 108 bytes: go through the directory's fd instead.
    try {
      dirFd = openSync(dir, 'r');
    } catch {
      return null;
    }
    sockPath = `/proc/self/fd/${dirFd}/sock`;
  }
  try {
    return await new Promise<Socket | null>((resolve) => {
      if (!existsSync(sockPath)) return resolve(null);
      const s = connect(sockPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', () => resolve(null));
    });
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}

/**
 * Attaches to a process by its process directory — also from a server started after a crash.
 * `from: 'start'` replays everything the rings still hold; `'undelivered'` only what no attacher
 * received yet; `statusOnly` consumes no output at all (see {@link AttachOptions}). After the shim
 * finished, output and status come from the files.
 */
export async function attach(dir: string, options: AttachOptions = {}): Promise<ShimProcess> {
  const from = options.from ?? 'start';
  const statusOnly = options.statusOnly === true;
  const delivery = checkDelivery(options.delivery);
  const socket = await connectShim(dir);
  const proc = new ShimProcess(dir, null, '', delivery);
  const pidFile = join(dir, 'pid');
  if (existsSync(pidFile)) proc.pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
  if (statusOnly) proc.statusOnly();
  // The shim starts us at the same marks: bytes before them are delivered, not lost.
  if (from === 'undelivered' && !statusOnly) proc.startAtDelivered();
  if (!socket) {
    proc.readFromDisk();
    return proc;
  }
  proc.bind(socket);
  socket.write(frameFrom(from, statusOnly));
  return proc;
}
