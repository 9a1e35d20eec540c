import { type NetOutRule, Protocol } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import type { Harness } from '../harness.js';

const VALID_RULES: Array<[string, NetOutRule]> = [
  ['the zero rule (all protocols, anywhere)', {}],
  [
    'tcp to one address and port',
    { protocol: Protocol.TCP, networks: [{ start: '10.0.0.1' }], ports: [{ start: 80, end: 80 }] },
  ],
  [
    'udp to a network range and port range',
    {
      protocol: Protocol.UDP,
      networks: [{ start: '10.0.0.0', end: '10.0.0.255' }],
      ports: [{ start: 5000, end: 5100 }],
    },
  ],
  [
    'icmp with type and code 0',
    {
      protocol: Protocol.ICMP,
      networks: [{ start: '8.8.8.8', end: '8.8.8.8' }],
      icmps: { type: 8, code: 0 },
    },
  ],
  ['icmp with a type and no code', { protocol: Protocol.ICMP, icmps: { type: 0 } }],
  [
    'all protocols to a network, logged',
    { protocol: Protocol.All, networks: [{ start: '192.168.0.0', end: '192.168.255.255' }], log: true },
  ],
];

/** NetIn port allocation and NetOut / BulkNetOut rule acceptance. */
export function net(h: Harness): void {
  describe.skipIf(!h.caps.networking)('netIn (caps.networking)', () => {
    it('host port 0 and container port 0 allocate a host port and map it to itself', async () => {
      const container = await h.create();
      const rule = await container.netIn(0, 0);
      expect(rule.hostPort).toBeGreaterThan(0);
      expect(rule.hostPort).toBeLessThanOrEqual(65535);
      expect(rule.containerPort).toBe(rule.hostPort);
    });

    it('host port 0 with a container port allocates a host port for that container port', async () => {
      const container = await h.create();
      const rule = await container.netIn(0, 8080);
      expect(rule.hostPort).toBeGreaterThan(0);
      expect(rule.containerPort).toBe(8080);
    });

    it('an explicit host port with container port 0 maps to the same number', async () => {
      const container = await h.create();
      expect(await container.netIn(61999, 0)).toEqual({ hostPort: 61999, containerPort: 61999 });
    });

    it('explicit host and container ports are used as given', async () => {
      const container = await h.create();
      expect(await container.netIn(62001, 8443)).toEqual({ hostPort: 62001, containerPort: 8443 });
    });

    it('successive allocations give distinct host ports', async () => {
      const container = await h.create();
      const ports = [];
      for (let i = 0; i < 3; i++) ports.push((await container.netIn(0, 8080 + i)).hostPort);
      expect(new Set(ports).size).toBe(3);
    });

    it('allocations in different containers give distinct host ports', async () => {
      const [a, b] = await Promise.all([h.create(), h.create()]);
      const [ra, rb] = await Promise.all([a.netIn(0, 8080), b.netIn(0, 8080)]);
      expect(ra.hostPort).not.toBe(rb.hostPort);
    });

    it('netIn rules given at create appear in info().mappedPorts', async () => {
      const container = await h.create({ netIn: [{ hostPort: 62011, containerPort: 8081 }] });
      expect((await container.info()).mappedPorts).toEqual(
        expect.arrayContaining([{ hostPort: 62011, containerPort: 8081 }]),
      );
    });
  });

  describe.skipIf(!h.caps.networking)('netOut (caps.networking)', () => {
    it.each(VALID_RULES)('netOut accepts %s', async (_label, rule) => {
      const container = await h.create();
      await expect(container.netOut(rule)).resolves.toBeUndefined();
    });

    it('bulkNetOut accepts several valid rules at once', async () => {
      const container = await h.create();
      await expect(container.bulkNetOut(VALID_RULES.map(([, rule]) => rule))).resolves.toBeUndefined();
    });

    it('bulkNetOut accepts an empty list', async () => {
      const container = await h.create();
      await expect(container.bulkNetOut([])).resolves.toBeUndefined();
    });

    it('netOut rules given at create are accepted and the container works', async () => {
      const container = await h.create({ netOut: VALID_RULES.map(([, rule]) => rule) });
      expect((await container.info()).state).toBe('active');
    });
  });
}
