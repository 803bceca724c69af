/**
 * The network port: what the actor layer needs from the kernel to own a VIP.
 * Implemented in this folder with koffi calling libc (netlink, ioctl, raw sockets).
 */

export interface AddressLifetime {
  /** Seconds the kernel keeps the address without a refresh; 0 or absent means forever. */
  lifetimeSec?: number;
}

export interface AnnounceOptions {
  /** IPv4: also send the ARP reply form with each gratuitous request. */
  arpReply?: boolean;
}

/** Another host answered for our VIP (RFC 5227 probe or an IPv6 neighbour solicitation). */
export interface ConflictReport {
  cidr: string;
  mac: string;
}

/** One address the kernel lists on an interface (`ip -o addr`). */
export interface InterfaceAddress {
  interfaceName: string;
  /** Canonical `address/prefix`. */
  cidr: string;
}

export interface NetAdapter {
  readonly interfaceName: string;
  /** Like `ip addr add CIDR dev IF [valid_lft N preferred_lft N]`; EEXIST is success. */
  bind(cidr: string, lifetime?: AddressLifetime): Promise<void>;
  /** Renews the address's lifetime (NLM_F_REPLACE). */
  refresh(cidr: string, lifetime: AddressLifetime): Promise<void>;
  /** Renews many lifetimes in a few system calls; resolves with the failures by CIDR. */
  refreshMany(cidrs: readonly string[], lifetime: AddressLifetime): Promise<Map<string, Error>>;
  /** Like `ip addr del`; an absent address is success. */
  unbind(cidr: string): Promise<void>;
  /** Reads the kernel's address list (RTM_GETADDR dump), not a cache. */
  isBound(cidr: string): Promise<boolean>;
  /** One gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6); no burst. */
  announce(cidr: string, options?: AnnounceOptions): Promise<void>;
  probeConflict(cidr: string, options?: { timeoutMs?: number }): Promise<ConflictReport | null>;
  /** Every address of every interface of this namespace, IPv4 and IPv6 (RTM_GETADDR dumps). */
  addresses(): Promise<InterfaceAddress[]>;
  /** The interface's MAC, lower-case colon hex. */
  hardwareAddress(): Promise<string>;
  close(): Promise<void>;
}
