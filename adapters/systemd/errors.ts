/**
 * Failures of the systemd adapter (sd_notify). Each has a stable `code`; messages are one line.
 *
 * Codes: SYSTEMD_ENV_INVALID (NOTIFY_SOCKET, WATCHDOG_USEC or WATCHDOG_PID cannot be used: the
 * agent does not start), and the errno name (ENOENT, ECONNREFUSED, EAGAIN, EACCES…) of a socket
 * or send that failed (logged, never fatal: systemd's supervision must not stop the agent).
 */

export class SystemdError extends Error {
  override readonly name: string = 'SystemdError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A variable systemd sets holds something the agent cannot use; names the variable. */
export class SystemdEnvError extends SystemdError {
  override readonly name = 'SystemdEnvError';
  constructor(
    readonly variable: 'NOTIFY_SOCKET' | 'WATCHDOG_USEC' | 'WATCHDOG_PID',
    value: string,
    expected: string,
  ) {
    super('SYSTEMD_ENV_INVALID', `${variable}: got ${JSON.stringify(value)}, expected ${expected}`);
  }
}

/** socket(2) or sendto(2) on the notification socket failed; `code` is the errno name. */
export class NotifySendError extends SystemdError {
  override readonly name = 'NotifySendError';
  constructor(
    code: string,
    readonly syscall: 'socket' | 'sendto',
    target: string,
  ) {
    super(code, `${syscall} to NOTIFY_SOCKET ${target} failed: ${code}`);
  }
}
