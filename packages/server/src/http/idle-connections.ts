/**
 * The cap on idle connections: connections that wait for a request head (just accepted, half-open,
 * or keep-alive between requests). A connection serving a request or hijacked for a process stream
 * is never idle. Go's server has no such cap (and no idle timeout), so 2,000 half-open connections
 * stayed open; here, once more than `max` are idle, the longest-idle ones are closed — but only
 * those idle for at least `minIdleMs`, so a burst of Go clients (each "idle" for the instant
 * between connect and its request head) is never cut.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Default cap on idle connections (well below the common 1024 file descriptor soft limit). */
export const DEFAULT_MAX_IDLE_CONNECTIONS = 512;

/** A connection idle for less than this is never closed for the cap. */
export const MIN_IDLE_BEFORE_EVICTION_MS = 1000;

export class IdleConnections {
  /** Idle sockets with the time they became idle; Map order is oldest first. */
  private readonly idle = new Map<Socket, number>();

  constructor(
    private readonly max: number,
    private readonly minIdleMs = MIN_IDLE_BEFORE_EVICTION_MS,
  ) {}

  /** `socket` waits for a request head from now on (accepted, or its last response is out). */
  waiting(socket: Socket): void {
    this.idle.delete(socket);
    this.idle.set(socket, performance.now());
    this.enforce();
  }

  /** `socket` is serving a request, hijacked, or gone. */
  active(socket: Socket): void {
    this.idle.delete(socket);
  }

  get size(): number {
    return this.idle.size;
  }

  private enforce(): void {
    const now = performance.now();
    while (this.idle.size > this.max) {
      const [oldest, since] = this.idle.entries().next().value as [Socket, number];
      if (now - since < this.minIdleMs) return;
      this.idle.delete(oldest);
      oldest.destroy();
    }
  }
}
