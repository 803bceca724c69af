import { InvalidAddressError } from '../adapters/net/errors.ts';
import { parseCidr as parseAddress, type IpFamily } from '../adapters/net/address.ts';
import { addressClassRefusal } from '../adapters/net/vip-rule.ts';

/**
 * What the API accepts as a VIP address (`<address>[/<prefix>]`), pure. Parsing and the one
 * canonical text form come from adapters/net/address.ts, so the API, the etcd keys and the
 * kernel agree on what "the same VIP" is (`198.18.0.010/24` is `198.18.0.10/24`). On top of it,
 * the API's own rules (docs/api.md repeats them):
 * - an IPv4 octet has at most 3 decimal digits; hex, shortened and integer forms are rejected;
 * - the prefix is optional (host prefix by default), decimal;
 * - zone ids (`%eth0`) and spaces are rejected;
 * - the address classes no VIP may be (a /0 prefix, loopback, link-local, multicast, a subnet's
 *   network or broadcast address, …) are those of adapters/net/vip-rule.ts, the one rule the agent and the
 *   net adapter apply too; what belongs to a host (its interfaces' addresses) the agent checks,
 *   as only it knows them.
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
  const reason = addressClassRefusal(parsed);
  if (reason !== null) return { ok: false, reason };
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
