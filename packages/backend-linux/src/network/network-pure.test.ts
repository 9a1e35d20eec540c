/** The pure parts of the network part: addressing, names, NetOut compilation, nft scripts, DNS. */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GardenError, Protocol } from '@garden-ts/api-types';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bridgeName,
  hostVethName,
  idOfLink,
  ifbName,
  isOurLink,
  netOutChain,
  newNetworkId,
} from './device-names.js';
import { hostsFile, readHostFile, resolvConf } from './dns.js';
import { defaultRouteSource, mtuFor } from './host-addresses.js';
import { formatIpv4, parseCidr, parseIpv4 } from './ipv4.js';
import { logPrefix, netOutChainBodies, netOutRuleBodies } from './netout-rules.js';
import {
  addContainerScript,
  type ContainerFirewall,
  deleteTablesScript,
  netInScript,
  netOutScript,
  removeContainerScript,
  removeSubnetScript,
  rulesetScript,
} from './nft-ruleset.js';
import { parseNetworkSpec, SubnetPool } from './subnet-pool.js';

const err = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GardenError);
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('ipv4', () => {
  it('parses and formats as Go does', () => {
    expect(parseIpv4('10.254.0.2')).toBe(0x0afe0002);
    expect(formatIpv4(0xffffffff)).toBe('255.255.255.255');
    for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', '', 'a.b.c.d'])
      expect(parseIpv4(bad)).toBeUndefined();
    expect(parseCidr('10.1.2.3/24')).toEqual({ ip: 0x0a010203, net: { addr: 0x0a010200, prefix: 24 } });
    expect(parseCidr('10.1.2.3/024').net.prefix).toBe(24); // Go's dtoi takes leading zeros
    expect(err(() => parseCidr('10.1.2.3/33'))).toBe('invalid CIDR address: 10.1.2.3/33');
    expect(err(() => parseCidr('banana/30'))).toBe('invalid CIDR address: banana/30');
    expect(err(() => parseCidr('fd00::/64'))).toMatch(/IPv6 container networks are not supported/);
  });

  it('round-trips every address', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => parseIpv4(formatIpv4(v)) === v));
  });
});

