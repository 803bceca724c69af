import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidr as parseAddress } from '../../adapters/net/address.ts';
import { addressClassRefusal } from '../../adapters/net/vip-rule.ts';
import { canonicalCidr, parseCidr } from '../../http/cidr.ts';

describe('canonical VIP addresses', () => {
  it('reads IPv4 leading zeros as decimal, so 198.18.0.010/24 is 198.18.0.10/24', () => {
    assert.equal(canonicalCidr('198.18.0.010/24'), '198.18.0.10/24');
    assert.equal(canonicalCidr('198.18.000.10/024'), '198.18.0.10/24');
    assert.equal(canonicalCidr('198.018.0.8'), '198.18.0.8/32');
  });

  it('defaults the prefix to the host prefix', () => {
    assert.equal(canonicalCidr('198.18.0.10'), '198.18.0.10/32');
    assert.equal(canonicalCidr('2001:db8::1'), '2001:db8::1/128');
  });

  it('writes IPv6 in RFC 5952 form', () => {
    const cases: [string, string][] = [
      ['2001:DB8:0:0:0:0:0:1/64', '2001:db8::1/64'],
      ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1/128'],
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1/128'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
      ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1/128'],
      ['2001:db8::', '2001:db8::/128'],
    ];
    for (const [input, expected] of cases) assert.equal(canonicalCidr(input), expected, input);
  });

  it('rejects what is not a unicast address with a prefix', () => {
    for (const bad of [
      '',
      '198.18.0',
      '198.18.0.256',
      '198.18.0.1/33',
      '198.18.0.1/0',
      '198.18.0.1/',
      '198.18.0.0010',
      '0x0a.0.0.1',
      '167772161',
      '198.18.0.1 ',
      '198.18.0.1/24/1',
      '0.0.0.0',
      '127.0.0.1',
      '127.0.0.5/32',
      '240.0.0.1/32',
      '169.254.0.10/32',
      'fe80::1/64',
      '::ffff:198.18.0.11/128',
      '198.18.0.255/24',
      '198.18.0.0/24',
      '224.0.0.1',
      '255.255.255.255',
      '::',
      '::1',
      'ff02::1',
      '2001:db8::1%eth0',
      '2001:db8:::1',
      '2001:db8::1::2',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::8',
      '2001:db8::g',
      '2001:db8::1/129',
      'abc',
    ]) {
      const result = parseCidr(bad);
      assert.equal(result.ok, false, bad);
    }
  });

  it('refuses by the same rule as the net adapter (issue 13: they disagreed on 240/4 and 127/8)', () => {
    const reasons = (input: string) => {
      const result = parseCidr(input);
      return result.ok ? null : result.reason;
    };
    assert.equal(reasons('240.0.0.1/32'), addressClassRefusal(parseAddress('240.0.0.1/32')));
    assert.match(reasons('127.0.0.5/32') ?? '', /loopback/);
    assert.match(reasons('198.18.0.255/24') ?? '', /broadcast address of 198\.18\.0\.0\/24/);
    assert.match(reasons('fe80::1/64') ?? '', /link-local/);
  });
});
