/**
 * The network part's primitives against the real kernel, in test-made namespaces only: devices
 * made by native-ns for "containers" that are plain namespaces, the nft scripts of
 * src/network/nft-ruleset.ts applied as they will be by the backend, and real traffic through
 * them (test/fixtures/net-probe.mjs): NetOut holes against deny networks per protocol, port
 * range, ICMP type/code and network range, container → host rejection, NetIn DNAT via the
 * external IP and via 127.0.0.1, masquerade, anti-spoofing, and nothing left behind.
 */
import { execFileSync } from 'node:child_process';
import { Protocol } from '@garden-ts/api-types';
import { createContainerLink, deleteLinks, listLinks, nft } from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, hostVethName } from '../src/network/device-names.js';
import {
  addContainerScript,
  type ContainerFirewall,
  type FirewallConfig,
  netInScript,
  netOutScript,
  removeContainerScript,
  removeSubnetScript,
  rulesetScript,
} from '../src/network/nft-ruleset.js';
import { SubnetPool } from '../src/network/subnet-pool.js';
import {
  DENIED_A,
  DENIED_B,
  HOST_IP,
  inNs,
  ip,
  OUTSIDE_IP,
  type TestNetwork,
  testNetwork,
  withNetnsLogging,
} from './netns.js';

let net: TestNetwork;
const pool = new SubnetPool('10.254.0.0/22');
const cfg: FirewallConfig = {
  table: 'garden_ts',
  denyNetworks: ['198.51.100.0/24', '203.0.113.0/24'],
  dnsServers: [],
  netInAddresses: [HOST_IP, '127.0.0.1'],
  allowHostAccess: false,
};

interface FakeContainer extends ContainerFirewall {
  ns: string;
  subnet: string;
  bridge: string;
}
const containers: FakeContainer[] = [];

/** A "container": a namespace with its devices made by native-ns, its firewall state added. */
async function container(name: string, spec?: string): Promise<FakeContainer> {
  const ns = net.extra(name);
  const a = pool.acquire(spec);
  const id = (0x10000000 + containers.length).toString(16);
  const c: FakeContainer = {
    id,
    handle: `h${process.pid}-${name}`,
    ip: a.ip,
    hostVeth: hostVethName(id),
    netOut: [],
    netIn: [],
    ns,
    subnet: a.subnet,
    bridge: bridgeName(a.network),
  };
  const { bridgeCreated } = await createContainerLink({
    hostNetns: net.hostPath,
    container: { netns: `/run/netns/${ns}` },
    bridge: c.bridge,
    gateway: a.gateway,
    address: a.ip,
    prefixLength: a.prefixLength,
    hostVeth: c.hostVeth,
  });
  await nft(
    addContainerScript(cfg.table, c, bridgeCreated ? { bridge: c.bridge, subnet: c.subnet } : undefined),
    {
      netns: net.hostPath,
    },
  );
  containers.push(c);
  return c;
}

const probe = (ns: string, ...args: string[]) => net.probe(ns, ...args);

beforeAll(async () => {
  net = testNetwork('fw');
  await nft(rulesetScript(cfg, [], []), { netns: net.hostPath });
  await net.serve(net.outside, 'tcp', 9000);
  await net.serve(net.outside, 'tcp', 8000);
  await net.serve(net.outside, 'tcp', 8001);
  await net.serve(net.outside, 'tcp', 8002);
  await net.serve(net.outside, 'udp', 5353, DENIED_B);
  await net.serve(net.host, 'tcp', 7000);
});

afterAll(() => net?.cleanup());

