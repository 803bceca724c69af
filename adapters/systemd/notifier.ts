import { SystemdError } from './errors.ts';
import { notifyMessage, parseNotifySocket, watchdogPingMs, type NotifyFields } from './protocol.ts';
import { openNotifySocket, type NotifySocket } from './socket.ts';

/**
 * What the agent tells systemd (Type=notify): READY=1 once it serves, STATUS= lines, STOPPING=1,
 * and WATCHDOG=1 from a timer on the event loop, so an agent whose loop hangs stops pinging and
 * systemd restarts it (WatchdogSec=). Without NOTIFY_SOCKET every call is a no-op.
 */

export interface SystemdNotifier {
  /** NOTIFY_SOCKET is set: messages are sent. */
  readonly enabled: boolean;
  /** Period of the WATCHDOG=1 pings in ms; null when systemd asked for none. */
  readonly watchdogMs: number | null;
  ready(status: string): void;
  /** Sent only when it differs from the last status sent. */
  status(status: string): void;
  stopping(status: string): void;
  /** Stops the pings and closes the socket. */
  close(): void;
}

export interface SystemdNotifierOptions {
  env: Readonly<Record<string, string | undefined>>;
  pid: number;
  /**
   * A failed send (the agent runs on without systemd's supervision). Called once per distinct
   * failure: a watchdog ping failing every period would otherwise flood the log.
   */
  onError(err: SystemdError): void;
}

/** Throws SystemdEnvError (naming the variable) when NOTIFY_SOCKET or WATCHDOG_* is unusable. */
export function createSystemdNotifier(options: SystemdNotifierOptions): SystemdNotifier {
  const address = parseNotifySocket(options.env['NOTIFY_SOCKET']);
  const pingMs = watchdogPingMs(options.env, options.pid);
  if (address === null) {
    return { enabled: false, watchdogMs: null, ready() {}, status() {}, stopping() {}, close() {} };
  }
  let socket: NotifySocket | null = null;
  let lastError: string | null = null;
  let lastStatus: string | null = null;
  const send = (fields: NotifyFields): void => {
    try {
      // Opened on first use, and again after a failed open.
      socket ??= openNotifySocket(address);
      socket.send(notifyMessage(fields));
      lastError = null;
    } catch (err) {
      if (!(err instanceof SystemdError)) throw err;
      if (err.code !== lastError) options.onError(err);
      lastError = err.code;
    }
  };
  // From the start, not from READY: a start slower than WatchdogSec must not pass for a hang.
  const timer = pingMs === null ? undefined : setInterval(() => send({ watchdog: true }), pingMs);
  // The pings alone must not keep a stopping agent alive.
  timer?.unref();
  return {
    enabled: true,
    watchdogMs: pingMs,
    ready(status) {
      lastStatus = status;
      send({ ready: true, status });
    },
    status(status) {
      if (status === lastStatus) return;
      lastStatus = status;
      send({ status });
    },
    stopping(status) {
      lastStatus = status;
      send({ stopping: true, status });
    },
    close() {
      clearInterval(timer);
      socket?.close();
      socket = null;
    },
  };
}
