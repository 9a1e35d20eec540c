/**
 * NetOut rules (linux-backend-reference §8.4) compiled to nft rule bodies for a container's own
 * chain. The rules must have been validated (protocol, ports only with tcp/udp, ranges); this
 * module only translates. One Garden rule expands to (networks × ports) nft rules, as Guardian's
 * iptables rules do; a `log` rule logs NEW/UNTRACKED/INVALID connections with the handle prefix,
 * then accepts like any hole.
 */
import { type IPRange, type NetOutRule, type PortRange, Protocol } from '@garden-ts/api-types';
import { parseIpv4 } from './ipv4.js';

/** `<first 28 characters of the handle> `, with what nft cannot quote replaced by `_`. */
export function logPrefix(handle: string): string {
  return `${[...handle]
    .slice(0, 28)
    .map((c) => (c === '"' || c === '$' || c === '\\' || c < ' ' || c === '\x7f' ? '_' : c))
    .join('')} `;
}

/**
 * The destination match of one IPRange (`ip daddr a-b`, `ip daddr a`), `''` for "anywhere", or
 * `undefined` for an IPv6 range: containers have IPv4 only, so such a range can match nothing.
 */
function daddr(range: IPRange | undefined): string | undefined {
  if (!range) return '';
  const start = range.start ?? '';
  const end = range.end ?? '';
  if (start === '' && end === '') return '';
  const a = start || end;
  const b = end || start;
  if (parseIpv4(a) === undefined || parseIpv4(b) === undefined) return undefined;
  return a === b ? `ip daddr ${a}` : `ip daddr ${a}-${b}`;
}

function dport(proto: 'tcp' | 'udp', range: PortRange | undefined): string {
  if (!range) return `meta l4proto ${proto}`;
  const start = range.start ?? 0;
  const end = range.end ?? start;
  return start === end ? `${proto} dport ${start}` : `${proto} dport ${start}-${end}`;
}

function protocolMatches(rule: NetOutRule): string[] {
  const protocol = rule.protocol ?? Protocol.All;
  switch (protocol) {
    case Protocol.All:
      return [''];
    case Protocol.TCP:
    case Protocol.UDP: {
      const proto = protocol === Protocol.TCP ? 'tcp' : 'udp';
      const ports = rule.ports?.length ? rule.ports : [undefined];
      return ports.map((p) => dport(proto, p));
    }
    case Protocol.ICMP: {
      const icmp = rule.icmps;
      if (!icmp || icmp.type === undefined) return ['meta l4proto icmp'];
      return [`icmp type ${icmp.type}${icmp.code === undefined ? '' : ` icmp code ${icmp.code}`}`];
    }
    default:
      throw new RangeError(`netout rule with protocol ${String(protocol)} was not validated`);
  }
}

/**
 * nft rule bodies (without `add rule …`) for one validated NetOut rule, in order: for each
 * (network, port) a log rule when `log` is set, then the accept.
 */
export function netOutRuleBodies(rule: NetOutRule, handle: string): string[] {
  const networks = rule.networks?.length ? rule.networks.map(daddr) : [''];
  const log = rule.log === true;
  const out: string[] = [];
  for (const net of networks) {
    if (net === undefined) continue;
    for (const proto of protocolMatches(rule)) {
      const match = [net, proto].filter((s) => s !== '').join(' ');
      const prefix = match === '' ? '' : `${match} `;
      if (log) out.push(`${prefix}ct state new,untracked,invalid log prefix "${logPrefix(handle)}"`);
      out.push(`${prefix}accept`);
    }
  }
  return out;
}

/**
 * The whole chain content for a container's rules, newest first ("new rules go on top"): the
 * chain is rewritten from the recorded list in one transaction on every NetOut/BulkNetOut.
 */
export function netOutChainBodies(rules: readonly NetOutRule[], handle: string): string[] {
  const out: string[] = [];
  for (let i = rules.length - 1; i >= 0; i--) out.push(...netOutRuleBodies(rules[i] as NetOutRule, handle));
  return out;
}
