import { InvalidAddressError } from './errors.ts';

/**
 * Pure IP address and CIDR parsing with one canonical text form, so every layer compares VIPs
 * the same way: IPv4 dotted decimal without leading zeros (`198.18.0.010` is `198.18.0.10`, as
 * iproute2 reads it, not octal), IPv6 in RFC 5952 form (lower case, longest zero run compressed).
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** Network byte order: 4 or 16 bytes. */
  bytes: Uint8Array;
  /** Canonical text form. */
  text: string;
}

export interface Cidr extends IpAddress {
  prefixLength: number;
  /** Canonical `address/prefix`. */
  cidr: string;
}

const IPV4_PART = /^\d+$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4Bytes(text: string, input: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4)
    throw new InvalidAddressError(input, 'an IPv4 address has four dot-separated parts');
  const bytes = new Uint8Array(4);
  parts.forEach((part, i) => {
    if (!IPV4_PART.test(part)) throw new InvalidAddressError(input, `"${part}" is not a decimal byte`);
    const value = Number(part);
    if (value > 255) throw new InvalidAddressError(input, `${value} is larger than 255`);
    bytes[i] = value;
  });
  return bytes;
}

function parseIpv6Bytes(text: string, input: string): Uint8Array {
  if (text.includes('%')) throw new InvalidAddressError(input, 'zone indices are not accepted');
  const halves = text.split('::');
  if (halves.length > 2) throw new InvalidAddressError(input, '"::" may appear only once');
  const groupsOf = (half: string): number[] => {
    if (half === '') return [];
    const parts = half.split(':');
    const out: number[] = [];
    parts.forEach((part, i) => {
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4Bytes(part, input);
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
        return;
      }
      if (!IPV6_GROUP.test(part)) throw new InvalidAddressError(input, `"${part}" is not a hex group`);
      out.push(parseInt(part, 16));
    });
    return out;
  };
  const head = groupsOf(halves[0] ?? '');
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (halves.length === 2 && head.length + tail.length > 7) {
    throw new InvalidAddressError(input, 'too many groups around "::"');
  }
  if (halves.length === 1 && head.length !== 8)
    throw new InvalidAddressError(input, 'an IPv6 address has 8 groups');
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

export function formatIpv4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

/** RFC 5952: lower case, no leading zeros, the longest run (≥ 2) of zero groups becomes "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[i * 2] ?? 0) << 8) | (bytes[i * 2 + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatIp(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
}

/** `context`: the text to name in errors when `input` is part of something larger (a CIDR). */
export function parseIp(input: string, context: string = input): IpAddress {
  if (typeof input !== 'string') throw new InvalidAddressError(String(input), 'not a string');
  const text = input.trim();
  if (text === '') throw new InvalidAddressError(context, 'empty');
  if (text.includes(':')) {
    const bytes = parseIpv6Bytes(text, context);
    return { family: 6, bytes, text: formatIpv6(bytes) };
  }
  const bytes = parseIpv4Bytes(text, context);
  return { family: 4, bytes, text: formatIpv4(bytes) };
}

/**
 * Parses `address/prefix`. Without a prefix the address is a host route (/32 or /128), as with
 * `ip addr add`.
 */
export function parseCidr(input: string): Cidr {
  if (typeof input !== 'string') throw new InvalidAddressError(String(input), 'not a string');
  const text = input.trim();
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash), input);
  const max = ip.family === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash !== -1) {
    const prefix = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefix)) throw new InvalidAddressError(input, `prefix "${prefix}" is not a number`);
    prefixLength = Number(prefix);
    if (prefixLength > max)
      throw new InvalidAddressError(input, `prefix /${prefixLength} is longer than ${max}`);
  }
  return { ...ip, prefixLength, cidr: `${ip.text}/${prefixLength}` };
}

/** The canonical `address/prefix` text of a VIP; throws InvalidAddressError. */
export function canonicalCidr(input: string): string {
  return parseCidr(input).cidr;
}

export function sameCidr(a: string, b: string): boolean {
  return canonicalCidr(a) === canonicalCidr(b);
}

export function isIpv4LinkLocal(bytes: Uint8Array): boolean {
  return bytes.length === 4 && bytes[0] === 169 && bytes[1] === 254;
}

export function isIpv6LinkLocal(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes[0] === 0xfe && ((bytes[1] ?? 0) & 0xc0) === 0x80;
}

/** MAC address helpers (colon-separated lower-case hex). */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(input: string): Uint8Array {
  const parts = input.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new InvalidAddressError(input, 'a MAC address is six colon-separated hex bytes');
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}
