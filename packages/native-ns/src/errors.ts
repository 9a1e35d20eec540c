/**
 * Errors crossing the native boundary, shaped like Node's ErrnoException plus our `stage`.
 * `instanceof` works across two copies of this package through a `Symbol.for` brand.
 */
import { getSystemErrorName } from 'node:util';

const BRAND = Symbol.for('@garden-ts/native-ns.NativeError');

/** A failed syscall in native code: `code` is the errno name, `stage` says where. */
export class NativeError extends Error {
  /** errno name, e.g. `ENOENT`. */
  readonly code: string;
  /** errno number (positive). */
  readonly errno: number;
  /** The syscall that failed, when known ("" otherwise). */
  readonly syscall: string;
  /** Our step: `exec`, `chdir`, `pivot-root`, `mount-proc`, `setuid`, … */
  readonly stage: string;

  constructor(stage: string, errno: number, syscall = '', message?: string, options?: ErrorOptions) {
    let code = 'UNKNOWN';
    try {
      code = getSystemErrorName(-Math.abs(errno));
    } catch {
      // not an errno we know
    }
    super(message ?? `${stage}: ${syscall ? `${syscall}: ` : ''}${code} (errno ${errno})`, options);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.stage = stage;
    Object.defineProperty(this, BRAND, { value: new.target.name, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const brand = (value as Record<symbol, unknown>)[BRAND];
    if (brand === undefined) return false;
    // biome-ignore lint/complexity/noThisInStatic: the subclass being tested against
    return this.name === 'NativeError' || brand === this.name;
  }

  /**
   * Wraps a failed file operation of our TypeScript side (a Node `ErrnoException`, e.g. a cgroup
   * control file write) as a NativeError of `stage` that keeps it as `cause`; the message names
   * `what` (`write memory.limit_in_bytes`) and the errno name.
   */
  static fromErrno(stage: string, what: string, err: unknown): NativeError {
    const e = err as Partial<NodeJS.ErrnoException>;
    const errno = typeof e?.errno === 'number' ? Math.abs(e.errno) : 0;
    const syscall = typeof e?.syscall === 'string' ? e.syscall : '';
    const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
    return new NativeError(stage, errno, syscall, `${stage}: ${what}: ${code} (errno ${errno})`, {
      cause: err,
    });
  }

  /** Wraps an error thrown by the raw binding. */
  static from(err: unknown): NativeError {
    const e = err as Partial<{ errno: number; syscall: string; stage: string; message: string }>;
    if (typeof e?.errno === 'number' && typeof e.stage === 'string') {
      return new NativeError(e.stage, e.errno, e.syscall ?? '', e.message);
    }
    return new NativeError('unknown', 0, '', String((err as Error)?.message ?? err));
  }
}

/** exec found no such file on any candidate of the process PATH (stage `exec`, `ENOENT`). */
export class ExecutableNotFoundError extends NativeError {
  /** The path as given. */
  readonly path: string;
  constructor(path: string) {
    super('exec', 2, 'execve', `executable file not found: ${path}`);
    this.path = path;
  }
}

/** An argument failed validation before reaching native code; `field` names it. */
export class NativeArgumentError extends TypeError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'NativeArgumentError';
    this.field = field;
  }
}