describe('SubnetPool (§8.1)', () => {
  it('hands out the lowest free /30 of the pool: gateway +1, container +2', () => {
    const pool = new SubnetPool('10.254.0.0/22');
    expect(pool.capacity).toBe(256);
    expect(pool.acquire(undefined)).toEqual({
      subnet: '10.254.0.0/30',
      ip: '10.254.0.2',
      gateway: '10.254.0.1',
      prefixLength: 30,
      network: 0x0afe0000,
    });
    const b = pool.acquire('');
    expect(b.subnet).toBe('10.254.0.4/30');
    expect(pool.release({ subnet: '10.254.0.0/30', ip: '10.254.0.2' })).toBe(true);
    expect(pool.acquire(undefined).subnet).toBe('10.254.0.0/30'); // lowest free again
    expect(pool.acquire(undefined).subnet).toBe('10.254.0.8/30');
  });

  it('runs out with Guardian text, and frees a subnet with its last IP', () => {
    const pool = new SubnetPool('10.9.0.0/29');
    expect(pool.capacity).toBe(2);
    pool.acquire(undefined);
    pool.acquire(undefined);
    expect(err(() => pool.acquire(undefined))).toBe('insufficient subnets remaining in the pool');
    const a = pool.acquire('10.1.0.0/29');
    const b = pool.acquire('10.1.0.0/29');
    expect([a.ip, b.ip]).toEqual(['10.1.0.2', '10.1.0.3']);
    expect(pool.release(a)).toBe(false);
    expect(pool.release(a)).toBe(false); // twice is harmless
    expect(pool.release(b)).toBe(true);
  });

  it('static subnets, static IPs and shared subnets', () => {
    const pool = new SubnetPool();
    expect(pool.acquire('10.1.2.0/24')).toMatchObject({
      subnet: '10.1.2.0/24',
      ip: '10.1.2.2',
      gateway: '10.1.2.1',
    });
    expect(pool.acquire('10.1.2.0/24').ip).toBe('10.1.2.3'); // shared
    expect(pool.acquire('10.1.2.77/24').ip).toBe('10.1.2.77'); // static IP in the shared subnet
    expect(pool.acquire('10.1.2.4/24').ip).toBe('10.1.2.4');
    expect(pool.acquire('10.1.2.0/24').ip).toBe('10.1.2.5'); // first free, skipping taken ones
    // A bare address gets /30.
    expect(pool.acquire('10.3.0.6')).toMatchObject({
      subnet: '10.3.0.4/30',
      ip: '10.3.0.6',
      gateway: '10.3.0.5',
    });
    expect(pool.subnets().sort()).toEqual(['10.1.2.0/24', '10.3.0.4/30']);
  });

  it('refuses with every error text of §8.1', () => {
    const pool = new SubnetPool('10.254.0.0/22');
    pool.acquire('10.1.2.0/24');
    expect(err(() => pool.acquire('10.254.1.0/24'))).toBe(
      'the requested subnet (10.254.1.0/24) overlaps the dynamic allocation range (10.254.0.0/22)',
    );
    expect(err(() => pool.acquire('10.254.0.0/16'))).toBe(
      'the requested subnet (10.254.0.0/16) overlaps the dynamic allocation range (10.254.0.0/22)',
    );
    expect(err(() => pool.acquire('10.1.2.0/25'))).toBe(
      'the requested subnet (10.1.2.0/25) overlaps an existing subnet (10.1.2.0/24)',
    );
    expect(err(() => pool.acquire('10.1.2.1/24'))).toBe('a container IP must not equal the gateway IP');
    expect(err(() => pool.acquire('10.1.2.255/24'))).toBe('a container IP must not equal the broadcast IP');
    pool.acquire('10.1.2.9/24');
    expect(err(() => pool.acquire('10.1.2.9/24'))).toBe('the requested IP is already allocated');
    expect(err(() => pool.acquire('10.1.2.9/33'))).toBe('invalid CIDR address: 10.1.2.9/33');
    expect(err(() => pool.acquire('nonsense'))).toBe('invalid CIDR address: nonsense/30');
    expect(err(() => pool.acquire('10.5.0.0/31'))).toMatch(/too small/);
    const tiny = new SubnetPool();
    tiny.acquire('10.7.0.0/30');
    expect(err(() => tiny.acquire('10.7.0.0/30'))).toBe('insufficient IPs remaining in the pool');
    // A spec names one CIDR, so its IP is always inside; a record read back may not be.
    expect(err(() => pool.restore('10.1.2.0/24', '10.1.3.4'))).toBe(
      'the requested IP is not within the subnet',
    );
    // Nothing of a refused request was recorded.
    expect(pool.subnets()).toEqual(['10.1.2.0/24']);
  });

  it('is rebuilt from records: no double allocation after a restart', () => {
    const pool = new SubnetPool('10.254.0.0/22');
    pool.restore('10.254.0.4/30', '10.254.0.6');
    pool.restore('10.1.0.0/24', '10.1.0.2');
    expect(pool.acquire(undefined).subnet).toBe('10.254.0.0/30');
    expect(pool.acquire(undefined).subnet).toBe('10.254.0.8/30');
    expect(pool.acquire('10.1.0.0/24').ip).toBe('10.1.0.3');
    expect(err(() => pool.restore('10.1.0.0/24', '10.1.0.2'))).toBe('the requested IP is already allocated');
    expect(err(() => pool.restore('10.1.0.0/25', '10.1.0.9'))).toMatch(/overlaps an existing subnet/);
    // A subnet restored inside a (changed) dynamic range is skipped by dynamic allocation.
    const changed = new SubnetPool('10.9.0.0/28');
    changed.restore('10.9.0.0/29', '10.9.0.2');
    expect(changed.acquire(undefined).subnet).toBe('10.9.0.8/30');
  });

  it('parses network specs as Guardian does', () => {
    expect(parseNetworkSpec(undefined)).toEqual({});
    expect(parseNetworkSpec('10.0.0.0/24')).toEqual({ subnet: { addr: 0x0a000000, prefix: 24 } });
    expect(parseNetworkSpec('10.0.0.5/24')).toEqual({
      subnet: { addr: 0x0a000000, prefix: 24 },
      ip: 0x0a000005,
    });
  });

  it('never hands out one address twice (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(undefined), fc.constantFrom('10.1.0.0/28', '10.1.0.5/28')), {
          maxLength: 40,
        }),
        (specs) => {
          const pool = new SubnetPool('10.254.0.0/26');
          const seen = new Set<string>();
          for (const s of specs) {
            try {
              const a = pool.acquire(s);
              expect(seen.has(a.ip)).toBe(false);
              seen.add(a.ip);
            } catch (e) {
              expect(e).toBeInstanceOf(GardenError);
            }
          }
        },
      ),
    );
  });
});

