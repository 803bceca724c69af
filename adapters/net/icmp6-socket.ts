import * as libc from './libc.ts';
import {
  AF_INET6,
  ICMP6_FILTER,
  IPPROTO_ICMPV6,
  IPPROTO_IPV6,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_UNICAST_HOPS,
  ND_HOP_LIMIT,
  SIN6_OFFSET,
  SO_BINDTODEVICE,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCKADDR_IN6_SIZE,
  SOL_SOCKET,
} from './linux.ts';
import { AdapterClosedError, type ErrnoContext } from './errors.ts';

function sockaddrIn6(addr: Uint8Array, scopeId: number): Buffer {
  const sa = Buffer.alloc(SOCKADDR_IN6_SIZE);
  sa.writeUInt16LE(AF_INET6, SIN6_OFFSET.family);
  sa.set(addr, SIN6_OFFSET.addr);
  sa.writeUInt32LE(scopeId, SIN6_OFFSET.scopeId);
  return sa;
}

/**
 * struct icmp6_filter: 256 bits, one per ICMPv6 type, in host-order 32-bit words; on Linux a set
 * bit blocks the type (glibc's ICMP6_FILTER_SETBLOCKALL / SETPASS).
 */
function icmp6Filter(passTypes: readonly number[]): Buffer {
  const words = new Uint32Array(8).fill(0xffffffff);
  for (const type of passTypes) words[type >> 5] = (words[type >> 5] ?? 0) & ~(1 << (type & 31));
  return Buffer.from(words.buffer);
}

export interface ReceivedIcmp6 {
  /** The ICMPv6 message (raw IPv6 sockets deliver no IP header). */
  message: Buffer;
  source: Uint8Array;
}

/**
 * A raw ICMPv6 socket tied to one interface for neighbour discovery. The kernel fills the
 * ICMPv6 checksum itself on these sockets (RFC 3542 §3.1); hop limit is 255 as RFC 4861
 * requires, and multicast loopback is off so the host never hears its own advertisements.
 */
export class Icmp6Socket {
  private fd: number;
  private readonly ifindex: number;
  private readonly ctx: ErrnoContext;

  private constructor(fd: number, ifindex: number, ctx: ErrnoContext) {
    this.fd = fd;
    this.ifindex = ifindex;
    this.ctx = ctx;
  }

  /**
   * `source`: bind to this address (a link-local one, so answers come back to this host).
   * `passTypes`: queue only these ICMPv6 types (ICMP6_FILTER), e.g. a listener for neighbour
   * discovery that must not wake for every echo on the link.
   */
  static open(
    interfaceName: string,
    ifindex: number,
    source?: Uint8Array,
    passTypes?: readonly number[],
  ): Icmp6Socket {
    const ctx: ErrnoContext = {
      what: `socket(AF_INET6, IPPROTO_ICMPV6) on ${interfaceName}`,
      syscall: 'socket',
      interfaceName,
      capability: 'CAP_NET_RAW',
    };
    const fd = libc.socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6, ctx);
    try {
      const opt = { ...ctx, syscall: 'setsockopt' };
      libc.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${interfaceName}\0`), opt);
      libc.setsockoptInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, opt);
      libc.setsockoptInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ND_HOP_LIMIT, opt);
      libc.setsockoptInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ND_HOP_LIMIT, opt);
      libc.setsockoptInt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, opt);
      if (passTypes) libc.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, icmp6Filter(passTypes), opt);
      if (source) libc.bind(fd, sockaddrIn6(source, ifindex), { ...ctx, syscall: 'bind' });
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return new Icmp6Socket(fd, ifindex, ctx);
  }

  send(message: Buffer, destination: Uint8Array): void {
    if (this.fd < 0) throw new AdapterClosedError();
    libc.sendto(this.fd, message, 0, sockaddrIn6(destination, this.ifindex), {
      ...this.ctx,
      syscall: 'sendto',
    });
  }

  receive(onMessage: (received: ReceivedIcmp6) => void, onError: (err: unknown) => void): () => void {
    if (this.fd < 0) throw new AdapterClosedError();
    return libc.receiveDatagrams(
      this.fd,
      Buffer.alloc(SOCKADDR_IN6_SIZE),
      this.ctx,
      () => this.fd >= 0,
      (message, from) =>
        onMessage({
          message,
          source: Uint8Array.from(from.subarray(SIN6_OFFSET.addr, SIN6_OFFSET.addr + 16)),
        }),
      onError,
    );
  }

  close(): void {
    if (this.fd < 0) return;
    libc.close(this.fd);
    this.fd = -1;
  }
}
