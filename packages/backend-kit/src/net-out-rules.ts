import { GardenError, type NetOutRule, Protocol, parseIP } from '@garden-ts/api-types';

const PROTOCOL_NAMES: Record<number, string> = { 0: 'ALL', 1: 'TCP', 2: 'UDP', 3: 'ICMP' };

/** Byte-wise order of two 16-byte addresses (api-types' `parseIP` form). */
function compareIP(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/**
 * Validates a NetOut rule the way Guardian's firewall layer does (linux-backend-reference §8.4),
 * plus range checks Guardian leaves to iptables. Addresses are parsed with Go's `net.ParseIP`
 * rules (api-types), so a backend accepts exactly what the wire accepts.
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
    const parsed = [start, end].map((ip) => {
      if (ip === '') return undefined;
      const bytes = parseIP(ip);
      if (!bytes) throw new GardenError(`invalid IP address: ${ip}`);
      return bytes;
    });
    const [from, to] = parsed;
    if (from && to) {
      // parseIP's own family rule: text with a ':' is IPv6 (an IPv4-mapped one included).
      if (start.includes(':') !== end.includes(':'))
        throw new GardenError(`invalid IP range: ${start}-${end} mixes IPv4 and IPv6`);
      if (compareIP(from, to) > 0) {
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
