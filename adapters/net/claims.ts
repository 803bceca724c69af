import { formatIp, formatMac } from './address.ts';
import { AdapterClosedError } from './errors.ts';
import { ndpLinkAddress, parseArp, parseEthernet, parseNdp } from './frames.ts';
import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ETH_P_ARP,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_OPT_SOURCE_LINKADDR,
  ND_OPT_TARGET_LINKADDR,
  PACKET_OUTGOING,
} from './linux.ts';
import type { ClaimKind, ClaimWatchHandlers, ForeignClaim } from './types.ts';

/**
 * RFC 5227 §2.4 ("ongoing address conflict detection"): after a host has started using an
 * address, any ARP packet, request or reply, whose sender IP is that address and whose sender
 * hardware address is not the interface's is a conflict: another host thinks it holds the
 * address too. The IPv6 counterparts (RFC 4861): a neighbour advertisement for the address
 * carrying another link-layer address, and a solicitation sent from the address by another MAC.
 *
 * These pure functions say which frames are such claims; ClaimListener shares one long-lived
 * receive socket per interface and family among every VIP that listens (why one, not the
 * probe's: docs/network.md, "Listening for claims").
 */

/** What a frame claims: an address (raw bytes) held by a MAC. */
export interface RawClaim {
  address: Uint8Array;
  mac: Uint8Array;
  kind: ClaimKind;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((x) => x === 0);
}

/**
 * The claim an Ethernet frame received on an AF_PACKET socket makes, or null. Frames this host
 * sent (PACKET_OUTGOING, or sent with its MAC) claim nothing; an RFC 5227 probe (sender IP
 * 0.0.0.0) asks, it does not claim, and the kernel answers it for an address it holds.
 */
export function arpClaim(frame: Uint8Array, pktType: number, ownMac: Uint8Array): RawClaim | null {
  if (pktType === PACKET_OUTGOING) return null;
  const eth = parseEthernet(frame);
  if (!eth || eth.ethertype !== ETH_P_ARP) return null;
  const arp = parseArp(eth.payload);
  if (!arp || (arp.op !== ARPOP_REQUEST && arp.op !== ARPOP_REPLY)) return null;
  if (isZero(arp.senderIp) || sameBytes(arp.senderMac, ownMac)) return null;
  return {
    address: Uint8Array.from(arp.senderIp),
    mac: Uint8Array.from(arp.senderMac),
    kind: arp.op === ARPOP_REQUEST ? 'arp-request' : 'arp-reply',
  };
}

/**
 * The claim an ICMPv6 message (raw socket: no IP header; `source` from recvfrom) makes, or null:
 * an advertisement whose target link-layer option is another MAC, or a solicitation from a
 * unicast source with another MAC in its source link-layer option. A DAD solicitation (from ::)
 * asks, it does not claim; a message without the option names no MAC and is left alone.
 */
export function ndpClaim(message: Uint8Array, source: Uint8Array, ownMac: Uint8Array): RawClaim | null {
  const ndp = parseNdp(message);
  if (!ndp || ndp.code !== 0) return null;
  if (ndp.type === ND_NEIGHBOR_ADVERT) {
    const mac = ndpLinkAddress(ndp, ND_OPT_TARGET_LINKADDR);
    if (!mac || sameBytes(mac, ownMac)) return null;
    return { address: Uint8Array.from(ndp.target), mac: Uint8Array.from(mac), kind: 'na' };
  }
  if (ndp.type === ND_NEIGHBOR_SOLICIT && !isZero(source)) {
    const mac = ndpLinkAddress(ndp, ND_OPT_SOURCE_LINKADDR);
    if (!mac || sameBytes(mac, ownMac)) return null;
    return { address: Uint8Array.from(source), mac: Uint8Array.from(mac), kind: 'ns' };
  }
  return null;
}

/** A receive socket as the listener needs it (the real ones in this folder; a fake in tests). */
export interface ClaimSource {
  /** Starts delivering the claims its frames make (arpClaim, ndpClaim). Returns a stop function. */
  receive(onClaim: (claim: RawClaim) => void, onError: (err: unknown) => void): () => void;
  close(): void;
}

