import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { bind, close, receiveDatagrams, socket } from '../../adapters/net/libc.ts';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK } from '../../adapters/net/linux.ts';

/**
 * systemd's side of sd_notify for tests: a unix datagram socket (a path or an abstract name)
 * that records every notification with its arrival time. Its sockaddr_un is built here, not with
 * the adapter's encoder, so a wrong encoding cannot agree with itself.
 */

export interface Notification {
  /** performance.now() at arrival. */
  at: number;
  text: string;
  fields: Map<string, string>;
}

export interface NotifyListener {
  /** The value for NOTIFY_SOCKET. */
  readonly address: string;
  readonly received: Notification[];
  /** The first notification from index `from` on that matches; fails after `ms`. */
  next(what: string, match: (n: Notification) => boolean, ms: number, from?: number): Promise<Notification>;
  close(): void;
}

export function listenNotify(address: string): NotifyListener {
  const abstract = address.startsWith('@');
  const name = Buffer.from(abstract ? address.slice(1) : address);
  const addr = Buffer.alloc(2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1));
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, abstract ? 3 : 2);
  const ctx = { what: `notify socket ${address}`, syscall: 'socket' };
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ctx);
  bind(fd, addr, { ...ctx, syscall: 'bind' });
  const received: Notification[] = [];
  const waiters = new Set<() => void>();
  let open = true;
  let failure: unknown;
  const stop = receiveDatagrams(
    fd,
    Buffer.alloc(128),
    ctx,
    () => open,
    (data) => {
      const text = data.toString('utf8');
      const fields = new Map<string, string>();
      for (const line of text.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
      }
      received.push({ at: performance.now(), text, fields });
      for (const wake of waiters) wake();
    },
    (err) => {
      failure = err;
      for (const wake of waiters) wake();
    },
  );
  return {
    address,
    received,
    next(what, match, ms, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (failure !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(failure instanceof Error ? failure : new Error('receiving notifications failed'));
            return;
          }
          const found = received.slice(from).find(match);
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(received.map((n) => n.text))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    close() {
      if (!open) return;
      open = false;
      stop();
      close(fd);
    },
  };
}

/** The unix datagram sockets process `pid` holds (the inodes of its fds that /proc/net/unix lists as SOCK_DGRAM). */
export function unixDatagramSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const cols = line.trim().split(/\s+/);
    if (cols[4] === '0002' && cols[6] !== undefined) inodes.add(cols[6]);
  }
  const held: string[] = [];
  for (const link of fdLinks(pid)) {
    const match = /^socket:\[(\d+)\]$/.exec(link);
    if (match && inodes.has(match[1]!)) held.push(match[1]!);
  }
  return held;
}

function fdLinks(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  const links: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      links.push(readlinkSync(`${dir}/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return links;
}
