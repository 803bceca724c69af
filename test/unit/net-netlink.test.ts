import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAddress,
  decodeError,
  encodeAddressRequest,
  encodeDumpRequest,
  parseAttributes,
  parseMessages,
} from '../../adapters/net/netlink.ts';
import { parseIp } from '../../adapters/net/address.ts';
import {
  fromErrno,
  InterfaceNotFoundError,
  PermissionError,
  isTransient,
} from '../../adapters/net/errors.ts';
import { ProtocolError } from '../../adapters/net/errors.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('netlink codec', () => {
  it('encodes RTM_NEWADDR like ip addr add 198.18.0.10/24 valid_lft 5 preferred_lft 5', () => {
    const msg = encodeAddressRequest({
      type: 20,
      flags: 0x1 | 0x4 | 0x400 | 0x200,
      seq: 7,
      family: 2,
      prefixLength: 24,
      ifaFlags: 0,
      scope: 0,
      ifindex: 3,
      address: parseIp('198.18.0.10').bytes,
      lifetimes: { validSec: 5, preferredSec: 5 },
    });
    assert.equal(
      hex(msg),
      '3c000000' +
        '1400' +
        '0506' +
        '07000000' +
        '00000000' + // nlmsghdr: len 60, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq 7
        '02' +
        '18' +
        '00' +
        '00' +
        '03000000' + // ifaddrmsg: AF_INET, /24, flags, scope, ifindex 3
        '0800' +
        '0200' +
        'c612000a' + // IFA_LOCAL
        '0800' +
        '0100' +
        'c612000a' + // IFA_ADDRESS
        '1400' +
        '0600' +
        '05000000' +
        '05000000' +
        '00000000' +
        '00000000', // IFA_CACHEINFO: prefered, valid
    );
  });

  it('encodes IPv6 NODAD in ifa_flags and large flags as IFA_FLAGS', () => {
    const base = {
      type: 20,
      flags: 5,
      seq: 1,
      family: 10,
      prefixLength: 64,
      scope: 0,
      ifindex: 2,
      address: parseIp('2001:db8::10').bytes,
    };
    const nodad = encodeAddressRequest({ ...base, ifaFlags: 0x02 });
    assert.equal(nodad.readUInt8(16 + 2), 0x02);
    assert.equal(nodad.length, 16 + 8 + 20 + 20);
    const big = encodeAddressRequest({ ...base, ifaFlags: 0x202 });
    const attrs = parseAttributes(big.subarray(24));
    assert.equal(attrs.get(8)?.readUInt32LE(0), 0x202);
  });

  it('encodes a dump request', () => {
    assert.equal(
      hex(encodeDumpRequest(22, 0x301, 9, 10)),
      '18000000160001030900000000000000' + '0a00000000000000',
    );
  });

  it('decodes an ack, an error and the extended-ack text', () => {
    const ack = Buffer.from(
      '24000000020000010700000000000000' + '00000000' + '48000000140005060700000000000000',
      'hex',
    );
    const [m] = parseMessages(ack);
    assert.equal(m!.type, 2);
    assert.equal(decodeError(m!).errno, 0);
    // EEXIST with NLM_F_CAPPED | NLM_F_ACK_TLVS and NLMSGERR_ATTR_MSG "Address exists"
    const text = Buffer.from('Address exists\0');
    const tlv = Buffer.alloc(4 + 16);
    tlv.writeUInt16LE(4 + text.length, 0);
    tlv.writeUInt16LE(1, 2);
    text.copy(tlv, 4);
    const payload = Buffer.concat([
      Buffer.from('efffffff', 'hex'),
      Buffer.from('48000000140005060700000000000000', 'hex'),
      tlv,
    ]);
    const header = Buffer.alloc(16);
    header.writeUInt32LE(16 + payload.length, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(0x300, 6);
    const [e] = parseMessages(Buffer.concat([header, payload]));
    assert.deepEqual(decodeError(e!), { errno: 17, message: 'Address exists' });
  });

  it('decodes an RTM_NEWADDR from a dump', () => {
    const body = Buffer.concat([
      Buffer.from('0a40800002000000', 'hex'), // AF_INET6 /64, PERMANENT, scope 0, ifindex 2
      Buffer.from('14000100' + '20010db8000000000000000000000010', 'hex'),
      Buffer.from('14000600' + '0500000006000000' + '0000000000000000', 'hex'),
      Buffer.from('08000800' + '82000000', 'hex'),
    ]);
    const header = Buffer.alloc(16);
    header.writeUInt32LE(16 + body.length, 0);
    header.writeUInt16LE(20, 4);
    const [m] = parseMessages(Buffer.concat([header, body]));
    const entry = decodeAddress(m!);
    assert.equal(entry.family, 10);
    assert.equal(entry.prefixLength, 64);
    assert.equal(entry.flags, 0x82);
    assert.equal(entry.ifindex, 2);
    assert.equal(hex(entry.address!), '20010db8000000000000000000000010');
    assert.deepEqual(entry.lifetimes, { preferredSec: 5, validSec: 6 });
  });

  it('splits several messages and rejects an overrunning length', () => {
    const one = encodeDumpRequest(22, 0x301, 1, 2);
    assert.equal(parseMessages(Buffer.concat([one, one])).length, 2);
    const bad = Buffer.from(one);
    bad.writeUInt32LE(200, 0);
    assert.throws(() => parseMessages(bad), ProtocolError);
  });
});

describe('errno translation', () => {
  it('names the capability on EPERM and the interface on ENODEV', () => {
    const perm = fromErrno(1, {
      what: 'add 198.18.0.10/24',
      syscall: 'RTM_NEWADDR',
      capability: 'CAP_NET_ADMIN',
    });
    assert.ok(perm instanceof PermissionError);
    assert.equal(perm.code, 'EPERM');
    assert.match(perm.message, /CAP_NET_ADMIN/);
    const raw = fromErrno(13, { what: 'socket(AF_PACKET)', syscall: 'socket', capability: 'CAP_NET_RAW' });
    assert.equal(raw.code, 'EACCES');
    assert.match(raw.message, /CAP_NET_RAW/);
    const nodev = fromErrno(19, { what: 'x', syscall: 'ioctl', interfaceName: 'eth9' });
    assert.ok(nodev instanceof InterfaceNotFoundError);
    assert.match(nodev.message, /"eth9"/);
  });

  it('keeps other errno names as codes, with kernel detail', () => {
    const e = fromErrno(22, { what: 'add', syscall: 'RTM_NEWADDR', detail: 'Invalid prefix' });
    assert.equal(e.code, 'EINVAL');
    assert.equal(e.name, 'SystemCallError');
    assert.match(e.message, /Invalid prefix/);
    assert.equal(fromErrno(4242, { what: 'x', syscall: 'y' }).code, 'ERRNO_4242');
    assert.equal(isTransient(fromErrno(105, { what: 'x', syscall: 'y' })), true);
    assert.equal(isTransient(e), false);
  });
});
