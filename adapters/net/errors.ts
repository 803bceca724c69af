import { ERRNO } from './linux.ts';

/**
 * Every failure of the network adapter. Each class sets `name` and a stable `code`; OS failures
 * keep their errno name (ENODEV, EPERM, EADDRNOTAVAIL...) as the code. Raw errno values are
 * translated here and nowhere else (`fromErrno`).
 *
 * Codes: INVALID_ADDRESS, INVALID_ARGUMENT, ENODEV, EPERM, EACCES, CLOSED, EPROTO (unexpected
 * kernel reply), ETIMEDOUT, and any other errno name for the remaining system call failures.
 */

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(ERRNO).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `ERRNO_${errno}`;
}

export interface NetErrorOptions {
  cause?: unknown;
  interfaceName?: string;
  syscall?: string;
  errno?: number;
}

export class NetError extends Error {
  override name = 'NetError';
  readonly code: string;
  readonly interfaceName: string | undefined;
  readonly syscall: string | undefined;
  readonly errno: number | undefined;

  constructor(code: string, message: string, options: NetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.interfaceName = options.interfaceName;
    this.syscall = options.syscall;
    this.errno = options.errno;
  }
}

/** A malformed IP address, prefix or MAC; raised before any system call. */
export class InvalidAddressError extends NetError {
  override name = 'InvalidAddressError';
  readonly input: string;
  /** What is wrong, without the input (for messages that name the field instead). */
  readonly reason: string;
  constructor(input: string, reason: string) {
    super('INVALID_ADDRESS', `invalid address ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
    this.reason = reason;
  }
}

/** A bad option (interface name, count, lifetime...); raised before any system call. */
export class InvalidArgumentError extends NetError {
  override name = 'InvalidArgumentError';
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class InterfaceNotFoundError extends NetError {
  override name = 'InterfaceNotFoundError';
  constructor(interfaceName: string, options: NetErrorOptions = {}) {
    super('ENODEV', `network interface "${interfaceName}" does not exist in this network namespace`, {
      ...options,
      interfaceName,
    });
  }
}

/** EPERM / EACCES: the process lacks the capability named in the message. */
export class PermissionError extends NetError {
  override name = 'PermissionError';
  readonly capability: Capability;
  constructor(code: 'EPERM' | 'EACCES', capability: Capability, what: string, options: NetErrorOptions = {}) {
    super(
      code,
      `${what}: permission denied (${code}); the agent needs ${capability} ` +
        `(run as root, or grant it, e.g. systemd AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW)`,
      options,
    );
    this.capability = capability;
  }
}

/** Any other failing system call or kernel refusal; `code` is the errno name. */
export class SystemCallError extends NetError {
  override name = 'SystemCallError';
}

/** The kernel answered something this adapter cannot decode. */
export class ProtocolError extends NetError {
  override name = 'ProtocolError';
  constructor(message: string, options: NetErrorOptions = {}) {
    super('EPROTO', message, options);
  }
}

export class AdapterClosedError extends NetError {
  override name = 'AdapterClosedError';
  constructor() {
    super('CLOSED', 'the network adapter is closed');
  }
}

export type Capability = 'CAP_NET_ADMIN' | 'CAP_NET_RAW';

export interface ErrnoContext {
  /** The call or operation, used in the message ("RTM_NEWADDR 198.18.0.10/24", "socket(AF_PACKET)"). */
  what: string;
  syscall: string;
  interfaceName?: string;
  /** Which capability the operation needs, named in EPERM/EACCES messages. */
  capability?: Capability;
  /** Extra text from the kernel (netlink extended ack). */
  detail?: string;
}

/** The one place raw errno values become typed errors. */
export function fromErrno(errno: number, ctx: ErrnoContext): NetError {
  const code = errnoName(errno);
  const options: NetErrorOptions = { syscall: ctx.syscall, errno, interfaceName: ctx.interfaceName };
  if ((code === 'EPERM' || code === 'EACCES') && ctx.capability) {
    return new PermissionError(code, ctx.capability, ctx.what, options);
  }
  if (code === 'ENODEV' && ctx.interfaceName !== undefined) {
    return new InterfaceNotFoundError(ctx.interfaceName, options);
  }
  const detail = ctx.detail ? `: ${ctx.detail}` : '';
  return new SystemCallError(code, `${ctx.what} failed with ${code}${detail}`, options);
}

/** Failures worth retrying as they are: the kernel was briefly short of something. */
export function isTransient(err: unknown): boolean {
  return err instanceof NetError && ['EAGAIN', 'EINTR', 'ENOBUFS', 'EBUSY', 'ENOMEM'].includes(err.code);
}
