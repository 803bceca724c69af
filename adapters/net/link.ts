import {
  IF_OPER_DOWN,
  IF_OPER_LOWERLAYERDOWN,
  IF_OPER_NOTPRESENT,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  IFINFOMSG_SIZE,
  IFLA_IFNAME,
  IFLA_OPERSTATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSGHDR_SIZE,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from './linux.ts';
import { parseAttributes, type NetlinkMessage } from './netlink.ts';
import { ProtocolError } from './errors.ts';

/**
 * Pure rtnetlink codec for link messages (RTM_NEWLINK / RTM_DELLINK, struct ifinfomsg and its
 * attributes): the interface tracking's input. Host byte order, as in netlink.ts.
 */

export interface LinkMessage {
  /** RTM_DELLINK: the interface is gone. */
  removed: boolean;
  ifindex: number;
  /** IFF_* flags of ifinfomsg. */
  flags: number;
  /** IFLA_IFNAME, when the kernel sent it (it always does in notifications and dumps). */
  name: string | undefined;
  /** IFLA_OPERSTATE (RFC 2863, IF_OPER_*), when present. */
  operstate: number | undefined;
}

/** null for a message that is not about a link (acks, NLMSG_DONE, other types). */
export function decodeLink(msg: NetlinkMessage): LinkMessage | null {
  if (msg.type !== RTM_NEWLINK && msg.type !== RTM_DELLINK) return null;
  const p = msg.payload;
  if (p.length < IFINFOMSG_SIZE) throw new ProtocolError('truncated ifinfomsg');
  const attrs = parseAttributes(p.subarray(IFINFOMSG_SIZE));
  const name = attrs.get(IFLA_IFNAME);
  const oper = attrs.get(IFLA_OPERSTATE);
  return {
    removed: msg.type === RTM_DELLINK,
    ifindex: p.readInt32LE(4),
    flags: p.readUInt32LE(8),
    name: name ? name.toString('utf8').replace(/\0+$/, '') : undefined,
    operstate: oper && oper.length >= 1 ? oper.readUInt8(0) : undefined,
  };
}

/**
 * Whether the link can carry the VIP, and why not. Good = administratively up (IFF_UP) with
 * carrier (IFF_LOWER_UP) and an operational state that is not down. IF_OPER_UNKNOWN counts as up:
 * drivers without operstate support (dummy, some virtual NICs) report it forever.
 */
export function linkVerdict(link: LinkMessage): { up: boolean; reason: string } {
  if (link.removed) return { up: false, reason: 'the interface was removed' };
  if ((link.flags & IFF_UP) === 0) return { up: false, reason: 'the interface is down (IFF_UP cleared)' };
  if ((link.flags & IFF_LOWER_UP) === 0)
    return { up: false, reason: 'the interface has no carrier (IFF_LOWER_UP cleared)' };
  const oper = link.operstate;
  if (oper === IF_OPER_DOWN || oper === IF_OPER_LOWERLAYERDOWN || oper === IF_OPER_NOTPRESENT)
    return { up: false, reason: `the interface is operationally down (operstate ${oper})` };
  const running = (link.flags & IFF_RUNNING) !== 0 ? ', running' : '';
  return { up: true, reason: `the interface is up with carrier${running}` };
}

/** RTM_GETLINK dump of every interface (the state at start, and again after a lost notification). */
export function encodeLinkDumpRequest(seq: number): Buffer {
  const len = NLMSGHDR_SIZE + IFINFOMSG_SIZE;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(RTM_GETLINK, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  // ifinfomsg all zero: family AF_UNSPEC, every index.
  return b;
}
