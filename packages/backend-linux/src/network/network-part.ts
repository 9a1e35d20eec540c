/**
 * The network part (Guardian's networker), around networker.ts. It runs twice in a create:
 *
 * - **before the runtime** (this part): the address, network id and NetIn ports are allocated
 *   synchronously, the subnet's bridge and the container's firewall elements are started in the
 *   background (they overlap the clone), `/etc/hosts` (hostname → container IP) and
 *   `/etc/resolv.conf` (§8.6) are written for the runtime to bind-mount, and the veth pair is
 *   handed to the runtime (`ctx.network`), whose clone of init makes it while init mounts its
 *   root (the container end created inside the new network namespace);
 * - **after the runtime** (`attachPart`, which sees the init): the firewall elements awaited,
 *   bandwidth limits applied, and the `garden.network.*` properties set; in plugin mode the
 *   plugin's `up` runs here.
 *
 * Destroy releases the address, ports, firewall state and (when it was the subnet's last
 * container) the bridge; the veth pair dies with the container's namespace. Restore takes the
 * record's allocations up again; reconcile rebuilds the nft tables from all records and removes
 * our links that no record accounts for. With `network: false` a container keeps only `lo` and
 * NetIn/NetOut are refused.
 */
import {
  type ContainerSpec,
  GardenError,
  InvalidRequestError,
  type Metrics,
  type NetInRule,
  type NetOutRule,
} from '@garden-ts/api-types';
import { errorFields, validateNetOutRule } from '@garden-ts/backend-kit';
import type { LinuxContainer } from '../container.js';
import type { BackendLogger } from '../options.js';
import type { CreateContext, DestroyContext, Part } from '../part.js';
import { hostsFile, readHostDns, resolvConf } from './dns.js';
import { rewriteInPlace, writeEtcFiles } from './etc-files.js';
import { mappedPortsProperty } from './net-in.js';
import { Networker } from './networker.js';
import { parseNetworkSpec } from './subnet-pool.js';
import type { NetworkOptions, PreparedNetwork } from './types.js';

/** Why NetIn/NetOut fail on a backend created with `network: false`. */
export const NO_NETWORKING =
  'is not available: the linux backend was started without networking (containers have a private network namespace with only lo)';

/** Guardian's MaxContainers without a pool or a flag: its default pool holds 256 /30 subnets. */
const DEFAULT_MAX_CONTAINERS = 256n;
/** MaxContainers when nothing limits it (network plugin mode without max-containers). */
const UNLIMITED = 4294967295n;

export class NetworkPart implements Part {
  readonly name = 'network';
  /** Undefined with `network: false`. */
  readonly networker: Networker | undefined;
  /** Containers between this part's create and the attach part's (or their teardown), by id. */
  private readonly prepared = new Map<string, PreparedNetwork>();
  /** Network operations of one container run one after the other (NetOut rewrites its chain). */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** The part placed after the runtime: the container's devices, once its init exists. */
  readonly attachPart: Part;

  constructor(
    options: NetworkOptions | false | undefined,
    private readonly log: BackendLogger,
    /** Where the NetIn port rotation survives restarts (`<depot>/network.json`). */
    stateFile: string,
  ) {
    this.networker =
      options === false ? undefined : new Networker({ stateFile, ...(options ?? {}) }, { log });
    this.attachPart = { name: 'network-attach', create: (ctx) => this.attach(ctx) };
  }

  /**
   * Capacity's MaxContainers: min(the pool's subnets, `maxContainers` when set); a network plugin
   * has no pool (unlimited), a backend without networking Guardian's default.
   */
  maxContainers(configured: number | undefined): bigint {
    const n = this.networker;
    const pool = n ? (n.capacity === undefined ? UNLIMITED : BigInt(n.capacity)) : DEFAULT_MAX_CONTAINERS;
    return configured && BigInt(configured) < pool ? BigInt(configured) : pool;
  }

  validate(spec: ContainerSpec): void {
    if (!this.networker) {
      if (spec.netIn?.length || spec.netOut?.length)
        throw new GardenError(`${spec.netIn?.length ? 'netin' : 'netout_rules'} ${NO_NETWORKING}`);
      return;
    }
    if (!this.networker.pluginMode) parseNetworkSpec(spec.network);
    for (const rule of spec.netOut ?? []) validateNetOutRule(rule);
    spec.netIn?.forEach((r, i) => {
      for (const [field, port] of [
        ['host_port', r.hostPort],
        ['container_port', r.containerPort],
      ] as const) {
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new InvalidRequestError(
            `netin[${i}].${field}`,
            `${field} must be an integer in 0-65535, got ${port}`,
          );
      }
    });
  }

