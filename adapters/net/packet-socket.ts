import * as libc from './libc.ts';
import {
  AF_PACKET,
  ETH_ALEN,
  SLL_OFFSET,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCKADDR_LL_SIZE,
} from './linux.ts';
import { AdapterClosedError, type ErrnoContext } from './errors.ts';

function sockaddrLl(ifindex: number, protocol: number, dst?: Uint8Array): Buffer {
  const sa = Buffer.alloc(SOCKADDR_LL_SIZE);
  sa.writeUInt16LE(AF_PACKET, SLL_OFFSET.family);
  sa.writeUInt16BE(protocol, SLL_OFFSET.protocol);
  sa.writeInt32LE(ifindex, SLL_OFFSET.ifindex);
  if (dst) {
    sa.writeUInt8(ETH_ALEN, SLL_OFFSET.halen);
    sa.set(dst.subarray(0, ETH_ALEN), SLL_OFFSET.addr);
  }
  return sa;
}

export interface ReceivedFrame {
  frame: Buffer;
  /** PACKET_HOST, PACKET_BROADCAST, PACKET_OUTGOING... (sll_pkttype). */
  pktType: number;
}

/**
 * An AF_PACKET raw socket bound to one interface. With protocol 0 it only sends (the kernel
 * queues nothing for it), which is how the long-lived announce socket is opened; the conflict
 * probe opens one bound to ETH_P_ARP to listen for answers.
 */
export class PacketSocket {
  private fd: number;
  readonly ifindex: number;
  private readonly ctx: ErrnoContext;

  private constructor(fd: number, ifindex: number, ctx: ErrnoContext) {
    this.fd = fd;
    this.ifindex = ifindex;
    this.ctx = ctx;
  }

  static open(interfaceName: string, ifindex: number, protocol: number): PacketSocket {
    const ctx: ErrnoContext = {
      what: `socket(AF_PACKET) on ${interfaceName}`,
      syscall: 'socket',
      interfaceName,
      capability: 'CAP_NET_RAW',
    };
    // Protocol 0 at creation: nothing is queued before bind() narrows the socket to one interface.
    const fd = libc.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ctx);
    try {
      libc.bind(fd, sockaddrLl(ifindex, protocol), { ...ctx, syscall: 'bind' });
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return new PacketSocket(fd, ifindex, ctx);
  }

  /** One quick non-blocking sendto of a complete Ethernet frame. */
  send(frame: Buffer, dst: Uint8Array, ethertype: number): void {
    if (this.fd < 0) throw new AdapterClosedError();
    libc.sendto(this.fd, frame, 0, sockaddrLl(this.ifindex, ethertype, dst), {
      ...this.ctx,
      syscall: 'sendto',
    });
  }

  /** Delivers every frame queued for this socket from the event loop; returns a stop function. */
  receive(onFrame: (received: ReceivedFrame) => void, onError: (err: unknown) => void): () => void {
    if (this.fd < 0) throw new AdapterClosedError();
    return libc.receiveDatagrams(
      this.fd,
      Buffer.alloc(SOCKADDR_LL_SIZE),
      this.ctx,
      () => this.fd >= 0,
      (frame, from) => onFrame({ frame, pktType: from.readUInt8(SLL_OFFSET.pkttype) }),
      onError,
    );
  }

  close(): void {
    if (this.fd < 0) return;
    libc.close(this.fd);
    this.fd = -1;
  }
}