describe('device names', () => {
  it('follow the documented scheme and recognise only our own links', () => {
    expect(bridgeName(0x0afe0000)).toBe('gtb-0afe0000');
    const id = newNetworkId();
    expect(id).toMatch(/^[0-9a-f]{8}$/);
    expect(hostVethName(id)).toBe(`gtv-${id}`);
    expect(ifbName(id)).toBe(`gti-${id}`);
    expect(netOutChain(id)).toBe(`netout-${id}`);
    for (const n of ['gtb-0afe0000', `gtv-${id}`, `gti-${id}`]) {
      expect(isOurLink(n)).toBe(true);
      expect(n.length).toBeLessThanOrEqual(15);
    }
    for (const n of ['eth0', 'gtb-0afe00', 'gtv-XYZ00000', 'docker0', 'gtx-00000000', 'wbrdg-0afe0000'])
      expect(isOurLink(n)).toBe(false);
    expect(idOfLink(`gti-${id}`)).toBe(id);
    expect(idOfLink('gtb-0afe0000')).toBeUndefined();
  });
});

describe('NetOut compilation (§8.4)', () => {
  it('expands networks × ports per protocol', () => {
    expect(netOutRuleBodies({}, 'h')).toEqual(['accept']);
    expect(
      netOutRuleBodies(
        {
          protocol: Protocol.TCP,
          networks: [{ start: '10.0.0.1', end: '10.0.0.9' }, { start: '10.1.0.1' }, { end: '10.2.0.1' }],
          ports: [
            { start: 80, end: 80 },
            { start: 8000, end: 9000 },
          ],
        },
        'h',
      ),
    ).toEqual([
      'ip daddr 10.0.0.1-10.0.0.9 tcp dport 80 accept',
      'ip daddr 10.0.0.1-10.0.0.9 tcp dport 8000-9000 accept',
      'ip daddr 10.1.0.1 tcp dport 80 accept',
      'ip daddr 10.1.0.1 tcp dport 8000-9000 accept',
      'ip daddr 10.2.0.1 tcp dport 80 accept',
      'ip daddr 10.2.0.1 tcp dport 8000-9000 accept',
    ]);
    expect(netOutRuleBodies({ protocol: Protocol.UDP }, 'h')).toEqual(['meta l4proto udp accept']);
    expect(netOutRuleBodies({ protocol: Protocol.ICMP }, 'h')).toEqual(['meta l4proto icmp accept']);
    expect(netOutRuleBodies({ protocol: Protocol.ICMP, icmps: { type: 8 } }, 'h')).toEqual([
      'icmp type 8 accept',
    ]);
    expect(netOutRuleBodies({ protocol: Protocol.ICMP, icmps: { type: 3, code: 0 } }, 'h')).toEqual([
      'icmp type 3 icmp code 0 accept',
    ]);
  });

  it('logs new connections with the handle prefix, then accepts', () => {
    expect(
      netOutRuleBodies({ protocol: Protocol.TCP, ports: [{ start: 22 }], log: true }, 'my-handle'),
    ).toEqual(['tcp dport 22 ct state new,untracked,invalid log prefix "my-handle "', 'tcp dport 22 accept']);
    expect(logPrefix('0123456789012345678901234567890123')).toBe('0123456789012345678901234567 ');
    expect(logPrefix('a"b$c\\d\ne')).toBe('a_b_c_d_e ');
  });

  it('never widens a rule whose networks are all IPv6 (containers are IPv4 only)', () => {
    expect(netOutRuleBodies({ networks: [{ start: '2001:db8::1' }] }, 'h')).toEqual([]);
    expect(netOutRuleBodies({ networks: [{ start: '2001:db8::1' }, { start: '10.0.0.1' }] }, 'h')).toEqual([
      'ip daddr 10.0.0.1 accept',
    ]);
  });

  it('puts newer rules on top', () => {
    expect(netOutChainBodies([{ protocol: Protocol.UDP }, { protocol: Protocol.TCP }], 'h')).toEqual([
      'meta l4proto tcp accept',
      'meta l4proto udp accept',
    ]);
  });
});

