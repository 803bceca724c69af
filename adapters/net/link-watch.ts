import * as libc from './libc.ts';
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  NETLINK_ROUTE,
  NLMSG_DONE,
  RTMGRP_LINK,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCKADDR_NL_SIZE,
} from './linux.ts';
import { parseMessages } from './netlink.ts';
import { decodeLink, encodeLinkDumpRequest, linkVerdict } from './link.ts';
import { NetError, type ErrnoContext } from './errors.ts';
import type { LinkState, LinkWatchHandlers } from './types.ts';

/**
 * Follows one interface's link state from the kernel's link notifications: a NETLINK_ROUTE
 * socket bound to RTMGRP_LINK, read when libuv says it is readable (no polling). A dump of every
 * link is asked on the same socket right after subscribing, so the dump and the notifications
 * arrive in the kernel's order and the last message read is always the current state: the
 * state at start is reported once the dump ends (`down` when the interface does not exist).
 * A notification lost to a full receive buffer (ENOBUFS) is recovered with a new dump.
 * `state` is called on every change of `up`, and once at start.
 */
export function watchLink(interfaceName: string, handlers: LinkWatchHandlers): () => void {
  const ctx: ErrnoContext = {
    what: `link notifications for ${interfaceName}`,
    syscall: 'socket',
    interfaceName,
  };
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE, ctx);
  let open = true;
  let seq = 1;
  let last: LinkState | undefined;
  /** The dump in flight, and whether it named the interface. */
  let dumping = false;
  let seenInDump = false;
  const kernel = Buffer.alloc(SOCKADDR_NL_SIZE);
  kernel.writeUInt16LE(AF_NETLINK, 0);
  const rx = Buffer.alloc(64 * 1024);

  const report = (state: LinkState): void => {
    if (last !== undefined && last.up === state.up) {
      last = state;
      return;
    }
    last = state;
    handlers.state(state);
  };
  const dump = (): void => {
    dumping = true;
    seenInDump = false;
    seq += 1;
    libc.sendto(fd, encodeLinkDumpRequest(seq), 0, kernel, {
      ...ctx,
      what: 'RTM_GETLINK dump',
      syscall: 'sendto',
    });
  };
  const read = (): void => {
    for (;;) {
      if (!open) return;
      let n: number;
      try {
        n = libc.recvfrom(fd, rx, MSG_DONTWAIT, null, { ...ctx, syscall: 'recvfrom' });
      } catch (err) {
        // Notifications were dropped: the state may have changed unseen. Read it again.
        if (err instanceof NetError && err.code === 'ENOBUFS') {
          dump();
          continue;
        }
        throw err;
      }
      if (n < 0) return;
      for (const msg of parseMessages(rx.subarray(0, n))) {
        if (msg.type === NLMSG_DONE && dumping) {
          dumping = false;
          if (!seenInDump) report({ interfaceName, up: false, reason: 'the interface does not exist' });
          continue;
        }
        const link = decodeLink(msg);
        if (link === null || link.name !== interfaceName) continue;
        if (dumping) seenInDump = true;
        report({ interfaceName, ...linkVerdict(link) });
      }
    }
  };

  try {
    const local = Buffer.alloc(SOCKADDR_NL_SIZE);
    local.writeUInt16LE(AF_NETLINK, 0);
    local.writeUInt32LE(RTMGRP_LINK, 8);
    libc.bind(fd, local, { ...ctx, what: 'bind(netlink, RTMGRP_LINK)', syscall: 'bind' });
    dump();
  } catch (err) {
    open = false;
    libc.close(fd);
    throw err;
  }
  const watch = libc.watchReadable(fd, () => {
    try {
      read();
    } catch (err) {
      // Thrown inside a libuv callback it would be uncaught: the watch ends and says why.
      stop();
      handlers.error(err);
    }
  });
  const stop = (): void => {
    if (!open) return;
    open = false;
    watch.stop();
    libc.close(fd);
  };
  return stop;
}
