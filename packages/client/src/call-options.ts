import type { CallOptions } from '@garden-ts/api-types';

/**
 * The error every aborted or timed-out client call rejects with. `name` is `AbortError` and
 * `code` is `ABORT_ERR`, like Node's own abort errors; `cause` is the signal's reason (a
 * `TimeoutError` DOMException when `timeout` expired).
 */
export class GardenAbortError extends Error {
  readonly code = 'ABORT_ERR';
  /** True when the call's `timeout` (not the caller's signal) ended it. */
  readonly timedOut: boolean;

  constructor(message: string, options: { cause?: unknown; timedOut: boolean }) {
    super(message, { cause: options.cause });
    this.name = 'AbortError';
    this.timedOut = options.timedOut;
  }
}

/** A call's effective cancellation: the caller's signal and its timeout combined. */
export interface CallScope {
  /** Undefined when the call can never be aborted. */
  readonly signal: AbortSignal | undefined;
  /** Throws the call's abort error when the scope is already aborted. */
  throwIfAborted(): void;
  /** The error to reject with once `signal` aborted. */
  abortError(): GardenAbortError;
  /** Runs `onAbort` once when the scope aborts; returns a function that removes the listener. */
  onAbort(onAbort: (err: GardenAbortError) => void): () => void;
  /** Releases the timeout timer. Idempotent. */
  dispose(): void;
}

/**
 * Builds the cancellation scope of one call from its {@link CallOptions}.
 * @throws RangeError when `timeout` is not a non-negative finite number.
 */
export function callScope(opts: CallOptions | undefined): CallScope {
  const timeout = opts?.timeout;
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)) {
    throw new RangeError(`timeout: expected a non-negative number of milliseconds, got ${String(timeout)}`);
  }
  const signals: AbortSignal[] = [];
  if (opts?.signal) signals.push(opts.signal);
  // A private controller (rather than AbortSignal.timeout) lets dispose() clear the timer so a
  // finished call keeps no timer alive.
  let timer: NodeJS.Timeout | undefined;
  let timeoutSignal: AbortSignal | undefined;
  if (timeout !== undefined) {
    const controller = new AbortController();
    timeoutSignal = controller.signal;
    timer = setTimeout(
      () => controller.abort(new DOMException(`The operation timed out after ${timeout} ms`, 'TimeoutError')),
      timeout,
    );
    timer.unref?.();
    signals.push(controller.signal);
  }
  const signal =
    signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);

  const abortError = (): GardenAbortError => {
    const timedOut = timeoutSignal?.aborted === true && opts?.signal?.aborted !== true;
    const message = timedOut ? `The operation timed out after ${timeout} ms` : 'The operation was aborted';
    return new GardenAbortError(message, { cause: signal?.reason, timedOut });
  };

  return {
    signal,
    throwIfAborted() {
      if (signal?.aborted) throw abortError();
    },
    abortError,
    onAbort(onAbort) {
      if (!signal) return () => {};
      if (signal.aborted) {
        queueMicrotask(() => onAbort(abortError()));
        return () => {};
      }
      const listener = () => onAbort(abortError());
      signal.addEventListener('abort', listener, { once: true });
      return () => signal.removeEventListener('abort', listener);
    },
    dispose() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * Runs `fn` within the scope of `opts`: rejects with a {@link GardenAbortError} as soon as the
 * scope aborts (after `fn`'s own cleanup ran through `onAbort`), and always disposes the scope.
 */
export async function withScope<T>(
  opts: CallOptions | undefined,
  fn: (scope: CallScope) => Promise<T>,
): Promise<T> {
  const scope = callScope(opts);
  try {
    scope.throwIfAborted();
    return await fn(scope);
  } finally {
    scope.dispose();
  }
}