describe('nft scripts', () => {
  const cfg = {
    table: 'garden_ts',
    denyNetworks: ['10.0.0.0/8', '192.168.0.0/16'],
    dnsServers: ['10.0.0.53'],
    netInAddresses: ['192.0.2.1', '127.0.0.1', '127.0.0.1'],
    allowHostAccess: false,
  };
  const c: ContainerFirewall = {
    id: '0000abcd',
    handle: 'h1',
    ip: '10.254.0.2',
    hostVeth: 'gtv-0000abcd',
    netOut: [{ protocol: Protocol.TCP, ports: [{ start: 80, end: 80 }] }],
    netIn: [{ hostPort: 61001, containerPort: 8080 }],
  };

  it('replaces both tables atomically with the static part and every container', () => {
    const s = rulesetScript(cfg, [c], [{ bridge: 'gtb-0afe0000', subnet: '10.254.0.0/30' }]);
    const lines = s.trim().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      'add table ip garden_ts',
      'delete table ip garden_ts',
      'add table bridge garden_ts',
      'delete table bridge garden_ts',
      'add table ip garden_ts',
    ]);
    expect(s).toContain('add element ip garden_ts deny { 10.0.0.0/8, 192.168.0.0/16 }');
    expect(s).toContain('add element ip garden_ts netin_addrs { 192.0.2.1, 127.0.0.1 }');
    expect(s).toContain('reject with icmp type host-prohibited');
    expect(s).toContain('add element bridge garden_ts ports { "gtv-0000abcd" . 10.254.0.2 }');
    expect(s).toContain('add element ip garden_ts subnets { "gtb-0afe0000" . 10.254.0.0/30 }');
    expect(s).toContain('add rule ip garden_ts netout-0000abcd tcp dport 80 accept');
    expect(s).toContain('add element ip garden_ts netout { 10.254.0.2 : jump netout-0000abcd }');
    expect(s).toContain('add element ip garden_ts netin { 61001 : 10.254.0.2 . 8080 }');
    // The chain exists before the map element that jumps to it.
    expect(s.indexOf('add chain ip garden_ts netout-0000abcd')).toBeLessThan(
      s.indexOf('jump netout-0000abcd'),
    );
    expect(rulesetScript({ ...cfg, allowHostAccess: true, denyNetworks: [] }, [], [])).not.toMatch(
      /host-prohibited|add element ip garden_ts deny/,
    );
  });

  it('adds and removes exactly one container state', () => {
    const bare = { ...c, netOut: [], netIn: [] };
    expect(addContainerScript('t', bare)).toBe(
      'add element bridge t ports { "gtv-0000abcd" . 10.254.0.2 }\n',
    );
    expect(removeContainerScript('t', bare)).toBe(
      'delete element bridge t ports { "gtv-0000abcd" . 10.254.0.2 }\n',
    );
    const sub = { bridge: 'gtb-0afe0000', subnet: '10.254.0.0/30' };
    expect(removeContainerScript('t', c).trim().split('\n')).toEqual([
      'delete element bridge t ports { "gtv-0000abcd" . 10.254.0.2 }',
      'delete element ip t netout { 10.254.0.2 }',
      'flush chain ip t netout-0000abcd',
      'delete chain ip t netout-0000abcd',
      'delete element ip t netin { 61001 }',
    ]);
    expect(addContainerScript('t', c, sub)).toContain('add element ip t subnets');
    expect(removeSubnetScript('t', sub)).toBe(
      'delete element ip t subnets { "gtb-0afe0000" . 10.254.0.0/30 }\n',
    );
  });

  it('rewrites a NetOut chain whole and adds NetIn elements', () => {
    expect(netOutScript('t', c, true).trim().split('\n')).toEqual([
      'flush chain ip t netout-0000abcd',
      'add rule ip t netout-0000abcd tcp dport 80 accept',
    ]);
    expect(netOutScript('t', c, false)).toMatch(/^add chain ip t netout-0000abcd\nadd element ip t netout/);
    expect(netOutScript('t', { ...c, netOut: [] }, false)).toBe('');
    expect(netInScript('t', c, [{ hostPort: 61002, containerPort: 22 }])).toBe(
      'add element ip t netin { 61002 : 10.254.0.2 . 22 }\n',
    );
    expect(deleteTablesScript('t')).toContain('delete table bridge t');
  });
});