  create(ctx: CreateContext): void {
    const { record, spec } = ctx;
    const bw = spec.limits?.bandwidth;
    if (bw?.rateInBytesPerSecond !== undefined) record.limits.bandwidthRate = String(bw.rateInBytesPerSecond);
    if (bw?.burstRateInBytesPerSecond !== undefined)
      record.limits.bandwidthBurst = String(bw.burstRateInBytesPerSecond);
    let content: { hosts: string; resolv: string };
    if (this.networker) {
      const p = this.networker.prepare(record.handle, {
        ...(spec.network === undefined ? {} : { network: spec.network }),
        ...(spec.netIn ? { netIn: spec.netIn } : {}),
        ...(spec.netOut ? { netOut: spec.netOut } : {}),
        properties: record.properties,
        ...(bw ? { bandwidth: bw } : {}),
      });
      this.prepared.set(record.id, p);
      record.network = p.record;
      const link = this.networker.link(p);
      if (link) {
        const wrappedLink = wrapped("setting up the container's network", () => link);
        // Awaited by the runtime part (or not at all when an earlier part fails).
        wrappedLink.catch(() => undefined);
        ctx.network = wrappedLink;
      }
      content = {
        hosts: this.networker.hostsText(p.record, record.hostname, record.handle),
        resolv: this.networker.resolvConfText(p.record),
      };
    } else {
      content = {
        hosts: hostsFile(record.hostname, '127.0.0.1', record.handle),
        resolv: resolvConf({ ...readHostDns(), gateway: '127.0.0.1' }),
      };
    }
    const etc = writeEtcFiles(ctx.runDir, content, record.privileged);
    ctx.bindMounts.push(
      { source: etc.hosts, destination: '/etc/hosts', readOnly: false },
      { source: etc.resolv, destination: '/etc/resolv.conf', readOnly: false },
    );
  }

  private async attach(ctx: CreateContext): Promise<void> {
    const p = this.prepared.get(ctx.record.id);
    if (!this.networker || !p) return;
    if (!ctx.init) throw new GardenError('the network part needs the container init (runtime part first)');
    const out = await wrapped("setting up the container's network", () =>
      (this.networker as Networker).attach(p, ctx.init as NativeInit),
    );
    Object.assign(ctx.record.properties, out.properties);
    if (out.resolvConf !== undefined) rewriteInPlace(`${ctx.runDir}/resolv.conf`, out.resolvConf);
    this.prepared.delete(ctx.record.id);
  }

  async destroy(ctx: DestroyContext): Promise<void> {
    const r = ctx.record?.network;
    if (!this.networker || ctx.id === undefined || !r || !ctx.record) return;
    const p = this.prepared.get(ctx.id);
    this.prepared.delete(ctx.id);
    this.queues.delete(ctx.id);
    if (p) await this.networker.abort(p);
    else await this.networker.destroy(ctx.record.handle, r);
  }

  restore(c: LinuxContainer): void {
    const r = c.record.network;
    if (!this.networker || !r) return;
    try {
      this.networker.restore(c.handle, r);
    } catch (e) {
      // Never destroy a container whose record is intact; report the collision.
      this.log.error({ handle: c.handle, ...errorFields(e) }, 'restoring the network of a container');
    }
  }

  async reconcile(): Promise<void> {
    if (!this.networker) return;
    await this.networker.start();
    await this.networker.reconcile();
  }

  async metrics(c: LinuxContainer, metrics: Metrics): Promise<void> {
    const r = c.record.network;
    if (!this.networker || !r) return;
    const s = await this.networker.stats(r);
    if (s) metrics.networkStat = s;
  }

  /** Runs a network operation of one container after the previous one finished. */
  private serial<T>(c: LinuxContainer, op: () => Promise<T>): Promise<T> {
    const id = c.record.id;
    const next = (this.queues.get(id) ?? Promise.resolve()).then(op, op);
    const tail = next.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return next;
  }

  private networkOf(c: LinuxContainer, what: string) {
    const r = c.record.network;
    if (!this.networker || !r) throw new GardenError(`${what} ${NO_NETWORKING}`);
    return { networker: this.networker, r };
  }

  /** NetIn (§8.5): the mapping, recorded and published in `garden.network.mapped-ports`. */
  netIn(c: LinuxContainer, hostPort: number, containerPort: number): Promise<NetInRule> {
    const { networker, r } = this.networkOf(c, 'NetIn');
    return this.serial(c, async () => {
      const rule = await wrapped('NetIn', () => networker.netIn(c.handle, r, hostPort, containerPort));
      c.record.properties['garden.network.mapped-ports'] = mappedPortsProperty(r.netIn);
      c.save();
      return rule;
    });
  }

  /** NetOut / BulkNetOut (§8.4): all rules or none. */
  netOut(c: LinuxContainer, rules: NetOutRule[], bulk: boolean): Promise<void> {
    const { networker, r } = this.networkOf(c, bulk ? 'BulkNetOut' : 'NetOut');
    return this.serial(c, async () => {
      await wrapped(bulk ? 'BulkNetOut' : 'NetOut', () => networker.netOut(c.handle, r, rules, bulk));
      c.save();
    });
  }

  /** Deletes lingering bridges and waits for queued link deletions. */
  async settled(): Promise<void> {
    await this.networker?.settled();
  }

  /** Server stop: nothing of ours stays on the host when no container is left. */
  async stop(options: { containersLeft: boolean }): Promise<void> {
    await this.networker?.stop(options.containersLeft);
  }
}

type NativeInit = { pid: number; pidfd: number };

/**
 * Garden errors (the §8 texts, a plugin's refusal) pass as they are; a lower layer's (a netlink or
 * nft NativeError) becomes `<what> failed: …` with it as the cause (its code, errno and stage).
 */
async function wrapped<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (e instanceof GardenError) throw e;
    throw new GardenError(`${what} failed: ${(e as Error).message}`, { cause: e });
  }
}
