/**
 * What logs and metrics need from an error chain. Backends wrap lower-layer errors in a
 * `GardenError` whose message stays human and stable and whose `cause` keeps the original (for
 * backend-linux a native-ns `NativeError` with `code`, `errno`, `syscall` and `stage`), so a log
 * line or a metric can count `ENOSPC` apart from `EACCES` without parsing messages.
 */

/** Log fields of an error chain. */
export interface ErrorFields {
  /**
   * The error itself, for the logger's `err` serializer (pino's turns it into type, message and
   * stack; a chain-aware one adds the causes); a thrown non-Error as text.
   */
  err: Error | string;
  /** The innermost system error name (`ENOSPC`, `EACCES`, …) found in the chain. */
  code?: string;
  errno?: number;
  syscall?: string;
  /** native-ns's step (`mount-proc`, `exec`, …). */
  stage?: string;
}

const MAX_DEPTH = 16;

/**
 * Log fields of `err` and its `cause` chain: the error and, flat beside it, the `code` (an errno
 * name, `E…`: a Garden error's own `GARDEN_…` code is not a system cause), `errno`, `syscall` and
 * `stage` of the deepest system error in the chain, so a log query or a metric counts them
 * without parsing messages or walking causes.
 */
export function errorFields(err: unknown): ErrorFields {
  const out: ErrorFields = { err: err instanceof Error ? err : String(err) };
  let system: Omit<ErrorFields, 'err'> = {};
  let e: unknown = err;
  for (let depth = 0; depth < MAX_DEPTH && typeof e === 'object' && e !== null; depth++) {
    const x = e as { code?: unknown; errno?: unknown; syscall?: unknown; stage?: unknown; cause?: unknown };
    if (typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code)) {
      system = { code: x.code };
      // Node reports errno negative, native-ns positive: one sign for counting.
      if (typeof x.errno === 'number') system.errno = Math.abs(x.errno);
      if (typeof x.syscall === 'string' && x.syscall !== '') system.syscall = x.syscall;
      if (typeof x.stage === 'string' && x.stage !== '') system.stage = x.stage;
    }
    e = x.cause;
  }
  return { ...out, ...system };
}
