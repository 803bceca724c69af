import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCidr } from '../../adapters/net/address.ts';
import {
  addressClassRefusal,
  knownAddressRefusal,
  vipRefusal,
  type KnownAddress,
} from '../../adapters/net/vip-rule.ts';

/** Issue 12: a VIP cannot be an address that belongs to someone. One rule, every class named. */

const refusal = (cidr: string, known: KnownAddress[] = []) => vipRefusal(parseCidr(cidr), known);

describe('the VIP rule: address classes', () => {
  const cases: [string, RegExp][] = [
    ['0.0.0.0/32', /unspecified/],
    // The API refused /0 while the net adapter would bind it: one rule now.
    ['198.18.0.1/0', /^prefix must be at least 1$/],
    ['2001:db8::1/0', /^prefix must be at least 1$/],
    ['::/128', /unspecified/],
    ['0.1.2.3/32', /0\.0\.0\.0\/8/],
    ['127.0.0.1/32', /loopback/],
    ['127.0.0.5/32', /loopback/],
    ['::1/128', /loopback/],
    ['169.254.1.1/32', /is link-local \(169\.254\.0\.0\/16\)/],
    ['fe80::1/64', /is link-local \(fe80::\/10\)/],
    ['febf::1/64', /is link-local/],
    ['224.0.0.1/32', /multicast/],
    ['239.255.255.250/32', /multicast/],
    ['ff02::1/128', /multicast/],
    ['255.255.255.255/32', /limited broadcast/],
    ['240.0.0.1/32', /240\.0\.0\.0\/4/],
    ['::ffff:198.18.0.11/128', /IPv4-mapped/],
    ['198.18.0.255/24', /^is the broadcast address of 198\.18\.0\.0\/24$/],
    ['198.18.0.0/24', /^is the network address of 198\.18\.0\.0\/24$/],
    ['198.18.1.127/25', /broadcast address of 198\.18\.1\.0\/25/],
    ['198.18.0.8/30', /network address of 198\.18\.0\.8\/30/],
    ['2001:db8::/64', /subnet-router anycast address of 2001:db8::\/64/],
  ];
  for (const [cidr, reason] of cases) {
    it(`refuses ${cidr}: ${reason.source}`, () => {
      const why = refusal(cidr);
      assert.ok(why !== null, `${cidr} accepted`);
      assert.match(why, reason);
      assert.equal(addressClassRefusal(parseCidr(cidr)), why, 'a class needs no facts');
    });
  }

  it('accepts ordinary VIPs, /31 and /32 edges and IPv6 /127 included', () => {
    for (const cidr of [
      '198.18.0.100/32',
      '198.18.0.100/24',
      '198.18.0.255/32',
      '198.18.0.0/32',
      '198.18.0.0/31',
      '198.18.0.1/31',
      '198.19.255.254/15',
      '2001:db8::100/64',
      '2001:db8::/128',
      '2001:db8::/127',
      '2001:db8::ffff:ffff:ffff:ffff/64',
      '223.255.255.1/32',
    ]) {
      assert.equal(refusal(cidr), null, cidr);
    }
  });
});

describe('the VIP rule: addresses that belong to a known host', () => {
  const known: KnownAddress[] = [
    { cidr: '198.18.0.11/24', interfaceName: 'eth0' },
    { cidr: '2001:db8::11/64', interfaceName: 'eth0' },
    { cidr: '198.18.0.12/24', interfaceName: 'eth0', host: 'h2' },
    { cidr: '198.19.4.1/22', interfaceName: 'eth1', host: 'h2' },
  ];

  it("refuses this host's own interface address", () => {
    assert.equal(refusal('198.18.0.11/32', known), 'is the address of eth0 on this host');
    assert.equal(refusal('198.18.0.11/24', known), 'is the address of eth0 on this host');
    assert.equal(refusal('2001:db8::11/128', known), 'is the address of eth0 on this host');
  });

  it("refuses a LinK peer's address, naming the host", () => {
    assert.equal(refusal('198.18.0.12/32', known), 'is the address of LinK host h2 (eth0)');
  });

  it("refuses the network and broadcast addresses of an interface's subnet, whatever the VIP's prefix", () => {
    assert.equal(refusal('198.18.0.255/32', known), 'is the broadcast address of 198.18.0.0/24 on eth0');
    assert.equal(refusal('198.18.0.0/32', known), 'is the network address of 198.18.0.0/24 on eth0');
    assert.equal(
      refusal('198.19.7.255/32', known),
      'is the broadcast address of 198.19.4.0/22 on eth1 of LinK host h2',
    );
    assert.equal(
      refusal('2001:db8::/128', known),
      'is the subnet-router anycast address of 2001:db8::/64 on eth0',
    );
  });

  it('accepts other addresses of those subnets and skips entries that do not parse', () => {
    const withJunk = [...known, { cidr: 'nonsense', interfaceName: 'eth9', host: 'h9' }];
    for (const cidr of ['198.18.0.100/32', '198.18.0.150/24', '198.19.8.0/32', '2001:db8::100/64']) {
      assert.equal(knownAddressRefusal(parseCidr(cidr), withJunk), null, cidr);
    }
  });
});
