import {
  ARP_ETHER_IPV4_SIZE,
  ARPHRD_ETHER,
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ETH_ALEN,
  ETH_HLEN,
  ETH_P_ARP,
  ETH_P_IP,
  ND_NA_FLAG_OVERRIDE,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_OPT_SOURCE_LINKADDR,
  ND_OPT_TARGET_LINKADDR,
} from './linux.ts';

/**
 * Pure builders and parsers for the frames the adapter sends and the tests capture: Ethernet,
 * ARP (RFC 826, RFC 5227), IPv6 headers and neighbour discovery messages (RFC 4861).
 */

export const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
export const ZERO_MAC = new Uint8Array(ETH_ALEN);
const ZERO_IPV4 = new Uint8Array(4);

export interface ArpPacket {
  op: number;
  senderMac: Uint8Array;
  senderIp: Uint8Array;
  targetMac: Uint8Array;
  targetIp: Uint8Array;
}

export interface EthernetFrame {
  dst: Uint8Array;
  src: Uint8Array;
  ethertype: number;
  payload: Buffer;
}

export function buildEthernet(
  dst: Uint8Array,
  src: Uint8Array,
  ethertype: number,
  payload: Uint8Array,
): Buffer {
  const frame = Buffer.alloc(ETH_HLEN + payload.length);
  frame.set(dst, 0);
  frame.set(src, 6);
  frame.writeUInt16BE(ethertype, 12);
  frame.set(payload, ETH_HLEN);
  return frame;
}

export function buildArpFrame(dst: Uint8Array, src: Uint8Array, arp: ArpPacket): Buffer {
  const body = Buffer.alloc(ARP_ETHER_IPV4_SIZE);
  body.writeUInt16BE(ARPHRD_ETHER, 0);
  body.writeUInt16BE(ETH_P_IP, 2);
  body.writeUInt8(ETH_ALEN, 4);
  body.writeUInt8(4, 5);
  body.writeUInt16BE(arp.op, 6);
  body.set(arp.senderMac, 8);
  body.set(arp.senderIp, 14);
  body.set(arp.targetMac, 18);
  body.set(arp.targetIp, 24);
  return buildEthernet(dst, src, ETH_P_ARP, body);
}

/**
 * Gratuitous ARP, request form (RFC 5227 "ARP Announcement"): sender IP = target IP = VIP,
 * target MAC zero, broadcast. The reply form (op 2, target MAC = ours) reaches hosts that
 * ignore gratuitous requests.
 */
export function buildGratuitousArp(
  mac: Uint8Array,
  ip: Uint8Array,
  form: 'request' | 'reply' = 'request',
): Buffer {
  return buildArpFrame(BROADCAST_MAC, mac, {
    op: form === 'request' ? ARPOP_REQUEST : ARPOP_REPLY,
    senderMac: mac,
    senderIp: ip,
    targetMac: form === 'request' ? ZERO_MAC : mac,
    targetIp: ip,
  });
}

/** RFC 5227 ARP probe: sender IP 0.0.0.0 so no neighbour cache learns from it. */
export function buildArpProbe(mac: Uint8Array, ip: Uint8Array): Buffer {
  return buildArpFrame(BROADCAST_MAC, mac, {
    op: ARPOP_REQUEST,
    senderMac: mac,
    senderIp: ZERO_IPV4,
    targetMac: ZERO_MAC,
    targetIp: ip,
  });
}

export function parseEthernet(frame: Uint8Array): EthernetFrame | null {
  if (frame.length < ETH_HLEN) return null;
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  return {
    dst: b.subarray(0, 6),
    src: b.subarray(6, 12),
    ethertype: b.readUInt16BE(12),
    payload: b.subarray(ETH_HLEN),
  };
}

/** Ethernet/IPv4 ARP body; null for anything else. */
export function parseArp(body: Uint8Array): ArpPacket | null {
  if (body.length < ARP_ETHER_IPV4_SIZE) return null;
  const b = Buffer.from(body.buffer, body.byteOffset, body.length);
  if (b.readUInt16BE(0) !== ARPHRD_ETHER || b.readUInt16BE(2) !== ETH_P_IP || b[4] !== 6 || b[5] !== 4)
    return null;
  return {
    op: b.readUInt16BE(6),
    senderMac: b.subarray(8, 14),
    senderIp: b.subarray(14, 18),
    targetMac: b.subarray(18, 24),
    targetIp: b.subarray(24, 28),
  };
}

