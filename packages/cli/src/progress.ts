/**
 * A one-line progress display on stderr for long transfers (`cp` now; image pulls later). It draws
 * only on a terminal, at most every 100 ms, and erases itself when done, so pipes and logs never
 * see it.
 */
import { formatBytes } from './format.js';

export interface ProgressOptions {
  /** Shown before the figures ("Copying to web:/srv"). */
  label: string;
  /** Total bytes when known (a bar and a percentage are drawn). */
  total?: number;
  /** Milliseconds between redraws (default 100). */
  interval?: number;
  now?: () => number;
}

export interface Progress {
  /** Adds transferred bytes. */
  add(bytes: number): void;
  /** Erases the line. Idempotent. */
  done(): void;
  readonly bytes: number;
}

type TerminalLike = { isTTY?: boolean; columns?: number; write(text: string): unknown };

/** The line for `bytes` of `total` (pure, for tests). */
export function progressLine(label: string, bytes: number, total: number | undefined, width = 80): string {
  const figures = total ? `${formatBytes(bytes)} / ${formatBytes(total)}` : formatBytes(bytes);
  if (!total) return `${label}  ${figures}`.slice(0, width - 1);
  const fraction = Math.min(1, bytes / total);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const room = width - 1 - label.length - figures.length - percent.length - 6;
  if (room < 10) return `${label}  ${percent}  ${figures}`.slice(0, width - 1);
  const filled = Math.round(fraction * room);
  return `${label} [${'='.repeat(filled)}${' '.repeat(room - filled)}] ${percent}  ${figures}`;
}

/** A progress display on `stream`; a no-op (that still counts) when it is not a terminal. */
export function startProgress(stream: TerminalLike, options: ProgressOptions): Progress {
  const live = stream.isTTY === true;
  const now = options.now ?? Date.now;
  const interval = options.interval ?? 100;
  let bytes = 0;
  let last = Number.NEGATIVE_INFINITY;
  let drawn = false;
  let finished = false;
  const draw = () => {
    stream.write(`\r\x1b[2K${progressLine(options.label, bytes, options.total, stream.columns ?? 80)}`);
    drawn = true;
  };
  return {
    add(n: number) {
      bytes += n;
      if (!live || finished) return;
      const t = now();
      if (t - last >= interval) {
        last = t;
        draw();
      }
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) stream.write('\r\x1b[2K');
    },
    get bytes() {
      return bytes;
    },
  };
}
