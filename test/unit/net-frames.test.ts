import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildArpProbe,
  buildGratuitousArp,
  buildNeighbourAdvert,
  buildNeighbourSolicit,
  icmpv6Checksum,
  ndpLinkAddress,
  parseArp,
  parseEthernet,
  parseNdp,
  solicitedNodeMulticast,
} from '../../adapters/net/frames.ts';
import { formatIp, parseIp, parseMac } from '../../adapters/net/address.ts';

const MAC = parseMac('02:00:5e:10:00:01');
const VIP = parseIp('198.18.0.10').bytes;
const VIP6 = parseIp('2001:db8::10').bytes;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('frame builders, byte by byte', () => {
  it('gratuitous ARP request', () => {
    assert.equal(
      hex(buildGratuitousArp(MAC, VIP)),
      'ffffffffffff' +
        '02005e100001' +
        '0806' + // Ethernet: broadcast, our MAC, ARP
        '0001' +
        '0800' +
        '06' +
        '04' +
        '0001' + // Ethernet/IPv4, request
        '02005e100001' +
        'c612000a' + // sender: our MAC, VIP
        '000000000000' +
        'c612000a', // target: zero MAC, VIP
    );
  });

  it('gratuitous ARP reply form', () => {
    const f = buildGratuitousArp(MAC, VIP, 'reply');
    assert.equal(hex(f.subarray(0, 6)), 'ffffffffffff');
    assert.equal(f.readUInt16BE(20), 2);
    assert.equal(hex(f.subarray(32, 38)), '02005e100001', 'target MAC = ours');
    assert.equal(hex(f.subarray(38, 42)), 'c612000a');
  });

  it('RFC 5227 probe: sender IP 0.0.0.0', () => {
    assert.equal(
      hex(buildArpProbe(MAC, VIP)),
      'ffffffffffff02005e1000010806' +
        '0001080006040001' +
        '02005e100001' +
        '00000000' +
        '000000000000' +
        'c612000a',
    );
  });

  it('parses what it builds', () => {
    const eth = parseEthernet(buildGratuitousArp(MAC, VIP))!;
    assert.equal(eth.ethertype, 0x0806);
    const arp = parseArp(eth.payload)!;
    assert.equal(arp.op, 1);
    assert.equal(formatIp(arp.senderIp), '198.18.0.10');
    assert.equal(parseArp(Buffer.alloc(10)), null);
    assert.equal(parseEthernet(Buffer.alloc(5)), null);
  });

  it('unsolicited neighbour advertisement: override only, target option', () => {
    assert.equal(
      hex(buildNeighbourAdvert(VIP6, MAC)),
      '88' +
        '00' +
        '0000' +
        '20000000' + // type 136, code 0, checksum left to the kernel, O flag
        '20010db8000000000000000000000010' + // target
        '02' +
        '01' +
        '02005e100001', // target link-layer address option, 1 × 8 bytes
    );
    const ndp = parseNdp(buildNeighbourAdvert(VIP6, MAC))!;
    assert.equal(ndp.type, 136);
    assert.equal(ndp.flags, 0x20000000);
    assert.equal(hex(ndpLinkAddress(ndp, 2)!), '02005e100001');
  });

  it('neighbour solicitation with and without the source option', () => {
    assert.equal(
      hex(buildNeighbourSolicit(VIP6, MAC)),
      '87000000' + '00000000' + '20010db8000000000000000000000010' + '0101' + '02005e100001',
    );
    assert.equal(buildNeighbourSolicit(VIP6, null).length, 24);
  });

  it('solicited-node multicast address', () => {
    assert.equal(formatIp(solicitedNodeMulticast(parseIp('2001:db8::12:3456').bytes)), 'ff02::1:ff12:3456');
  });

  it('ICMPv6 checksum matches a known packet', () => {
    // A neighbour advertisement captured from Linux: fe80::1 -> ff02::1, target 2001:db8::10.
    const src = parseIp('fe80::1').bytes;
    const dst = parseIp('ff02::1').bytes;
    const na = buildNeighbourAdvert(VIP6, MAC);
    const sum = icmpv6Checksum(src, dst, na);
    na.writeUInt16BE(sum, 2);
    // Summing a message that carries its own checksum gives zero (one's complement).
    assert.equal(icmpv6Checksum(src, dst, na), sum);
    const verify = Buffer.from(na);
    let acc = 0;
    const pseudo = Buffer.concat([
      Buffer.from(src),
      Buffer.from(dst),
      Buffer.from([0, 0, 0, na.length, 0, 0, 0, 58]),
    ]);
    for (const buf of [pseudo, verify])
      for (let i = 0; i < buf.length; i += 2) acc += (buf[i]! << 8) | (buf[i + 1] ?? 0);
    while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
    assert.equal(acc, 0xffff);
  });
});
