/**
 * The lifecycle of our two nft tables in the host namespace, and of IPv4 forwarding with them.
 * The tables exist only while containers do (a gardend with none, e.g. the quick start's after its
 * example, leaves nothing on the host): installed with the first container, deleted a linger after
 * the last one, replaced whole at startup from the records. Every table operation is chained on
 * one queue, so an install, a replacement and a deletion never overlap. What goes *into* the
 * tables per container is container-firewalls.ts's.
 */
import { isIPv4 } from 'node:net';
import { nft, readNetSysctl, releaseNft, writeNetSysctl } from '@garden-ts/native-ns';
import {
  type ContainerFirewall,
  deleteTablesScript,
  type FirewallConfig,
  rulesetScript,
  type SubnetFirewall,
} from './nft-ruleset.js';
import type { NetnsOption, NetworkLog, NetworkOptions } from './types.js';

/**
 * The static ruleset's settings: NetIn is published on the external IP, 127.0.0.1 and the bind IP;
 * IPv4 DNS servers are reachable on the host.
 */
export function rulesetConfig(
  options: NetworkOptions,
  checked: { table: string; denyNetworks: string[] },
  externalIp: string,
): FirewallConfig {
  const addresses = [externalIp, '127.0.0.1'];
  if (options.bindIp && options.bindIp !== '0.0.0.0') addresses.push(options.bindIp);
  return {
    table: checked.table,
    denyNetworks: checked.denyNetworks,
    dnsServers: (options.dnsServers ?? []).filter((ip) => isIPv4(ip)),
    netInAddresses: addresses.filter((a) => a !== ''),
    allowHostAccess: options.allowHostAccess === true,
  };
}

export interface NftTablesDeps {
  table: string;
  netns: NetnsOption;
  /** How long the tables outlive the last container (the bridges' linger). */
  lingerMs: number;
  log: NetworkLog;
  /** The static ruleset's settings (read at each install: the external IP is learnt at start). */
  config: () => FirewallConfig;
  /** Some container's firewall is known: the tables must stay. */
  inUse: () => boolean;
  /** Resolves once queued element removals are applied (before the tables are deleted). */
  removalsSettled: () => Promise<void>;
  /** The tables were deleted, taking every element with them. */
  dropped: () => void;
  /** `forwardingSwitchedOn` changed (the persisted state is written). */
  forwardingChanged: () => void;
}

export class NftTables {
  private installed = false;
  private ops: Promise<void> = Promise.resolve();
  private linger: NodeJS.Timeout | undefined;
  /** We switched IPv4 forwarding on (it was off): it goes off again with the tables. */
  forwardingSwitchedOn = false;

  constructor(private readonly d: NftTablesDeps) {}

  /**
   * The static ruleset, installed with the first container (with IPv4 forwarding switched on, as
   * Docker does: the host must route the containers' traffic). Resolves once it is in place.
   */
  ensure(): Promise<void> {
    this.cancelLinger();
    if (!this.installed) {
      this.installed = true;
      const install = this.ops.then(async () => {
        await this.forwardingOn();
        await nft(rulesetScript(this.d.config(), [], []), this.d.netns);
      });
      // A failed install is retried by the next container.
      this.ops = install.catch(() => {
        this.installed = false;
      });
      return install;
    }
    return this.ops;
  }

  /** After the last container: the tables go too, a linger later (creates often follow). */
  dropWhenIdle(now = false): void {
    if (!this.installed || this.d.inUse()) return;
    if (this.linger) clearTimeout(this.linger);
    const drop = () => {
      this.linger = undefined;
      if (!this.installed || this.d.inUse()) return;
      this.installed = false;
      this.d.dropped();
      this.ops = this.ops
        .then(async () => {
          await this.d.removalsSettled();
          await nft(deleteTablesScript(this.d.table), this.d.netns);
          await this.forwardingBack();
          // Idle: the kept nftables connection need not hold the namespace any more.
          await releaseNft(this.d.netns);
        })
        .then(
          () => undefined,
          (e: Error) => this.d.log.warn({ err: e.message }, 'removing the nft tables'),
        );
    };
    if (now || this.d.lingerMs <= 0) drop();
    else {
      this.linger = setTimeout(drop, this.d.lingerMs);
      this.linger.unref();
    }
  }

  /**
   * Startup: replaces both tables with the static ruleset and these elements in one transaction,
   * or, with no container, removes stale tables of a crashed server (they come back with a
   * container). Resolves once done.
   */
  replace(containers: ContainerFirewall[], subnets: SubnetFirewall[]): Promise<void> {
    if (containers.length > 0) {
      this.installed = true;
      this.ops = this.ops.then(async () => {
        await this.forwardingOn();
        await nft(rulesetScript(this.d.config(), containers, subnets), this.d.netns);
      });
    } else {
      this.installed = false;
      this.ops = this.ops.then(() =>
        nft(deleteTablesScript(this.d.table), this.d.netns).then(() => undefined),
      );
    }
    return this.ops;
  }

  /** Resolves once every queued table operation ran. */
  settled(): Promise<void> {
    return this.ops;
  }

  cancelLinger(): void {
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
  }

  /** Server stop with no container left: both tables go now, forwarding back. Never throws. */
  async removeNow(): Promise<void> {
    await nft(deleteTablesScript(this.d.table), this.d.netns).catch((e: Error) =>
      this.d.log.warn({ err: e.message }, 'removing the nft tables'),
    );
    await this.forwardingBack().catch((e: Error) =>
      this.d.log.warn({ err: e.message }, 'switching IPv4 forwarding back off'),
    );
  }

  /** Closes the nftables connection kept for the namespace (a stop: no transaction follows). */
  async release(): Promise<void> {
    await releaseNft(this.d.netns).catch((e: Error) =>
      this.d.log.warn({ err: e.message }, 'closing the nftables connection'),
    );
  }

  /** Forgets the tables (a stop: the next start replaces them). */
  forget(): void {
    this.installed = false;
  }

  /**
   * IPv4 forwarding on in the host namespace: the host must route the containers' traffic (Docker
   * does the same). When it was off, it goes off again with our tables, so a gardend without
   * containers leaves the host as it found it.
   */
  private async forwardingOn(): Promise<void> {
    if ((await readNetSysctl('net/ipv4/ip_forward', this.d.netns)) === '1') return;
    await writeNetSysctl('net/ipv4/ip_forward', '1', this.d.netns);
    this.forwardingSwitchedOn = true;
    this.d.forwardingChanged();
  }

  private async forwardingBack(): Promise<void> {
    if (!this.forwardingSwitchedOn) return;
    this.forwardingSwitchedOn = false;
    this.d.forwardingChanged();
    await writeNetSysctl('net/ipv4/ip_forward', '0', this.d.netns);
  }
}
