import { GardenError } from '@garden-ts/api-types';

/**
 * A FIFO host-port pool like Guardian's (linux-backend-reference §8.5): acquire takes the head,
 * release appends to the tail so ports are reused as late as possible. Explicitly requested
 * in-pool ports are reserved (a Guardian gap we beat); out-of-pool explicit ports are tracked so
 * one host port maps to one container port at a time.
 */
export class PortPool {
  private readonly free: number[] = [];
  private readonly taken = new Set<number>();

  constructor(
    readonly start = 61001,
    readonly size = 4534,
  ) {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(size) ||
      start < 1 ||
      size < 0 ||
      start + size > 65536
    ) {
      throw new RangeError(`invalid port pool ${start}+${size}: must lie within 1-65535`);
    }
    for (let port = start; port < start + size; port++) this.free.push(port);
  }

  private inPool(port: number): boolean {
    return port >= this.start && port < this.start + this.size;
  }

  /** Takes the next free port. @throws GardenError `port pool is exhausted` */
  acquire(): number {
    const port = this.free.shift();
    if (port === undefined) throw new GardenError('port pool is exhausted');
    this.taken.add(port);
    return port;
  }

  /** Reserves a specific port. @throws GardenError when it is already mapped. */
  reserve(port: number): void {
    if (this.taken.has(port)) throw new GardenError(`port ${port} is already in use`);
    if (this.inPool(port)) this.free.splice(this.free.indexOf(port), 1);
    this.taken.add(port);
  }

  /** Returns a port; unknown ports are ignored. */
  release(port: number): void {
    if (!this.taken.delete(port)) return;
    if (this.inPool(port)) this.free.push(port);
  }

  /** Number of ports still available. */
  get available(): number {
    return this.free.length;
  }

  /** The port the next `acquire()` hands out; undefined when the pool is exhausted. */
  get next(): number | undefined {
    return this.free[0];
  }

  /**
   * Resumes the rotation at `port` (Guardian's saved offset, so a restarted server does not hand
   * out recently released ports first): the free list is rotated to start at the first free port
   * at or after `port`, wrapping around. Ports outside the pool are ignored.
   */
  resumeAt(port: number): void {
    if (!this.inPool(port) || this.free.length === 0) return;
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const p = this.free[i] as number;
      if (p >= port && (best < 0 || p < (this.free[best] as number))) best = i;
    }
    if (best <= 0) return;
    this.free.push(...this.free.splice(0, best));
  }
}
