import { GardenError, Protocol } from '@garden-ts/api-types';
import { describe, expect, it } from 'vitest';
import { validateNetOutRule } from './net-out-rules.js';

describe('validateNetOutRule (§8.4)', () => {
  it('accepts what Guardian accepts', () => {
    for (const rule of [
      {},
      {
        protocol: Protocol.TCP,
        ports: [
          { start: 80, end: 80 },
          { start: 8000, end: 9000 },
        ],
      },
      { protocol: Protocol.UDP, networks: [{ start: '10.0.0.1', end: '10.0.0.255' }, { start: '1.2.3.4' }] },
      { protocol: Protocol.ICMP, icmps: { type: 8, code: 0 } },
      { networks: [{ start: '2001:db8::1', end: '2001:db8::ff' }, { end: '::1' }] },
    ])
      expect(() => validateNetOutRule(rule)).not.toThrow();
  });

  it("refuses with Guardian's texts", () => {
    const cases: [object, string][] = [
      [{ protocol: 4 }, 'invalid protocol: 4'],
      [{ ports: [{ start: 80, end: 80 }] }, 'Ports cannot be specified for Protocol ALL'],
      [{ protocol: Protocol.ICMP, ports: [{ start: 1 }] }, 'Ports cannot be specified for Protocol ICMP'],
      [
        { protocol: Protocol.TCP, ports: [{ start: 70000 }] },
        'invalid port range: port 70000 is outside 0-65535',
      ],
      [
        { protocol: Protocol.TCP, ports: [{ start: 90, end: 80 }] },
        'invalid port range: start port 90 is greater than end port 80',
      ],
      [{ networks: [{ start: 'banana' }] }, 'invalid IP address: banana'],
      // Go's net.ParseIP rules (api-types): no leading zeros
      [{ networks: [{ start: '01.2.3.4' }] }, 'invalid IP address: 01.2.3.4'],
      [{ networks: [{ start: '1.2.3.4', end: '::1' }] }, 'invalid IP range: 1.2.3.4-::1 mixes IPv4 and IPv6'],
      [
        {
          networks: [
            { start: '10.0.0.9', end: '10.0.0.10' },
            { start: '10.0.1.0', end: '10.0.0.255' },
          ],
        },
        'invalid IP range: start IP 10.0.1.0 is greater than end IP 10.0.0.255',
      ],
      [
        { networks: [{ start: '::2', end: '::1' }] },
        'invalid IP range: start IP ::2 is greater than end IP ::1',
      ],
      [{ icmps: { type: 256 } }, 'invalid ICMP type: 256'],
      [{ icmps: { type: 1, code: -1 } }, 'invalid ICMP code: -1'],
    ];
    for (const [rule, message] of cases)
      expect(() => validateNetOutRule(rule)).toThrow(new GardenError(message));
  });
});
