/**
 * The network part (Guardian's networker). Today a container gets its own network namespace with
 * only `lo`, which native-ns creates and brings up inside the container's child before init runs
 * (the create fails otherwise), plus `/etc/hosts` and `/etc/resolv.conf`. Bandwidth limits are
 * stored and reported only. NetIn/NetOut are refused with a clear error rather than ignored.
 *
 * Next (the networking issue): the IP pool, bridge/veth, firewall, NetIn/NetOut and bandwidth
 * live in this folder; work that needs the container's namespaces goes into a part placed after
 * the runtime part, which sees `ctx.init`.
 */
import { type ContainerSpec, GardenError } from '@garden-ts/api-types';
import type { CreateContext, Part } from '../part.js';
import { writeEtcFiles } from './etc-files.js';

/** Why NetIn/NetOut fail on this backend (also used by the container's netIn/netOut). */
export const NO_NETWORKING =
  'is not supported yet by the linux backend (containers have a private network namespace with only lo)';

export class NetworkPart implements Part {
  readonly name = 'network';

  validate(spec: ContainerSpec): void {
    if (spec.netIn?.length || spec.netOut?.length)
      throw new GardenError(`${spec.netIn?.length ? 'netin' : 'netout_rules'} ${NO_NETWORKING}`);
  }

  create(ctx: CreateContext): void {
    const { record } = ctx;
    const etc = writeEtcFiles(ctx.runDir, record.hostname, record.privileged);
    ctx.bindMounts.push(
      { source: etc.hosts, destination: '/etc/hosts', readOnly: false },
      { source: etc.resolv, destination: '/etc/resolv.conf', readOnly: false },
    );
    const bw = ctx.spec.limits?.bandwidth;
    if (bw?.rateInBytesPerSecond !== undefined) record.limits.bandwidthRate = String(bw.rateInBytesPerSecond);
    if (bw?.burstRateInBytesPerSecond !== undefined)
      record.limits.bandwidthBurst = String(bw.burstRateInBytesPerSecond);
  }
}
