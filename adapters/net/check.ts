import { readFile } from 'node:fs/promises';
import { missingCapabilities, parseCapEff, type NeededCapability } from '../../config/check.ts';
import { PermissionError } from './errors.ts';
import * as libc from './libc.ts';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM } from './linux.ts';
import { PacketSocket } from './packet-socket.ts';

/**
 * What the agent needs of the host's network side, checked without changing anything: by
 * `linkctl agent --check` (typed results it words itself) and by the agent at start
 * (`assertNetCapabilities`, which throws).
 */

/** ioctl(SIOCGIFFLAGS) and the flags read from it (linux/sockios.h, linux/if.h). */
const SIOCGIFFLAGS = 0x8913;
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
const IFREQ_SIZE = 40;
const IFREQ_FLAGS_OFFSET = 16;

/** The interface's flags through ioctl(SIOCGIFFLAGS) in this process's network namespace. */
function interfaceFlags(interfaceName: string): number | null {
  if (libc.ifNameToIndex(interfaceName).index === 0) return null;
  const ctx = { what: `SIOCGIFFLAGS ${interfaceName}`, syscall: 'ioctl', interfaceName };
  const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, { ...ctx, syscall: 'socket' });
  try {
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write(interfaceName, 0, 'latin1');
    libc.ioctlPointer(fd, SIOCGIFFLAGS, ifr, ctx);
    return ifr.readUInt16LE(IFREQ_FLAGS_OFFSET);
  } finally {
    libc.close(fd);
  }
}

/** `missing` from this namespace, administratively `down`, up with `no-carrier`, or `up`. */
export type InterfaceState = 'missing' | 'down' | 'no-carrier' | 'up';

export function checkInterface(interfaceName: string): InterfaceState {
  const flags = interfaceFlags(interfaceName);
  if (flags === null) return 'missing';
  if ((flags & IFF_UP) === 0) return 'down';
  if ((flags & IFF_RUNNING) === 0) return 'no-carrier';
  return 'up';
}

export type CapabilityCheck =
  | { ok: true }
  /** The status file has no CapEff line. */
  | { ok: false; capEff: null }
  | { ok: false; capEff: bigint; missing: [NeededCapability, ...NeededCapability[]] };

/** The effective set against CAP_NET_ADMIN and CAP_NET_RAW; a read error is thrown. */
export async function checkCapabilities(procStatusFile = '/proc/self/status'): Promise<CapabilityCheck> {
  const capEff = parseCapEff(await readFile(procStatusFile, 'utf8'));
  if (capEff === null) return { ok: false, capEff };
  const [first, ...rest] = missingCapabilities(capEff);
  return first === undefined ? { ok: true } : { ok: false, capEff, missing: [first, ...rest] };
}

/**
 * Used by the agent at start: fails at once, naming the capability, rather than at the first
 * election (reading addresses needs no privilege, so nothing else would fail before). CAP_NET_RAW
 * is also probed for real by opening the announce socket (AF_PACKET) and closing it.
 */
export async function assertNetCapabilities(interfaceName: string): Promise<void> {
  const check = await checkCapabilities().catch(() => null);
  if (check && !check.ok && check.capEff !== null) {
    throw new PermissionError('EPERM', check.missing[0], `capability check (/proc/self/status CapEff)`, {
      interfaceName,
    });
  }
  const { index } = libc.ifNameToIndex(interfaceName);
  if (index !== 0) PacketSocket.open(interfaceName, index, 0).close();
}
