/**
 * A real terminal for tests: a private tmux server (its own socket) running an interactive shell
 * in a pane of a known size. Tests type keys and read the screen as a person would.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The `gaol` command (bin/gaol.js, which runs the built dist/gaol.js), for shells in the terminal. */
export const GAOL_JS = join(import.meta.dirname, '..', 'bin', 'gaol.js');

export interface TerminalOptions {
  /** The program in the pane, e.g. ['bash', '--norc', '--noprofile', '-i']. */
  command: string[];
  env: Record<string, string>;
  cwd: string;
  columns?: number;
  rows?: number;
}

export class Terminal {
  private static readonly open = new Set<Terminal>();

  private constructor(
    private readonly socket: string,
    private readonly dir: string,
  ) {
    Terminal.open.add(this);
  }

  /** Closes every terminal still open (for afterAll: a timed-out test may not reach its finally). */
  static closeAll(): void {
    for (const t of Terminal.open) t.close();
  }

  /** Starts a tmux server with one window running `command`. */
  static async start(options: TerminalOptions): Promise<Terminal> {
    const dir = mkdtempSync(join(tmpdir(), 'gaol-tmux-'));
    const socket = join(dir, 'tmux.sock');
    // The pane's program gets exactly this environment; TERM as tmux would set it.
    const envArgs = Object.entries({ TERM: 'screen', ...options.env }).map(([k, v]) => `${k}=${v}`);
    const conf = join(dir, 'tmux.conf');
    writeFileSync(conf, 'set -g status off\nset -g history-limit 5000\n');
    await run('tmux', [
      '-S',
      socket,
      '-f',
      conf,
      'new-session',
      '-d',
      '-s',
      'main',
      '-x',
      String(options.columns ?? 100),
      '-y',
      String(options.rows ?? 30),
      '-c',
      options.cwd,
      '--',
      'env',
      '-i',
      ...envArgs,
      ...options.command,
    ]);
    return new Terminal(socket, dir);
  }

  private tmux(...args: string[]) {
    return run('tmux', ['-S', this.socket, ...args]);
  }

  /** Types `text` literally (no key names). */
  async type(text: string): Promise<void> {
    await this.tmux('send-keys', '-t', 'main', '-l', text);
  }

  /** Presses keys by tmux name: 'Enter', 'Tab', 'C-c', 'C-d'. */
  async press(...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', 'main', ...keys);
  }

  /** Types a line and presses Enter. */
  async line(text: string): Promise<void> {
    await this.type(text);
    await this.press('Enter');
  }

  /** The visible screen, lines without trailing blanks. */
  async screen(): Promise<string> {
    const { stdout } = await this.tmux('capture-pane', '-p', '-t', 'main');
    return stdout
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .trimEnd();
  }

  /** The screen plus the scrollback (everything printed so far). */
  async history(): Promise<string> {
    const { stdout } = await this.tmux('capture-pane', '-p', '-S', '-', '-t', 'main');
    return stdout;
  }

  /**
   * Waits until `what` is on the screen; returns the screen.
   * @throws Error with the screen when it does not appear within `timeoutMs`.
   */
  async waitFor(what: string | RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (typeof what === 'string' ? screen.includes(what) : what.test(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${String(what)} on the screen:\n${screen}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until the last line of the screen is the prompt `prompt` alone. */
  async waitForPrompt(prompt = '$', timeoutMs = 15_000): Promise<void> {
    const escaped = prompt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await this.waitFor(new RegExp(`(^|\\n)${escaped}$`), timeoutMs);
  }

  /** Counts the occurrences of `text` on the screen and scrollback. */
  async count(text: string): Promise<number> {
    return (await this.history()).split(text).length - 1;
  }

  /** Waits until `text` occurs `n` times (screen and scrollback). */
  async waitForCount(text: string, n: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.count(text)) < n) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${n}× ${text}:\n${await this.screen()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resizes the window (the pane's program gets SIGWINCH). */
  async resize(columns: number, rows: number): Promise<void> {
    await this.tmux('resize-window', '-t', 'main', '-x', String(columns), '-y', String(rows));
  }

  /** Clears screen and scrollback, so later waits see only new output. */
  async clear(): Promise<void> {
    await this.press('C-l');
    await this.tmux('clear-history', '-t', 'main');
  }

  /** Ends the tmux server (and the programs in it) and removes its files. */
  close(): void {
    Terminal.open.delete(this);
    try {
      execFileSync('tmux', ['-S', this.socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A directory with a `gaol` command that runs bin/gaol.js with this node, for PATH. */
export function gaolOnPath(dir: string): string {
  const bin = join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'gaol'), `#!/bin/sh\nexec ${process.execPath} ${GAOL_JS} "$@"\n`, { mode: 0o755 });
  return bin;
}
