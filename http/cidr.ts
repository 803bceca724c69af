import { InvalidAddressError } from '../adapters/net/errors.ts';
import { parseCidr as parseAddress, type IpFamily } from '../adapters/net/address.ts';

/**
 * What the API accepts as a VIP address (`<address>[/<prefix>]`), pure. Parsing and the one
 * canonical text form come from adapters/net/address.ts, so the API, the etcd keys and the
 * kernel agree on what "the same VIP" is (`198.18.0.010/24` is `198.18.0.10/24`). On top of it,
 * the API's own rules (docs/api.md repeats them):
 * - an IPv4 octet has at most 3 decimal digits; hex, shortened and integer forms are rejected;
 * - the prefix is optional (host prefix by default), decimal, at least 1;
 * - only unicast addresses: unspecified, loopback, multicast and the IPv4 limited broadcast
 *   are rejected; zone ids (`%eth0`) and spaces too.
 */

export type { IpFamily };

export interface ParsedCidr {
  family: IpFamily;
  /** Canonical address without prefix. */
  address: string;
  prefix: number;
  /** `<address>/<prefix>`, canonical. */
  cidr: string;
}

export type CidrResult = { ok: true; value: ParsedCidr } | { ok: false; reason: string };

function notUnicast(family: IpFamily, bytes: Uint8Array): string | null {
  if (family === 4) {
    const [a = 0, b = 0, c = 0, d = 0] = bytes;
    if (a === 0) return 'is in 0.0.0.0/8 (this network), not a unicast host address';
    if (a === 127) return 'is a loopback address';
    if (a >= 224 && a <= 239) return 'is a multicast address';
    if (a === 255 && b === 255 && c === 255 && d === 255) return 'is the broadcast address';
    return null;
  }
  if (bytes.every((x) => x === 0)) return 'is the unspecified address';
  if (bytes.subarray(0, 15).every((x) => x === 0) && bytes[15] === 1) return 'is the loopback address';
  if (bytes[0] === 0xff) return 'is a multicast address';
  return null;
}

/** Parses and canonicalises `address[/prefix]`. Never throws. */
export function parseCidr(input: string): CidrResult {
  if (typeof input !== 'string') return { ok: false, reason: 'must be a string' };
  if (input.length === 0) return { ok: false, reason: 'must not be empty' };
  if (input.length > 64) return { ok: false, reason: 'is too long for an IP address' };
  if (/\s/.test(input)) return { ok: false, reason: 'must not contain spaces' };
  const [addressText = '', prefixText] = input.split('/', 2);
  if (!addressText.includes(':') && !addressText.split('.').every((octet) => /^\d{1,3}$/.test(octet))) {
    return { ok: false, reason: 'is not a dotted-quad IPv4 address (four decimal octets 0-255)' };
  }
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) {
    return { ok: false, reason: 'prefix must be a decimal number' };
  }
  let parsed;
  try {
    parsed = parseAddress(input);
  } catch (err) {
    if (err instanceof InvalidAddressError) return { ok: false, reason: err.reason };
    throw err;
  }
  if (parsed.prefixLength < 1) return { ok: false, reason: 'prefix must be at least 1' };
  const reason = notUnicast(parsed.family, parsed.bytes);
  if (reason) return { ok: false, reason };
  return {
    ok: true,
    value: { family: parsed.family, address: parsed.text, prefix: parsed.prefixLength, cidr: parsed.cidr },
  };
}

/** Canonical CIDR or null. */
export function canonicalCidr(input: string): string | null {
  const result = parseCidr(input);
  return result.ok ? result.value.cidr : null;
}
