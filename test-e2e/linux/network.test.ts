/**
 * Issue 11's acceptance, end to end: `gardend --backend linux` (the built executable) runs in a
 * test-made "host" network namespace (`nsenter --net`), joined by a veth to an "outside"
 * namespace that plays the internet (test/netns.ts in backend-linux); clients talk to it over its
 * unix socket with the TypeScript client. Nothing here touches the machine's own interfaces,
 * routes or nftables, and no packet leaves the test namespaces.
 *
 * Covered: container ↔ container on a shared subnet; NetIn via the external IP and 127.0.0.1;
 * the NetOut matrix against deny networks (protocol, port range, ICMP type/code, network range);
 * container → host rejected unless allowed; DNS (hosts, resolv.conf); `log` rules in the kernel
 * log; --mtu on both veth ends; bandwidth within ±15 % (iperf3); all of it again after kill -9 +
 * restart (plugin mode included); typed §8.1/§8.4/
 * §8.5 errors with nothing half-applied; plugin mode; and zero leftover links, addresses, routes,
 * namespaces, nft elements and chains after destroy, after --destroy-containers-on-startup and
 * after 250 concurrent creates and destroys.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Client, type Container, GardenError, Protocol } from '@garden-ts/api-types';
import { defaultRunDir } from '@garden-ts/backend-linux';
import { createClient } from '@garden-ts/client';
import { detectCgroupLayout, listAddresses, listLinks, listRoutes, nft } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../packages/backend-linux/test/helpers.js';
import {
  DENIED_A,
  DENIED_B,
  HOST_IP,
  OUTSIDE_IP,
  type TestNetwork,
  testNetwork,
  withNetnsLogging,
} from '../../packages/backend-linux/test/netns.js';

const repo = join(import.meta.dirname, '..', '..');
const gardend = join(repo, 'packages', 'gardend', 'dist', 'bin', 'gardend.js');
const cgroupParent = `garden-e2e-net-${process.pid}`;

let net: TestNetwork;
let dir: string;
let depot: string;
let socketPath: string;
let server: Gardend | undefined;
let client: Client;

/** The flags of the main gardend (and of its restarts). */
const FLAGS = [
  '--deny-network',
  '198.51.100.0/24',
  '--deny-network',
  '203.0.113.0/24',
  '--deny-network',
  '10.0.0.0/8',
  '--dns-server',
  '10.0.0.53',
  '--additional-dns-server',
  '10.0.0.54',
  '--port-pool-size',
  '8',
  '--mtu',
  '1400',
];