describe('firewall and NAT (nft scripts on real namespaces)', () => {
  let c1: FakeContainer;
  let c2: FakeContainer;

  it('egress is masqueraded and allowed outside the deny networks, rejected inside them', async () => {
    c1 = await container('c1');
    c2 = await container('c2');
    expect(c1.ip).toBe('10.254.0.2');
    expect(c2.ip).toBe('10.254.0.6');
    expect(await probe(c1.ns, 'tcp', OUTSIDE_IP, '9000')).toBe(`ok ${HOST_IP}`); // masqueraded
    expect(await probe(c1.ns, 'tcp', DENIED_A, '8000')).toBe('error ECONNREFUSED'); // REJECT
    expect(await probe(c1.ns, 'udp', DENIED_B, '5353')).toMatch(/^error/);
    expect(inNs(c1.ns, 'busybox', 'ping', '-c', '1', '-W', '1', OUTSIDE_IP)).toMatch(/1 packets received/);
  });

  it('NetOut holes exempt from the deny list per protocol, port range and network range', async () => {
    c1.netOut = [
      {
        protocol: Protocol.TCP,
        networks: [{ start: DENIED_A, end: DENIED_A }],
        ports: [{ start: 8000, end: 8001 }],
      },
    ];
    await nft(netOutScript(cfg.table, c1, false), { netns: net.hostPath });
    expect(await probe(c1.ns, 'tcp', DENIED_A, '8000')).toBe(`ok ${HOST_IP}`);
    expect(await probe(c1.ns, 'tcp', DENIED_A, '8001')).toBe(`ok ${HOST_IP}`);
    expect(await probe(c1.ns, 'tcp', DENIED_A, '8002')).toBe('error ECONNREFUSED');
    expect(await probe(c1.ns, 'tcp', DENIED_B, '8000')).toBe('error ECONNREFUSED');
    // Another container's holes are not c2's.
    expect(await probe(c2.ns, 'tcp', DENIED_A, '8000')).toBe('error ECONNREFUSED');

    // UDP to a network range; ICMP by type (echo request) but not another type/code.
    c1.netOut = [
      ...c1.netOut,
      { protocol: Protocol.UDP, networks: [{ start: '203.0.113.0', end: '203.0.113.255' }] },
      { protocol: Protocol.ICMP, networks: [{ start: DENIED_A }], icmps: { type: 8, code: 0 } },
    ];
    await nft(netOutScript(cfg.table, c1, true), { netns: net.hostPath });
    expect(await probe(c1.ns, 'udp', DENIED_B, '5353')).toBe(`ok ${HOST_IP}`);
    expect(inNs(c1.ns, 'busybox', 'ping', '-c', '1', '-W', '1', DENIED_A)).toMatch(/1 packets received/);
    expect(() => inNs(c1.ns, 'busybox', 'ping', '-c', '1', '-W', '1', DENIED_B)).toThrow();
    c2.netOut = [{ protocol: Protocol.ICMP, networks: [{ start: DENIED_A }], icmps: { type: 8, code: 1 } }];
    await nft(netOutScript(cfg.table, c2, false), { netns: net.hostPath });
    expect(() => inNs(c2.ns, 'busybox', 'ping', '-c', '1', '-W', '1', DENIED_A)).toThrow(); // code 1 ≠ echo's 0
    c2.netOut = [{ protocol: Protocol.All, networks: [{ start: '198.51.100.0', end: '198.51.100.255' }] }];
    await nft(netOutScript(cfg.table, c2, true), { netns: net.hostPath });
    expect(await probe(c2.ns, 'tcp', DENIED_A, '8002')).toBe(`ok ${HOST_IP}`);
  });

  it('logs the new connections of a `log` rule to the kernel log with the handle prefix', async () => {
    c2.netOut = [
      ...c2.netOut,
      { protocol: Protocol.TCP, networks: [{ start: OUTSIDE_IP }], ports: [{ start: 9000 }], log: true },
    ];
    await nft(netOutScript(cfg.table, c2, true), { netns: net.hostPath });
    const lines = await withNetnsLogging(async () => {
      expect(await probe(c2.ns, 'tcp', OUTSIDE_IP, '9000')).toBe(`ok ${HOST_IP}`);
      return execFileSync('dmesg', { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(`${c2.handle} `));
    });
    // One line for the connection's first packet (NEW), none for the rest of it.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`${c2.handle} IN=gtb-\\w+ OUT=ext0 .*SRC=${c2.ip} DST=${OUTSIDE_IP} .*PROTO=TCP .*DPT=9000`),
    );
  });

  it('rejects container → host with host-prohibited unless allowed', async () => {
    expect(await probe(c1.ns, 'tcp', HOST_IP, '7000')).toBe('error EHOSTUNREACH');
    expect(await probe(c1.ns, 'tcp', c1.ip.replace(/\d+$/, '1'), '7000')).toBe('error EHOSTUNREACH'); // gateway
    await nft(rulesetScript({ ...cfg, allowHostAccess: true }, containers, []), { netns: net.hostPath });
    expect(await probe(c1.ns, 'tcp', HOST_IP, '7000')).toBe(`ok ${c1.ip}`);
    await nft(rulesetScript(cfg, containers, subnetsOf(containers)), { netns: net.hostPath });
    expect(await probe(c1.ns, 'tcp', HOST_IP, '7000')).toBe('error EHOSTUNREACH');
    // A DNS server address on the host stays reachable.
    await nft(rulesetScript({ ...cfg, dnsServers: [HOST_IP] }, containers, subnetsOf(containers)), {
      netns: net.hostPath,
    });
    expect(await probe(c1.ns, 'tcp', HOST_IP, '7000')).toBe(`ok ${c1.ip}`);
    await nft(rulesetScript(cfg, containers, subnetsOf(containers)), { netns: net.hostPath });
  });

  it('NetIn DNATs TCP on the external IP (from outside and from the host) and on 127.0.0.1', async () => {
    await net.serve(c1.ns, 'tcp', 8080);
    c1.netIn = [{ hostPort: 61001, containerPort: 8080 }];
    await nft(netInScript(cfg.table, c1, c1.netIn), { netns: net.hostPath });
    expect(await probe(net.outside, 'tcp', HOST_IP, '61001')).toBe(`ok ${OUTSIDE_IP}`);
    expect(await probe(net.host, 'tcp', HOST_IP, '61001')).toBe(`ok ${HOST_IP}`);
    expect(await probe(net.host, 'tcp', '127.0.0.1', '61001')).toMatch(/^ok /);
    // Other ports of the external IP are untouched; the container IP works directly too.
    expect(await probe(net.outside, 'tcp', HOST_IP, '61002')).toBe('error ECONNREFUSED');
    expect(await probe(net.host, 'tcp', c1.ip, '8080')).toBe(`ok ${c1.ip.replace(/\d+$/, '1')}`);
  });

  it('drops packets whose source is not the container own address (anti-spoofing)', async () => {
    ip(c2.ns, 'addr', 'add', `${c1.ip}/32`, 'dev', 'eth0');
    expect(await probe(c2.ns, 'tcp', OUTSIDE_IP, '9000', c1.ip)).toBe('error ETIMEDOUT');
    expect(await probe(c2.ns, 'tcp', OUTSIDE_IP, '9000', c2.ip)).toBe(`ok ${HOST_IP}`);
  });

  it('containers on a shared subnet reach each other whatever the deny list', async () => {
    const a = await container('s1', '10.1.0.0/24');
    const b = await container('s2', '10.1.0.0/24');
    expect(a.bridge).toBe(b.bridge);
    await nft(rulesetScript({ ...cfg, denyNetworks: ['10.0.0.0/8'] }, containers, subnetsOf(containers)), {
      netns: net.hostPath,
    });
    await net.serve(b.ns, 'tcp', 8081);
    expect(await probe(a.ns, 'tcp', b.ip, '8081')).toBe(`ok ${a.ip}`);
    await nft(rulesetScript(cfg, containers, subnetsOf(containers)), { netns: net.hostPath });
  });

  it('leaves no element, chain or link after the containers are gone', async () => {
    for (const c of containers.splice(0)) {
      const last = pool.release({ subnet: c.subnet, ip: c.ip });
      await nft(removeContainerScript(cfg.table, c), { netns: net.hostPath });
      if (last)
        await nft(removeSubnetScript(cfg.table, { bridge: c.bridge, subnet: c.subnet }), {
          netns: net.hostPath,
        });
      // The namespace's deletion takes the veth; the bridge goes with the subnet.
      net.drop(c.ns);
      if (last) await deleteLinks([c.bridge], { netns: net.hostPath });
    }
    const ruleset = JSON.parse(await nft('list ruleset', { netns: net.hostPath, json: true }));
    const objects = (ruleset.nftables as Record<string, { name: string; elem?: unknown[] }>[]).flatMap((o) =>
      Object.entries(o).map(([kind, v]) => ({ kind, ...v })),
    );
    expect(objects.filter((o) => o.kind === 'chain' && o.name.startsWith('netout-'))).toEqual([]);
    // Only the static sets (deny networks, NetIn addresses) have elements.
    const filled = objects.filter((o) => (o.kind === 'set' || o.kind === 'map') && o.elem?.length);
    expect(filled.map((o) => o.name).sort()).toEqual(['deny', 'netin_addrs']);
    for (let i = 0; i < 100; i++) {
      const left = (await listLinks({ netns: net.hostPath })).filter((l) => /^gt[bvi]-/.test(l.name));
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await listLinks({ netns: net.hostPath })).filter((l) => /^gt[bvi]-/.test(l.name))).toEqual([]);
  });
});

function subnetsOf(cs: FakeContainer[]) {
  return [...new Map(cs.map((c) => [c.subnet, { bridge: c.bridge, subnet: c.subnet }])).values()];
}
