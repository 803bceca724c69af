import * as libc from './libc.ts';
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCKADDR_NL_SIZE,
  SOL_NETLINK,
} from './linux.ts';
import { decodeError, parseMessages, type NetlinkErrorReply, type NetlinkMessage } from './netlink.ts';
import { AdapterClosedError, ProtocolError, SystemCallError, type ErrnoContext } from './errors.ts';

const REPLY_TIMEOUT_MS = 5000;
/**
 * Requests per datagram in requestMany. Each ack the kernel queues costs about a kilobyte of the
 * receive buffer (skb truesize), and an overflowing buffer drops acks (ENOBUFS): 64 stays far
 * below the default 208 KiB.
 */
const BATCH_REQUESTS = 64;

/**
 * One NETLINK_ROUTE socket. Requests are serialised: rtnetlink handles a request inside
 * sendto(), so its ack is normally queued before the call returns and is read at once with a
 * non-blocking recv; if it is not there yet the read waits for readability through libuv.
 */
export class RouteSocket {
  private fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private queue: Promise<unknown> = Promise.resolve();
  private readonly rx = Buffer.alloc(64 * 1024);
  private readonly kernel = Buffer.alloc(SOCKADDR_NL_SIZE);

  private constructor(fd: number) {
    this.fd = fd;
    this.kernel.writeUInt16LE(AF_NETLINK, 0);
  }

  static open(): RouteSocket {
    const ctx: ErrnoContext = { what: 'socket(AF_NETLINK, NETLINK_ROUTE)', syscall: 'socket' };
    const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE, ctx);
    try {
      const local = Buffer.alloc(SOCKADDR_NL_SIZE);
      local.writeUInt16LE(AF_NETLINK, 0);
      libc.bind(fd, local, { what: 'bind(netlink)', syscall: 'bind' });
      // Both options are optional refinements (short acks, kernel error text); old kernels lack them.
      try {
        libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, {
          what: 'NETLINK_CAP_ACK',
          syscall: 'setsockopt',
        });
        libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, {
          what: 'NETLINK_EXT_ACK',
          syscall: 'setsockopt',
        });
      } catch {
        /* the plain ack format is decoded as well */
      }
    } catch (err) {
      libc.close(fd);
      throw err;
    }
    return new RouteSocket(fd);
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** Sends one request with NLM_F_ACK and resolves with the kernel's answer (errno 0 = success). */
  request(message: Buffer, seq: number, ctx: ErrnoContext): Promise<NetlinkErrorReply> {
    return this.serialise(async () => {
      this.send(message, ctx);
      let reply: NetlinkErrorReply | undefined;
      await this.readUntil(seq, ctx, (msg) => {
        if (msg.type !== NLMSG_ERROR) return false;
        reply = decodeError(msg);
        return true;
      });
      if (!reply) throw new ProtocolError(`no ack for ${ctx.what}`);
      return reply;
    });
  }

  /**
   * Sends many acknowledged requests, several per datagram (the kernel handles each message of a
   * datagram in turn), and resolves with each one's answer, in order. One sendto per 64 requests
   * instead of one sendto and one recvfrom per request: refreshing thousands of VIPs each
   * second costs a few system calls. Queued on the socket at once, behind what was asked before.
   */
  requestMany(
    requests: readonly { message: Buffer; seq: number }[],
    ctx: ErrnoContext,
  ): Promise<NetlinkErrorReply[]> {
    return this.serialise(async () => {
      const replies = new Map<number, NetlinkErrorReply>();
      for (let start = 0; start < requests.length;) {
        const end = Math.min(requests.length, start + BATCH_REQUESTS);
        const chunk = requests.slice(start, end);
        this.send(Buffer.concat(chunk.map((r) => r.message)), ctx);
        const waiting = new Set(chunk.map((r) => r.seq));
        await this.readUntil(null, ctx, (msg) => {
          if (msg.type !== NLMSG_ERROR || !waiting.has(msg.seq)) return false;
          replies.set(msg.seq, decodeError(msg));
          waiting.delete(msg.seq);
          return waiting.size === 0;
        });
        start = end;
      }
      return requests.map((r) => {
        const reply = replies.get(r.seq);
        if (!reply) throw new ProtocolError(`no ack for ${ctx.what}`);
        return reply;
      });
    });
  }

  /** Sends a dump request and collects every part until NLMSG_DONE. */
  dump(
    message: Buffer,
    seq: number,
    ctx: ErrnoContext,
  ): Promise<{ messages: NetlinkMessage[]; error?: NetlinkErrorReply }> {
    return this.serialise(async () => {
      this.send(message, ctx);
      const messages: NetlinkMessage[] = [];
      let error: NetlinkErrorReply | undefined;
      await this.readUntil(seq, ctx, (msg) => {
        if (msg.type === NLMSG_DONE) return true;
        if (msg.type === NLMSG_ERROR) {
          const e = decodeError(msg);
          if (e.errno !== 0) error = e;
          return true;
        }
        // A copy: the payload is a view into the receive buffer, which the dump's next part
        // overwrites (a dump longer than one read came back with its first entries garbled).
        messages.push({ ...msg, payload: Buffer.from(msg.payload) });
        return false;
      });
      return error ? { messages, error } : { messages };
    });
  }

  close(): void {
    if (this.fd < 0) return;
    libc.close(this.fd);
    this.fd = -1;
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private send(message: Buffer, ctx: ErrnoContext): void {
    if (this.fd < 0) throw new AdapterClosedError();
    libc.sendto(this.fd, message, 0, this.kernel, { ...ctx, syscall: 'sendto' });
  }

  /**
   * Reads messages for `seq` (null: any sequence, `take` filters), handing each to `take` until
   * it returns true. Stale replies are skipped.
   */
  private async readUntil(
    seq: number | null,
    ctx: ErrnoContext,
    take: (msg: NetlinkMessage) => boolean,
  ): Promise<void> {
    for (;;) {
      if (this.fd < 0) throw new AdapterClosedError();
      const n = libc.recvfrom(this.fd, this.rx, MSG_DONTWAIT, null, { ...ctx, syscall: 'recvfrom' });
      if (n < 0) {
        await this.readable(ctx);
        continue;
      }
      for (const msg of parseMessages(this.rx.subarray(0, n))) {
        if (msg.type === NLMSG_OVERRUN) throw new ProtocolError(`netlink overrun during ${ctx.what}`);
        if ((seq !== null && msg.seq !== seq) || msg.type === NLMSG_NOOP) continue;
        if (take(msg)) return;
      }
    }
  }

  /** A kernel that never answers must not hang the caller: give up after `replyTimeoutMs`. */
  private readable(ctx: ErrnoContext): Promise<void> {
    const fd = this.fd;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watch.stop();
        reject(
          new SystemCallError(
            'ETIMEDOUT',
            `${ctx.what}: no reply from the kernel within ${REPLY_TIMEOUT_MS} ms`,
          ),
        );
      }, REPLY_TIMEOUT_MS);
      const watch = libc.watchReadable(fd, () => {
        clearTimeout(timer);
        watch.stop();
        resolve();
      });
    });
  }
}
