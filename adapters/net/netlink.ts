import {
  IFA_ADDRESS,
  IFA_CACHEINFO,
  IFA_CACHEINFO_SIZE,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFADDRMSG_SIZE,
  INFINITY_LIFE_TIME,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_ALIGNTO,
  NLMSGERR_ATTR_MSG,
  NLMSGHDR_SIZE,
  RTA_ALIGNTO,
  RTA_HDR_SIZE,
} from './linux.ts';
import { ProtocolError } from './errors.ts';

/**
 * Pure rtnetlink codec for address messages: builds RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR
 * requests and decodes replies (acks, errors, address dumps). Host byte order is little-endian
 * on every platform LinK targets (x86_64, aarch64); netlink uses host order.
 */

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

export interface Lifetimes {
  /** Seconds; INFINITY_LIFE_TIME means forever. */
  validSec: number;
  preferredSec: number;
}

export interface AddressRequest {
  type: number;
  flags: number;
  seq: number;
  family: number;
  prefixLength: number;
  /** IFA_F_* flags; the low 8 bits also go in ifa_flags. */
  ifaFlags: number;
  scope: number;
  ifindex: number;
  address: Uint8Array;
  lifetimes?: Lifetimes;
}

const align = (n: number, to: number): number => (n + to - 1) & ~(to - 1);

function attr(type: number, data: Uint8Array): Buffer {
  const len = RTA_HDR_SIZE + data.length;
  const out = Buffer.alloc(align(len, RTA_ALIGNTO));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  out.set(data, RTA_HDR_SIZE);
  return out;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

function header(len: number, type: number, flags: number, seq: number): Buffer {
  const h = Buffer.alloc(NLMSGHDR_SIZE);
  h.writeUInt32LE(len, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq >>> 0, 8);
  h.writeUInt32LE(0, 12);
  return h;
}

function ifaddrmsg(
  family: number,
  prefixLength: number,
  flags: number,
  scope: number,
  ifindex: number,
): Buffer {
  const b = Buffer.alloc(IFADDRMSG_SIZE);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(ifindex, 4);
  return b;
}

/** Like iproute2: IFA_LOCAL and IFA_ADDRESS both carry the address (no peer). */
export function encodeAddressRequest(req: AddressRequest): Buffer {
  const parts: Buffer[] = [
    ifaddrmsg(req.family, req.prefixLength, req.ifaFlags, req.scope, req.ifindex),
    attr(IFA_LOCAL, req.address),
    attr(IFA_ADDRESS, req.address),
  ];
  if (req.ifaFlags > 0xff) parts.push(attr(IFA_FLAGS, u32(req.ifaFlags)));
  if (req.lifetimes) {
    const ci = Buffer.alloc(IFA_CACHEINFO_SIZE);
    ci.writeUInt32LE(req.lifetimes.preferredSec >>> 0, 0);
    ci.writeUInt32LE(req.lifetimes.validSec >>> 0, 4);
    parts.push(attr(IFA_CACHEINFO, ci));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([header(NLMSGHDR_SIZE + body.length, req.type, req.flags, req.seq), body]);
}

export function encodeDumpRequest(type: number, flags: number, seq: number, family: number): Buffer {
  const body = ifaddrmsg(family, 0, 0, 0, 0);
  return Buffer.concat([header(NLMSGHDR_SIZE + body.length, type, flags, seq), body]);
}

export function parseMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSGHDR_SIZE <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSGHDR_SIZE || off + len > buf.length) {
      throw new ProtocolError(`netlink message length ${len} at offset ${off} overruns ${buf.length} bytes`);
    }
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSGHDR_SIZE, off + len),
    });
    off += align(len, NLMSG_ALIGNTO);
  }
  return out;
}

export function parseAttributes(buf: Buffer): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let off = 0;
  while (off + RTA_HDR_SIZE <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < RTA_HDR_SIZE || off + len > buf.length) break;
    // NLA_F_NESTED / NLA_F_NET_BYTEORDER live in the top bits of the type.
    attrs.set(buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + RTA_HDR_SIZE, off + len));
    off += align(len, RTA_ALIGNTO);
  }
  return attrs;
}

export interface NetlinkErrorReply {
  /** Positive errno; 0 for a plain ack. */
  errno: number;
  /** Extended ack text (NETLINK_EXT_ACK), when the kernel sent one. */
  message?: string;
}

/** Decodes an NLMSG_ERROR payload (struct nlmsgerr, then TLVs when NLM_F_ACK_TLVS is set). */
export function decodeError(msg: NetlinkMessage): NetlinkErrorReply {
  if (msg.payload.length < 4) throw new ProtocolError('truncated NLMSG_ERROR');
  const errno = 0 - msg.payload.readInt32LE(0); // not unary minus: an ack would read as -0
  const reply: NetlinkErrorReply = { errno };
  if (msg.flags & NLM_F_ACK_TLVS && msg.payload.length >= 4 + NLMSGHDR_SIZE) {
    // With NLM_F_CAPPED only the request's header is echoed; otherwise the whole request is.
    const echoedLen = msg.flags & NLM_F_CAPPED ? NLMSGHDR_SIZE : msg.payload.readUInt32LE(4);
    const tlvs = parseAttributes(msg.payload.subarray(4 + align(echoedLen, NLMSG_ALIGNTO)));
    const text = tlvs.get(NLMSGERR_ATTR_MSG);
    if (text) reply.message = text.toString('utf8').replace(/\0+$/, '');
  }
  return reply;
}

export interface AddressEntry {
  family: number;
  prefixLength: number;
  flags: number;
  scope: number;
  ifindex: number;
  /** IFA_LOCAL when present, else IFA_ADDRESS. */
  address: Uint8Array | undefined;
  label: string | undefined;
  lifetimes: Lifetimes | undefined;
}

export function decodeAddress(msg: NetlinkMessage): AddressEntry {
  const p = msg.payload;
  if (p.length < IFADDRMSG_SIZE) throw new ProtocolError('truncated ifaddrmsg');
  const attrs = parseAttributes(p.subarray(IFADDRMSG_SIZE));
  const flagsAttr = attrs.get(IFA_FLAGS);
  const ci = attrs.get(IFA_CACHEINFO);
  const label = attrs.get(IFA_LABEL);
  return {
    family: p.readUInt8(0),
    prefixLength: p.readUInt8(1),
    flags: flagsAttr && flagsAttr.length >= 4 ? flagsAttr.readUInt32LE(0) : p.readUInt8(2),
    scope: p.readUInt8(3),
    ifindex: p.readUInt32LE(4),
    address: attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS),
    label: label ? label.toString('utf8').replace(/\0+$/, '') : undefined,
    lifetimes:
      ci && ci.length >= 8 ? { preferredSec: ci.readUInt32LE(0), validSec: ci.readUInt32LE(4) } : undefined,
  };
}

export { INFINITY_LIFE_TIME };
