/**
 * Test-made network namespaces (network safety: nothing here touches the machine's own
 * namespace). A "host" namespace plays the server's machine, an "outside" namespace joined to it
 * by a veth plays the internet:
 *
 *   outside (O)  eth0 192.0.2.2/24, lo also 198.51.100.10, 203.0.113.10 (deny-network targets)
 *      │ veth
 *   host (H)     ext0 192.0.2.1/24, default route via 192.0.2.2, ip_forward on
 *
 * Traffic is made with test/fixtures/net-probe.mjs run by `ip netns exec`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'net-probe.mjs');

export const HOST_IP = '192.0.2.1';
export const OUTSIDE_IP = '192.0.2.2';
export const DENIED_A = '198.51.100.10';
export const DENIED_B = '203.0.113.10';

export function ip(ns: string, ...args: string[]): string {
  return execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
}

/** Runs a command inside a namespace. */
export function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' });
}

export interface TestNetwork {
  /** Namespace names (`ip netns`); files at /run/netns/<name>. */
  host: string;
  outside: string;
  hostPath: string;
  /** Makes an extra namespace (deleted by `cleanup`). */
  extra(name: string): string;
  /** Kills what runs in a namespace made here and deletes it now. */
  drop(ns: string): void;
  /** Runs the probe in a namespace and returns its one line. */
  probe(ns: string, ...args: string[]): Promise<string>;
  /** Starts a probe server in a namespace; resolves once it listens. */
  serve(ns: string, proto: 'tcp' | 'udp', port: number, address?: string): Promise<void>;
  /** Kills every server started, deletes every namespace made. */
  cleanup(): void;
}

export function testNetwork(tag: string): TestNetwork {
  const base = `gtnet-${tag}-${process.pid}`;
  const host = `${base}-h`;
  const outside = `${base}-o`;
  const made: string[] = [];
  const servers: ChildProcess[] = [];
  const add = (name: string) => {
    execFileSync('ip', ['netns', 'add', name]);
    made.push(name);
    ip(name, 'link', 'set', 'lo', 'up');
    return name;
  };
  add(host);
  add(outside);
  ip(host, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside);
  ip(host, 'addr', 'add', `${HOST_IP}/24`, 'dev', 'ext0');
  ip(host, 'link', 'set', 'ext0', 'up');
  ip(outside, 'addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0');
  ip(outside, 'link', 'set', 'eth0', 'up');
  ip(outside, 'addr', 'add', `${DENIED_A}/32`, 'dev', 'lo');
  ip(outside, 'addr', 'add', `${DENIED_B}/32`, 'dev', 'lo');
  ip(host, 'route', 'add', 'default', 'via', OUTSIDE_IP);
  inNs(host, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  return {
    host,
    outside,
    hostPath: `/run/netns/${host}`,
    extra: (name) => add(`${base}-${name}`),
    probe: async (ns, ...args) =>
      new Promise((resolve, reject) => {
        const p = spawn('ip', ['netns', 'exec', ns, process.execPath, PROBE, ...args]);
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.on('error', reject);
        p.on('close', () => resolve(out.trim()));
      }),
    serve: (ns, proto, port, address) =>
      new Promise((resolve, reject) => {
        const p = spawn(
          'ip',
          [
            'netns',
            'exec',
            ns,
            process.execPath,
            PROBE,
            'serve',
            proto,
            String(port),
            ...(address ? [address] : []),
          ],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        servers.push(p);
        p.on('error', reject);
        p.on('exit', (code) => reject(new Error(`probe server exited (${code})`)));
        createInterface({ input: p.stdout as NodeJS.ReadableStream }).on('line', (l) => {
          if (l === 'listening') resolve();
        });
      }),
    drop: (ns) => drop(made, ns),
    cleanup() {
      for (const s of servers) if (s.exitCode === null && s.pid) kill(s.pid);
      for (const ns of [...made].reverse()) drop(made, ns);
    },
  };
}

/** Kills the processes in one of `made`'s namespaces (all started by the tests) and deletes it. */
function drop(made: string[], ns: string): void {
  const i = made.indexOf(ns);
  if (i < 0) throw new Error(`not a namespace of this test: ${ns}`);
  made.splice(i, 1);
  const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const pid of pids) kill(Number(pid));
  execFileSync('ip', ['netns', 'del', ns]);
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const LOG_ALL_NETNS = '/proc/sys/net/netfilter/nf_log_all_netns';

/**
 * The kernel only writes nft `log` lines of the initial namespace unless nf_log_all_netns is set;
 * our rules run in test-made namespaces, so it is set for the duration of `fn` and restored.
 */
export async function withNetnsLogging<T>(fn: () => Promise<T>): Promise<T> {
  const before = readFileSync(LOG_ALL_NETNS, 'utf8').trim();
  writeFileSync(LOG_ALL_NETNS, '1');
  try {
    return await fn();
  } finally {
    writeFileSync(LOG_ALL_NETNS, before);
  }
}
