import { isIPv4, isIPv6 } from 'node:net';

/**
 * The key under which the API counts a client (failed logins, open connections): its IPv4
 * address, or the /64 of its IPv6 address, because one IPv6 host usually owns a whole /64 and
 * could otherwise rotate addresses to escape any per-address limit. An IPv4-mapped IPv6 address
 * (what a dual-stack `::` listener reports) is its IPv4 address. Null when there is no address:
 * a Unix socket, whose reach the file's permissions already decide.
 */
export function sourceKey(remoteAddress: string | undefined): string | null {
  if (!remoteAddress) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(remoteAddress)) return remoteAddress;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  return `${ipv6Groups(remoteAddress).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address in hex, `::` expanded (zone id dropped). */
function ipv6Groups(address: string): string[] {
  const [bare = ''] = address.split('%');
  const [head = '', tail] = bare.split('::');
  const parse = (part: string): string[] =>
    part === '' ? [] : part.split(':').map((group) => parseInt(group, 16).toString(16));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  // An embedded IPv4 tail (`::1.2.3.4`) is two groups; only the first four groups matter here.
  const missing = Math.max(0, 8 - left.length - right.length);
  return [...left, ...Array.from({ length: missing }, () => '0'), ...right];
}
