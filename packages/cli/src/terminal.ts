/**
 * The local terminal while a remote process holds it: raw mode (keys, Ctrl-C and Ctrl-D go to the
 * process, not to gaol), the window size and its changes (SIGWINCH), and a restore that always
 * runs.
 */
import type { WindowSize } from '@garden-ts/client';
import type { CliIO } from './context.js';

/** The terminal's size, from stdout, stderr or stdin, whichever is a terminal first. */
export function windowSize(io: CliIO): WindowSize | undefined {
  for (const s of [io.stdout, io.stderr, io.stdin] as const) {
    const stream = s as { isTTY?: boolean; columns?: number; rows?: number; getWindowSize?: () => number[] };
    if (!stream.isTTY) continue;
    // getWindowSize() asks the kernel now; columns/rows may lag behind a SIGWINCH.
    const [columns, rows] = stream.getWindowSize?.() ?? [stream.columns, stream.rows];
    if (columns && rows) return { columns, rows };
  }
  return undefined;
}

export interface TerminalSession {
  /** Leaves raw mode and stops forwarding resizes. Idempotent. */
  restore(): void;
}

/**
 * Calls `onResize` with each new window size and, when `keys` (stdin goes to the process) and
 * stdin is a terminal, puts it in raw mode. Without `keys` the terminal stays cooked, so Ctrl-C
 * still reaches gaol (docker's `exec -t` without `-i` behaves alike).
 */
export function holdTerminal(
  io: CliIO,
  keys: boolean,
  onResize: (size: WindowSize) => void,
): TerminalSession {
  const raw = keys && io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
  if (raw) io.stdin.setRawMode?.(true);
  const resized = () => {
    const size = windowSize(io);
    if (size) onResize(size);
  };
  io.signals.on('SIGWINCH', resized);
  let restored = false;
  return {
    restore() {
      if (restored) return;
      restored = true;
      io.signals.off('SIGWINCH', resized);
      if (raw) io.stdin.setRawMode?.(false);
    },
  };
}
