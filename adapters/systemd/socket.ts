import * as libc from '../net/libc.ts';
import { NetError } from '../net/errors.ts';
import { AF_UNIX, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM } from '../net/linux.ts';
import { NotifySendError } from './errors.ts';
import { addressText, sockaddrUn, type NotifyAddress } from './protocol.ts';

/**
 * The datagram socket sd_notify writes to, through the net adapter's libc bindings: Node's dgram
 * has no unix datagram sockets, and this needs no native module of its own. A send never blocks
 * (MSG_DONTWAIT: a full queue is EAGAIN).
 */

/** Runs a libc call; its errno becomes a NotifySendError naming the call and the socket. */
function call<T>(syscall: 'socket' | 'sendto', target: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof NetError) throw new NotifySendError(err.code, syscall, target);
    throw err;
  }
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
  const fd = call('socket', target, () =>
    libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, { what: 'socket(AF_UNIX)', syscall: 'socket' }),
  );
  let open = true;
  return {
    send(message) {
      if (!open) return;
      const data = Buffer.from(message, 'utf8');
      // MSG_NOSIGNAL: a vanished peer must not raise SIGPIPE in the agent.
      call('sendto', target, () =>
        libc.sendto(fd, data, MSG_DONTWAIT | MSG_NOSIGNAL, addr, {
          what: `sendto(${target})`,
          syscall: 'sendto',
        }),
      );
    },
    close() {
      if (!open) return;
      open = false;
      libc.close(fd);
    },
  };
}
