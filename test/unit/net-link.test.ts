import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLink, encodeLinkDumpRequest, linkVerdict } from '../../adapters/net/link.ts';
import { parseMessages } from '../../adapters/net/netlink.ts';
import {
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  IFLA_IFNAME,
  IFLA_OPERSTATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from '../../adapters/net/linux.ts';

/** An RTM_NEWLINK/DELLINK as the kernel sends it: nlmsghdr, ifinfomsg, then attributes. */
function linkMessage(type: number, index: number, flags: number, name: string, operstate?: number): Buffer {
  const attr = (t: number, data: Buffer): Buffer => {
    const len = 4 + data.length;
    const out = Buffer.alloc((len + 3) & ~3);
    out.writeUInt16LE(len, 0);
    out.writeUInt16LE(t, 2);
    data.copy(out, 4);
    return out;
  };
  const ifi = Buffer.alloc(16);
  ifi.writeUInt16LE(1, 2); // ARPHRD_ETHER
  ifi.writeInt32LE(index, 4);
  ifi.writeUInt32LE(flags, 8);
  ifi.writeUInt32LE(0xffffffff, 12);
  const parts = [ifi, attr(IFLA_IFNAME, Buffer.from(`${name}\0`))];
  if (operstate !== undefined) parts.push(attr(IFLA_OPERSTATE, Buffer.from([operstate])));
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(type, 4);
  return Buffer.concat([h, body]);
}

const decode = (buf: Buffer) => {
  const [msg] = parseMessages(buf);
  assert.ok(msg);
  return decodeLink(msg);
};

describe('link messages (adapters/net/link.ts)', () => {
  it('decodes ifinfomsg and IFLA_IFNAME / IFLA_OPERSTATE', () => {
    const link = decode(linkMessage(RTM_NEWLINK, 7, IFF_UP | IFF_RUNNING | IFF_LOWER_UP, 'eth1', 6));
    assert.deepEqual(link, {
      removed: false,
      ifindex: 7,
      flags: IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
      name: 'eth1',
      operstate: 6,
    });
    assert.ok(link);
    assert.equal(linkVerdict(link).up, true);
  });

  it('reads several messages of one datagram', () => {
    const two = Buffer.concat([
      linkMessage(RTM_NEWLINK, 1, IFF_UP | IFF_LOWER_UP, 'lo', 0),
      linkMessage(RTM_NEWLINK, 2, IFF_UP, 'eth0', 2),
    ]);
    assert.deepEqual(
      parseMessages(two).map((m) => decodeLink(m)?.name),
      ['lo', 'eth0'],
    );
  });

  it('is down without IFF_UP, without carrier, with operstate down, or removed', () => {
    const verdict = (buf: Buffer) => {
      const link = decode(buf);
      assert.ok(link);
      return linkVerdict(link);
    };
    assert.match(verdict(linkMessage(RTM_NEWLINK, 3, IFF_LOWER_UP, 'e', 6)).reason, /IFF_UP/);
    assert.equal(verdict(linkMessage(RTM_NEWLINK, 3, IFF_LOWER_UP, 'e', 6)).up, false);
    const noCarrier = verdict(linkMessage(RTM_NEWLINK, 3, IFF_UP, 'e', 2));
    assert.equal(noCarrier.up, false);
    assert.match(noCarrier.reason, /carrier/);
    // veth whose peer is down: IFF_UP, no LOWER_UP, LOWERLAYERDOWN.
    assert.equal(verdict(linkMessage(RTM_NEWLINK, 3, IFF_UP | IFF_LOWER_UP, 'e', 3)).up, false);
    assert.equal(verdict(linkMessage(RTM_DELLINK, 3, IFF_UP | IFF_LOWER_UP, 'e', 6)).up, false);
    // IF_OPER_UNKNOWN (dummy, some virtual NICs) with carrier is up.
    assert.equal(verdict(linkMessage(RTM_NEWLINK, 3, IFF_UP | IFF_LOWER_UP, 'e', 0)).up, true);
  });

  it('ignores messages that are not about links and refuses a truncated ifinfomsg', () => {
    assert.equal(decodeLink({ type: 3, flags: 0, seq: 0, pid: 0, payload: Buffer.alloc(4) }), null);
    assert.throws(() =>
      decodeLink({ type: RTM_NEWLINK, flags: 0, seq: 0, pid: 0, payload: Buffer.alloc(8) }),
    );
  });

  it('asks a dump of every link', () => {
    const req = encodeLinkDumpRequest(42);
    assert.equal(req.length, 32);
    assert.equal(req.readUInt32LE(0), 32);
    assert.equal(req.readUInt16LE(4), RTM_GETLINK);
    assert.equal(req.readUInt16LE(6), NLM_F_REQUEST | NLM_F_DUMP);
    assert.equal(req.readUInt32LE(8), 42);
  });
});
