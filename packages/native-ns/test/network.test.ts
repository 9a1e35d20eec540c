/**
 * Network primitives against the real kernel, all inside a test-made "host" network namespace
 * (`ip netns add`), never the machine's own: a container's bridge + veth made in one call (its
 * end created inside the container's namespace), dumps and counters, bandwidth shaping, sysctls,
 * nftables transactions, and that no thread of this process is left in another namespace.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createContainerLink,
  deleteLinks,
  ensureBridge,
  listAddresses,
  listLinks,
  listRoutes,
  NativeArgumentError,
  NativeError,
  NftError,
  nft,
  readNetSysctl,
  releaseNft,
  setBandwidth,
  writeNetSysctl,
} from '../src/index.js';
import { cleanup, newContainer, run, shimChildren, zombiesOf } from './helpers.js';

const HOST = `garden-nstest-${process.pid}`;
const netns = `/run/netns/${HOST}`;
const ip = (...args: string[]) => execFileSync('ip', ['-n', HOST, ...args], { encoding: 'utf8' });
const inHost = (cmd: string, ...args: string[]) =>
  execFileSync('ip', ['netns', 'exec', HOST, cmd, ...args], { encoding: 'utf8' });

/** The network namespace of every thread of this process (they must all stay where they were). */
function threadNamespaces(): Set<string> {
  const out = new Set<string>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      out.add(readlinkSync(`/proc/self/task/${t}/ns/net`));
    } catch {
      // thread gone
    }
  }
  return out;
}

const ownNamespace = readlinkSync('/proc/self/ns/net');

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', HOST]);
  ip('link', 'set', 'lo', 'up');
});

afterAll(async () => {
  await cleanup();
  execFileSync('ip', ['netns', 'del', HOST]);
});

