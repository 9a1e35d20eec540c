/**
 * Garden errors. Each class has a stable `code`, and `instanceof` works across two copies of
 * this package through a `Symbol.for` brand (like undici's errors).
 */

const BRAND = Symbol.for('@garden-ts/api-types.GardenError');

/** Stable error codes. */
export const ErrorCode = {
  Generic: 'GARDEN_ERROR',
  ContainerNotFound: 'GARDEN_CONTAINER_NOT_FOUND',
  ProcessNotFound: 'GARDEN_PROCESS_NOT_FOUND',
  ServiceUnavailable: 'GARDEN_SERVICE_UNAVAILABLE',
  Unrecoverable: 'GARDEN_UNRECOVERABLE',
  ExecutableNotFound: 'GARDEN_EXECUTABLE_NOT_FOUND',
  InvalidRequest: 'GARDEN_INVALID_REQUEST',
  Connection: 'GARDEN_CONNECTION',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The wire `Type` tag of each error class ("" = generic). */
export type WireErrorType =
  | ''
  | 'ContainerNotFoundError'
  | 'ProcessNotFoundError'
  | 'ServiceUnavailableError'
  | 'UnrecoverableError'
  | 'ExecutableNotFoundError';

function branded(kind: string) {
  return (value: unknown): boolean =>
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] !== undefined &&
    (kind === 'GardenError' || ((value as Record<symbol, string[]>)[BRAND] ?? []).includes(kind));
}

/** A generic Garden error (wire `Type` ""). */
export class GardenError extends Error {
  /** The wire `Type` tag. */
  readonly type: WireErrorType = '';
  readonly code: ErrorCode = ErrorCode.Generic;
  /**
   * HTTP status the server answers with (404 for the NotFound types, 500 otherwise; 400 for
   * request validation). Informational on the client; 0 when no answer came
   * ({@link GardenConnectionError}).
   */
  statusCode = 500;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    // The brand lists the class chain so that cross-copy instanceof checks each subclass.
    const chain: string[] = [];
    for (let p: { readonly name: string } | null = new.target; p && p !== Error; p = Object.getPrototypeOf(p))
      chain.push(p.name);
    Object.defineProperty(this, BRAND, { value: chain, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being tested against.
    return branded(this.name)(value);
  }
}

/** The container handle is unknown (404). */
export class ContainerNotFoundError extends GardenError {
  override readonly type = 'ContainerNotFoundError' as const;
  override readonly code = ErrorCode.ContainerNotFound;
  constructor(readonly handle: string) {
    super(`unknown handle: ${handle}`);
    this.statusCode = 404;
  }
}

/** The process id is unknown in this container (404). */
export class ProcessNotFoundError extends GardenError {
  override readonly type = 'ProcessNotFoundError' as const;
  override readonly code = ErrorCode.ProcessNotFound;
  constructor(readonly processId: string) {
    super(`unknown process: ${processId}`);
    this.statusCode = 404;
  }
}

/** A transient condition; retrying later may succeed. */
export class ServiceUnavailableError extends GardenError {
  override readonly type = 'ServiceUnavailableError' as const;
  override readonly code = ErrorCode.ServiceUnavailable;
  constructor(cause: string) {
    super(cause);
  }
}

/** The server is in a state it cannot recover from. */
export class UnrecoverableError extends GardenError {
  override readonly type = 'UnrecoverableError' as const;
  override readonly code = ErrorCode.Unrecoverable;
  constructor(readonly symptom: string) {
    super(symptom);
  }
}

/** The process's executable could not be found or executed. */
export class ExecutableNotFoundError extends GardenError {
  override readonly type = 'ExecutableNotFoundError' as const;
  override readonly code = ErrorCode.ExecutableNotFound;
}

/**
 * A request body or parameter failed validation. Sent as a generic envelope with status 400;
 * `field` names the offending field as a dotted wire path (`limits.memory_limits.limit_in_bytes`,
 * `bind_mounts[1].mode`; `""` for the body as a whole).
 */
export class InvalidRequestError extends GardenError {
  override readonly code = ErrorCode.InvalidRequest;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.statusCode = 400;
  }
}

/**
 * The client could not talk to the server: the socket is missing, the connection was refused or
 * timed out, or it broke (reset, closed early, malformed HTTP) before the answer was complete.
 * Never sent on the wire (a server sees no such error); raised by clients. `cause` is the
 * underlying socket or parser error; `transportCode` is its code (`ENOENT`, `ECONNREFUSED`,
 * `ETIMEDOUT`, `ECONNRESET`, `EPIPE`, `HPE_…`), or `EOF` when the server closed the connection
 * cleanly too early, or `CLOSED` when it was already closed; `address` names the server
 * (`unix:/tmp/garden.sock`, `tcp:host:port`).
 */
export class GardenConnectionError extends GardenError {
  override readonly code = ErrorCode.Connection;
  readonly transportCode: string;
  readonly address: string;
  constructor(message: string, options: { address: string; transportCode: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.transportCode = options.transportCode;
    this.address = options.address;
    this.statusCode = 0;
  }
}

/** The wire error envelope (protocol §4.1), keys in wire order. */
export interface WireErrorEnvelope {
  Type: string;
  Message: string;
  Handle: string;
  ProcessID: string;
  Binary: string;
}

/** Converts any thrown value to the wire envelope the Go server would send. */
export function errorToEnvelope(err: unknown): WireErrorEnvelope {
  const message = err instanceof Error ? err.message : String(err);
  const type = err instanceof GardenError ? err.type : '';
  return {
    Type: type,
    Message: message,
    Handle: err instanceof ContainerNotFoundError ? err.handle : '',
    ProcessID: err instanceof ProcessNotFoundError ? err.processId : '',
    Binary: '',
  };
}

/**
 * Rebuilds a typed error from a (case-insensitively keyed) envelope, as the Go client does:
 * NotFound errors from `Handle`/`ProcessID` only; unknown types become a generic GardenError.
 * `statusCode` is the HTTP status the envelope came with; when omitted the error keeps the status
 * the Go server uses for its type (404 for the NotFound types, 500 otherwise).
 */
export function errorFromEnvelope(envelope: unknown, statusCode?: number): GardenError {
  const get = (key: string): string => {
    if (typeof envelope !== 'object' || envelope === null) return '';
    const entries = Object.entries(envelope as Record<string, unknown>);
    const exact = entries.filter(([k]) => k === key).pop();
    const folded = exact ?? entries.filter(([k]) => k.toLowerCase() === key.toLowerCase()).pop();
    return typeof folded?.[1] === 'string' ? folded[1] : '';
  };
  const message = get('Message');
  let err: GardenError;
  switch (get('Type')) {
    case 'ContainerNotFoundError':
      err = new ContainerNotFoundError(get('Handle'));
      break;
    case 'ProcessNotFoundError':
      err = new ProcessNotFoundError(get('ProcessID'));
      break;
    case 'ExecutableNotFoundError':
      err = new ExecutableNotFoundError(message);
      break;
    case 'ServiceUnavailableError':
      err = new ServiceUnavailableError(message);
      break;
    case 'UnrecoverableError':
      err = new UnrecoverableError(message);
      break;
    default:
      err = new GardenError(message);
  }
  if (statusCode !== undefined) err.statusCode = statusCode;
  return err;
}
