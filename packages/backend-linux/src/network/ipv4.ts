/**
 * IPv4 addresses as unsigned 32-bit numbers, and CIDR parsing with Go's `net.ParseCIDR` rules and
 * error text (`invalid CIDR address: …`), which Guardian returns for a bad `network` spec.
 */
import { GardenError } from '@garden-ts/api-types';

/** An IPv4 network: `addr` is the network address (host bits zero). */
export interface Ipv4Net {
  addr: number;
  prefix: number;
}

/** Parses dotted-quad IPv4 text as Go does (no leading zeros, exactly four parts). */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith('0'))) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

export function formatIpv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** The netmask of a prefix length as a number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(addr: number, prefix: number): number {
  return (addr & maskOf(prefix)) >>> 0;
}

/** Number of addresses in a network of this prefix length. */
export function sizeOf(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function broadcastOf(net: Ipv4Net): number {
  return (net.addr + sizeOf(net.prefix) - 1) >>> 0;
}

export function contains(net: Ipv4Net, addr: number): boolean {
  return networkOf(addr, net.prefix) === net.addr;
}

/** Go's `overlaps`: either network contains the other's address. */
export function overlaps(a: Ipv4Net, b: Ipv4Net): boolean {
  return contains(a, b.addr) || contains(b, a.addr);
}

export function formatNet(n: Ipv4Net): string {
  return `${formatIpv4(n.addr)}/${n.prefix}`;
}

/**
 * Parses `a.b.c.d/n` into the address given and its network, as Go's net.ParseCIDR.
 * @throws GardenError `invalid CIDR address: <s>`; IPv6 networks get their own message.
 */
export function parseCidr(s: string): { ip: number; net: Ipv4Net } {
  const slash = s.indexOf('/');
  const ipText = slash < 0 ? s : s.slice(0, slash);
  const prefixText = slash < 0 ? '' : s.slice(slash + 1);
  const ip = parseIpv4(ipText);
  if (ip === undefined || !/^\d+$/.test(prefixText) || Number(prefixText) > 32) {
    if (ipText.includes(':') && slash >= 0)
      throw new GardenError(`IPv6 container networks are not supported: ${s}`);
    throw new GardenError(`invalid CIDR address: ${s}`);
  }
  const prefix = Number(prefixText);
  return { ip, net: { addr: networkOf(ip, prefix), prefix } };
}
