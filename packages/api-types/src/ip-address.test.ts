import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIP } from './ip-address.js';

describe('canonicalIP (Go net.ParseIP + IP.String)', () => {
  it.each([
    ['8.8.8.8', '8.8.8.8'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:0102:0304', '1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['fe80::1:2', 'fe80::1:2'],
  ])('%s -> %s', (input, output) => {
    expect(canonicalIP(input)).toBe(output);
  });

  it.each([
    'not-an-ip',
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.256',
    '1.2.3.-1',
    ' 1.2.3.4',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '::1%eth0',
    '12345::',
    '1:2:3:4:5:6:7::8',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '[::1]',
  ])('rejects %j', (input) => {
    expect(canonicalIP(input)).toBeUndefined();
  });

  it('agrees with the WHATWG URL parser on IPv6 text and is idempotent', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const canonical = canonicalIP(text);
        expect(canonical).toBeDefined();
        expect(canonicalIP(canonical!)).toBe(canonical);
        const whatwg = new URL(`http://[${text}]/`).hostname.slice(1, -1);
        // Go writes IPv4-mapped addresses as dotted quads; WHATWG keeps them in hex.
        if (!canonical!.includes(':')) expect(whatwg.startsWith('::ffff:')).toBe(true);
        else expect(canonical).toBe(whatwg);
      }),
    );
  });

  it('accepts every dotted-quad IPv4 address unchanged', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        expect(canonicalIP(text)).toBe(text);
      }),
    );
  });
});