interface Gardend {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** gardend in the test host namespace (only its network namespace differs from ours). */
function startGardend(
  extra: string[],
  opts: { depot?: string; socket?: string; netns?: string } = {},
): Gardend {
  const child = spawn(
    'nsenter',
    [
      `--net=${opts.netns ?? net.hostPath}`,
      process.execPath,
      gardend,
      '--backend',
      'linux',
      '--depot',
      opts.depot ?? depot,
      '--cgroup-parent',
      cgroupParent,
      '--bind-socket',
      opts.socket ?? socketPath,
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

async function ready(g: Gardend, socket = socketPath): Promise<Client> {
  const c = createClient({ socketPath: socket });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (g.child.exitCode !== null) throw new Error(`gardend exited: ${(await g.done).stderr}`);
    try {
      await c.ping();
      return c;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function stop(g: Gardend, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill(signal);
  const { code, stderr } = await g.done;
  if (signal === 'SIGTERM') expect(code, stderr).toBe(0);
}

/** A shell command in a container: status and both streams. */
async function sh(c: Container, cmd: string): Promise<{ status: number; out: string }> {
  const stdout = new Collector();
  const stderr = new Collector();
  const p = await c.run({ path: 'sh', args: ['-c', cmd] }, { stdout, stderr });
  const status = await p.wait();
  return { status, out: stdout.text() + stderr.text() };
}

/** TCP from a container with busybox nc: the answer, or nc's complaint. */
async function tcp(c: Container, ip: string, port: number): Promise<string> {
  return (await sh(c, `echo hi | nc -w 2 ${ip} ${port}`)).out.trim();
}

const OK_HOST = `ok ${HOST_IP}`; // what the outside servers answer a masqueraded container
const REFUSED = /Connection refused/;
const HOST_PROHIBITED = /No route to host/;

/** A TCP server in a container answering `pong`, forever (until the container goes). */
async function pongServer(c: Container, port: number): Promise<void> {
  await c.run({ path: 'sh', args: ['-c', `while true; do echo pong | nc -l -p ${port}; done`] }, {});
  await new Promise((r) => setTimeout(r, 300));
}

const ping = async (c: Container, ip: string) => (await sh(c, `ping -c 1 -W 1 ${ip}`)).status === 0;

/** The container's init pid (its cgroup is named after the handle). */
function initPid(handle: string): number {
  const layout = detectCgroupLayout();
  const root = layout.v1.memory ?? (layout.v2 as string);
  for (const pid of readFileSync(join(root, cgroupParent, handle, 'cgroup.procs'), 'utf8').split('\n')) {
    if (pid && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'garden-init') return Number(pid);
  }
  throw new Error(`no init for ${handle}`);
}

/**
 * The traffic probe (backend-linux/test/fixtures/net-probe.mjs) in a container's network
 * namespace, for what busybox cannot do (UDP): the same network path as from inside.
 */
async function probeIn(handle: string, ...args: string[]): Promise<string> {
  const probe = join(repo, 'packages', 'backend-linux', 'test', 'fixtures', 'net-probe.mjs');
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/proc/${initPid(handle)}/ns/net`, process.execPath, probe, ...args]);
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.on('error', reject);
    p.on('close', () => resolve(text.trim()));
  });
}

/**
 * iperf3 (4 s of TCP) between the test host namespace and a container: the bytes per second
 * received; `reverse`: container → host.
 */
async function measureRate(handle: string, reverse: boolean): Promise<number> {
  const ip = (await (await client.lookup(handle)).info()).containerIP;
  const srv = spawn('nsenter', [`--net=/proc/${initPid(handle)}/ns/net`, 'iperf3', '-s', '-1'], {
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 300));
  try {
    const result = JSON.parse(
      execFileSync(
        'ip',
        ['netns', 'exec', net.host, 'iperf3', '-c', ip, '-t', '4', '-J', ...(reverse ? ['-R'] : [])],
        { encoding: 'utf8' },
      ),
    );
    return result.end.sum_received.bits_per_second / 8;
  } finally {
    srv.kill('SIGKILL');
  }
}

/** Kernel log lines of `log` NetOut rules of the container `net-out`. */
function loggedLines(): string[] {
  return execFileSync('dmesg', { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('net-out IN=gtb-'));
}

/** Everything of ours in the host namespace, beyond the static nft ruleset. */
async function leftovers(): Promise<Record<string, unknown[]>> {
  const ns = { netns: net.hostPath };
  const links = (await listLinks(ns)).map((l) => l.name).filter((n) => /^gt[bvi]-/.test(n));
  const ours = (a: string) => a.startsWith('10.254.') || a.startsWith('10.1.');
  const addresses = (await listAddresses(ns)).map((a) => a.address).filter(ours);
  const routes = (await listRoutes(ns)).map((r) => r.destination).filter(ours);
  const elements: unknown[] = [];
  const chains: unknown[] = [];
  const listing = await nft('list ruleset', { ...ns, json: true }).catch(() => '{"nftables":[]}');
  for (const o of JSON.parse(listing).nftables as Record<string, { name: string; elem?: unknown[] }>[]) {
    const set = o.set ?? o.map;
    if (set?.elem?.length && !['deny', 'dns', 'netin_addrs'].includes(set.name)) elements.push(set);
    if (o.chain?.name.startsWith('netout-')) chains.push(o.chain.name);
  }
  return { links, addresses, routes, elements, chains };
}

const NOTHING = { links: [], addresses: [], routes: [], elements: [], chains: [] };

/** Waits until the host namespace holds nothing of ours (veths go with their namespaces, async). */
async function expectNothingLeft(): Promise<void> {
  let left = await leftovers();
  for (let i = 0; i < 150 && JSON.stringify(left) !== JSON.stringify(NOTHING); i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await leftovers();
  }
  expect(left).toEqual(NOTHING);
}

/** Network namespaces still held by a process: namespace → the holders' command lines. */
function liveNetns(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/net`);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      out.set(ns, [...(out.get(ns) ?? []), `${pid} ${cmd}`]);
    } catch {
      // gone
    }
  }
  return out;
}

/** Waits until none of `spaces` is held by a process any more (processes take a moment to exit). */
async function expectNamespacesGone(spaces: string[]): Promise<void> {
  const held = () => {
    const live = liveNetns();
    return spaces.filter((s) => live.has(s)).map((s) => `${s}: ${live.get(s)?.join('; ')}`);
  };
  for (let i = 0; i < 50 && held().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(held()).toEqual([]);
}

async function netnsOf(c: Container): Promise<string> {
  return (await sh(c, 'readlink /proc/self/ns/net')).out.trim();
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    (v) =>
      new Error(
        `resolved instead of failing: ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x))?.slice(0, 200)}`,
      ),
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(GardenError);
  return e as Error;
}

beforeAll(async () => {
  net = testNetwork('e2enet');
  dir = mkdtempSync(join(tmpdir(), 'gardend-network-'));
  chmodSync(dir, 0o711);
  depot = join(dir, 'depot');
  socketPath = join(dir, 'garden.sock');
  await net.serve(net.outside, 'tcp', 9000);
  await net.serve(net.outside, 'tcp', 8000);
  await net.serve(net.outside, 'tcp', 8001);
  await net.serve(net.outside, 'tcp', 8002);
  await net.serve(net.outside, 'udp', 5353, DENIED_B);
  await net.serve(net.host, 'tcp', 7000);
  server = startGardend(FLAGS);
  client = await ready(server);
});

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    if (client) {
      for (const c of await client.containers().catch(() => []))
        await client.destroy(c.handle).catch(() => undefined);
    }
    await stop(server).catch(() => undefined);
  }
  // A failed run may leave containers: a sweeping gardend destroys them.
  if (existsSync(join(depot, 'containers')) && readdirSync(join(depot, 'containers')).length > 0) {
    const sweep = startGardend(['--destroy-containers-on-startup'], { socket: join(dir, 'sweep.sock') });
    await ready(sweep, join(dir, 'sweep.sock')).catch(() => undefined);
    await stop(sweep).catch(() => undefined);
  }
  try {
    const layout = detectCgroupLayout();
    for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
      const d = join(mnt, cgroupParent);
      if (existsSync(d)) rmdirSync(d);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(defaultRunDir(depot), { recursive: true, force: true });
    net?.cleanup();
  }
});

describe('gardend --backend linux networking', { timeout: 180_000 }, () => {
  let a: Container;
  let shared1: Container;
  let web: Container;
  let out: Container;
  let hostPort: number;

  it('addresses, properties, hosts, resolv.conf and the handle resolving', async () => {
    a = await client.create({ handle: 'net-a' });
    const info = await a.info();
    expect(info).toMatchObject({
      containerIP: '10.254.0.2',
      hostIP: '10.254.0.1',
      externalIP: HOST_IP,
      mappedPorts: [],
    });
    expect(info.properties).toMatchObject({
      'garden.network.container-ip': '10.254.0.2',
      'garden.network.host-ip': '10.254.0.1',
      'garden.network.external-ip': HOST_IP,
      'garden.network.mapped-ports': '[]',
    });
    expect((await sh(a, 'cat /etc/hosts')).out).toBe(
      '127.0.0.1 localhost\n::1 localhost\n10.254.0.2 net-a\n',
    );
    expect((await sh(a, 'cat /etc/resolv.conf')).out).toBe('nameserver 10.0.0.53\nnameserver 10.0.0.54\n');
    expect((await sh(a, 'ping -c 1 -W 1 net-a')).out).toMatch(/^PING net-a \(10\.254\.0\.2\)/);
    expect((await client.capacity()).maxContainers).toBe(256n);
    // --mtu: both ends of the veth (lo keeps its own).
    const mtus = (await sh(a, 'cd /sys/class/net && for i in *; do echo "$i $(cat $i/mtu)"; done')).out;
    expect(mtus.split('\n').filter((l) => l && !l.startsWith('lo '))).toEqual([
      expect.stringMatching(/ 1400$/),
    ]);
    const hostVeth = (await listLinks({ netns: net.hostPath })).filter((l) => l.name.startsWith('gtv-'));
    expect(hostVeth.map((l) => l.mtu)).toEqual([1400]);
    // Egress is masqueraded to the host's address; the outside answers.
    expect(await tcp(a, OUTSIDE_IP, 9000)).toBe(OK_HOST);
  });

  it('containers on a shared subnet reach each other across the deny list; other subnets do not', async () => {
    shared1 = await client.create({ handle: 'net-s1', network: '10.1.0.0/24' });
    const shared2 = await client.create({ handle: 'net-s2', network: '10.1.0.0/24' });
    expect((await shared1.info()).containerIP).toBe('10.1.0.2');
    expect((await shared2.info()).containerIP).toBe('10.1.0.3');
    expect((await shared2.info()).hostIP).toBe('10.1.0.1');
    await pongServer(shared2, 8081);
    expect(await tcp(shared1, '10.1.0.3', 8081)).toBe('pong');
    // 10.0.0.0/8 is denied: another subnet (net-a's) is out of reach for net-s1 and back.
    expect(await tcp(shared1, '10.254.0.2', 8081)).toMatch(REFUSED);
    expect(await tcp(a, '10.1.0.3', 8081)).toMatch(REFUSED);
  });

  it('NetIn: reachable via the external IP (outside and host) and via 127.0.0.1', async () => {
    web = await client.create({ handle: 'net-web', netIn: [{ hostPort: 0, containerPort: 8080 }] });
    const mapped = await web.netIn(0, 9090);
    const info = await web.info();
    hostPort = info.mappedPorts[0]?.hostPort as number;
    expect(info.mappedPorts).toEqual([
      { hostPort, containerPort: 8080 },
      { hostPort: mapped.hostPort, containerPort: 9090 },
    ]);
    expect(info.properties['garden.network.mapped-ports']).toBe(
      JSON.stringify(info.mappedPorts.map((m) => ({ HostPort: m.hostPort, ContainerPort: m.containerPort }))),
    );
    await pongServer(web, 8080);
    await pongServer(web, 9090);
    // The probes' servers answer with the peer address; the container's answers pong.
    const probe = async (ns: string, ip: string, port: number) =>
      (await net.probe(ns, 'tcp', ip, String(port))).trim();
    expect(await probe(net.outside, HOST_IP, hostPort)).toBe('pong');
    expect(await probe(net.outside, HOST_IP, mapped.hostPort)).toBe('pong');
    expect(await probe(net.host, HOST_IP, hostPort)).toBe('pong');
    expect(await probe(net.host, '127.0.0.1', hostPort)).toBe('pong');
    // A port nobody mapped is not forwarded.
    expect(await probe(net.outside, HOST_IP, 61099)).toBe('error ECONNREFUSED');
  });

  it('NetOut: holes per protocol, port range, ICMP type/code and network range; everything else denied', async () => {
    out = await client.create({ handle: 'net-out' });
    expect(await tcp(out, DENIED_A, 8000)).toMatch(REFUSED);
    expect(await ping(out, DENIED_A)).toBe(false);
    expect(await probeIn('net-out', 'udp', DENIED_B, '5353')).toBe('error timeout');
    await out.bulkNetOut([
      { protocol: Protocol.TCP, networks: [{ start: DENIED_A }], ports: [{ start: 8000, end: 8001 }] },
      { protocol: Protocol.UDP, networks: [{ start: '203.0.113.0', end: '203.0.113.255' }] },
      { protocol: Protocol.ICMP, networks: [{ start: DENIED_A }], icmps: { type: 8, code: 0 } },
    ]);
    expect(await tcp(out, DENIED_A, 8000)).toBe(OK_HOST);
    expect(await tcp(out, DENIED_A, 8001)).toBe(OK_HOST);
    expect(await tcp(out, DENIED_A, 8002)).toMatch(REFUSED);
    expect(await tcp(out, DENIED_B, 8000)).toMatch(REFUSED);
    expect(await probeIn('net-out', 'udp', DENIED_B, '5353')).toBe(OK_HOST);
    expect(await ping(out, DENIED_A)).toBe(true);
    expect(await ping(out, DENIED_B)).toBe(false);
    // ICMP type 8 with code 1: echo requests have code 0, so still nothing.
    await out.netOut({
      protocol: Protocol.ICMP,
      networks: [{ start: DENIED_B }],
      icmps: { type: 8, code: 1 },
    });
    expect(await ping(out, DENIED_B)).toBe(false);
    // All protocols to a network range.
    await out.netOut({ protocol: Protocol.All, networks: [{ start: '203.0.113.1', end: '203.0.113.20' }] });
    expect(await ping(out, DENIED_B)).toBe(true);
    expect(await tcp(out, DENIED_B, 8002)).toBe(OK_HOST);
    // Holes are per container.
    expect(await tcp(a, DENIED_A, 8000)).toMatch(REFUSED);
  });

  it('rejects container → host (host-prohibited), the gateway included', async () => {
    expect(await tcp(out, HOST_IP, 7000)).toMatch(HOST_PROHIBITED);
    expect(await tcp(out, '10.254.0.1', 7000)).toMatch(HOST_PROHIBITED);
  });

  it('`log` rules write the kernel log with the handle prefix', async () => {
    await out.netOut({
      protocol: Protocol.TCP,
      networks: [{ start: OUTSIDE_IP }],
      ports: [{ start: 9000 }],
      log: true,
    });
    const earlier = loggedLines().length;
    const lines = await withNetnsLogging(async () => {
      expect(await tcp(out, OUTSIDE_IP, 9000)).toBe(OK_HOST);
      return loggedLines();
    });
    expect(lines.length).toBe(earlier + 1); // the connection's first packet only
    expect(lines.at(-1)).toMatch(
      new RegExp(`SRC=${(await out.info()).containerIP} DST=${OUTSIDE_IP} .*PROTO=TCP .*DPT=9000`),
    );
  });

  it('bandwidth limits are enforced within ±15 % both ways and read back', async () => {
    const rate = 1_000_000n;
    const bw = await client.create({
      handle: 'net-bw',
      limits: { bandwidth: { rateInBytesPerSecond: rate, burstRateInBytesPerSecond: 65536n } },
    });
    expect(await bw.currentBandwidthLimits()).toEqual({
      rateInBytesPerSecond: rate,
      burstRateInBytesPerSecond: 65536n,
    });
    expect(await a.currentBandwidthLimits()).toEqual({});
    for (const reverse of [false, true]) {
      const bytesPerSecond = await measureRate('net-bw', reverse);
      expect(bytesPerSecond, reverse ? 'container → host' : 'host → container').toBeGreaterThan(
        0.85 * Number(rate),
      );
      expect(bytesPerSecond).toBeLessThan(1.15 * Number(rate));
    }
    const m = await bw.metrics();
    // Four seconds each way at ~1 MB/s, seen from the container.
    expect(m.networkStat?.rxBytes).toBeGreaterThan(3_000_000n);
    expect(m.networkStat?.txBytes).toBeGreaterThan(3_000_000n);
  });

  it('bad input: typed errors with every §8.1/§8.4/§8.5 text, nothing half-applied', async () => {
    const created = (await client.containers()).length;
    const texts: [() => Promise<unknown>, string][] = [
      [
        () => client.create({ network: '10.254.1.0/24' }),
        'the requested subnet (10.254.1.0/24) overlaps the dynamic allocation range (10.254.0.0/22)',
      ],
      [
        () => client.create({ network: '10.1.0.0/16' }),
        'the requested subnet (10.1.0.0/16) overlaps an existing subnet (10.1.0.0/24)',
      ],
      [() => client.create({ network: '10.1.0.1/24' }), 'a container IP must not equal the gateway IP'],
      [() => client.create({ network: '10.1.0.255/24' }), 'a container IP must not equal the broadcast IP'],
      [() => client.create({ network: '10.1.0.3/24' }), 'the requested IP is already allocated'],
      [() => client.create({ network: '10.1.0.300/24' }), 'invalid CIDR address: 10.1.0.300/24'],
      [() => client.create({ netOut: [{ protocol: 4 as 0 }] }), 'invalid protocol: 4'],
      [
        () => out.netOut({ protocol: Protocol.All, ports: [{ start: 80 }] }),
        'Ports cannot be specified for Protocol ALL',
      ],
      [
        () => out.netOut({ protocol: Protocol.ICMP, ports: [{ start: 80 }] }),
        'Ports cannot be specified for Protocol ICMP',
      ],
      [() => web.netIn(hostPort, 1), `port ${hostPort} is already in use`],
    ];
    for (const [call, text] of texts) expect((await errorOf(call())).message, text).toBe(text);
    expect((await client.containers()).length).toBe(created);
    // A BulkNetOut with one bad rule applies none of them.
    const bulk = out.bulkNetOut([
      { protocol: Protocol.TCP, networks: [{ start: DENIED_A }], ports: [{ start: 8002 }] },
      { protocol: Protocol.ICMPv6 },
    ]);
    expect((await errorOf(bulk)).message).toBe('invalid protocol: 4');
    expect(await tcp(out, DENIED_A, 8002)).toMatch(REFUSED);
    // A create that fails after its network was allocated gives it all back: address, port (to
    // the FIFO's tail) and firewall elements.
    const before = await nft('list ruleset', { netns: net.hostPath });
    const failed = client.create({
      netIn: [{ hostPort: 0, containerPort: 1 }],
      bindMounts: [{ srcPath: join(dir, 'no-such-dir'), dstPath: '/mnt' }],
    });
    expect((await errorOf(failed)).message).toMatch(/bind mount source .* does not exist/);
    expect(await nft('list ruleset', { netns: net.hostPath })).toBe(before);
    // The pool has 8 ports; 2 are used: 6 more NetIns, then `port pool is exhausted`.
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) ports.push((await a.netIn(0, 1000 + i)).hostPort);
    expect(new Set(ports).size).toBe(6);
    expect((await errorOf(a.netIn(0, 2000))).message).toBe('port pool is exhausted');
  });

  it('after kill -9 and a restart (now with --allow-host-access) everything still works', async () => {
    const handles = (await client.containers()).map((c) => c.handle).sort();
    await stop(server as Gardend, 'SIGKILL');
    server = startGardend([...FLAGS, '--allow-host-access']);
    client = await ready(server);
    expect((await client.containers()).map((c) => c.handle).sort()).toEqual(handles);
    a = await client.lookup('net-a');
    shared1 = await client.lookup('net-s1');
    web = await client.lookup('net-web');
    out = await client.lookup('net-out');
    expect((await a.info()).containerIP).toBe('10.254.0.2');
    expect((await web.info()).mappedPorts[0]).toEqual({ hostPort, containerPort: 8080 });
    // Shared subnet, NetIn (servers kept running), NetOut holes and denials, all rebuilt.
    expect(await tcp(shared1, '10.1.0.3', 8081)).toBe('pong');
    expect((await net.probe(net.outside, 'tcp', HOST_IP, String(hostPort))).trim()).toBe('pong');
    expect((await net.probe(net.host, 'tcp', '127.0.0.1', String(hostPort))).trim()).toBe('pong');
    expect(await tcp(out, DENIED_A, 8001)).toBe(OK_HOST);
    expect(await tcp(out, DENIED_A, 8002)).toMatch(REFUSED);
    expect(await ping(out, DENIED_B)).toBe(true);
    // Host access is now allowed (the ruleset is rebuilt from the flags at every start).
    expect(await tcp(out, HOST_IP, 7000)).toBe(`ok ${(await out.info()).containerIP}`);
    expect(await (await client.lookup('net-bw')).currentBandwidthLimits()).toMatchObject({
      rateInBytesPerSecond: 1_000_000n,
    });
    // DNS: the handle still resolves, resolv.conf is as written at create.
    expect((await sh(a, 'ping -c 1 -W 1 net-a')).out).toMatch(/^PING net-a \(10\.254\.0\.2\)/);
    expect((await sh(a, 'cat /etc/resolv.conf')).out).toBe('nameserver 10.0.0.53\nnameserver 10.0.0.54\n');
    // `log` rules still log, once per connection.
    const earlier = loggedLines().length;
    const logged = await withNetnsLogging(async () => {
      expect(await tcp(out, OUTSIDE_IP, 9000)).toBe(OK_HOST);
      return loggedLines();
    });
    expect(logged.length).toBe(earlier + 1);
    // The bandwidth limit is still enforced (the shaping lives in the kernel; restore keeps it).
    const rate = await measureRate('net-bw', false);
    expect(rate).toBeGreaterThan(0.85 * 1_000_000);
    expect(rate).toBeLessThan(1.15 * 1_000_000);
    // Nothing is handed out twice: the next dynamic container gets a fresh /30 and port.
    const used = new Set(
      await Promise.all((await client.containers()).map(async (c) => (await c.info()).containerIP)),
    );
    const fresh = await client.create({ handle: 'net-fresh' });
    expect(used.has((await fresh.info()).containerIP)).toBe(false);
    expect((await errorOf(fresh.netIn(0, 1))).message).toBe('port pool is exhausted');
  });

  it('destroy leaves no link, address, route, namespace, nft element or chain', async () => {
    const spaces = await Promise.all((await client.containers()).map(netnsOf));
    for (const c of await client.containers()) await client.destroy(c.handle);
    await expectNothingLeft();
    await expectNamespacesGone(spaces);
    // A running gardend with no container keeps nothing on the host either: the tables go a
    // linger (5 s) after the last container.
    for (let i = 0; i < 100 && (await nft('list tables', { netns: net.hostPath })) !== ''; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    // Stopped with no container: no nft table or bridge of ours stays.
    await stop(server as Gardend);
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    server = startGardend(FLAGS);
    client = await ready(server);
  });

  it('--destroy-containers-on-startup after kill -9 leaves nothing', async () => {
    await client.create({ handle: 'doomed-1', netIn: [{ hostPort: 0, containerPort: 80 }] });
    const d2 = await client.create({ handle: 'doomed-2', network: '10.1.0.0/24' });
    await d2.netOut({ protocol: Protocol.TCP, networks: [{ start: DENIED_A }] });
    await client.create({ handle: 'doomed-3', limits: { bandwidth: { rateInBytesPerSecond: 100000n } } });
    await stop(server as Gardend, 'SIGKILL');
    server = startGardend([...FLAGS, '--destroy-containers-on-startup']);
    client = await ready(server);
    expect(await client.containers()).toEqual([]);
    await expectNothingLeft();
  });

  it('250 containers created concurrently (0 errors) and destroyed leave nothing', async () => {
    const t0 = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 250 }, (_, i) => client.create({ handle: `many-${i}` })),
    );
    const errors = results.filter((r) => r.status === 'rejected');
    expect(errors.map((e) => (e as PromiseRejectedResult).reason?.message)).toEqual([]);
    console.log(`250 networked containers created concurrently in ${Date.now() - t0} ms`);
    const ips = new Set(
      await Promise.all(
        results.map(async (r) => (await (r as PromiseFulfilledResult<Container>).value.info()).containerIP),
      ),
    );
    expect(ips.size).toBe(250);
    await Promise.all(Array.from({ length: 250 }, (_, i) => client.destroy(`many-${i}`)));
    await expectNothingLeft();
    await stop(server as Gardend);
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    expect(await leftovers()).toEqual(NOTHING);
  });
});

