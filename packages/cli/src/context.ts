/**
 * What a command handler gets: its parsed arguments, the terminal streams, and a lazily created
 * client (loading `@garden-ts/client` only when a command talks to the server keeps `gaol --help`
 * and completion fast).
 */
import type { Readable, Writable } from 'node:stream';
import type { GardenClient } from '@garden-ts/client';
import type { OptionValues, ParsedArgs } from './args.js';
import { listValue, stringValue } from './args.js';
import type { CommandSpec } from './command-table.js';
import { UsageError } from './errors.js';
import { clientAddress, type Target } from './target.js';

export type InputStream = Readable & {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
};
export type OutputStream = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/** The process's environment as the CLI sees it (injectable for in-process tests). */
export interface CliIO {
  stdin: InputStream;
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Where SIGINT/SIGTERM/SIGHUP/SIGWINCH arrive (the process, or an emitter in tests). */
  signals: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
}

/** The real process's streams, environment and signals. */
export function processIO(): CliIO {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signals: process,
  };
}

export class CommandContext {
  private clientPromise: Promise<GardenClient> | undefined;

  constructor(
    readonly io: CliIO,
    readonly target: Target,
    readonly command: CommandSpec,
    readonly args: ParsedArgs,
  ) {}

  get values(): OptionValues {
    return this.args.values;
  }

  /** `--json` was given. */
  get json(): boolean {
    return this.args.values.json === true;
  }

  string(name: string): string | undefined {
    return stringValue(this.args.values, name);
  }

  list(name: string): string[] {
    return listValue(this.args.values, name);
  }

  flag(name: string): boolean {
    return this.args.values[name] === true;
  }

  /** The client for the target (created once, on first use). */
  client(): Promise<GardenClient> {
    this.clientPromise ??= import('@garden-ts/client').then(({ createClient }) =>
      createClient(clientAddress(this.target)),
    );
    return this.clientPromise;
  }

  /** The container with this handle (a list request, like gaol's and the Go client's Lookup). */
  async container(handle: string) {
    return (await this.client()).lookup(handle);
  }

  /** Writes one line of data to stdout. */
  print(line: string): void {
    this.io.stdout.write(`${line}\n`);
  }

  /**
   * Writes a value as JSON (64-bit quantities as exact numbers, the client's stringifyJson) to
   * stdout. Async: the client is imported on use, never at gaol's start.
   */
  async printJson(value: unknown): Promise<void> {
    const { stringifyJson } = await import('@garden-ts/client');
    this.io.stdout.write(`${stringifyJson(value, 2)}\n`);
  }

  /** Writes one diagnostic line to stderr. */
  warn(line: string): void {
    this.io.stderr.write(`gaol: ${line}\n`);
  }

  /** The single positional a command requires, or a usage error naming it. */
  positional(index: number, name: string): string {
    const value = this.args.positionals[index];
    if (value === undefined || value === '') {
      throw new UsageError(
        `gaol ${this.command.name}: missing ${name} (see gaol ${this.command.name} --help)`,
      );
    }
    return value;
  }
}
