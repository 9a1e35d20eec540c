/**
 * Exit codes and the one-line error message of every failure. Docker's convention: 125 when gaol
 * itself or the server failed, 126 when the program could not be run, 127 when it was not found,
 * otherwise the program's own exit status (128 + N when a signal N ended it).
 *
 * Garden errors are recognised by their stable `code` (not `instanceof`), so this module loads
 * nothing heavy and works whichever copy of the client produced the error.
 */

export const ExitCode = {
  Ok: 0,
  /** gaol or the Garden server failed (bad usage, unreachable server, server error). */
  Failure: 125,
  /** The program exists but could not be run (permission denied, not executable). */
  CannotRun: 126,
  /** The program was not found. */
  NotFound: 127,
} as const;

/** Bad command-line usage; the message names the command and the offending word. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure with its own exit code and a message already fit for the user. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failure,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

interface ErrorLike {
  message?: unknown;
  code?: unknown;
  syscall?: unknown;
  handle?: unknown;
  processId?: unknown;
  timedOut?: unknown;
  name?: unknown;
  cause?: unknown;
}

/** Node's codes of a connection that could not be made or broke. */
const CONNECT_FAILURES: Record<string, string> = {
  ENOENT: 'no such socket',
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
  EACCES: 'permission denied',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
  ENOTSOCK: 'not a socket',
};

/** Walks `err` and its `cause` chain (a few levels). */
function* causes(err: unknown): Generator<ErrorLike> {
  for (let e = err as ErrorLike | undefined, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    yield e;
    e = e.cause as ErrorLike | undefined;
  }
}

/**
 * Why the server could not be reached, when `err` (or its cause: the client's
 * GardenConnectionError wraps Node's socket error) is a failed connect.
 */
function connectFailure(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const transport =
      typeof (e as { transportCode?: unknown }).transportCode === 'string'
        ? (e as { transportCode: string }).transportCode
        : '';
    const connecting =
      e.syscall === 'connect' ||
      e.syscall === 'getaddrinfo' ||
      (typeof e.message === 'string' && /^(dial |cannot connect )/.test(e.message));
    const reason = CONNECT_FAILURES[code] ?? CONNECT_FAILURES[transport];
    if (reason && connecting) return reason;
  }
  return undefined;
}
/**
 * The exit code and the one line to print for `err`.
 * @param target the server's address as the user gave it, for connection failures.
 */
export function describeError(err: unknown, target: string): { exitCode: number; message: string } {
  if (err instanceof CliError) return { exitCode: err.exitCode, message: err.message };
  if (err instanceof UsageError) return { exitCode: ExitCode.Failure, message: err.message };
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as ErrorLike;
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  const unreachable = connectFailure(err);
  if (unreachable) {
    return {
      exitCode: ExitCode.Failure,
      message: `cannot reach the Garden server at ${target}: ${unreachable} (is gardend running? set -t/--target or GAOL_TARGET)`,
    };
  }
  // A connection that broke midway (reset, closed early): the client's message names the server.
  if (e.code === 'GARDEN_CONNECTION') return { exitCode: ExitCode.Failure, message };
  switch (e.code) {
    case 'GARDEN_EXECUTABLE_NOT_FOUND':
      return { exitCode: ExitCode.NotFound, message };
    case 'GARDEN_CONTAINER_NOT_FOUND':
      return {
        exitCode: ExitCode.Failure,
        message: typeof e.handle === 'string' ? `no such container: ${e.handle}` : message,
      };
    case 'GARDEN_PROCESS_NOT_FOUND':
      return {
        exitCode: ExitCode.Failure,
        message: typeof e.processId === 'string' ? `no such process: ${e.processId}` : message,
      };
    case 'ABORT_ERR':
      return { exitCode: ExitCode.Failure, message: e.timedOut === true ? 'timed out' : message };
    default:
      return { exitCode: ExitCode.Failure, message };
  }
}

/** Whether a failed start of a program means "found but cannot be run" (exit 126). */
export function isCannotRun(err: unknown): boolean {
  const message = (err as ErrorLike | undefined)?.message;
  return typeof message === 'string' && /permission denied|EACCES|exec format error|ENOEXEC/i.test(message);
}

/**
 * The exit code of a program's exit status: the status itself (0–255; a signal N is already
 * 128 + N on the wire), 125 for one that cannot be an exit code.
 */
export function exitCodeOfStatus(status: number): number {
  return Number.isInteger(status) && status >= 0 && status <= 255 ? status : ExitCode.Failure;
}
