import { isIP } from 'node:net';
import { GardenError, type NetOutRule, Protocol } from '@garden-ts/api-types';

const PROTOCOL_NAMES: Record<number, string> = { 0: 'ALL', 1: 'TCP', 2: 'UDP', 3: 'ICMP' };

function ipToBigInt(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
  // IPv6: expand `::` then fold the eight groups.
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(`0x${g || '0'}`), 0n);
}

/**
 * Validates a NetOut rule the way Guardian's firewall layer does (linux-backend-reference §8.4),
 * plus range checks Guardian leaves to iptables.
 * @throws GardenError naming the problem (`invalid protocol: 4`, `Ports cannot be specified for Protocol ALL`, …)
 */
export function validateNetOutRule(rule: NetOutRule): void {
  const protocol = rule.protocol ?? Protocol.All;
  const name = PROTOCOL_NAMES[protocol];
  if (name === undefined) throw new GardenError(`invalid protocol: ${protocol}`);
  const ports = rule.ports ?? [];
  if (ports.length > 0 && protocol !== Protocol.TCP && protocol !== Protocol.UDP) {
    throw new GardenError(`Ports cannot be specified for Protocol ${name}`);
  }
  for (const range of ports) {
    const start = range.start ?? 0;
    const end = range.end ?? start;
    for (const port of [start, end]) {
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new GardenError(`invalid port range: port ${port} is outside 0-65535`);
      }
    }
    if (start > end)
      throw new GardenError(`invalid port range: start port ${start} is greater than end port ${end}`);
  }
  for (const range of rule.networks ?? []) {
    const start = range.start ?? '';
    const end = range.end ?? '';
    for (const ip of [start, end]) {
      if (ip !== '' && isIP(ip) === 0) throw new GardenError(`invalid IP address: ${ip}`);
    }
    if (start !== '' && end !== '') {
      if (isIP(start) !== isIP(end))
        throw new GardenError(`invalid IP range: ${start}-${end} mixes IPv4 and IPv6`);
      if (ipToBigInt(start) > ipToBigInt(end)) {
        throw new GardenError(`invalid IP range: start IP ${start} is greater than end IP ${end}`);
      }
    }
  }
  const icmps = rule.icmps;
  if (icmps) {
    for (const [field, value] of [
      ['type', icmps.type],
      ['code', icmps.code],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 255)) {
        throw new GardenError(`invalid ICMP ${field}: ${value}`);
      }
    }
  }
}

/** A deep copy, so recorded rules cannot be changed through the caller's objects. */
export function cloneNetOutRule(rule: NetOutRule): NetOutRule {
  return structuredClone(rule);
}
