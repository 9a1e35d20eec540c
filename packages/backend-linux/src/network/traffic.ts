/**
 * A bridge-mode container's traffic: bandwidth shaping (tbf on the host veth for what the
 * container receives; its ingress redirected to the container's ifb and shaped there) and the
 * byte counters Metrics reports, taken from the host veth without entering the container.
 */
import { type LinkInfo, listLinks, setBandwidth } from '@garden-ts/native-ns';
import { ifbName } from './device-names.js';
import type { NetnsOption, NetworkRecord } from './types.js';

/** Shapes both directions to `rate` (bytes/s) with `burst`; records what was set in `r.bandwidth`. */
export async function applyBandwidth(
  netns: NetnsOption,
  r: NetworkRecord,
  rate: bigint,
  burst: bigint,
): Promise<void> {
  // tbf needs a bucket of at least one frame, and ~10 ms of traffic to reach the rate at HZ=250.
  const frame = BigInt(r.mtu + 14);
  let bucket = burst > 0n ? burst : rate / 100n;
  if (bucket < frame) bucket = frame;
  if (bucket > 0xffffffffn) bucket = 0xffffffffn;
  await setBandwidth({
    ...netns,
    hostVeth: r.hostVeth,
    ifb: ifbName(r.id),
    rate,
    burst: Number(bucket),
    mtu: r.mtu,
  });
  r.bandwidth = { rate: String(rate), burst: String(burst) };
}

/** Containers' byte counters from one link dump shared by concurrent callers (BulkMetrics). */
export class TrafficCounters {
  private cache: { at: number; links: Promise<LinkInfo[]> } | undefined;

  constructor(private readonly netns: NetnsOption) {}

  /**
   * The container's traffic, from its side: bytes it received (host end's transmit counter) and
   * sent. Links are dumped at most every 50 ms.
   */
  async of(r: NetworkRecord): Promise<{ rxBytes: bigint; txBytes: bigint } | undefined> {
    if (r.mode !== 'bridge') return undefined;
    const now = Date.now();
    if (!this.cache || now - this.cache.at > 50) this.cache = { at: now, links: listLinks(this.netns) };
    const link = (await this.cache.links).find((l) => l.name === r.hostVeth);
    return link ? { rxBytes: link.txBytes, txBytes: link.rxBytes } : undefined;
  }
}
