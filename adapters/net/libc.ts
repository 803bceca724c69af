import koffi from 'koffi';
import { fromErrno, type ErrnoContext } from './errors.ts';
import {
  MSG_DONTWAIT,
  AF_INET,
  ERRNO,
  IFNAMSIZ,
  IFREQ_HWADDR_DATA_OFFSET,
  IFREQ_SIZE,
  SIOCGIFHWADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
} from './linux.ts';

/**
 * The libc functions the adapter calls, bound once with koffi. Every call is synchronous so that
 * errno can be read right after it (koffi's async calls run on another thread and lose it).
 * Sockets are opened non-blocking: a receive never parks the event loop; readiness comes from
 * libuv (`watchReadable`).
 */

const lib = koffi.load('libc.so.6');

// koffi returns `any` for foreign calls; these wrappers give each one its C signature.
const c = {
  socket: lib.func('int socket(int domain, int type, int protocol)') as (
    d: number,
    t: number,
    p: number,
  ) => number,
  bind: lib.func('int bind(int fd, const void *addr, uint32_t len)') as (
    fd: number,
    a: Buffer,
    l: number,
  ) => number,
  close: lib.func('int close(int fd)') as (fd: number) => number,
  sendto: lib.func(
    'long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t alen)',
  ) as (fd: number, b: Buffer, l: number, f: number, a: Buffer | null, al: number) => number,
  recvfrom: lib.func(
    'long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, _Inout_ uint32_t *alen)',
  ) as (fd: number, b: Buffer, l: number, f: number, a: Buffer | null, al: number[] | null) => number,
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)') as (
    fd: number,
    level: number,
    name: number,
    v: Buffer,
    l: number,
  ) => number,
  ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)') as (
    fd: number,
    req: number,
    type: string,
    arg: Buffer,
  ) => number,
  if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)') as (name: string) => number,
  if_indextoname: lib.func('void *if_indextoname(unsigned int ifindex, _Out_ uint8_t *ifname)') as (
    index: number,
    name: Buffer,
  ) => unknown,
};

function fail(ctx: ErrnoContext): never {
  throw fromErrno(koffi.errno(), ctx);
}

export function socket(domain: number, type: number, protocol: number, ctx: ErrnoContext): number {
  const fd = c.socket(domain, type, protocol);
  if (fd < 0) fail(ctx);
  return fd;
}

export function bind(fd: number, addr: Buffer, ctx: ErrnoContext): void {
  if (c.bind(fd, addr, addr.length) < 0) fail(ctx);
}

export function close(fd: number): void {
  // close() errors are not actionable for sockets; the descriptor is gone either way.
  c.close(fd);
}

export function sendto(
  fd: number,
  data: Buffer,
  flags: number,
  addr: Buffer | null,
  ctx: ErrnoContext,
): number {
  const n = c.sendto(fd, data, data.length, flags, addr, addr ? addr.length : 0);
  if (n < 0) fail(ctx);
  return n;
}

/** Returns the byte count, or -1 when nothing is queued (EAGAIN); `from` receives the source address. */
export function recvfrom(
  fd: number,
  buf: Buffer,
  flags: number,
  from: Buffer | null,
  ctx: ErrnoContext,
): number {
  const len = from ? [from.length] : null;
  const n = c.recvfrom(fd, buf, buf.length, flags, from, len);
  if (n >= 0) return n;
  const errno = koffi.errno();
  if (errno === EAGAIN) return -1;
  throw fromErrno(errno, ctx);
}

export function setsockopt(fd: number, level: number, name: number, value: Buffer, ctx: ErrnoContext): void {
  if (c.setsockopt(fd, level, name, value, value.length) < 0) fail(ctx);
}

export function setsockoptInt(
  fd: number,
  level: number,
  name: number,
  value: number,
  ctx: ErrnoContext,
): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  setsockopt(fd, level, name, b, ctx);
}

export function ioctlPointer(fd: number, request: number, arg: Buffer, ctx: ErrnoContext): void {
  if (c.ioctl(fd, request, 'void *', arg) < 0) fail(ctx);
}

/** 0 when the interface does not exist (errno ENODEV). */
export function ifNameToIndex(name: string): { index: number; errno: number } {
  const index = c.if_nametoindex(name);
  return { index, errno: index === 0 ? koffi.errno() : 0 };
}

/** null when no interface has this index (it went away since the dump that named it). */
export function ifIndexToName(index: number): string | null {
  const name = Buffer.alloc(IFNAMSIZ);
  if (c.if_indextoname(index, name) === null) return null;
  const end = name.indexOf(0);
  return name.toString('latin1', 0, end < 0 ? name.length : end);
}

/** The interface's hardware address (ioctl SIOCGIFHWADDR on a throwaway UDP socket, no privilege needed). */
export function interfaceMac(interfaceName: string): Uint8Array {
  const ctx: ErrnoContext = { what: `SIOCGIFHWADDR ${interfaceName}`, syscall: 'ioctl', interfaceName };
  const fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, { ...ctx, syscall: 'socket' });
  try {
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write(interfaceName.slice(0, IFNAMSIZ - 1), 0, 'latin1');
    ioctlPointer(fd, SIOCGIFHWADDR, ifr, ctx);
    return Uint8Array.from(ifr.subarray(IFREQ_HWADDR_DATA_OFFSET, IFREQ_HWADDR_DATA_OFFSET + 6));
  } finally {
    close(fd);
  }
}

const EAGAIN = ERRNO.EAGAIN;

type PollCallback = Parameters<typeof koffi.node.poll>[1];

export interface ReadableWatch {
  stop(): void;
}

/**
 * Calls `onReadable` from the event loop whenever `fd` has data (libuv poll). The caller drains
 * the socket with non-blocking reads.
 */
export function watchReadable(fd: number, onReadable: () => void): ReadableWatch {
  // koffi's typings describe the callback as (events); the native code passes (status, events).
  const handle = koffi.node.poll(fd, { readable: true }, ((status: number) => {
    if (status === 0) onReadable();
  }) as unknown as PollCallback);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      handle.close();
    },
  };
}

/**
 * Delivers every datagram queued on `fd` from the event loop: on each readiness, reads with
 * MSG_DONTWAIT until the socket is empty. `from` receives each sender's address. A read error
 * stops the watch and goes to `onError`: thrown inside a libuv callback it would be uncaught.
 * Returns a stop function.
 */
export function receiveDatagrams(
  fd: number,
  from: Buffer,
  ctx: ErrnoContext,
  isOpen: () => boolean,
  onDatagram: (data: Buffer, from: Buffer) => void,
  onError: (err: unknown) => void,
): () => void {
  const buf = Buffer.alloc(2048);
  const watch = watchReadable(fd, () => {
    for (;;) {
      if (!isOpen()) return;
      let n: number;
      try {
        n = recvfrom(fd, buf, MSG_DONTWAIT, from, { ...ctx, syscall: 'recvfrom' });
      } catch (err) {
        watch.stop();
        onError(err);
        return;
      }
      if (n < 0) return;
      onDatagram(Buffer.from(buf.subarray(0, n)), from);
    }
  });
  return () => watch.stop();
}
