/**
 * The networker end to end on real containers (native-ns), with the server's "host" being a
 * test-made namespace: prepare (address, ports, bridge and firewall in parallel with the clone) →
 * attach (veth, bandwidth) → NetIn/NetOut → metrics → destroy; a restart (restore + reconcile
 * from records alone); stop with nothing left. Traffic from inside a container is made with
 * `nsenter --net` and the probe, which only needs the container's network namespace.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Protocol } from '@garden-ts/api-types';
import {
  type Container,
  type ContainerNetworkOptions,
  createContainer,
  listLinks,
  nft,
  readNetSysctl,
  writeNetSysctl,
} from '@garden-ts/native-ns';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Networker } from '../src/network/networker.js';
import type { NetworkRecord } from '../src/network/types.js';
import { DENIED_A, HOST_IP, OUTSIDE_IP, type TestNetwork, testNetwork } from './netns.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'net-probe.mjs');

const log = { info() {}, warn() {}, error() {} };
/** A second address of the test host (gardend's --bind-ip). */
const BIND_IP = '192.0.2.77';

let net: TestNetwork;
const containers: Container[] = [];

function networker(stateFile?: string) {
  return new Networker(
    {
      ...(stateFile ? { stateFile } : {}),
      hostNetns: net.hostPath,
      denyNetworks: ['198.51.100.0/24'],
      bridgeLingerMs: 50,
      portPoolStart: 61001,
      portPoolSize: 4,
      // The server's bind address: NetIn ports are published on it too (beyond Guardian).
      bindIp: BIND_IP,
    },
    { log },
  );
}

async function newContainer(network?: ContainerNetworkOptions): Promise<Container> {
  const c = await createContainer({
    rootfs: inject('rootfs'),
    hostname: 'nw',
    privileged: true,
    ...(network ? { network } : {}),
  });
  containers.push(c);
  return c;
}

