import {
  type Process,
  type ProcessIO,
  ProcessOutput,
  Signal,
  type TTYSpec,
  type WindowSize,
} from '@garden-ts/api-types';
import type { Command, CommandContext, OutputSink } from './commands.js';
import { ProcessStdin } from './process-stdin.js';

/** Exit statuses of signalled processes: 128 + signal number. */
export const EXIT_SIGTERM = 143;
export const EXIT_SIGKILL = 137;

const DEFAULT_WINDOW: Required<WindowSize> = { columns: 80, rows: 24 };

export interface SimulatedProcessOptions {
  id: string;
  command: Command;
  context: Omit<CommandContext, 'stdin' | 'stdout' | 'stderr' | 'signal' | 'window'>;
  tty?: TTYSpec;
  backlogLimit?: number;
}

/**
 * The record of one simulated process. It lives until its container is destroyed, so attach and
 * wait work after exit. Output fans out to every attacher (see {@link ProcessOutput}); stdin is fed
 * by the run's and every attacher's `io.stdin`.
 */
export class SimulatedProcess {
  readonly id: string;
  readonly tty: boolean;
  private window: Required<WindowSize>;
  private readonly output: ProcessOutput;
  private readonly stdin = new ProcessStdin();
  private readonly abort = new AbortController();
  private status: number | null = null;
  private resolveExit!: (status: number) => void;
  private readonly exitPromise = new Promise<number>((resolve) => {
    this.resolveExit = resolve;
  });
  private started = false;

  constructor(private readonly options: SimulatedProcessOptions) {
    this.id = options.id;
    this.tty = options.tty !== undefined;
    this.window = { ...DEFAULT_WINDOW, ...stripUndefined(options.tty?.windowSize) };
    this.output = new ProcessOutput(options.backlogLimit);
  }

  /** The exit status, or null while running. */
  get exitStatus(): number | null {
    return this.status;
  }

  get running(): boolean {
    return this.status === null;
  }

  /** The TTY window size last set (80×24 by default). */
  get windowSize(): Required<WindowSize> {
    return { ...this.window };
  }

  /**
   * Resolves with the exit status once the process has exited and its output has been written.
   * An aborted `signal` rejects this wait only (the process keeps running).
   */
  wait(signal?: AbortSignal): Promise<number> {
    if (!signal) return this.exitPromise;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.exitPromise.then((status) => {
        signal.removeEventListener('abort', onAbort);
        resolve(status);
      });
    });
  }

  /** Attaches the run's io and starts the command. */
  start(io: ProcessIO): Process {
    if (this.started) throw new Error(`process ${this.id} already started`);
    this.started = true;
    const handle = this.attach(io);
    const sink =
      (stream: 'stdout' | 'stderr'): OutputSink =>
      (chunk) =>
        // Output after exit (an abandoned command resuming) must never reach anyone.
        this.status === null ? this.output.write(stream, chunk) : undefined;
    const ctx: CommandContext = {
      ...this.options.context,
      stdin: this.stdin,
      stdout: sink('stdout'),
      // A pty merges stderr into stdout.
      stderr: sink(this.tty ? 'stdout' : 'stderr'),
      signal: this.abort.signal,
      window: () => (this.tty ? { ...this.window } : undefined),
    };
    // Run on a later tick so the caller has its Process before anything happens.
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => this.options.command(ctx))
        .then(
          (status) => this.exit(status),
          () => this.exit(1),
        );
    });
    return handle;
  }

  /** Adds an attacher: it receives undelivered output first, then live output. */
  attach(io: ProcessIO): Process {
    if (this.status === null) {
      this.output.attach(io.stdout, io.stderr);
      if (io.stdin) this.stdin.addSource(io.stdin);
    } else {
      // After exit: hand over what nobody received, then let go of the caller's streams at once.
      this.output.attach(io.stdout, io.stderr).detach();
    }
    return {
      id: this.id,
      wait: (opts) => this.wait(opts?.signal),
      setTTY: async (spec) => this.setTTY(spec),
      signal: async (signal) => this.signal(signal),
    };
  }

  setTTY(spec: TTYSpec): void {
    if (spec.windowSize) this.window = { ...this.window, ...stripUndefined(spec.windowSize) };
  }

  /** Terminate → exit 143, kill (or anything else) → 137. A no-op after exit. */
  signal(signal: Signal | number): void {
    if (this.status !== null) return;
    this.exit(signal === Signal.Terminate ? EXIT_SIGTERM : EXIT_SIGKILL);
  }

  private exit(status: number): void {
    if (this.status !== null) return;
    this.status = status;
    this.abort.abort();
    this.stdin.close();
    this.output.detachAll();
    this.resolveExit(status);
  }
}

function stripUndefined(size: WindowSize | undefined): Partial<Required<WindowSize>> {
  const out: Partial<Required<WindowSize>> = {};
  if (size?.columns !== undefined) out.columns = size.columns;
  if (size?.rows !== undefined) out.rows = size.rows;
  return out;
}
