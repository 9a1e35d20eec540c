import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  type ContainerInfo,
  type ContainerSpec,
  type Duration,
  ExecutableNotFoundError,
  GardenError,
  type Limits,
  type NetOutRule,
  type PortMapping,
  type Process,
  type ProcessIO,
  ProcessNotFoundError,
  type ProcessSpec,
  type Properties,
  Signal,
} from '@garden-ts/api-types';
import { checkName, mergeEnv, validateNetOutRule } from '@garden-ts/backend-kit';
import { resolveCommand } from './commands.js';
import type { FileTree } from './file-tree.js';
import { SimulatedProcess } from './simulated-process.js';
import { extractTar, streamPath } from './tar-in.js';
import { packTar, planTar } from './tar-out.js';
import { resolveStreamUser, resolveUser } from './users.js';

/** Network addresses of a container. */
export interface ContainerAddresses {
  hostIP: string;
  containerIP: string;
  externalIP: string;
}

export interface ContainerRecordInit {
  handle: string;
  spec: ContainerSpec;
  createdAtMs: number;
  /** Builds the container's file tree; called on first use so create/destroy stay cheap. */
  makeTree: () => FileTree;
  containerPath: string;
  addresses: ContainerAddresses;
  generateProcessId: () => string;
  backlogLimit: number | undefined;
}

/** All state of one fake container and the operations on it. */
export class ContainerRecord {
  readonly handle: string;
  readonly createdAtMs: number;
  private treeInstance: FileTree | undefined;
  private readonly makeTree: () => FileTree;
  readonly limits: Limits;
  readonly env: string[];
  readonly addresses: ContainerAddresses;
  readonly containerPath: string;
  state: 'active' | 'stopped' = 'active';
  graceTime: Duration;
  readonly properties = new Map<string, string>();
  readonly mappedPorts: PortMapping[] = [];
  readonly netOutRules: NetOutRule[] = [];
  readonly processes = new Map<string, SimulatedProcess>();
  private readonly generateProcessId: () => string;
  private readonly backlogLimit: number | undefined;

  constructor(init: ContainerRecordInit) {
    this.handle = init.handle;
    this.createdAtMs = init.createdAtMs;
    this.makeTree = init.makeTree;
    this.containerPath = init.containerPath;
    this.addresses = init.addresses;
    this.limits = structuredClone(init.spec.limits ?? {});
    this.env = mergeEnv(init.spec.env);
    this.graceTime = init.spec.graceTime ?? 0n;
    for (const [key, value] of Object.entries(init.spec.properties ?? {})) this.properties.set(key, value);
    this.generateProcessId = init.generateProcessId;
    this.backlogLimit = init.backlogLimit;
  }

  /** The container's file tree (seeded on first use). */
  get tree(): FileTree {
    this.treeInstance ??= this.makeTree();
    return this.treeInstance;
  }

  info(): ContainerInfo {
    return {
      state: this.state,
      events: [],
      hostIP: this.addresses.hostIP,
      containerIP: this.addresses.containerIP,
      containerIPv6: '',
      externalIP: this.addresses.externalIP,
      containerPath: this.containerPath,
      processIDs: this.runningProcesses().map((p) => p.id),
      properties: this.propertiesObject(),
      mappedPorts: this.mappedPorts.map((m) => ({ ...m })),
    };
  }

  propertiesObject(): Properties {
    return Object.fromEntries(this.properties);
  }

  runningProcesses(): SimulatedProcess[] {
    return [...this.processes.values()].filter((p) => p.running);
  }

  /** Validates every rule first, so a batch is all-or-nothing like Guardian's BulkNetOut. */
  addNetOutRules(rules: readonly NetOutRule[]): void {
    for (const rule of rules) validateNetOutRule(rule);
    for (const rule of rules) this.netOutRules.push(structuredClone(rule));
  }

  /**
   * Starts a simulated process.
   * @throws GardenError for a duplicate id or unknown user; ExecutableNotFoundError for an unknown path.
   */
  run(spec: ProcessSpec, io: ProcessIO): Process {
    const id = spec.id || this.generateProcessId();
    checkName('id', id);
    if (this.processes.has(id)) throw new GardenError(`process ID '${id}' already in use`);
    const user = resolveUser(this.tree, spec.user);
    const path = spec.path ?? '';
    const command = resolveCommand(path);
    if (!command) {
      throw new ExecutableNotFoundError(
        path.includes('/')
          ? `exec: "${path}": stat ${path}: no such file or directory`
          : `exec: "${path}": executable file not found in $PATH`,
      );
    }
    const pidMax = this.limits.pid?.max ?? 0n;
    if (pidMax > 0n && BigInt(this.runningProcesses().length + 2) > pidMax) {
      throw new GardenError(`fork/exec ${path}: resource temporarily unavailable`);
    }
    const dir = this.workingDir(spec.dir, user);
    const env = mergeEnv(this.env, spec.env);
    const process = new SimulatedProcess({
      id,
      command,
      context: { args: [...(spec.args ?? [])], env, dir, user, tree: this.tree },
      ...(spec.tty ? { tty: spec.tty } : {}),
      backlogLimit: this.backlogLimit,
    });
    this.processes.set(id, process);
    return process.start(io);
  }

  /** spec.dir (relative to `/`), else the user's home; created like Guardian's `mkdir -p` (§3.4). */
  private workingDir(dir: string | undefined, user: { uid: number; gid: number; home: string }): string {
    const wanted = dir ? posix.resolve('/', dir) : user.home || '/';
    try {
      this.tree.mkdirp(wanted, { uid: user.uid, gid: user.gid });
      return wanted;
    } catch {
      return '/';
    }
  }

  /** @throws ProcessNotFoundError */
  attach(processId: string, io: ProcessIO): Process {
    const process = this.processes.get(processId);
    if (!process) throw new ProcessNotFoundError(processId);
    return process.attach(io);
  }

  /** Signals every running process and resolves once all have exited. */
  async stop(kill: boolean): Promise<void> {
    const running = this.runningProcesses();
    for (const process of running) process.signal(kill ? Signal.Kill : Signal.Terminate);
    await Promise.all(running.map((p) => p.wait()));
    this.state = 'stopped';
  }

  killAll(): void {
    for (const process of this.runningProcesses()) process.signal(Signal.Kill);
  }

  async streamIn(path: string, user: string | undefined, tarStream: Readable): Promise<void> {
    let resolved: ReturnType<typeof resolveStreamUser>;
    try {
      resolved = resolveStreamUser(this.tree, user);
    } catch (err) {
      tarStream.resume();
      throw new GardenError(`error streaming in: ${(err as Error).message}`);
    }
    await extractTar(this.tree, streamPath(path, resolved), resolved, tarStream);
  }

  streamOut(path: string, user: string | undefined): Readable {
    let resolved: ReturnType<typeof resolveStreamUser>;
    try {
      resolved = resolveStreamUser(this.tree, user);
    } catch (err) {
      throw new GardenError(`error streaming out: ${(err as Error).message}`);
    }
    return packTar(planTar(this.tree, streamPath(path, resolved), resolved, path));
  }
}