describe('createContainerLink', () => {
  it('gives an unprivileged container its bridge, veth, address and default route in one call', async () => {
    const { container } = await newContainer();
    const r = await createContainerLink({
      hostNetns: netns,
      container,
      bridge: 'tnb-0afe0000',
      gateway: '10.254.0.1',
      address: '10.254.0.2',
      prefixLength: 30,
      hostVeth: 'tnv-a',
      mtu: 1400,
      txQueueLength: 1,
    });
    expect(r.bridgeCreated).toBe(true);
    // Nothing of it in this process's own namespace.
    expect((await listLinks()).map((l) => l.name)).not.toContain('tnv-a');
    const links = await listLinks({ netns });
    const br = links.find((l) => l.name === 'tnb-0afe0000');
    const veth = links.find((l) => l.name === 'tnv-a');
    expect(br).toMatchObject({ kind: 'bridge', mtu: 1400, up: true });
    expect(veth).toMatchObject({ kind: 'veth', mtu: 1400, up: true, master: br?.index });
    expect(ip('-d', 'link', 'show', 'tnb-0afe0000')).toMatch(/mcast_snooping 0/);
    // One queue each way, asked for at creation (not cut down after it: an RCU wait per cut).
    expect(ip('-d', 'link', 'show', 'tnv-a')).toMatch(/numtxqueues 1 numrxqueues 1/);
    expect(inHost('cat', '/proc/sys/net/ipv4/conf/tnb-0afe0000/route_localnet').trim()).toBe('1');
    expect(await listAddresses({ netns })).toContainEqual({
      index: br?.index,
      address: '10.254.0.1',
      prefixLength: 30,
    });

    // Inside the container: eth0 up with the address and a default route via the gateway.
    const inside = `/proc/${container.pid}/ns/net`;
    const eth0 = (await listLinks({ netns: inside })).find((l) => l.name === 'eth0');
    expect(eth0).toMatchObject({ kind: 'veth', mtu: 1400, up: true });
    expect(await listAddresses({ netns: inside })).toContainEqual({
      index: eth0?.index,
      address: '10.254.0.2',
      prefixLength: 30,
    });
    expect(await listRoutes({ netns: inside })).toContainEqual(
      expect.objectContaining({ destination: '0.0.0.0', prefixLength: 0, gateway: '10.254.0.1' }),
    );
    // And traffic flows (to the gateway, inside the test namespaces only).
    const ping = await run(container, {
      path: '/bin/ping',
      args: ['ping', '-c', '1', '-W', '2', '10.254.0.1'],
    });
    expect(ping.code).toBe(0);
    const after = (await listLinks({ netns })).find((l) => l.name === 'tnv-a');
    expect(after?.txBytes).toBeGreaterThan(0n); // host end sent the reply
    expect(after?.rxBytes).toBeGreaterThan(0n);

    // A second container joins the same bridge; a taken veth name fails cleanly.
    const { container: second } = await newContainer();
    const r2 = await createContainerLink({
      hostNetns: netns,
      container: second,
      bridge: 'tnb-0afe0000',
      gateway: '10.254.0.1',
      address: '10.254.0.3',
      prefixLength: 29,
      hostVeth: 'tnv-a',
    }).catch((e: unknown) => e);
    expect(r2).toBeInstanceOf(NativeError);
    expect(r2).toMatchObject({ code: 'EEXIST', stage: 'network', syscall: 'create veth tnv-a' });
    expect((await listLinks({ netns })).map((l) => l.name)).toContain('tnb-0afe0000');

    // The container's death takes its veth pair along (no delete needed).
    await container.destroy();
    for (let i = 0; i < 100 && (await listLinks({ netns })).some((l) => l.name === 'tnv-a'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect((await listLinks({ netns })).map((l) => l.name)).not.toContain('tnv-a');
    await deleteLinks(['tnb-0afe0000', 'tnx-missing'], { netns });
    expect((await listLinks({ netns })).map((l) => l.name)).not.toContain('tnb-0afe0000');
  });

  it('uses a bridge made ready ahead (ensureBridge) without checking it again', async () => {
    const opts = {
      hostNetns: netns,
      bridge: 'tnb-0afe0008',
      gateway: '10.254.0.9',
      prefixLength: 30,
      mtu: 1400,
    };
    const first = await ensureBridge(opts);
    expect(first).toEqual({ index: expect.any(Number), created: true });
    expect(await ensureBridge(opts)).toEqual({ index: first.index, created: false });
    const { container } = await newContainer();
    const r = await createContainerLink({
      ...opts,
      container,
      bridgeIndex: first.index,
      address: '10.254.0.10',
      hostVeth: 'tnv-c',
    });
    expect(r.bridgeCreated).toBe(false);
    const links = await listLinks({ netns });
    expect(links.find((l) => l.name === 'tnv-c')?.master).toBe(first.index);
    await expect(ensureBridge({ ...opts, bridge: 'tnv-c' })).rejects.toMatchObject({ code: 'EEXIST' });
    await container.destroy();
    await deleteLinks(['tnb-0afe0008'], { netns });
  });

  it("makes the devices while createContainer's init sets up its root (the network option)", async () => {
    const bridge = await ensureBridge({
      hostNetns: netns,
      bridge: 'tnb-0afe0010',
      gateway: '10.254.0.17',
      prefixLength: 30,
    });
    const network = {
      hostNetns: netns,
      bridge: 'tnb-0afe0010',
      bridgeIndex: bridge.index,
      gateway: '10.254.0.17',
      address: '10.254.0.18',
      prefixLength: 30,
      hostVeth: 'tnv-d',
      mtu: 1400,
    };
    // Through a pooled shim (the usual path): the devices are there when the create resolves.
    const { container } = await newContainer({ network });
    expect((await listLinks({ netns })).find((l) => l.name === 'tnv-d')).toMatchObject({
      kind: 'veth',
      up: true,
      master: bridge.index,
    });
    const inside = `/proc/${container.pid}/ns/net`;
    const eth0 = (await listLinks({ netns: inside })).find((l) => l.name === 'eth0');
    expect(eth0).toMatchObject({ mtu: 1400, up: true });
    expect(await listAddresses({ netns: inside })).toContainEqual({
      index: eth0?.index,
      address: '10.254.0.18',
      prefixLength: 30,
    });
    expect(await listRoutes({ netns: inside })).toContainEqual(
      expect.objectContaining({ destination: '0.0.0.0', gateway: '10.254.0.17' }),
    );
    // lo is up too (this call brings it up, off the child's path).
    expect((await listLinks({ netns: inside })).find((l) => l.name === 'lo')?.up).toBe(true);
    expect(
      (await run(container, { path: '/bin/ping', args: ['ping', '-c', '1', '-W', '2', '10.254.0.17'] })).code,
    ).toBe(0);

    // A failing step (the host end's name is taken) kills the new init and leaves nothing of
    // the pair: the create rejects with the network step's error.
    const before = new Set((await listLinks({ netns })).map((l) => l.name));
    const children = () => zombiesOf(process.pid).length;
    const failed = await newContainer({ network: { ...network, address: '10.254.0.19' } }).catch(
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(NativeError);
    expect(failed).toMatchObject({ code: 'EEXIST', stage: 'network', syscall: 'create veth tnv-d' });
    expect(new Set((await listLinks({ netns })).map((l) => l.name))).toEqual(before);
    // Reaped on the event loop once they exit (the shim of the failed create goes too).
    for (let i = 0; i < 100 && children() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(children()).toBe(0);
    expect([...threadNamespaces()]).toEqual([ownNamespace]);

    // Not with a namespace of its own choosing.
    await expect(newContainer({ network, netns })).rejects.toThrow(/network.*not with netns/);
    await expect(newContainer({ network: { ...network, address: '10.254.0' } })).rejects.toBeInstanceOf(
      NativeArgumentError,
    );
    await container.destroy();
    await deleteLinks(['tnb-0afe0010'], { netns });
  });

  it('makes the devices of the network option when the create falls back from a dead shim', async () => {
    // Pooled shims that died: the create cannot hand them its clone and makes it from here.
    await (await newContainer()).container.destroy(); // the pool is refilled after a create
    for (let i = 0; i < 200 && shimChildren().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(shimChildren().length).toBeGreaterThan(0);
    for (const pid of shimChildren()) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && shimChildren().length; i++) await new Promise((r) => setTimeout(r, 10));
    const bridge = await ensureBridge({
      hostNetns: netns,
      bridge: 'tnb-0afe0014',
      gateway: '10.254.0.21',
      prefixLength: 30,
    });
    const { container } = await newContainer({
      network: {
        hostNetns: netns,
        bridge: 'tnb-0afe0014',
        bridgeIndex: bridge.index,
        gateway: '10.254.0.21',
        address: '10.254.0.22',
        prefixLength: 30,
        hostVeth: 'tnv-e',
      },
    });
    const inside = `/proc/${container.pid}/ns/net`;
    expect(await listAddresses({ netns: inside })).toContainEqual(
      expect.objectContaining({ address: '10.254.0.22', prefixLength: 30 }),
    );
    expect((await listLinks({ netns })).find((l) => l.name === 'tnv-e')?.master).toBe(bridge.index);
    expect((await listLinks({ netns: inside })).find((l) => l.name === 'lo')?.up).toBe(true);
    expect([...threadNamespaces()]).toEqual([ownNamespace]);
    await container.destroy();
    await deleteLinks(['tnb-0afe0014'], { netns });
  });

  it('deletes several links in one batch and nothing else', async () => {
    const names = ['tnb-0a000000', 'tnb-0a000004', 'tnb-0a000008'];
    for (const [i, bridge] of names.entries())
      await ensureBridge({ hostNetns: netns, bridge, gateway: `10.0.0.${i * 4 + 1}`, prefixLength: 30 });
    await deleteLinks([names[0] as string, 'tnx-missing', names[2] as string], { netns });
    const left = (await listLinks({ netns })).map((l) => l.name);
    expect(left).toContain(names[1]);
    expect(left).not.toContain(names[0]);
    expect(left).not.toContain(names[2]);
    await deleteLinks([names[1] as string], { netns });
  });

  it('never leaves a thread of this process in another namespace', async () => {
    const { container } = await newContainer();
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        i % 2 ? listLinks({ netns }) : listRoutes({ netns: `/proc/${container.pid}/ns/net` }),
      ),
    );
    expect([...threadNamespaces()]).toEqual([ownNamespace]);
  });

  it('rejects bad arguments before reaching the kernel', async () => {
    const base = {
      container: { pidfd: 0 },
      bridge: 'b',
      gateway: '10.0.0.1',
      address: '10.0.0.2',
      prefixLength: 30,
      hostVeth: 'v',
    };
    await expect(createContainerLink({ ...base, bridge: 'a-name-longer-than-15' })).rejects.toBeInstanceOf(
      NativeArgumentError,
    );
    await expect(createContainerLink({ ...base, gateway: '10.0.0' })).rejects.toThrow(/gateway/);
    await expect(createContainerLink({ ...base, hostNetns: 'relative' })).rejects.toThrow(/hostNetns/);
    await expect(createContainerLink({ ...base, mtu: 10 })).rejects.toThrow(/mtu/);
    await expect(deleteLinks(['bad/name'])).rejects.toBeInstanceOf(NativeArgumentError);
    await expect(writeNetSysctl('kernel/panic', '1')).rejects.toBeInstanceOf(NativeArgumentError);
    await expect(listLinks({ netns: '/run/netns/garden-no-such-ns' })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('setBandwidth', () => {
  it('shapes both directions with tbf (+ ifb for what the container sends) and removes it again', async () => {
    const { container } = await newContainer();
    await createContainerLink({
      hostNetns: netns,
      container,
      bridge: 'tnb-0afe0004',
      gateway: '10.254.0.5',
      address: '10.254.0.6',
      prefixLength: 30,
      hostVeth: 'tnv-bw',
    });
    await setBandwidth({ netns, hostVeth: 'tnv-bw', ifb: 'tni-bw', rate: 125000n, burst: 4000 });
    const qdiscs = inHost('tc', 'qdisc', 'show');
    expect(qdiscs).toMatch(/qdisc tbf 1: dev tnv-bw root .*rate 1Mbit burst 4000b/);
    expect(qdiscs).toMatch(/qdisc tbf 1: dev tni-bw root .*rate 1Mbit burst 4000b/);
    expect(qdiscs).toMatch(/qdisc ingress ffff: dev tnv-bw/);
    expect(inHost('tc', 'filter', 'show', 'dev', 'tnv-bw', 'ingress')).toMatch(
      /Egress Redirect to device tni-bw/,
    );
    // Above 4 GB/s the 64-bit rate attribute is used.
    await setBandwidth({ netns, hostVeth: 'tnv-bw', ifb: 'tni-bw', rate: 5n << 30n, burst: 1 << 20 });
    expect(inHost('tc', 'qdisc', 'show', 'dev', 'tnv-bw')).toMatch(/rate 42949Mbit/);
    await setBandwidth({ netns, hostVeth: 'tnv-bw', ifb: 'tni-bw', rate: 0n, burst: 0 });
    expect(inHost('tc', 'qdisc', 'show', 'dev', 'tnv-bw')).not.toMatch(/tbf|ingress/);
    expect((await listLinks({ netns })).map((l) => l.name)).not.toContain('tni-bw');
    await expect(
      setBandwidth({ netns, hostVeth: 'tnv-bw', ifb: 'tni-bw', rate: 1000n, burst: 100 }),
    ).rejects.toThrow(/burst/);
    await container.destroy();
    await deleteLinks(['tnb-0afe0004'], { netns });
  });
});

describe('writeNetSysctl', () => {
  it('writes the sysctl of the given namespace only', async () => {
    const own = execFileSync('cat', ['/proc/sys/net/ipv4/conf/lo/accept_local'], { encoding: 'utf8' });
    await writeNetSysctl('net/ipv4/conf/lo/accept_local', own.trim() === '1' ? '0' : '1', { netns });
    expect(inHost('cat', '/proc/sys/net/ipv4/conf/lo/accept_local').trim()).toBe(
      own.trim() === '1' ? '0' : '1',
    );
    expect(execFileSync('cat', ['/proc/sys/net/ipv4/conf/lo/accept_local'], { encoding: 'utf8' })).toBe(own);
    expect(await readNetSysctl('net/ipv4/conf/lo/accept_local', { netns })).toBe(
      own.trim() === '1' ? '0' : '1',
    );
    expect(await readNetSysctl('net/ipv4/conf/lo/accept_local')).toBe(own.trim());
    await expect(writeNetSysctl('net/ipv4/no_such_key', '1', { netns })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('nft', () => {
  it('runs a script as one transaction in the namespace and reports nft errors typed', async () => {
    await nft(
      'add table ip nstest\nadd set ip nstest s { type ipv4_addr; }\nadd element ip nstest s { 10.0.0.1 }\n',
      {
        netns,
      },
    );
    const listed = JSON.parse(await nft('list set ip nstest s', { netns, json: true }));
    expect(JSON.stringify(listed)).toContain('"10.0.0.1"');
    const err = await nft(
      'add element ip nstest s { 10.0.0.2 }\nadd element ip nstest nosuch { 10.0.0.3 }\n',
      {
        netns,
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NftError);
    expect(err).toBeInstanceOf(NativeError);
    expect((err as NftError).nftMessage).toMatch(/No such file or directory/);
    // All or nothing: the first element of the failed transaction is not there.
    expect(await nft('list set ip nstest s', { netns })).not.toContain('10.0.0.2');
    const syntax = await nft('add rule ip nstest nochain blah', { netns }).catch((e: unknown) => e);
    expect(syntax).toBeInstanceOf(NftError);
    expect((syntax as NftError).message).toMatch(/syntax error/);
    // The machine's own ruleset never saw it.
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toContain('nstest');
    await nft('delete table ip nstest', { netns });
  });

  it('keeps one connection per namespace, each transaction in its own namespace', async () => {
    const other = `garden-nstest-${process.pid}-b`;
    execFileSync('ip', ['netns', 'add', other]);
    try {
      // Alternating namespaces: a kept connection never serves another namespace.
      for (let i = 0; i < 3; i++) {
        await nft(`add table ip nsa${i}`, { netns });
        await nft(`add table ip nsb${i}`, { netns: `/run/netns/${other}` });
      }
      const here = await nft('list tables', { netns });
      const there = await nft('list tables', { netns: `/run/netns/${other}` });
      expect(here).toMatch(/nsa0[\s\S]*nsa2/);
      expect(here).not.toContain('nsb');
      expect(there).toMatch(/nsb0[\s\S]*nsb2/);
      expect(there).not.toContain('nsa');
      // A released connection is opened again by the next call; JSON and text outputs alternate.
      await releaseNft({ netns: `/run/netns/${other}` });
      expect(
        JSON.parse(await nft('list tables', { netns: `/run/netns/${other}`, json: true })),
      ).toHaveProperty('nftables');
      expect(await nft('list tables', { netns: `/run/netns/${other}` })).toContain('nsb1');
      await releaseNft({ netns: `/run/netns/${other}` });
      await releaseNft({ netns: `/run/netns/${other}` }); // none kept: nothing to do
      for (let i = 0; i < 3; i++) await nft(`delete table ip nsa${i}`, { netns });
      expect([...threadNamespaces()]).toEqual([ownNamespace]);
    } finally {
      execFileSync('ip', ['netns', 'del', other]);
    }
  });
});