describe('network plugin mode', { timeout: 120_000 }, () => {
  it('runs the plugin for up, net-in, net-out, bulk-net-out and down; its properties and DNS apply', async () => {
    const pluginDir = mkdtempSync(join(tmpdir(), 'gardend-plugin-'));
    const plugin = join(pluginDir, 'plugin');
    const calls = join(pluginDir, 'calls');
    writeFileSync(
      plugin,
      `#!/bin/sh
# Records "<args> <stdin>" per call; up answers with properties and DNS.
input=$(cat)
echo "$* $input" >> ${calls}
if [ -e ${pluginDir}/fail-up ]; then echo "no network for you" >&2; exit 3; fi
case "$*" in
  *"--action up"*) printf '%s' '{"properties":{"garden.network.container-ip":"10.9.0.2","garden.network.host-ip":"10.9.0.1","plugin.custom":"yes"},"dns_servers":["10.9.0.53"],"search_domains":["plugin.example"]}' ;;
  *"--action net-in"*) printf '%s' '{"host_port":61500,"container_port":8080}' ;;
esac
`,
    );
    chmodSync(plugin, 0o755);
    chmodSync(pluginDir, 0o755);
    const pDepot = join(dir, 'plugin-depot');
    const pSocket = join(dir, 'plugin.sock');
    // A host namespace of its own: nothing of ours may appear in it.
    const pNet = testNetwork('e2eplug');
    const pluginFlags = ['--network-plugin', plugin, '--network-plugin-extra-arg=--config=/etc/cni.json'];
    const pluginOpts = { depot: pDepot, socket: pSocket, netns: pNet.hostPath };
    let g = startGardend(pluginFlags, pluginOpts);
    let pluginClient: Client | undefined;
    try {
      let c = await ready(g, pSocket);
      pluginClient = c;
      let box = await c.create({ handle: 'plugged', properties: { owner: 'me' } });
      const info = await box.info();
      expect(info).toMatchObject({ containerIP: '10.9.0.2', hostIP: '10.9.0.1', externalIP: HOST_IP });
      expect(info.properties['plugin.custom']).toBe('yes');
      expect((await sh(box, 'cat /etc/resolv.conf')).out).toBe(
        'nameserver 10.9.0.53\nsearch plugin.example\n',
      );
      expect(await box.netIn(0, 8080)).toEqual({ hostPort: 61500, containerPort: 8080 });
      expect((await box.info()).mappedPorts).toEqual([{ hostPort: 61500, containerPort: 8080 }]);
      await box.netOut({ protocol: Protocol.TCP, ports: [{ start: 443 }] });
      await box.bulkNetOut([{ protocol: Protocol.UDP }, {}]);
      // kill -9 and a restart: the container keeps its plugin network (no second `up`).
      g.child.kill('SIGKILL');
      await g.done;
      g = startGardend(pluginFlags, pluginOpts);
      c = await ready(g, pSocket);
      pluginClient = c;
      box = await c.lookup('plugged');
      expect(await box.info()).toMatchObject({
        containerIP: '10.9.0.2',
        hostIP: '10.9.0.1',
        mappedPorts: [{ hostPort: 61500, containerPort: 8080 }],
        properties: expect.objectContaining({ 'plugin.custom': 'yes' }),
      });
      expect((await sh(box, 'cat /etc/resolv.conf')).out).toBe(
        'nameserver 10.9.0.53\nsearch plugin.example\n',
      );
      // The built-in networking is unused: no bridge, no veth, no nft table of ours.
      expect((await listLinks({ netns: pNet.hostPath })).filter((l) => /^gt[bvi]-/.test(l.name))).toEqual([]);
      expect(await nft('list tables', { netns: pNet.hostPath })).toBe('');
      expect((await c.capacity()).maxContainers).toBe(4294967295n);
      await c.destroy('plugged');
      // A plugin failing `up` fails the create, typed, with its stderr; nothing is left of it.
      writeFileSync(join(pluginDir, 'fail-up'), '');
      const failed = await c.create({ handle: 'unplugged' }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(GardenError);
      expect((failed as Error).message).toBe('network plugin up failed: exit status 3: no network for you');
      expect(await c.containers()).toEqual([]);
      rmSync(join(pluginDir, 'fail-up'));
      await new Promise((r) => setTimeout(r, 500));
      const layout = detectCgroupLayout();
      expect(existsSync(join(layout.v1.memory ?? (layout.v2 as string), cgroupParent, 'unplugged'))).toBe(
        false,
      );
      expect(readdirSync(join(pDepot, 'containers'))).toEqual([]);
      const lines = readFileSync(calls, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => !l.includes('--handle unplugged'));
      expect(lines.map((l) => l.split(' ').slice(0, 5).join(' '))).toEqual([
        '--config=/etc/cni.json --action up --handle plugged',
        '--config=/etc/cni.json --action net-in --handle plugged',
        '--config=/etc/cni.json --action net-out --handle plugged',
        '--config=/etc/cni.json --action bulk-net-out --handle plugged',
        '--config=/etc/cni.json --action down --handle plugged',
      ]);
      const json = (i: number) => JSON.parse((lines[i] as string).split(' ').slice(5).join(' '));
      expect(json(0)).toMatchObject({
        Pid: expect.any(Number),
        Properties: { owner: 'me' },
        netin: [],
        netout_rules: [],
      });
      expect(json(1)).toEqual({
        HostIP: HOST_IP,
        HostPort: 61001,
        ContainerIP: '10.9.0.2',
        ContainerPort: 8080,
      });
      expect(json(2)).toEqual({
        container_ip: '10.9.0.2',
        netout_rule: { protocol: 1, ports: [{ start: 443 }] },
      });
      expect(json(3)).toEqual({ container_ip: '10.9.0.2', netout_rules: [{ protocol: 2 }, {}] });
      expect(json(4).Properties).toMatchObject({ 'plugin.custom': 'yes' });
    } finally {
      // Containers outlive gardend: a failed assertion must not leave one behind.
      for (const box of (await pluginClient?.containers().catch(() => [])) ?? [])
        await pluginClient?.destroy(box.handle).catch(() => undefined);
      await stop(g);
      rmSync(pluginDir, { recursive: true, force: true });
      pNet.cleanup();
    }
  });
});
