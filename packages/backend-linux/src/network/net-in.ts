/**
 * NetIn (linux-backend-reference §8.5): host ports from backend-kit's FIFO pool (explicit ports
 * reserved, `0` taking the pool's next), the mapping of a live container with rollback when the
 * mode's mapping (nft DNAT, or the plugin's `net-in`) fails, and `garden.network.mapped-ports`.
 * The pool is rebuilt from the records at every start; its rotation is persisted through
 * `onAcquire` (network-state.ts).
 */
import { InvalidRequestError, type NetInRule } from '@garden-ts/api-types';
import { PortPool } from '@garden-ts/backend-kit';
import type { NetworkRecord } from './types.js';

/** @throws InvalidRequestError naming `field` unless `port` is in 0-65535. */
export function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidRequestError(field, `${field} must be an integer in 0-65535, got ${port}`);
}

/** A create's NetIn rules: every port in 0-65535 (errors name `netin[i].host_port` / `.container_port`). */
export function checkNetInRules(rules: readonly NetInRule[]): void {
  rules.forEach((r, i) => {
    checkPort(`netin[${i}].host_port`, r.hostPort);
    checkPort(`netin[${i}].container_port`, r.containerPort);
  });
}

/** `garden.network.mapped-ports`, as Guardian writes it. */
export function mappedPortsProperty(rules: readonly NetInRule[]): string {
  return JSON.stringify(rules.map((r) => ({ HostPort: r.hostPort, ContainerPort: r.containerPort })));
}

/**
 * How a mode maps a host port to a container port; it may answer with another mapping (a plugin's
 * `net-in` output).
 */
export type PortMapper = (
  hostPort: number,
  containerPort: number,
) => Promise<{ hostPort?: number; containerPort?: number } | undefined>;

export class NetInPorts {
  private pool: PortPool;

  constructor(
    private readonly start: number,
    private readonly size: number,
    /** The pool's rotation moved (an acquisition): the persisted state is written. */
    private readonly onAcquire: () => void,
  ) {
    try {
      this.pool = new PortPool(start, size);
    } catch (e) {
      throw new InvalidRequestError('portPool', (e as Error).message);
    }
  }

  /** The port the next acquisition hands out (persisted across restarts). */
  get next(): number | undefined {
    return this.pool.next;
  }

  /** Resumes the rotation where the last server left it. */
  resumeAt(port: number): void {
    this.pool.resumeAt(port);
  }

  /**
   * The requested port (reserved) or, for 0, the pool's next.
   * @throws GardenError `port pool is exhausted`, `port N is already in use`
   */
  take(requested: number): number {
    if (requested !== 0) {
      this.pool.reserve(requested);
      return requested;
    }
    const port = this.pool.acquire();
    this.onAcquire();
    return port;
  }

  /** Ports for a create's NetIn rules (container port 0: the host port); all or none. */
  takeAll(rules: readonly NetInRule[]): NetInRule[] {
    const held: number[] = [];
    try {
      return rules.map((r) => {
        const hostPort = this.take(r.hostPort);
        held.push(hostPort);
        return { hostPort, containerPort: r.containerPort || hostPort };
      });
    } catch (e) {
      for (const p of held) this.pool.release(p);
      throw e;
    }
  }

  /** Holds a restored container's ports again. */
  reserve(port: number): void {
    this.pool.reserve(port);
  }

  release(port: number): void {
    this.pool.release(port);
  }

  /** Gives a container's ports back. */
  releaseAll(rules: readonly NetInRule[]): void {
    for (const m of rules) this.pool.release(m.hostPort);
  }

  /**
   * Maps a host port to a container port through `map`; `r.netIn` changes only once the mapping
   * is in place, and a failed one gives its port back.
   * @throws InvalidRequestError for a port outside 0-65535; GardenError from the pool or `map`
   */
  async map(r: NetworkRecord, hostPort: number, containerPort: number, map: PortMapper): Promise<NetInRule> {
    checkPort('host_port', hostPort);
    checkPort('container_port', containerPort);
    let host = this.take(hostPort);
    let container = containerPort || host;
    try {
      const out = await map(host, container);
      if (out?.hostPort && out.hostPort !== host) {
        this.pool.release(host);
        host = this.take(out.hostPort);
      }
      container = out?.containerPort ?? container;
    } catch (e) {
      this.pool.release(host);
      throw e;
    }
    r.netIn.push({ hostPort: host, containerPort: container });
    return { hostPort: host, containerPort: container };
  }

  /** Forgets every port (a stop: the next start reserves the records' ports again). */
  reset(): void {
    this.pool = new PortPool(this.start, this.size);
  }
}