/** A raw receive socket: PacketSocket (frame, pktType) or Icmp6Socket (message, source). */
export interface FrameSocket<Received> {
  receive(onReceived: (received: Received) => void, onError: (err: unknown) => void): () => void;
  close(): void;
}

/** The claims of an ARP socket's frames (ETH_P_ARP, every frame of the interface). */
export function arpClaimSource(
  socket: FrameSocket<{ frame: Buffer; pktType: number }>,
  ownMac: Uint8Array,
): ClaimSource {
  return {
    receive: (onClaim, onError) =>
      socket.receive(({ frame, pktType }) => {
        const claim = arpClaim(frame, pktType, ownMac);
        if (claim) onClaim(claim);
      }, onError),
    close: () => socket.close(),
  };
}

/** The claims of a raw ICMPv6 socket's messages. */
export function ndpClaimSource(
  socket: FrameSocket<{ message: Buffer; source: Uint8Array }>,
  ownMac: Uint8Array,
): ClaimSource {
  return {
    receive: (onClaim, onError) =>
      socket.receive(({ message, source }) => {
        const claim = ndpClaim(message, source, ownMac);
        if (claim) onClaim(claim);
      }, onError),
    close: () => socket.close(),
  };
}

function keyOf(address: Uint8Array): string {
  return Buffer.from(address).toString('hex');
}

interface Watch {
  cidr: string;
  handlers: ClaimWatchHandlers;
}

/**
 * One receive socket shared by every watched address of one family on one interface: opened
 * with the first watch, closed with the last. A frame costs one parse and one map lookup, so an
 * ARP-heavy segment does not make a thousand VIPs a thousand sockets (each open costs the
 * kernel ~12 ms). A receive error ends every watch (each is told) and closes the socket; the
 * next watch opens a new one.
 */
export class ClaimListener {
  private source: { socket: ClaimSource; stop: () => void } | undefined;
  private readonly watches = new Map<string, Set<Watch>>();
  private closed = false;

  constructor(private readonly open: () => ClaimSource) {}

  /** Sockets open right now (0 or 1): for tests and the README's measurement. */
  get openSockets(): number {
    return this.source ? 1 : 0;
  }

  watch(address: Uint8Array, cidr: string, handlers: ClaimWatchHandlers): () => void {
    if (this.closed) throw new AdapterClosedError();
    const key = keyOf(address);
    const entry: Watch = { cidr, handlers };
    let set = this.watches.get(key);
    if (!set) this.watches.set(key, (set = new Set()));
    set.add(entry);
    try {
      this.ensureOpen();
    } catch (err) {
      this.remove(key, entry);
      throw err;
    }
    return () => this.remove(key, entry);
  }

  close(): void {
    this.closed = true;
    this.watches.clear();
    this.shut();
  }

  private ensureOpen(): void {
    if (this.source) return;
    const socket = this.open();
    let stop: () => void = () => undefined;
    try {
      stop = socket.receive(
        (claim) => this.deliver(claim),
        (err) => this.fail(err),
      );
    } catch (err) {
      socket.close();
      throw err;
    }
    this.source = { socket, stop };
  }

  private deliver(raw: RawClaim): void {
    const set = this.watches.get(keyOf(raw.address));
    if (!set) return;
    const mac = formatMac(raw.mac);
    for (const watch of [...set]) {
      const claim: ForeignClaim = { cidr: watch.cidr, address: formatIp(raw.address), mac, kind: raw.kind };
      try {
        watch.handlers.claim(claim);
      } catch {
        // One watcher's bug must not stop the others hearing the frame.
      }
    }
  }

  private fail(err: unknown): void {
    const all = [...this.watches.values()].flatMap((set) => [...set]);
    this.watches.clear();
    this.shut();
    for (const watch of all) {
      try {
        watch.handlers.error(err);
      } catch {
        /* see deliver */
      }
    }
  }

  private remove(key: string, entry: Watch): void {
    const set = this.watches.get(key);
    if (!set?.delete(entry)) return;
    if (set.size === 0) this.watches.delete(key);
    if (this.watches.size === 0) this.shut();
  }

  private shut(): void {
    const source = this.source;
    this.source = undefined;
    if (!source) return;
    source.stop();
    source.socket.close();
  }
}
