import { AF_UNIX } from '../net/linux.ts';
import { SystemdEnvError } from './errors.ts';

/**
 * The sd_notify(3) protocol, pure: where NOTIFY_SOCKET points, how often the watchdog wants a
 * ping, and the datagram text (newline-separated `KEY=value` assignments). No IO here.
 */

/** `/path` (a socket file) or `@name` (Linux abstract namespace: sun_path starts with a NUL). */
export type NotifyAddress = { kind: 'path'; path: string } | { kind: 'abstract'; name: string };

// <sys/un.h>: struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
const SUN_PATH_MAX = 108;

/** null when systemd gave no socket (not run by systemd, or not Type=notify): nothing is sent. */
export function parseNotifySocket(value: string | undefined): NotifyAddress | null {
  if (value === undefined || value === '') return null;
  const expected = 'an absolute socket path or an @abstract name of at most 107 bytes';
  if (value.startsWith('/')) {
    // The path and its terminating NUL must fit sun_path.
    if (Buffer.byteLength(value) >= SUN_PATH_MAX) throw new SystemdEnvError('NOTIFY_SOCKET', value, expected);
    return { kind: 'path', path: value };
  }
  if (value.startsWith('@') && value.length > 1) {
    // The leading NUL takes the place of '@'.
    if (Buffer.byteLength(value) > SUN_PATH_MAX) throw new SystemdEnvError('NOTIFY_SOCKET', value, expected);
    return { kind: 'abstract', name: value.slice(1) };
  }
  // systemd ≥ 254 may also pass vsock:…; LinK runs on the host, where systemd gives a unix socket.
  throw new SystemdEnvError('NOTIFY_SOCKET', value, expected);
}

/** The address as NOTIFY_SOCKET spells it, for messages. */
export function addressText(address: NotifyAddress): string {
  return address.kind === 'path' ? address.path : `@${address.name}`;
}

/**
 * struct sockaddr_un, sized as sd_notify sizes it: a path with its NUL; an abstract name without
 * one (its length is part of the name: a trailing NUL would name another socket).
 */
export function sockaddrUn(address: NotifyAddress): Buffer {
  const name = address.kind === 'path' ? address.path : address.name;
  const offset = address.kind === 'path' ? 0 : 1;
  const bytes = Buffer.from(name, 'utf8');
  const buf = Buffer.alloc(2 + offset + bytes.length + (address.kind === 'path' ? 1 : 0));
  // sa_family_t is host-endian; every Linux target Node supports here is little-endian.
  buf.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(buf, 2 + offset);
  return buf;
}

/**
 * How often to send WATCHDOG=1, in ms (half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
 * recommends); null when systemd wants no pings from this process: WATCHDOG_USEC unset, or
 * WATCHDOG_PID naming another process (the variables leaked from a parent).
 */
export function watchdogPingMs(
  env: Readonly<Record<string, string | undefined>>,
  pid: number,
): number | null {
  const usecText = env['WATCHDOG_USEC'];
  if (usecText === undefined || usecText === '') return null;
  if (!/^\d+$/.test(usecText) || Number(usecText) === 0 || !Number.isSafeInteger(Number(usecText))) {
    throw new SystemdEnvError('WATCHDOG_USEC', usecText, 'a positive whole number of microseconds');
  }
  const pidText = env['WATCHDOG_PID'];
  if (pidText !== undefined && pidText !== '') {
    if (!/^[1-9]\d*$/.test(pidText)) throw new SystemdEnvError('WATCHDOG_PID', pidText, 'a process id');
    if (Number(pidText) !== pid) return null;
  }
  return Math.max(1, Math.floor(Number(usecText) / 2000));
}

export interface NotifyFields {
  ready?: boolean;
  stopping?: boolean;
  watchdog?: boolean;
  /** One line for `systemctl status`. */
  status?: string;
}

/** Longest STATUS= text sent; systemd reads at most one pipe buffer (4096 bytes) a datagram. */
export const STATUS_MAX = 1024;

/** The datagram: one `KEY=value` a line. A newline inside STATUS would start another assignment. */
export function notifyMessage(fields: NotifyFields): string {
  const lines: string[] = [];
  if (fields.ready) lines.push('READY=1');
  if (fields.stopping) lines.push('STOPPING=1');
  if (fields.status !== undefined) lines.push(`STATUS=${statusText(fields.status)}`);
  if (fields.watchdog) lines.push('WATCHDOG=1');
  return lines.join('\n');
}

function statusText(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length <= STATUS_MAX ? line : `${line.slice(0, STATUS_MAX - 1)}…`;
}

/** What systemd sets for this protocol: addressed to the service's main process alone. */
export const NOTIFY_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

/**
 * `env` without NOTIFY_VARIABLES, for processes started from a service (the lab's agents): they
 * would otherwise tell systemd READY=1 or STOPPING=1 on the service's behalf.
 */
export function withoutNotifyVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of NOTIFY_VARIABLES) delete copy[name];
  return copy;
}