/** ICMPv6 neighbour advertisement (unsolicited: override set, solicited clear) with target link-layer option. */
export function buildNeighbourAdvert(
  target: Uint8Array,
  mac: Uint8Array,
  flags = ND_NA_FLAG_OVERRIDE,
): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt8(ND_NEIGHBOR_ADVERT, 0);
  b.writeUInt32BE(flags >>> 0, 4);
  b.set(target, 8);
  b.writeUInt8(ND_OPT_TARGET_LINKADDR, 24);
  b.writeUInt8(1, 25); // option length in units of 8 bytes
  b.set(mac, 26);
  return b;
}

/** Neighbour solicitation for `target`; the source link-layer option is left out when sent from `::`. */
export function buildNeighbourSolicit(target: Uint8Array, mac: Uint8Array | null): Buffer {
  const b = Buffer.alloc(mac ? 32 : 24);
  b.writeUInt8(ND_NEIGHBOR_SOLICIT, 0);
  b.set(target, 8);
  if (mac) {
    b.writeUInt8(ND_OPT_SOURCE_LINKADDR, 24);
    b.writeUInt8(1, 25);
    b.set(mac, 26);
  }
  return b;
}

export interface NdpMessage {
  type: number;
  code: number;
  checksum: number;
  /** NA flags word (R/S/O in the top bits); 0 for a solicitation. */
  flags: number;
  target: Uint8Array;
  options: { type: number; data: Uint8Array }[];
}

export function parseNdp(icmp: Uint8Array): NdpMessage | null {
  if (icmp.length < 24) return null;
  const b = Buffer.from(icmp.buffer, icmp.byteOffset, icmp.length);
  const type = b.readUInt8(0);
  if (type !== ND_NEIGHBOR_ADVERT && type !== ND_NEIGHBOR_SOLICIT) return null;
  const options: NdpMessage['options'] = [];
  for (let off = 24; off + 2 <= b.length;) {
    const len = b.readUInt8(off + 1) * 8;
    if (len === 0 || off + len > b.length) break;
    options.push({ type: b.readUInt8(off), data: b.subarray(off + 2, off + len) });
    off += len;
  }
  return {
    type,
    code: b.readUInt8(1),
    checksum: b.readUInt16BE(2),
    flags: type === ND_NEIGHBOR_ADVERT ? b.readUInt32BE(4) : 0,
    target: b.subarray(8, 24),
    options,
  };
}

/** The link-layer address carried in an NDP option (target for NA, source for NS). */
export function ndpLinkAddress(msg: NdpMessage, optionType: number): Uint8Array | null {
  const opt = msg.options.find((o) => o.type === optionType);
  return opt && opt.data.length >= 6 ? opt.data.subarray(0, 6) : null;
}

export interface Ipv6Packet {
  hopLimit: number;
  nextHeader: number;
  src: Uint8Array;
  dst: Uint8Array;
  payload: Buffer;
}

export function parseIpv6(packet: Uint8Array): Ipv6Packet | null {
  if (packet.length < 40) return null;
  const b = Buffer.from(packet.buffer, packet.byteOffset, packet.length);
  if (b.readUInt8(0) >> 4 !== 6) return null;
  const len = b.readUInt16BE(4);
  return {
    nextHeader: b.readUInt8(6),
    hopLimit: b.readUInt8(7),
    src: b.subarray(8, 24),
    dst: b.subarray(24, 40),
    payload: b.subarray(40, 40 + len),
  };
}

/** RFC 4443 §2.3 checksum over the IPv6 pseudo-header and the ICMPv6 message (checksum field zeroed). */
export function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, icmp: Uint8Array): number {
  const pseudo = Buffer.alloc(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo.writeUInt8(58, 39);
  const body = Buffer.from(icmp);
  if (body.length >= 4) body.writeUInt16BE(0, 2);
  let sum = 0;
  const add = (buf: Buffer): void => {
    for (let i = 0; i < buf.length; i += 2) sum += ((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0);
  };
  add(pseudo);
  add(body);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** ff02::1:ffXX:XXXX, where a neighbour solicitation for `target` is sent (RFC 4291 §2.7.1). */
export function solicitedNodeMulticast(target: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set([0xff, 0x02], 0);
  out[11] = 0x01;
  out[12] = 0xff;
  out.set(target.subarray(13, 16), 13);
  return out;
}

export const ALL_NODES = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
