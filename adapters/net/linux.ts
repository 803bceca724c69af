/**
 * Kernel ABI used by the network adapter: constants and struct layouts, each with the header it
 * comes from (paths under /usr/include on x86_64/aarch64 Linux; values are ABI-stable).
 * Layouts are given as sizes and byte offsets because messages are assembled in Buffers: netlink
 * and frames are byte streams, and one encoder per message is easier to test than FFI structs.
 */

// <bits/socket.h>, <linux/socket.h>
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
// <bits/socket_type.h>
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
// <bits/socket.h>
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const MSG_NOSIGNAL = 0x4000;
// <asm-generic/socket.h>
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_BINDTODEVICE = 25;
// <linux/socket.h>
export const SOL_NETLINK = 270;

// <linux/netlink.h>
export const NETLINK_ROUTE = 0;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** Ack flags: the request was not echoed back (NETLINK_CAP_ACK); TLVs follow (NETLINK_EXT_ACK). */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLMSGERR_ATTR_MSG = 1;
/** struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; } */
export const NLMSGHDR_SIZE = 16;
/** struct nlmsgerr { int error; struct nlmsghdr msg; } (payload of NLMSG_ERROR) */
export const NLMSGERR_SIZE = 4 + NLMSGHDR_SIZE;
/** struct sockaddr_nl { u16 family; u16 pad; u32 pid; u32 groups; } */
export const SOCKADDR_NL_SIZE = 12;
export const NLMSG_ALIGNTO = 4;
/** struct rtattr { u16 len; u16 type; } (<linux/rtnetlink.h>) */
export const RTA_HDR_SIZE = 4;
export const RTA_ALIGNTO = 4;

// <linux/rtnetlink.h>
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
/** Multicast group of link notifications (the bind address's nl_groups bit mask). */
export const RTMGRP_LINK = 0x1;
/** struct ifinfomsg { u8 family; u8 pad; u16 type; i32 index; u32 flags; u32 change; } */
export const IFINFOMSG_SIZE = 16;
// <linux/if_link.h>
export const IFLA_IFNAME = 3;
export const IFLA_OPERSTATE = 16;
// <linux/if.h>
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;
/** RFC 2863 operational states (IF_OPER_*). */
export const IF_OPER_NOTPRESENT = 1;
export const IF_OPER_DOWN = 2;
export const IF_OPER_LOWERLAYERDOWN = 3;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;

// <linux/if_addr.h>
/** struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; } */
export const IFADDRMSG_SIZE = 8;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
/** struct ifa_cacheinfo { u32 ifa_prefered; u32 ifa_valid; u32 cstamp; u32 tstamp; } */
export const IFA_CACHEINFO_SIZE = 16;
/** "forever" for valid/preferred lifetimes (INFINITY_LIFE_TIME, <net/addrconf.h>; iproute2 prints it as forever). */
export const INFINITY_LIFE_TIME = 0xffffffff;

// <linux/if_ether.h>
export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;

// <linux/if_arp.h>
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
/** struct arphdr + Ethernet/IPv4 body: hrd, pro, hln, pln, op, sha[6], sip[4], tha[6], tip[4]. */
export const ARP_ETHER_IPV4_SIZE = 28;

// <linux/if_packet.h>
/**
 * struct sockaddr_ll { u16 family; be16 protocol; i32 ifindex; u16 hatype; u8 pkttype; u8 halen;
 * u8 addr[8]; }
 */
export const SOCKADDR_LL_SIZE = 20;
export const SLL_OFFSET = { family: 0, protocol: 2, ifindex: 4, hatype: 8, pkttype: 10, halen: 11, addr: 12 };
export const PACKET_OUTGOING = 4;

// <linux/sockios.h>
export const SIOCGIFHWADDR = 0x8927;
// <net/if.h>: struct ifreq { char ifr_name[16]; union { struct sockaddr ifr_hwaddr; ... } } is 40 bytes.
export const IFNAMSIZ = 16;
export const IFREQ_SIZE = 40;
/** ifr_hwaddr.sa_data starts after ifr_name (16) and sa_family (2). */
export const IFREQ_HWADDR_DATA_OFFSET = 18;

// <linux/in.h>, <linux/in6.h>
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
/** <linux/icmpv6.h>: setsockopt(IPPROTO_ICMPV6, ICMP6_FILTER, struct icmp6_filter). */
export const ICMP6_FILTER = 1;
/** struct sockaddr_in6 { u16 family; be16 port; be32 flowinfo; u8 addr[16]; u32 scope_id; } */
export const SOCKADDR_IN6_SIZE = 28;
export const SIN6_OFFSET = { family: 0, port: 2, flowinfo: 4, addr: 8, scopeId: 24 };

// <netinet/icmp6.h> (RFC 4861)
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
export const ND_NA_FLAG_ROUTER = 0x80000000;
export const ND_NA_FLAG_SOLICITED = 0x40000000;
export const ND_NA_FLAG_OVERRIDE = 0x20000000;
export const ND_OPT_SOURCE_LINKADDR = 1;
export const ND_OPT_TARGET_LINKADDR = 2;
/** RFC 4861 §7.1: neighbour discovery messages must arrive with hop limit 255. */
export const ND_HOP_LIMIT = 255;

/** <asm-generic/errno-base.h>, <asm-generic/errno.h>: the errno values this adapter names. */
export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ENODATA: 61,
  EPROTO: 71,
  EMSGSIZE: 90,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  EHOSTUNREACH: 113,
};
