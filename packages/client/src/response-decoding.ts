/**
 * Turning response bodies into values and errors the way the Go client does (protocol §4.3).
 */
import {
  ErrorCode,
  errorFromEnvelope,
  GardenError,
  InvalidRequestError,
  parseGoJson,
} from '@garden-ts/api-types';

/** A wire codec's decoding half (the `Wire.<name>` objects of @garden-ts/api-types). */
export interface Decoder<T> {
  decode(value: unknown): T;
}

/** The body of an error response is not an error envelope; `message` is the decoder's reason. */
export class EnvelopeDecodeError extends Error {
  override name = 'EnvelopeDecodeError';
}

/** Go's name for a JSON value's kind in `json: cannot unmarshal <kind> into …` messages. */
function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  return 'number';
}

/**
 * Decodes the first JSON value of an error body into the typed Garden error.
 * @throws EnvelopeDecodeError when the body holds no JSON object (or `null`).
 */
export function decodeErrorValue(text: string, statusCode: number): GardenError {
  let value: unknown;
  try {
    value = parseGoJson(text);
  } catch (err) {
    throw new EnvelopeDecodeError((err as Error).message);
  }
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw new EnvelopeDecodeError(
      `json: cannot unmarshal ${jsonKind(value)} into Go value of type garden.marshalledError`,
    );
  }
  const err = errorFromEnvelope(value ?? {}, statusCode);
  // Our server answers 400 for a request it refuses (a bad handle, a malformed field); the
  // envelope has no type for it (Go has none), the status says it.
  if (statusCode === 400 && err.type === '' && err.code === ErrorCode.Generic) {
    return new InvalidRequestError('', err.message);
  }
  return err;
}

/**
 * The error for a non-2xx plain response: the typed error from its envelope, or
 * `bad response: <decoder error>` (for example `bad response: EOF` for an empty body).
 */
export function plainErrorFromBody(statusCode: number, body: Buffer): GardenError {
  try {
    return decodeErrorValue(body.toString('utf8'), statusCode);
  } catch (err) {
    const error = new GardenError(`bad response: ${(err as Error).message}`, { cause: err });
    error.statusCode = statusCode;
    return error;
  }
}

/**
 * Decodes the first JSON value of a 2xx body with `codec`. An empty body is the error `EOF`,
 * malformed JSON or a value of the wrong shape is a GardenError carrying the decoder's message.
 */
export function decodeSuccessBody<T>(body: Buffer, codec: Decoder<T>): T {
  let value: unknown;
  try {
    value = parseGoJson(body.toString('utf8'));
  } catch (err) {
    throw new GardenError((err as Error).message, { cause: err });
  }
  try {
    return codec.decode(value);
  } catch (err) {
    if (err instanceof GardenError) throw err;
    throw new GardenError((err as Error).message, { cause: err });
  }
}
