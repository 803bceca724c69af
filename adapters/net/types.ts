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

/** Which frame made a claim: RFC 5227 §2.4 counts ARP requests and replies alike. */
export type ClaimKind = 'arp-request' | 'arp-reply' | 'na' | 'ns';

/**
 * A frame from another MAC claiming a watched address (RFC 5227 §2.4): a gratuitous ARP or any
 * ARP packet whose sender IP is the address, a neighbour advertisement for it, a solicitation
 * from it. Frames this host sent never are.
 */
export interface ForeignClaim {
  /** The watched VIP, as given to watchClaims. */
  cidr: string;
  /** The address alone, canonical text. */
  address: string;
  /** The other MAC, lower-case colon hex. */
  mac: string;
  kind: ClaimKind;
}

export interface ClaimWatchHandlers {
  claim(claim: ForeignClaim): void;
  /** The receive socket failed: this watch has ended (watch again to listen anew). */
  error(err: unknown): void;
}

/** The tracked interface's link, as its last netlink message said (adapters/net/link.ts). */
export interface LinkState {
  interfaceName: string;
  /** Administratively up, with carrier, not operationally down. */
  up: boolean;
  /** What the kernel said, for the journal: "the interface has no carrier (IFF_LOWER_UP cleared)". */
  reason: string;
}

export interface LinkWatchHandlers {
  /** At start (once the kernel's dump is read), then on every change of `up`. */
  state(state: LinkState): void;
  /** The notification socket failed: this watch has ended. */
  error(err: unknown): void;
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
  /**
   * Listens for frames from other MACs claiming `cidr`'s address until the returned function is
   * called; one receive socket per interface and family serves every watch. Optional: an adapter
   * that cannot listen (a test's fake) has none, and the agent then does not defend.
   */
  watchClaims?(cidr: string, handlers: ClaimWatchHandlers): () => void;
  /**
   * One RFC 5227 probe for `cidr` and nothing else (IPv4: ARP request from 0.0.0.0; IPv6: a
   * neighbour solicitation from the link-local address): the answers reach watchClaims. Optional
   * as watchClaims is.
   */
  sendProbe?(cidr: string): void;
  /**
   * Follows the interface's link (up, carrier) from netlink link notifications until the
   * returned function is called. Optional: an adapter without it (a test's fake) is not tracked.
   */
  watchLink?(handlers: LinkWatchHandlers): () => void;
  /** Every address of every interface of this namespace, IPv4 and IPv6 (RTM_GETADDR dumps). */
  addresses(): Promise<InterfaceAddress[]>;
  /** The interface's MAC, lower-case colon hex. */
  hardwareAddress(): Promise<string>;
  close(): Promise<void>;
}
