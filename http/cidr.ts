/**
 * Canonical form of a VIP address (`<address>/<prefix>`), pure. The API stores and compares only
 * this form, so `198.18.0.010/24` and `198.18.0.10/24` are one VIP.
 *
 * Rules (docs/api.md repeats them):
 * - IPv4 is four dotted decimal octets. A leading zero is read as **decimal** and dropped
 *   (`010` → `10`), never as octal the way `inet_aton` would; an octet has at most 3 digits.
 *   Hex (`0x0a`), shortened (`10.1`) and integer (`167772161`) forms are rejected.
 * - IPv6 is written back in RFC 5952 form: lower case, no leading zeros in a group, the longest
 *   run (two groups or more, the first on a tie) of zero groups compressed to `::`. An embedded
 *   IPv4 tail (`::ffff:198.18.0.1`) is accepted and written back as hex groups. Zone ids
 *   (`%eth0`) are rejected.
 * - The prefix is optional and defaults to the host prefix: `/32` for IPv4, `/128` for IPv6.
 *   It is decimal, 1–32 or 1–128 (leading zeros dropped). Host bits are kept: like
 *   `ip addr add 198.18.0.10/24`, the address is the VIP and the prefix its subnet.
 * - Only unicast addresses: unspecified, loopback, multicast and the IPv4 limited broadcast are
 *   rejected.
 */

export type IpFamily = 4 | 6;

export interface ParsedCidr {
  family: IpFamily;
  /** Canonical address without prefix. */
  address: string;
  prefix: number;
  /** `<address>/<prefix>`, canonical. */
  cidr: string;
}

export type CidrResult = { ok: true; value: ParsedCidr } | { ok: false; reason: string };

const DECIMAL = /^[0-9]{1,3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const octets: number[] = [];
  for (const part of parts) {
    if (!DECIMAL.test(part)) return null;
    const value = Number.parseInt(part, 10);
    if (value > 255) return null;
    octets.push(value);
  }
  return octets;
}

/** Eight 16-bit groups, or null. */
function parseIpv6(text: string): number[] | null {
  if (text.length === 0 || text.length > 45) return null;
  let head = text;
  let tail: number[] = [];
  // An embedded IPv4 address may end the text.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return null;
    tail = [((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0)];
    head = text.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `64:ff9b::1.2.3.4` leaves `64:ff9b::`; `1:2:3:4:5:6:1.2.3.4` leaves `1:2:3:4:5:6:`.
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const doubles = head.split('::').length - 1;
  if (doubles > 1) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const g of s.split(':')) {
      if (!HEX_GROUP.test(g)) return null;
      groups.push(Number.parseInt(g, 16));
    }
    return groups;
  };
  if (doubles === 1) {
    const [left, right] = head.split('::') as [string, string];
    const l = parseGroups(left);
    const r = parseGroups(right);
    if (!l || !r) return null;
    const missing = 8 - l.length - r.length - tail.length;
    if (missing < 1) return null;
    return [...l, ...new Array<number>(missing).fill(0), ...r, ...tail];
  }
  const groups = parseGroups(head);
  if (!groups || groups.length + tail.length !== 8) return null;
  return [...groups, ...tail];
}

/** RFC 5952 text of eight groups. */
export function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number | undefined) => (g ?? 0).toString(16);
  if (bestLength < 2) return groups.map(hex).join(':');
  const left = groups.slice(0, bestStart).map(hex).join(':');
  const right = groups
    .slice(bestStart + bestLength)
    .map(hex)
    .join(':');
  return `${left}::${right}`;
}

function ipv4Reason(o: readonly number[]): string | null {
  const [a = 0, b = 0, c = 0, d = 0] = o;
  if (a === 0) return 'is in 0.0.0.0/8 (this network), not a unicast host address';
  if (a === 127) return 'is a loopback address';
  if (a >= 224 && a <= 239) return 'is a multicast address';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'is the broadcast address';
  return null;
}

function ipv6Reason(g: readonly number[]): string | null {
  if (g.every((x) => x === 0)) return 'is the unspecified address';
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'is the loopback address';
  if (((g[0] ?? 0) & 0xff00) === 0xff00) return 'is a multicast address';
  return null;
}

/** Parses and canonicalises `address[/prefix]`. Never throws. */
export function parseCidr(input: string): CidrResult {
  if (typeof input !== 'string') return { ok: false, reason: 'must be a string' };
  if (input.length === 0) return { ok: false, reason: 'must not be empty' };
  if (input.length > 64) return { ok: false, reason: 'is too long for an IP address' };
  if (/\s/.test(input)) return { ok: false, reason: 'must not contain spaces' };
  const slash = input.indexOf('/');
  const addressText = slash >= 0 ? input.slice(0, slash) : input;
  const prefixText = slash >= 0 ? input.slice(slash + 1) : null;
  if (addressText.includes('%')) return { ok: false, reason: 'must not carry a zone id (%…)' };
  const family: IpFamily | null = addressText.includes(':') ? 6 : addressText.includes('.') ? 4 : null;
  if (family === null) return { ok: false, reason: 'is not an IPv4 or IPv6 address' };
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== null) {
    if (!DECIMAL.test(prefixText)) return { ok: false, reason: `prefix must be a decimal number 1-${max}` };
    prefix = Number.parseInt(prefixText, 10);
    if (prefix < 1 || prefix > max) return { ok: false, reason: `prefix must be 1-${max}` };
  }
  if (family === 4) {
    const octets = parseIpv4(addressText);
    if (!octets)
      return { ok: false, reason: 'is not a dotted-quad IPv4 address (four decimal octets 0-255)' };
    const reason = ipv4Reason(octets);
    if (reason) return { ok: false, reason };
    const address = octets.join('.');
    return { ok: true, value: { family, address, prefix, cidr: `${address}/${prefix}` } };
  }
  const groups = parseIpv6(addressText);
  if (!groups) return { ok: false, reason: 'is not a valid IPv6 address' };
  const reason = ipv6Reason(groups);
  if (reason) return { ok: false, reason };
  const address = formatIpv6(groups);
  return { ok: true, value: { family, address, prefix, cidr: `${address}/${prefix}` } };
}

/** Canonical CIDR or null. */
export function canonicalCidr(input: string): string | null {
  const result = parseCidr(input);
  return result.ok ? result.value.cidr : null;
}
