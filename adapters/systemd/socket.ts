import koffi from 'koffi';
import { constants } from 'node:os';
import { AF_UNIX, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM } from '../net/linux.ts';
import { NotifySendError } from './errors.ts';
import { addressText, sockaddrUn, type NotifyAddress } from './protocol.ts';

/**
 * The datagram socket sd_notify writes to, through libc with koffi: Node's dgram has no unix
 * datagram sockets, and this needs no native module of its own. Calls are synchronous so errno
 * is read right after them; a send never blocks (MSG_DONTWAIT: a full queue is EAGAIN).
 */

const lib = koffi.load('libc.so.6');
const c = {
  socket: lib.func('int socket(int domain, int type, int protocol)') as (
    d: number,
    t: number,
    p: number,
  ) => number,
  sendto: lib.func(
    'long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)',
  ) as (fd: number, b: Buffer, l: number, f: number, a: Buffer, al: number) => number,
  close: lib.func('int close(int fd)') as (fd: number) => number,
};

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

function errnoName(): string {
  const errno = koffi.errno();
  return ERRNO_NAMES.get(errno) ?? `ERRNO_${errno}`;
}

export interface NotifySocket {
  /** Sends one datagram; throws NotifySendError. */
  send(message: string): void;
  close(): void;
}

/** An unbound, unconnected socket: each send names the address, as sd_notify does. */
export function openNotifySocket(address: NotifyAddress): NotifySocket {
  const target = addressText(address);
  const addr = sockaddrUn(address);
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new NotifySendError(errnoName(), 'socket', target);
  let open = true;
  return {
    send(message) {
      if (!open) return;
      const data = Buffer.from(message, 'utf8');
      // MSG_NOSIGNAL: a vanished peer must not raise SIGPIPE in the agent.
      if (c.sendto(fd, data, data.length, MSG_DONTWAIT | MSG_NOSIGNAL, addr, addr.length) < 0) {
        throw new NotifySendError(errnoName(), 'sendto', target);
      }
    },
    close() {
      if (!open) return;
      open = false;
      c.close(fd);
    },
  };
}
