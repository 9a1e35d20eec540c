/** net-in and net-out. */
import { isIP } from 'node:net';
import { type IPRange, type NetOutRule, type PortRange, Protocol } from '@garden-ts/client';
import type { CommandContext } from '../context.js';
import { ExitCode, UsageError } from '../errors.js';
import { parsePort } from '../values.js';

/**
 * gaol's `net-in HANDLE -p PORT`: prints `host:port` for a TCP target (gaol's output); for a unix
 * socket target, whose host has no address we know, the host port alone.
 */
export async function netIn(ctx: CommandContext): Promise<number> {
  const container = await ctx.container(ctx.positional(0, 'HANDLE'));
  const containerPort = parsePort(ctx.string('port') ?? '0', '--port');
  const hostPort = parsePort(ctx.string('host-port') ?? '0', '--host-port');
  const rule = await container.netIn(hostPort, containerPort);
  if (ctx.json) await ctx.printJson(rule);
  else if (ctx.target.kind === 'tcp') {
    const host = ctx.target.host.includes(':') ? `[${ctx.target.host}]` : ctx.target.host;
    ctx.print(`${host}:${rule.hostPort}`);
  } else ctx.print(String(rule.hostPort));
  return ExitCode.Ok;
}

const PROTOCOLS: Record<string, Protocol> = {
  all: Protocol.All,
  tcp: Protocol.TCP,
  udp: Protocol.UDP,
  icmp: Protocol.ICMP,
  icmpv6: Protocol.ICMPv6,
};

function checkIP(text: string, option: string): string {
  if (isIP(text) === 0) throw new UsageError(`${option}: invalid IP address "${text}"`);
  return text;
}

/** An IP address as a bigint (IPv4: 32 bits, IPv6: 128 bits). */
function ipToBigInt(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  // An embedded IPv4 tail (::ffff:10.0.0.1) is two 16-bit groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (v4) {
    const n = ipToBigInt(v4[1] as string);
    ip = `${ip.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = ip.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  let parts = groups(head);
  if (tail !== undefined) {
    const right = groups(tail);
    parts = [...parts, ...Array(8 - parts.length - right.length).fill('0'), ...right];
  }
  return parts.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

function bigIntToIP(n: bigint, v6: boolean): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

/** `10.0.0.0/8`, `10.0.0.1`, `10.0.0.1-10.0.0.9` → an inclusive IP range. */
export function parseNetwork(text: string): IPRange {
  const dash = text.indexOf('-');
  if (dash !== -1) {
    return {
      start: checkIP(text.slice(0, dash), '--network'),
      end: checkIP(text.slice(dash + 1), '--network'),
    };
  }
  const [ip = '', bitsText] = text.split('/');
  checkIP(ip, '--network');
  if (bitsText === undefined) return { start: ip, end: ip };
  const v6 = isIP(ip) === 6;
  const width = v6 ? 128n : 32n;
  const bits = /^\d+$/.test(bitsText) ? BigInt(bitsText) : -1n;
  if (bits < 0n || bits > width) throw new UsageError(`--network: invalid prefix length in "${text}"`);
  const hostMask = (1n << (width - bits)) - 1n;
  const base = ipToBigInt(ip) & ~hostMask & ((1n << width) - 1n);
  return { start: bigIntToIP(base, v6), end: bigIntToIP(base | hostMask, v6) };
}

/** `443` or `8000-8999` → an inclusive port range. */
export function parsePortRange(text: string): PortRange {
  const [a = '', b] = text.split('-');
  const start = parsePort(a, '--port');
  const end = b === undefined ? start : parsePort(b, '--port');
  if (end < start) throw new UsageError(`--port: the range "${text}" ends before it starts`);
  return { start, end };
}

/** The NetOutRule that `gaol net-out`'s options describe. */
export function netOutRule(ctx: CommandContext): NetOutRule {
  const protoText = (ctx.string('protocol') ?? 'all').toLowerCase();
  const protocol = PROTOCOLS[protoText];
  if (protocol === undefined) {
    throw new UsageError(`--protocol: expected all, tcp, udp, icmp or icmpv6, got "${protoText}"`);
  }
  const networks = ctx.list('network').map(parseNetwork);
  const ipStart = ctx.string('ip-start');
  const ipEnd = ctx.string('ip-end');
  if (ipStart !== undefined || ipEnd !== undefined) {
    const start = checkIP(ipStart ?? ipEnd ?? '', ipStart ? '--ip-start' : '--ip-end');
    networks.push({ start, end: ipEnd !== undefined ? checkIP(ipEnd, '--ip-end') : start });
  }
  const ports = ctx.list('port').map(parsePortRange);
  const portStart = ctx.string('port-start');
  const portEnd = ctx.string('port-end');
  if (portStart !== undefined || portEnd !== undefined) {
    const start = parsePort(portStart ?? portEnd ?? '', portStart ? '--port-start' : '--port-end');
    ports.push({ start, end: portEnd !== undefined ? parsePort(portEnd, '--port-end') : start });
  }
  if (ports.length > 0 && protocol !== Protocol.TCP && protocol !== Protocol.UDP) {
    throw new UsageError('--port needs --protocol tcp or udp');
  }
  const rule: NetOutRule = { protocol };
  if (networks.length > 0) rule.networks = networks;
  if (ports.length > 0) rule.ports = ports;
  const icmpType = ctx.string('icmp-type');
  const icmpCode = ctx.string('icmp-code');
  if (icmpType !== undefined || icmpCode !== undefined) {
    if (protocol !== Protocol.ICMP && protocol !== Protocol.ICMPv6) {
      throw new UsageError('--icmp-type/--icmp-code need --protocol icmp or icmpv6');
    }
    if (icmpType === undefined) throw new UsageError('--icmp-code needs --icmp-type');
    const byte = (t: string, o: string) => {
      const n = /^\d+$/.test(t) ? Number(t) : -1;
      if (n < 0 || n > 255) throw new UsageError(`${o}: expected 0-255, got "${t}"`);
      return n;
    };
    rule.icmps = {
      type: byte(icmpType, '--icmp-type'),
      ...(icmpCode !== undefined ? { code: byte(icmpCode, '--icmp-code') } : {}),
    };
  }
  if (ctx.flag('log')) rule.log = true;
  return rule;
}

/** `net-out HANDLE [-p PROTOCOL] [--network NET]... [--port PORTS]...`. */
export async function netOut(ctx: CommandContext): Promise<number> {
  const rule = netOutRule(ctx);
  await (await ctx.container(ctx.positional(0, 'HANDLE'))).netOut(rule);
  return ExitCode.Ok;
}
