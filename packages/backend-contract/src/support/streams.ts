import { createHash } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import type { Container, Process, ProcessSpec } from '@garden-ts/api-types';

/** A Writable that keeps everything written to it, for asserting on process output. */
export class Collector extends Writable {
  private readonly chunks: Buffer[] = [];

  override _write(
    chunk: Buffer | string,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk);
    callback();
  }

  /** Everything written so far. */
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Everything written so far, as UTF-8. */
  text(): string {
    return this.buffer().toString('utf8');
  }
}

/** The outcome of a process run to completion. */
export interface RunResult {
  process: Process;
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  stdoutStream: Collector;
  stderrStream: Collector;
}

/**
 * Runs `spec` with collected stdout/stderr and waits for its exit. `stdin` given as bytes is
 * sent and then ended (EOF); absent, stdin stays open as Garden specifies.
 */
export async function runToExit(
  container: Container,
  spec: ProcessSpec,
  stdin?: string | Buffer | Readable,
): Promise<RunResult> {
  const stdoutStream = new Collector();
  const stderrStream = new Collector();
  const input =
    stdin === undefined || stdin instanceof Readable ? stdin : Readable.from([Buffer.from(stdin)]);
  const process = await container.run(spec, { stdin: input, stdout: stdoutStream, stderr: stderrStream });
  const exitCode = await process.wait();
  return {
    process,
    exitCode,
    stdout: stdoutStream.text(),
    stderr: stderrStream.text(),
    stdoutBytes: stdoutStream.buffer(),
    stdoutStream,
    stderrStream,
  };
}

/** A stdin the test controls: write to it, end it to deliver EOF. */
export function controlledStdin(): PassThrough {
  return new PassThrough();
}

/** Hex SHA-256 of a buffer, so large payload mismatches print short. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes (xorshift32), so a failing payload is reproducible. */
export function pseudoRandomBytes(length: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const PRINTABLE = Buffer.from(
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\n',
);

/**
 * Deterministic pseudo-random printable ASCII (with newlines). Stdin crosses Garden's wire as
 * JSON strings, one per read: bytes that are not valid UTF-8 on their own (binary data, or a
 * multi-byte character split between two reads) are replaced by U+FFFD, in Go as in TS. So a
 * payload meant to reach a process's stdin intact must be ASCII.
 */
export function pseudoRandomText(length: number, seed = 0x2545f491): Buffer {
  const bytes = pseudoRandomBytes(length, seed);
  for (let i = 0; i < length; i++) bytes[i] = PRINTABLE[bytes[i]! % PRINTABLE.length]!;
  return bytes;
}

/** Reads a whole stream into one buffer. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Splits output into lines, dropping the empty string after a trailing newline. */
export function lines(text: string): string[] {
  const parts = text.replace(/\r\n/g, '\n').split('\n');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settles within `ms`: 'resolved', 'rejected' or 'pending'. */
export async function settleWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved' as const,
        () => 'rejected' as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
