/**
 * How the server logs errors: the whole cause chain, each level with its own `code` (and errno,
 * syscall, path, stage… whatever the error carries), so log queries and metrics can count ENOSPC
 * apart from EACCES behind the same Garden error. pino's standard serializer folds causes into
 * the message and stack text and drops their fields.
 */

/** A serialised error: type, message, stack, own scalar fields, `cause`, and every `code` in the chain. */
export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  code?: string;
  cause?: SerializedError;
  /** `code` of each error in the chain that has one, outermost first (`['GARDEN_ERROR', 'ENOSPC']`). */
  codes?: string[];
  [field: string]: unknown;
}

/** Causes deeper than this are cut (a cyclic chain would never end). */
const MAX_DEPTH = 8;

function serializeOne(err: unknown, depth: number): SerializedError {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const out: SerializedError = { type: err.constructor?.name || err.name, message: err.message };
  for (const [key, value] of Object.entries(err)) {
    // `type` is the class (a GardenError's own `type` is its wire tag, implied by the class).
    if (key === 'cause' || key === 'message' || key === 'stack' || key === 'type') continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      out[key] = value;
    else if (typeof value === 'bigint') out[key] = value.toString();
  }
  // Class fields such as GardenError's `code` are own properties; a getter-defined one is not.
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = String(code);
  if (err.stack !== undefined) out.stack = err.stack;
  if (err.cause !== undefined && depth < MAX_DEPTH) out.cause = serializeOne(err.cause, depth + 1);
  return out;
}

/** pino `err` serializer: the error and its cause chain, with the chain's codes collected in `codes`. */
export function serializeError(err: unknown): SerializedError {
  const out = serializeOne(err, 0);
  const codes: string[] = [];
  for (let e: SerializedError | undefined = out; e; e = e.cause) if (e.code !== undefined) codes.push(e.code);
  if (codes.length > 0) out.codes = codes;
  return out;
}

/**
 * How loud a failed request is. gardend's default `info` level must stay quiet under load, and
 * a client's mistake is not the server's failure:
 * - `debug`: the request was refused or named nothing (4xx, the NotFound types, an unknown
 *   executable): routine for a client probing or racing a destroy;
 * - `info`: the backend refused it by a rule (a Garden error that wraps no cause: a duplicate
 *   handle, a missing property, too many containers);
 * - `error`: anything with an underlying cause (a system call failed) and anything that is not a
 *   Garden error (a bug): logged with the stack and the cause chain.
 */
export function failureLevel(err: unknown, status: number): 'debug' | 'info' | 'error' {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (
    status < 500 ||
    code === 'GARDEN_CONTAINER_NOT_FOUND' ||
    code === 'GARDEN_PROCESS_NOT_FOUND' ||
    code === 'GARDEN_EXECUTABLE_NOT_FOUND'
  ) {
    return 'debug';
  }
  const garden = err instanceof Error && typeof code === 'string' && code.startsWith('GARDEN_');
  return garden && err.cause === undefined ? 'info' : 'error';
}

/** An error as a short log field for a routine failure: its type, code and message, no stack. */
export function errorSummary(err: unknown): { type: string; code?: string; message: string } {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    type: err.constructor?.name || err.name,
    ...(typeof code === 'string' ? { code } : {}),
    message: err.message,
  };
}

/** Logs a failed request at the level {@link failureLevel} gives it; a stack only at `error`. */
export function logRequestFailure(
  log: {
    debug(obj: object, msg: string): void;
    info(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  },
  route: string,
  err: unknown,
  status: number,
): void {
  const level = failureLevel(err, status);
  if (level === 'error') log.error({ route, status, err }, 'request failed');
  else log[level]({ route, status, error: errorSummary(err) }, 'request failed');
}
