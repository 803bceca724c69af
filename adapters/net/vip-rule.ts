import { formatIp, isIpv4LinkLocal, isIpv6LinkLocal, parseCidr, type Cidr } from './address.ts';

/**
 * The one rule of what a VIP may be (issue 12): an address nobody else's traffic depends on.
 * Pure, so the API (http/cidr.ts), `linkctl ips add` (through http/cidr.ts), the agent (with the
 * addresses it knows of) and the net adapter's bind all refuse the same addresses with the same
 * reason. It lives here, beside the address parser, because the net adapter is the lowest layer
 * that must apply it and imports point from cli through http and actors down to adapters.
 *
 * A reason is worded to follow the address: `198.18.0.12 is the address of LinK host h2`.
 *
 * Two parts:
 * - `addressClassRefusal`: what no VIP can be whatever the network: unspecified, this network
 *   (0/8), loopback, link-local, multicast, 240/4 and the limited broadcast (Linux neither routes
 *   nor assigns those for unicast), IPv4-mapped IPv6, and the network or broadcast address of
 *   the VIP's own prefix (the subnet-router anycast address for IPv6).
 * - `knownAddressRefusal`: what belongs to a host LinK knows of: an address of one of this
 *   host's interfaces, an address a LinK host published (adapters/etcd `agents` key), or the
 *   network or broadcast address of the subnet one of those sits in.
 */

/** An address the kernel lists on an interface: this host's, or one a LinK peer published. */
export interface KnownAddress {
  /** `address/prefix` as the kernel lists it (`198.18.0.11/24`). */
  cidr: string;
  interfaceName: string;
  /** The LinK host that published it; absent for this host's own interfaces. */
  host?: string;
}

/** The shortest IPv4 prefix with a network and a broadcast address (a /31 has neither: RFC 3021). */
const IPV4_LONGEST_SUBNET_PREFIX = 30;
/** The same for IPv6's subnet-router anycast address (RFC 6164: none on a /127). */
const IPV6_LONGEST_SUBNET_PREFIX = 126;

function inRange(bytes: Uint8Array, base: readonly number[], prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit++) {
    const mask = 0x80 >> (bit % 8);
    if (((bytes[bit >> 3] ?? 0) & mask) !== ((base[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

/** The host bits of `bytes` under `prefix`: all zero, all one, or neither. */
function hostPart(bytes: Uint8Array, prefix: number): 'zeros' | 'ones' | 'mixed' {
  let zeros = true;
  let ones = true;
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const set = ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit % 8))) !== 0;
    if (set) zeros = false;
    else ones = false;
    if (!zeros && !ones) return 'mixed';
  }
  return zeros ? 'zeros' : 'ones';
}

function networkOf(bytes: Uint8Array, prefix: number): string {
  const network = Uint8Array.from(bytes, (byte, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return byte & ((0xff << (8 - bits)) & 0xff);
  });
  return `${formatIp(network)}/${prefix}`;
}

/**
 * What `address` is in the subnet `bytes/prefix` when it is its network or broadcast address
 * (IPv6: its subnet-router anycast address), else null. `address` is assumed inside it.
 */
function subnetEdge(address: Uint8Array, prefix: number): string | null {
  const v4 = address.length === 4;
  if (prefix > (v4 ? IPV4_LONGEST_SUBNET_PREFIX : IPV6_LONGEST_SUBNET_PREFIX)) return null;
  const part = hostPart(address, prefix);
  const network = networkOf(address, prefix);
  if (part === 'zeros')
    return v4 ? `the network address of ${network}` : `the subnet-router anycast address of ${network}`;
  if (part === 'ones' && v4) return `the broadcast address of ${network}`;
  return null;
}

/** Why no host may use this address as a VIP, or null. */
export function addressClassRefusal(vip: Cidr): string | null {
  const b = vip.bytes;
  // A /0 would claim every address as on-link: the whole Internet answered by ARP on one segment.
  if (vip.prefixLength < 1) return 'prefix must be at least 1';
  if (b.every((x) => x === 0)) return 'is the unspecified address';
  if (vip.family === 4) {
    if (inRange(b, [0], 8)) return 'is in 0.0.0.0/8 (this network), not a unicast host address';
    if (inRange(b, [127], 8)) return 'is a loopback address (127.0.0.0/8)';
    if (isIpv4LinkLocal(b)) return 'is link-local (169.254.0.0/16)';
    if (inRange(b, [224], 4)) return 'is a multicast address (224.0.0.0/4)';
    if (b.every((x) => x === 255)) return 'is the limited broadcast address';
    if (inRange(b, [240], 4)) return 'is in 240.0.0.0/4 (reserved), which Linux does not use for unicast';
  } else {
    if (inRange(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128)) return 'is the loopback address';
    if (isIpv6LinkLocal(b)) return 'is link-local (fe80::/10)';
    if (inRange(b, [0xff], 8)) return 'is a multicast address (ff00::/8)';
    if (inRange(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96)) {
      return 'is an IPv4-mapped IPv6 address (::ffff:0:0/96)';
    }
  }
  const edge = subnetEdge(b, vip.prefixLength);
  return edge === null ? null : `is ${edge}`;
}

/** Why this VIP belongs to a known host (see KnownAddress), or null. Unparsable entries are skipped. */
export function knownAddressRefusal(vip: Cidr, known: readonly KnownAddress[]): string | null {
  for (const entry of known) {
    let address: Cidr;
    try {
      address = parseCidr(entry.cidr);
    } catch {
      continue; // a peer's record is data from etcd: a bad entry must not stop every add
    }
    if (address.family !== vip.family) continue;
    const where =
      entry.host === undefined
        ? `on ${entry.interfaceName}`
        : `on ${entry.interfaceName} of LinK host ${entry.host}`;
    if (address.bytes.every((x, i) => x === vip.bytes[i])) {
      return entry.host === undefined
        ? `is the address of ${entry.interfaceName} on this host`
        : `is the address of LinK host ${entry.host} (${entry.interfaceName})`;
    }
    const octets = Array.from(address.bytes);
    if (inRange(vip.bytes, octets, address.prefixLength)) {
      const edge = subnetEdge(vip.bytes, address.prefixLength);
      if (edge !== null) return `is ${edge} ${where}`;
    }
  }
  return null;
}

/** The whole rule: the class first (it needs no facts), then the known hosts' addresses. */
export function vipRefusal(vip: Cidr, known: readonly KnownAddress[] = []): string | null {
  return addressClassRefusal(vip) ?? knownAddressRefusal(vip, known);
}

/** How the API and the agent word a refusal of the field `ip` (a long input is cut). */
export function ipRefusalMessage(input: string, reason: string): string {
  const shown = input.length > 48 ? `${input.slice(0, 48)}…` : input;
  return `ip ${JSON.stringify(shown)} ${reason}`;
}