describe('resolv.conf (§8.6) and hosts', () => {
  const host = 'search corp.example\nnameserver 10.0.0.2\nnameserver 127.0.0.1\noptions ndots:2\n';
  it('plugin nameservers win, then --dns-server, then the host file', () => {
    expect(
      resolvConf({
        pluginNameservers: ['1.1.1.1'],
        pluginSearchDomains: ['a.example', 'b.example'],
        dnsServers: ['8.8.8.8'],
        hostResolvConf: host,
        gateway: '10.254.0.1',
      }),
    ).toBe('nameserver 1.1.1.1\nsearch a.example b.example\n');
    expect(
      resolvConf({
        dnsServers: ['8.8.8.8'],
        additionalDnsServers: ['9.9.9.9'],
        hostResolvConf: host,
        gateway: 'x',
      }),
    ).toBe('nameserver 8.8.8.8\nnameserver 9.9.9.9\n');
    expect(resolvConf({ additionalDnsServers: ['9.9.9.9'], hostResolvConf: host, gateway: 'x' })).toBe(
      'search corp.example\nnameserver 10.0.0.2\noptions ndots:2\nnameserver 9.9.9.9\n',
    );
  });

  it('a lone 127.0.0.x resolver becomes the gateway', () => {
    expect(resolvConf({ hostResolvConf: 'nameserver 127.0.0.1\n', gateway: '10.254.0.1' })).toBe(
      'nameserver 10.254.0.1\n',
    );
  });

  it('plugin search domains replace the host search line', () => {
    expect(resolvConf({ pluginSearchDomains: ['x.example'], hostResolvConf: host, gateway: 'g' })).toBe(
      'nameserver 10.0.0.2\noptions ndots:2\nsearch x.example\n',
    );
  });

  it('beats the systemd-resolved trap with the upstream servers', () => {
    const stub =
      '# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';
    const upstream = '# upstream\nnameserver 192.168.1.1\nnameserver 127.0.0.1\nsearch lan\n';
    expect(resolvConf({ hostResolvConf: stub, systemdResolvConf: upstream, gateway: 'g' })).toBe(
      '# This is /run/systemd/resolve/stub-resolv.conf\noptions edns0 trust-ad\nsearch lan\nnameserver 192.168.1.1\n',
    );
    // Without the upstream file: Guardian's result (no nameserver).
    expect(resolvConf({ hostResolvConf: stub, gateway: 'g' })).not.toContain('nameserver');
  });

  it('hosts maps the hostname (and a long handle) to the container IP', () => {
    expect(hostsFile('box', '10.254.0.2')).toBe('127.0.0.1 localhost\n::1 localhost\n10.254.0.2 box\n');
    expect(hostsFile('tail', '10.254.0.2', 'long-handle-tail')).toContain(
      '10.254.0.2 tail long-handle-tail\n',
    );
    expect(hostsFile('h', '10.254.0.2', 'bad handle')).toContain('10.254.0.2 h\n');
  });
});

