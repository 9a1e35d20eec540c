/**
 * Runs gaol in-process (`main(argv, io)`) with captured streams, against @garden-ts/server over
 * @garden-ts/backend-fake on a temp unix socket.
 */
import { EventEmitter } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { Collector } from '../../backend-contract/src/support/streams.js';
import { startTsGarden, type TsGarden } from '../../client/test/ts-garden.js';
import type { CliIO, InputStream, OutputStream } from '../src/context.js';
import { main } from '../src/main.js';

export type FakeGarden = TsGarden;

/** @garden-ts/server over backend-fake on a temp unix socket (the client's test fixture). */
export const startFakeGarden = (): Promise<FakeGarden> => startTsGarden();

export interface RunOptions {
  stdin?: string | Buffer | Readable;
  /** Pretend stdin/stdout/stderr are terminals. */
  tty?: { stdin?: boolean; stdout?: boolean; stderr?: boolean };
  env?: Record<string, string | undefined>;
  cwd?: string;
  signals?: EventEmitter;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBuffer: Buffer;
}

/** A gaol started in-process: its live output and its end. */
export interface RunningGaol {
  stdout: Collector;
  stderr: Collector;
  /** Where the test sends SIGINT/SIGTERM/SIGHUP/SIGWINCH. */
  signals: EventEmitter;
  done: Promise<RunResult>;
}

/** Starts `gaol ...args` in-process; `-t socketPath` is prepended when a socket is given. */
export function startGaol(
  socketPath: string | undefined,
  args: string[],
  options: RunOptions = {},
): RunningGaol {
  const stdout = Object.assign(new Collector(), { isTTY: options.tty?.stdout });
  const stderr = Object.assign(new Collector(), { isTTY: options.tty?.stderr });
  let stdin: InputStream;
  if (options.stdin instanceof Readable) stdin = options.stdin as InputStream;
  else if (options.stdin !== undefined) stdin = Readable.from([Buffer.from(options.stdin)]) as InputStream;
  else {
    // An open, empty stdin (like a terminal nobody types into).
    stdin = new PassThrough() as InputStream;
  }
  if (options.tty?.stdin) stdin.isTTY = true;
  const signals = options.signals ?? new EventEmitter();
  const io: CliIO = {
    stdin,
    stdout: stdout as OutputStream,
    stderr: stderr as OutputStream,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    signals,
  };
  const done = main(socketPath ? ['-t', socketPath, ...args] : args, io).then((code) => ({
    code,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutBuffer: stdout.buffer(),
  }));
  return { stdout, stderr, signals, done };
}

/** Runs `gaol ...args` in-process; `-t socketPath` is prepended when a socket is given. */
export function gaol(
  socketPath: string | undefined,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return startGaol(socketPath, args, options).done;
}