/** The probe run inside a container's network namespace. */
function probe(c: Container, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/proc/${c.pid}/ns/net`, process.execPath, PROBE, ...args]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', () => resolve(out.trim()));
  });
}

const ourLinks = async () =>
  (await listLinks({ netns: net.hostPath })).filter((l) => /^gt[bvi]-/.test(l.name)).map((l) => l.name);

beforeAll(async () => {
  net = testNetwork('nw');
  execFileSync('ip', ['-n', net.host, 'addr', 'add', `${BIND_IP}/32`, 'dev', 'lo']);
  await net.serve(net.outside, 'tcp', 9000);
  await net.serve(net.outside, 'tcp', 8000);
});

afterAll(async () => {
  for (const c of containers) await c.destroy().catch(() => undefined);
  net?.cleanup();
});

describe('Networker', () => {
  let n: Networker;
  let record: NetworkRecord;
  let c: Container;

  it('learns the external IP and MTU; its tables exist only while containers do', async () => {
    n = networker();
    await n.start();
    expect(n.external).toBe(HOST_IP);
    await n.reconcile();
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    // Forwarding was off: switched on with the first container, off again with the last.
    await writeNetSysctl('net/ipv4/ip_forward', '0', { netns: net.hostPath });
    const p = n.prepare('h-tables', {});
    await p.firewall;
    expect(await readNetSysctl('net/ipv4/ip_forward', { netns: net.hostPath })).toBe('1');
    const tables = await nft('list tables', { netns: net.hostPath });
    expect(tables).toContain('table ip garden_ts');
    expect(tables).toContain('table bridge garden_ts');
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain('garden_ts');
    await n.abort(p);
    await n.settled(); // the linger is cut short
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    expect(await readNetSysctl('net/ipv4/ip_forward', { netns: net.hostPath })).toBe('0');
    // Already on (as the other tests' host has it): left alone.
    await writeNetSysctl('net/ipv4/ip_forward', '1', { netns: net.hostPath });
    const q = n.prepare('h-tables', {});
    await q.firewall;
    await n.abort(q);
    await n.settled();
    expect(await readNetSysctl('net/ipv4/ip_forward', { netns: net.hostPath })).toBe('1');
  });

  it('gives a container its address, devices, firewall, NetIn and bandwidth', async () => {
    const prepared = n.prepare('h-one', {
      netIn: [{ hostPort: 0, containerPort: 8080 }],
      netOut: [{ protocol: Protocol.TCP, networks: [{ start: DENIED_A }], ports: [{ start: 8000 }] }],
      bandwidth: { rateInBytesPerSecond: 1_000_000n, burstRateInBytesPerSecond: 50_000n },
    });
    record = prepared.record;
    expect(record).toMatchObject({
      mode: 'bridge',
      subnet: '10.254.0.0/30',
      ip: '10.254.0.2',
      gateway: '10.254.0.1',
      bridge: 'gtb-0afe0000',
      externalIp: HOST_IP,
      netIn: [{ hostPort: 61001, containerPort: 8080 }],
    });
    // The veth pair is made by the clone of init (the runtime part passes the networker's link).
    c = await newContainer(await n.link(prepared));
    const { properties } = await n.attach(prepared, c);
    expect(properties).toMatchObject({
      'garden.network.container-ip': '10.254.0.2',
      'garden.network.host-ip': '10.254.0.1',
      'garden.network.external-ip': HOST_IP,
      'garden.network.mapped-ports': '[{"HostPort":61001,"ContainerPort":8080}]',
    });
    expect(record.bandwidth).toEqual({ rate: '1000000', burst: '50000' });
    expect(await ourLinks()).toEqual(
      expect.arrayContaining(['gtb-0afe0000', record.hostVeth, `gti-${record.id}`]),
    );
    // Egress, the deny list and the NetOut hole given at create.
    expect(await probe(c, 'tcp', OUTSIDE_IP, '9000')).toBe(`ok ${HOST_IP}`);
    expect(await probe(c, 'tcp', DENIED_A, '8000')).toBe(`ok ${HOST_IP}`);
    expect(await probe(c, 'tcp', DENIED_A, '9000')).toBe('error ECONNREFUSED');
    // NetIn from the outside namespace through the external IP.
    const server = spawn('nsenter', [
      `--net=/proc/${c.pid}/ns/net`,
      process.execPath,
      PROBE,
      'serve',
      'tcp',
      '8080',
    ]);
    await new Promise((r) => server.stdout.once('data', r));
    try {
      expect(await net.probe(net.outside, 'tcp', HOST_IP, '61001')).toBe(`ok ${OUTSIDE_IP}`);
      // ... and through the bind IP, from outside and from the host itself.
      expect(await net.probe(net.outside, 'tcp', BIND_IP, '61001')).toBe(`ok ${OUTSIDE_IP}`);
      expect(await net.probe(net.host, 'tcp', BIND_IP, '61001')).toMatch(/^ok /);
      // A port nobody mapped is not forwarded on it.
      expect(await net.probe(net.outside, 'tcp', BIND_IP, '61004')).toBe('error ECONNREFUSED');
      const mapped = await n.netIn('h-one', record, 0, 0);
      expect(mapped).toEqual({ hostPort: 61002, containerPort: 61002 });
      await expect(n.netIn('h-one', record, 61001, 1)).rejects.toThrow('port 61001 is already in use');
      expect(record.netIn).toHaveLength(2);
    } finally {
      server.kill('SIGKILL');
    }
    const stats = await n.stats(record);
    expect(stats?.rxBytes).toBeGreaterThan(0n);
    expect(stats?.txBytes).toBeGreaterThan(0n);
  });

  it('applies a NetOut batch atomically: an invalid rule applies none', async () => {
    await expect(
      n.netOut(
        'h-one',
        record,
        [{ protocol: Protocol.TCP, networks: [{ start: DENIED_A }] }, { protocol: 4 as 0 }],
        true,
      ),
    ).rejects.toThrow('invalid protocol: 4');
    expect(record.netOut).toHaveLength(1);
    expect(await probe(c, 'tcp', DENIED_A, '9000')).toBe('error ECONNREFUSED');
    await n.netOut('h-one', record, [{ protocol: Protocol.TCP, networks: [{ start: DENIED_A }] }], false);
    expect(await probe(c, 'tcp', DENIED_A, '9000')).toBe(`ok ${HOST_IP}`);
  });

  it('a restarted networker rebuilds pools and firewall from the record alone', async () => {
    const again = networker();
    await again.start();
    again.restore('h-one', structuredClone(record));
    await again.reconcile();
    // The address and ports are held: nothing is handed out twice.
    const other = again.prepare('h-two', { netIn: [{ hostPort: 0, containerPort: 1 }] });
    expect(other.record.subnet).toBe('10.254.0.4/30');
    await again.abort(other);
    expect(other.record.netIn).toEqual([{ hostPort: 61003, containerPort: 1 }]);
    // The firewall state is back (the NetOut holes work again after the tables were replaced).
    expect(await probe(c, 'tcp', DENIED_A, '8000')).toBe(`ok ${HOST_IP}`);
    n = again;
  });

  it('resumes the NetIn port rotation where the last server left it', async () => {
    const stateFile = join(mkdtempSync(join(tmpdir(), 'networker-state-')), 'network.json');
    const first = networker(stateFile);
    await first.start();
    const p = first.prepare('h-rot', { netIn: [{ hostPort: 0, containerPort: 1 }] });
    expect(p.record.netIn[0]?.hostPort).toBe(61001);
    await first.abort(p); // 61001 goes to the tail of the FIFO
    await first.stop(true);
    const second = networker(stateFile);
    await second.start();
    const q = second.prepare('h-rot', { netIn: [{ hostPort: 0, containerPort: 1 }] });
    expect(q.record.netIn[0]?.hostPort).toBe(61002); // not the just released 61001
    await second.abort(q);
    await second.stop(true);
    rmSync(dirname(stateFile), { recursive: true, force: true });
  });

  it('leaves no element, chain or link after destroy, and nothing at all after stop', async () => {
    await n.destroy('h-one', record);
    await c.destroy();
    await n.settled();
    for (let i = 0; i < 100 && (await ourLinks()).length > 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await ourLinks()).toEqual([]);
    const ruleset = await nft('list ruleset', { netns: net.hostPath });
    expect(ruleset).not.toMatch(/netout-|10\.254\.0\.2|6100[12]/);
    await n.stop(false);
    expect(await nft('list tables', { netns: net.hostPath })).toBe('');
    expect(await ourLinks()).toEqual([]);
  });
});