describe('host resolver files', () => {
  it('reads a file again only when it changed, and reports a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'host-dns-'));
    try {
      const file = join(dir, 'resolv.conf');
      expect(readHostFile(file)).toBeUndefined();
      writeFileSync(file, 'nameserver 10.0.0.1\n');
      expect(readHostFile(file)).toBe('nameserver 10.0.0.1\n');
      writeFileSync(file, 'nameserver 10.0.0.22\n');
      expect(readHostFile(file)).toBe('nameserver 10.0.0.22\n');
      // a symlink's new target counts as a change
      writeFileSync(join(dir, 'other'), 'nameserver 10.0.0.3\n');
      rmSync(file);
      symlinkSync('other', file);
      expect(readHostFile(file)).toBe('nameserver 10.0.0.3\n');
      rmSync(file);
      expect(readHostFile(file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host addresses', () => {
  const link = (index: number, mtu: number) => ({
    index,
    name: `l${index}`,
    kind: '',
    master: 0,
    mtu,
    up: true,
    rxBytes: 0n,
    txBytes: 0n,
    rxPackets: 0n,
    txPackets: 0n,
    rxDropped: 0n,
    txDropped: 0n,
  });
  it('finds the external IP from the default route and the MTU of its interface', () => {
    const addrs = [
      { index: 1, address: '127.0.0.1', prefixLength: 8 },
      { index: 2, address: '192.0.2.1', prefixLength: 24 },
    ];
    const routes = [
      { destination: '192.0.2.0', prefixLength: 24, gateway: null, source: '192.0.2.1', oif: 2 },
      { destination: '0.0.0.0', prefixLength: 0, gateway: '192.0.2.254', source: null, oif: 2 },
    ];
    expect(defaultRouteSource(routes, addrs)).toBe('192.0.2.1');
    expect(defaultRouteSource([{ ...routes[1]!, source: '192.0.2.9' }], addrs)).toBe('192.0.2.9');
    expect(defaultRouteSource([routes[0]!], addrs)).toBeUndefined();
    expect(mtuFor('192.0.2.1', addrs, [link(2, 9000)])).toBe(1500);
    expect(mtuFor('192.0.2.1', addrs, [link(2, 1400)])).toBe(1400);
    expect(mtuFor('203.0.113.1', addrs, [link(2, 1400)])).toBe(1500);
  });
});

describe('reconciliation', () => {
  it('removes only our links of the right kind that no record knows', async () => {
    const { staleLinks } = await import('./reconcile.js');
    const links = [
      { name: 'lo', kind: '' },
      { name: 'eth0', kind: '' },
      { name: 'gtb-0afe0000', kind: 'bridge' },
      { name: 'gtb-0afe0004', kind: 'bridge' },
      { name: 'gtv-00000001', kind: 'veth' },
      { name: 'gtv-00000002', kind: 'veth' },
      { name: 'gti-00000002', kind: 'ifb' },
      { name: 'gtv-00000003', kind: 'dummy' },
      { name: 'docker0', kind: 'bridge' },
    ];
    expect(
      staleLinks(links, {
        bridges: new Set(['gtb-0afe0000']),
        veths: new Set(['gtv-00000001']),
        ifbs: new Set(),
      }),
    ).toEqual(['gtb-0afe0004', 'gtv-00000002', 'gti-00000002']);
  });
});
