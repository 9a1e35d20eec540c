/**
 * Write-through container records: one JSON file per container, replaced atomically (write to a
 * temp file, rename) on every change, so a crash of the server never loses properties, limits,
 * the stopped flag or OOM events (Guardian keeps them in memory only, §9). Process metadata is in
 * the run directory (run-dir.ts), next to the shim files it describes.
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GardenError } from '@garden-ts/api-types';
import type { ImageRecord } from '@garden-ts/images';
import type { NetworkRecord } from '../network/types.js';
import { guardDir } from './permissions.js';

/** Limits as applied, bigints kept as decimal strings in JSON. */
export interface StoredLimits {
  memoryBytes?: string;
  /** Records of older versions: the requested `weight` (effective shares = weight || shares). */
  cpuWeight?: string;
  /** The effective CPU shares S (reference §6.2: `weight` if > 0, else `limit_in_shares`). */
  cpuShares?: string;
  /** cgroup v2 only: the `cpu.weight` W(S) written, which CurrentCPULimits reports (§6.2). */
  cpuWeightV2?: string;
  pidsMax?: string;
  bandwidthRate?: string;
  bandwidthBurst?: string;
  disk?: Record<string, string>;
}

/** Everything needed to serve and restore a container. */
export interface ContainerRecord {
  version: 1;
  handle: string;
  /** Directory and cgroup name. */
  id: string;
  /** `creating` until the last create step, then `created`; `destroying` during destroy. */
  phase: 'creating' | 'created' | 'destroying';
  createdAt: number;
  privileged: boolean;
  hostname: string;
  /** The overlay's top lower directory (`lowerDirs[0]`). */
  lowerDir: string;
  /** The overlay's lower directories, top-most first (image layers, or one directory). */
  lowerDirs?: string[];
  /** The image's layers and views in @garden-ts/images, taken again at startup. */
  image?: ImageRecord;
  env: string[];
  properties: Record<string, string>;
  limits: StoredLimits;
  /** Grace time in ns, decimal. */
  graceTime: string;
  stopped: boolean;
  events: string[];
  /** Last `oom_kill` counter folded into `events`. */
  oomKills: number;
  /**
   * The container's volume in the disk store (its overlay's upper and work dirs), when it has one:
   * its name in the store, subvolume (= qgroup) id; the image's size below it (DiskStat totals);
   * the quota applied.
   */
  volume?: { name: string; id: string; imageBytes?: string; imageInodes?: string; quotaBytes?: string };
  /** Container init, to re-open it after a restart. */
  init?: { pid: number; startTime: string };
  /** cgroup path relative to each hierarchy root. */
  cgroupPath: string;
  /** The container's network (address, devices, NetIn/NetOut, bandwidth); absent without networking. */
  network?: NetworkRecord;
}

/** Reads and writes records under `<depot>/containers/<id>/state.json`. */
export class StateStore {
  readonly containersDir: string;

  constructor(readonly depot: string) {
    this.containersDir = join(depot, 'containers');
    guardDir(this.containersDir, 'traverse');
  }

  /** The container's depot directory. */
  dirOf(id: string): string {
    return join(this.containersDir, id);
  }

  /**
   * Atomically replaces the record.
   * @throws GardenError `saving the container record failed: …` with the file system's error
   *   (`ENOSPC`, `EROFS`, …) as `cause`; the previous record stays intact.
   */
  write(record: ContainerRecord): void {
    const dir = this.dirOf(record.id);
    const tmp = join(dir, 'state.json.tmp');
    try {
      writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 });
      renameSync(tmp, join(dir, 'state.json'));
    } catch (e) {
      throw new GardenError(`saving the container record failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The record of a depot entry, or undefined when missing or unreadable. */
  read(id: string): ContainerRecord | undefined {
    try {
      const r = JSON.parse(readFileSync(join(this.dirOf(id), 'state.json'), 'utf8')) as ContainerRecord;
      return r.version === 1 && typeof r.handle === 'string' && r.id === id ? r : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every depot entry name (with or without a readable record). */
  entries(): string[] {
    try {
      return readdirSync(this.containersDir);
    } catch (e) {
      // No depot (never started, or its filesystem gone): no entry.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}
