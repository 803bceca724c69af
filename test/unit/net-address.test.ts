import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalCidr,
  formatIpv6,
  formatMac,
  parseCidr,
  parseIp,
  parseMac,
  sameCidr,
} from '../../adapters/net/address.ts';
import { InvalidAddressError } from '../../adapters/net/errors.ts';

describe('address parsing and canonical form', () => {
  it('reads IPv4 parts as decimal, leading zeros included (like iproute2, not octal)', () => {
    assert.equal(canonicalCidr('198.18.0.010/24'), '198.18.0.10/24');
    assert.ok(sameCidr('198.18.0.010/24', '198.18.0.10/24'));
    assert.equal(canonicalCidr(' 198.18.000.1/32 '), '198.18.0.1/32');
  });

  it('writes IPv6 in RFC 5952 form', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0:0:0:0:0:100/64', '2001:db8::100/64'],
      ['2001:db8:0:0:1:0:0:1/64', '2001:db8::1:0:0:1/64'],
      ['2001:db8::0:1/128', '2001:db8::1/128'],
      ['2001:0db8:0000:0001:0000:0000:0000:0001/64', '2001:db8:0:1::1/64'],
      ['2001:db8:1:1:1:1:0:1/64', '2001:db8:1:1:1:1:0:1/64'],
      ['::ffff:198.18.0.1/128', '::ffff:c612:1/128'],
      ['fe80::1/64', 'fe80::1/64'],
    ];
    for (const [input, expected] of cases) assert.equal(canonicalCidr(input), expected, input);
    assert.equal(formatIpv6(new Uint8Array(16)), '::');
  });

  it('defaults the prefix to a host route', () => {
    assert.equal(canonicalCidr('198.18.0.1'), '198.18.0.1/32');
    assert.equal(canonicalCidr('2001:db8::1'), '2001:db8::1/128');
  });

  it('returns bytes in network order', () => {
    assert.deepEqual(Array.from(parseIp('198.18.0.10').bytes), [198, 18, 0, 10]);
    const v6 = parseCidr('2001:db8::1:2/64');
    assert.equal(v6.family, 6);
    assert.equal(v6.prefixLength, 64);
    assert.deepEqual(Array.from(v6.bytes), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  });

  for (const bad of [
    '',
    '198.18.0/24',
    '198.18.0.1.2/24',
    '198.18.0.256/24',
    '198.18.0.-1/24',
    '198.18.0.1/33',
    '198.18.0.1/',
    '198.18.0.1/a',
    '198.18.0.1/24/1',
    '0x10.0.0.1/8',
    '2001:db8::1::1/64',
    '2001:db8:0:0:0:0:0:0:1/64',
    '2001:db8:0:0:0:0:1/64',
    '2001:db8::12345/64',
    '2001:db8::1/129',
    'fe80::1%eth0/64',
    'g::1/64',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with InvalidAddressError`, () => {
      assert.throws(
        () => parseCidr(bad),
        (err: unknown) =>
          err instanceof InvalidAddressError && err.code === 'INVALID_ADDRESS' && err.input === bad,
      );
    });
  }

  it('parses and formats MACs', () => {
    assert.equal(formatMac(parseMac('0A:1b:2C:3d:4E:5f')), '0a:1b:2c:3d:4e:5f');
    assert.throws(() => parseMac('0a:1b:2c:3d:4e'), InvalidAddressError);
  });
});
