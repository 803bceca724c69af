import { formatIp, formatMac, isIpv6LinkLocal, parseCidr, type Cidr } from './address.ts';
import {
  AdapterClosedError,
  fromErrno,
  InvalidAddressError,
  InvalidArgumentError,
  type NetError,
  type ErrnoContext,
} from './errors.ts';
import {
  ALL_NODES,
  buildArpProbe,
  buildGratuitousArp,
  buildNeighbourAdvert,
  buildNeighbourSolicit,
  BROADCAST_MAC,
  ndpLinkAddress,
  parseArp,
  parseEthernet,
  parseNdp,
  solicitedNodeMulticast,
} from './frames.ts';
import { arpClaimSource, ClaimListener, ndpClaimSource, type ClaimSource } from './claims.ts';
import { Icmp6Socket } from './icmp6-socket.ts';
import * as libc from './libc.ts';
import {
  AF_INET,
  AF_INET6,
  ERRNO,
  ETH_P_ARP,
  IFA_F_NODAD,
  IFA_F_TENTATIVE,
  IFNAMSIZ,
  INFINITY_LIFE_TIME,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_OPT_TARGET_LINKADDR,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  PACKET_OUTGOING,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './linux.ts';
import {
  decodeAddress,
  encodeAddressRequest,
  encodeDumpRequest,
  type AddressEntry,
  type Lifetimes,
} from './netlink.ts';
import { RouteSocket } from './netlink-socket.ts';
import { PacketSocket } from './packet-socket.ts';
import type {
  AddressLifetime,
  AnnounceOptions,
  ClaimWatchHandlers,
  ConflictReport,
  InterfaceAddress,
  LinkWatchHandlers,
  NetAdapter,
} from './types.ts';
import { watchLink } from './link-watch.ts';
import { addressClassRefusal } from './vip-rule.ts';

export interface NetAdapterOptions {
  interfaceName: string;
  /** Also send the ARP reply form with each gratuitous request; default false. */
  arpReply?: boolean;
  /** Default listening time of probeConflict; default 1000 ms. */
  probeTimeoutMs?: number;
}

const MAX_LIFETIME_SEC = INFINITY_LIFE_TIME - 1;

function positiveInt(value: number | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min)
    throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

function lifetimesOf(lifetime: AddressLifetime | undefined): Lifetimes {
  const sec = lifetime?.lifetimeSec;
  if (sec === undefined || sec === 0)
    return { validSec: INFINITY_LIFE_TIME, preferredSec: INFINITY_LIFE_TIME };
  if (!Number.isInteger(sec) || sec < 0 || sec > MAX_LIFETIME_SEC) {
    throw new InvalidArgumentError(
      `lifetimeSec must be an integer between 0 and ${MAX_LIFETIME_SEC}, got ${sec}`,
    );
  }
  return { validSec: sec, preferredSec: sec };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The Linux implementation of NetAdapter; see createNetAdapter. */
class LinuxNetAdapter implements NetAdapter {
  readonly interfaceName: string;
  private readonly arpReply: boolean;
  private readonly probeTimeoutMs: number;
  private route: RouteSocket | undefined;
  private packet: PacketSocket | undefined;
  private ndp: { socket: Icmp6Socket; ifindex: number } | undefined;
  private readonly probes = new Set<() => void>();
  /** The long-lived claim listeners, one per family, opened by the first watchClaims. */
  private claims: { v4: ClaimListener; v6: ClaimListener; ifindex: number } | undefined;
  private closed = false;

  constructor(options: NetAdapterOptions) {
    const name = options.interfaceName;
    if (typeof name !== 'string' || name === '' || name.length >= IFNAMSIZ || /[\s/:\0]/.test(name)) {
      throw new InvalidArgumentError(`invalid interface name ${JSON.stringify(name)}`);
    }
    this.interfaceName = name;
    this.arpReply = options.arpReply ?? false;
    this.probeTimeoutMs = positiveInt(options.probeTimeoutMs, 'probeTimeoutMs', 1000, 1);
  }

  async bind(cidr: string, lifetime?: AddressLifetime): Promise<void> {
    const vip = this.parseVip(cidr);
    const lifetimes = lifetimesOf(lifetime);
    const ifindex = this.ifindex();
    const add = await this.address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, vip, ifindex, lifetimes, 'add');
    if (add === 'exists') {
      // Already there (ours from before a restart, or bound twice): make its lifetime the requested one.
      await this.address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, vip, ifindex, lifetimes, 'add');
    }
  }

  /** Renews the lifetime; the kernel re-creates the address if it already expired. */
  async refresh(cidr: string, lifetime: AddressLifetime): Promise<void> {
    const vip = this.parseVip(cidr);
    const lifetimes = lifetimesOf(lifetime);
    await this.address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, vip, this.ifindex(), lifetimes, 'refresh');
  }

  /**
   * Renews the lifetime of many addresses in a few system calls. The requests are queued on the
   * route socket before this returns a promise, so they go out before any request asked for
   * later (an unbind that follows cannot be overtaken). Resolves with each failure by CIDR.
   */
  refreshMany(cidrs: readonly string[], lifetime: AddressLifetime): Promise<Map<string, NetError>> {
    const lifetimes = lifetimesOf(lifetime);
    const ifindex = this.ifindex();
    const route = this.routeSocket();
    const vips = cidrs.map((cidr) => this.parseVip(cidr));
    const requests = vips.map((vip) => {
      const seq = route.nextSeq();
      return {
        seq,
        message: this.addressMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, vip, ifindex, seq, lifetimes),
      };
    });
    const ctx: ErrnoContext = {
      what: `refresh ${vips.length} addresses on ${this.interfaceName}`,
      syscall: 'RTM_NEWADDR',
      interfaceName: this.interfaceName,
      capability: 'CAP_NET_ADMIN',
    };
    return route.requestMany(requests, ctx).then((replies) => {
      const failures = new Map<string, NetError>();
      replies.forEach((reply, i) => {
        if (reply.errno !== 0)
          failures.set(vips[i]!.cidr, fromErrno(reply.errno, { ...ctx, what: `refresh ${vips[i]!.cidr}` }));
      });
      return failures;
    });
  }

  async unbind(cidr: string): Promise<void> {
    const vip = this.parseVip(cidr);
    await this.address(RTM_DELADDR, 0, vip, this.ifindex(), undefined, 'delete');
  }

  async isBound(cidr: string): Promise<boolean> {
    const vip = this.parseVip(cidr);
    const ifindex = this.ifindex();
    const entries = await this.dumpAddresses(vip.family === 4 ? AF_INET : AF_INET6);
    return entries.some(
      (e) => e.ifindex === ifindex && e.prefixLength === vip.prefixLength && sameBytes(e.address, vip.bytes),
    );
  }

  /**
   * One announcement: bursts (ARP_GRATUITOUS_COUNT, ARP_GRATUITOUS_INTERVAL) and the periodic
   * refresh (ARP_REFRESH_INTERVAL) are paced by the one owner of announcements, actors/address.ts,
   * which knows when the address stops being wanted.
   */
  announce(cidr: string, options: AnnounceOptions = {}): Promise<void> {
    try {
      const vip = this.parseVip(cidr);
      this.sender(vip, options.arpReply ?? this.arpReply)();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async probeConflict(cidr: string, options: { timeoutMs?: number } = {}): Promise<ConflictReport | null> {
    const vip = this.parseVip(cidr);
    const timeoutMs = positiveInt(options.timeoutMs, 'timeoutMs', this.probeTimeoutMs, 1);
    const ifindex = this.ifindex();
    const mac = libc.interfaceMac(this.interfaceName);
    return vip.family === 4
      ? this.probeArp(vip, ifindex, mac, timeoutMs)
      : this.probeNdp(vip, ifindex, mac, timeoutMs, await this.linkLocal(ifindex));
  }

  watchClaims(cidr: string, handlers: ClaimWatchHandlers): () => void {
    const vip = this.parseVip(cidr);
    const listeners = this.claimListeners(this.ifindex());
    return (vip.family === 4 ? listeners.v4 : listeners.v6).watch(vip.bytes, cidr, handlers);
  }

  sendProbe(cidr: string): void {
    const vip = this.parseVip(cidr);
    const ifindex = this.ifindex();
    const mac = libc.interfaceMac(this.interfaceName);
    if (vip.family === 4)
      this.packetSocket(ifindex).send(buildArpProbe(mac, vip.bytes), BROADCAST_MAC, ETH_P_ARP);
    // To the solicited-node group (link-local scope): the kernel sends it from the link-local
    // address, so the holder's advertisement comes back here, not to the VIP.
    else
      this.ndpSocket(ifindex).send(buildNeighbourSolicit(vip.bytes, mac), solicitedNodeMulticast(vip.bytes));
  }

  async addresses(): Promise<InterfaceAddress[]> {
    if (this.closed) throw new AdapterClosedError();
    const names = new Map<number, string | null>();
    const out: InterfaceAddress[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      for (const entry of await this.dumpAddresses(family)) {
        if (!entry.address) continue;
        if (!names.has(entry.ifindex)) names.set(entry.ifindex, libc.ifIndexToName(entry.ifindex));
        const interfaceName = names.get(entry.ifindex);
        if (interfaceName == null) continue; // the interface went away since the dump
        out.push({ interfaceName, cidr: `${formatIp(entry.address)}/${entry.prefixLength}` });
      }
    }
    return out;
  }

  hardwareAddress(): Promise<string> {
    if (this.closed) return Promise.reject(new AdapterClosedError());
    try {
      return Promise.resolve(formatMac(libc.interfaceMac(this.interfaceName)));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  watchLink(handlers: LinkWatchHandlers): () => void {
    return watchLink(this.interfaceName, handlers);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const stop of this.probes) stop();
    this.claims?.v4.close();
    this.claims?.v6.close();
    this.route?.close();
    this.packet?.close();
    this.ndp?.socket.close();
    return Promise.resolve();
  }

  // --- addresses -------------------------------------------------------------------------------

  private parseVip(cidr: string): Cidr {
    if (this.closed) throw new AdapterClosedError();
    const vip = parseCidr(cidr);
    // The same rule as the API's, so nothing the API refuses can reach the kernel another way.
    const refusal = addressClassRefusal(vip);
    if (refusal !== null) throw new InvalidAddressError(cidr, refusal);
    return vip;
  }

  private ifindex(): number {
    const { index, errno } = libc.ifNameToIndex(this.interfaceName);
    if (index === 0) {
      throw fromErrno(errno || ERRNO.ENODEV!, {
        what: `if_nametoindex(${this.interfaceName})`,
        syscall: 'if_nametoindex',
        interfaceName: this.interfaceName,
      });
    }
    return index;
  }

  private routeSocket(): RouteSocket {
    this.route ??= RouteSocket.open();
    return this.route;
  }

  /** One acknowledged RTM_NEWADDR/RTM_DELADDR; idempotent outcomes are returned, not thrown. */
  private addressMessage(
    type: number,
    flags: number,
    vip: Cidr,
    ifindex: number,
    seq: number,
    lifetimes: Lifetimes | undefined,
  ): Buffer {
    return encodeAddressRequest({
      type,
      flags: NLM_F_REQUEST | NLM_F_ACK | flags,
      seq,
      family: vip.family === 4 ? AF_INET : AF_INET6,
      prefixLength: vip.prefixLength,
      // NODAD: a VIP moving between hosts must answer at once, not after ~1 s of DAD.
      ifaFlags: vip.family === 6 && type === RTM_NEWADDR ? IFA_F_NODAD : 0,
      scope: RT_SCOPE_UNIVERSE, // link-local VIPs are refused (vip-rule.ts)
      ifindex,
      address: vip.bytes,
      ...(lifetimes ? { lifetimes } : {}),
    });
  }

  private async address(
    type: number,
    flags: number,
    vip: Cidr,
    ifindex: number,
    lifetimes: Lifetimes | undefined,
    verb: 'add' | 'refresh' | 'delete',
  ): Promise<'done' | 'exists' | 'absent'> {
    const route = this.routeSocket();
    const seq = route.nextSeq();
    const message = this.addressMessage(type, flags, vip, ifindex, seq, lifetimes);
    const ctx: ErrnoContext = {
      what: `${verb} ${vip.cidr} on ${this.interfaceName}`,
      syscall: type === RTM_DELADDR ? 'RTM_DELADDR' : 'RTM_NEWADDR',
      interfaceName: this.interfaceName,
      capability: 'CAP_NET_ADMIN',
    };
    let reply;
    try {
      reply = await route.request(message, seq, ctx);
    } catch (err) {
      // The request went out but its outcome is unknown: never leave a half-made bind behind.
      if (verb === 'add' && !(err instanceof AdapterClosedError)) await this.removeQuietly(vip, ifindex);
      throw err;
    }
    if (reply.errno === 0) return 'done';
    if (verb === 'add' && reply.errno === ERRNO.EEXIST) return 'exists';
    if (verb === 'delete' && reply.errno === ERRNO.EADDRNOTAVAIL) return 'absent';
    throw fromErrno(reply.errno, { ...ctx, ...(reply.message ? { detail: reply.message } : {}) });
  }

  private async removeQuietly(vip: Cidr, ifindex: number): Promise<void> {
    try {
      await this.address(RTM_DELADDR, 0, vip, ifindex, undefined, 'delete');
    } catch {
      /* best effort: the original error is the one to report */
    }
  }

  private async dumpAddresses(family: number): Promise<AddressEntry[]> {
    const route = this.routeSocket();
    const seq = route.nextSeq();
    const ctx: ErrnoContext = {
      what: 'RTM_GETADDR dump',
      syscall: 'RTM_GETADDR',
      interfaceName: this.interfaceName,
    };
    const { messages, error } = await route.dump(
      encodeDumpRequest(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, family),
      seq,
      ctx,
    );
    if (error) throw fromErrno(error.errno, ctx);
    return messages.filter((m) => m.type === RTM_NEWADDR).map(decodeAddress);
  }

  private async linkLocal(ifindex: number): Promise<Uint8Array | undefined> {
    const entries = await this.dumpAddresses(AF_INET6);
    const ll = entries.find(
      (e) => e.ifindex === ifindex && e.address && isIpv6LinkLocal(e.address) && !(e.flags & IFA_F_TENTATIVE),
    );
    return ll?.address;
  }

  // --- announcements ---------------------------------------------------------------------------

  /** Opened once and kept: opening an AF_PACKET socket costs ~12 ms in the kernel. */
  private packetSocket(ifindex: number): PacketSocket {
    if (this.packet && this.packet.ifindex !== ifindex) {
      this.packet.close(); // the interface was re-created under the same name
      this.packet = undefined;
    }
    this.packet ??= PacketSocket.open(this.interfaceName, ifindex, 0);
    return this.packet;
  }

  private ndpSocket(ifindex: number): Icmp6Socket {
    if (this.ndp && this.ndp.ifindex !== ifindex) {
      this.ndp.socket.close();
      this.ndp = undefined;
    }
    this.ndp ??= { socket: Icmp6Socket.open(this.interfaceName, ifindex), ifindex };
    return this.ndp.socket;
  }

  /** Returns a function sending one announcement; each call is one or two quick sendto calls. */
  private sender(vip: Cidr, arpReply: boolean): () => void {
    return () => {
      if (this.closed) throw new AdapterClosedError();
      const ifindex = this.ifindex();
      const mac = libc.interfaceMac(this.interfaceName);
      if (vip.family === 4) {
        const socket = this.packetSocket(ifindex);
        socket.send(buildGratuitousArp(mac, vip.bytes, 'request'), BROADCAST_MAC, ETH_P_ARP);
        if (arpReply) socket.send(buildGratuitousArp(mac, vip.bytes, 'reply'), BROADCAST_MAC, ETH_P_ARP);
      } else {
        this.ndpSocket(ifindex).send(buildNeighbourAdvert(vip.bytes, mac), ALL_NODES);
      }
    };
  }

  // --- claims ----------------------------------------------------------------------------------

  /**
   * The listeners of this interface. An interface re-created under the same name gets new ones:
   * the old sockets are bound to an index that no longer exists (their watches end, told why).
   */
  private claimListeners(ifindex: number): { v4: ClaimListener; v6: ClaimListener } {
    if (this.claims && this.claims.ifindex !== ifindex) {
      this.claims.v4.close();
      this.claims.v6.close();
      this.claims = undefined;
    }
    this.claims ??= {
      ifindex,
      v4: new ClaimListener(() => this.arpClaimSource(ifindex)),
      v6: new ClaimListener(() => this.ndpClaimSource(ifindex)),
    };
    return this.claims;
  }

  /** Every ARP frame of the interface (ETH_P_ARP), each checked by arpClaim against our MAC. */
  private arpClaimSource(ifindex: number): ClaimSource {
    const mac = libc.interfaceMac(this.interfaceName);
    return arpClaimSource(PacketSocket.open(this.interfaceName, ifindex, ETH_P_ARP), mac);
  }

  /** Neighbour solicitations and advertisements only (ICMP6_FILTER), each checked by ndpClaim. */
  private ndpClaimSource(ifindex: number): ClaimSource {
    const mac = libc.interfaceMac(this.interfaceName);
    const types = [ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT];
    return ndpClaimSource(Icmp6Socket.open(this.interfaceName, ifindex, undefined, types), mac);
  }

  // --- conflict probes -------------------------------------------------------------------------

  /**
   * Listens on a temporary socket for the probe's answers, resolving at the first foreign MAC
   * or null at the deadline. A second probe halfway covers one lost frame.
   */
  private listen(
    timeoutMs: number,
    start: (
      found: (mac: Uint8Array) => void,
      fail: (err: unknown) => void,
    ) => { stop: () => void; resend: () => void },
  ): Promise<Uint8Array | null> {
    return new Promise((resolve, reject) => {
      let session: { stop: () => void; resend: () => void } | undefined;
      const timers: NodeJS.Timeout[] = [];
      const finish = (): void => {
        timers.forEach(clearTimeout);
        session?.stop();
        this.probes.delete(cancel);
      };
      const cancel = (): void => {
        finish();
        reject(new AdapterClosedError());
      };
      this.probes.add(cancel);
      try {
        session = start(
          (mac) => {
            finish();
            resolve(mac);
          },
          (err) => {
            finish();
            reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      } catch (err) {
        finish();
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (timeoutMs >= 200) {
        timers.push(
          setTimeout(() => {
            try {
              session?.resend();
            } catch {
              /* the first probe went out; the answer window still counts */
            }
          }, timeoutMs / 2),
        );
      }
      timers.push(
        setTimeout(() => {
          finish();
          resolve(null);
        }, timeoutMs),
      );
    });
  }

  private async probeArp(
    vip: Cidr,
    ifindex: number,
    mac: Uint8Array,
    timeoutMs: number,
  ): Promise<ConflictReport | null> {
    const found = await this.listen(timeoutMs, (found, fail) => {
      const socket = PacketSocket.open(this.interfaceName, ifindex, ETH_P_ARP);
      const probe = buildArpProbe(mac, vip.bytes);
      const stopReceiving = socket.receive(({ frame, pktType }) => {
        if (pktType === PACKET_OUTGOING) return;
        const eth = parseEthernet(frame);
        const arp = eth && eth.ethertype === ETH_P_ARP ? parseArp(eth.payload) : null;
        // RFC 5227 §2.1.1: any ARP packet whose sender IP is ours, from another MAC, is a conflict.
        if (arp && sameBytes(arp.senderIp, vip.bytes) && !sameBytes(arp.senderMac, mac))
          found(Uint8Array.from(arp.senderMac));
      }, fail);
      socket.send(probe, BROADCAST_MAC, ETH_P_ARP);
      return {
        stop: () => {
          stopReceiving();
          socket.close();
        },
        resend: () => socket.send(probe, BROADCAST_MAC, ETH_P_ARP),
      };
    });
    return found ? { cidr: vip.cidr, mac: formatMac(found) } : null;
  }

  /**
   * Sends a neighbour solicitation from this host's link-local address (so the holder's answer
   * comes back here; a solicitation from the VIP itself would be answered to the holder) and
   * reports a neighbour advertisement for the VIP carrying another MAC.
   */
  private async probeNdp(
    vip: Cidr,
    ifindex: number,
    mac: Uint8Array,
    timeoutMs: number,
    source: Uint8Array | undefined,
  ): Promise<ConflictReport | null> {
    const found = await this.listen(timeoutMs, (found, fail) => {
      const socket = Icmp6Socket.open(this.interfaceName, ifindex, source);
      const solicit = buildNeighbourSolicit(vip.bytes, mac);
      const group = solicitedNodeMulticast(vip.bytes);
      const stopReceiving = socket.receive(({ message }) => {
        const ndp = parseNdp(message);
        if (!ndp || ndp.type !== ND_NEIGHBOR_ADVERT || !sameBytes(ndp.target, vip.bytes)) return;
        const theirs = ndpLinkAddress(ndp, ND_OPT_TARGET_LINKADDR);
        if (theirs && !sameBytes(theirs, mac)) found(Uint8Array.from(theirs));
      }, fail);
      socket.send(solicit, group);
      return {
        stop: () => {
          stopReceiving();
          socket.close();
        },
        resend: () => socket.send(solicit, group),
      };
    });
    return found ? { cidr: vip.cidr, mac: formatMac(found) } : null;
  }
}

/**
 * The network adapter for one interface of the current network namespace. Sockets open lazily,
 * so creating it never fails on a missing interface or privilege: the first call reports that.
 * Throws InvalidArgumentError for bad options.
 */
export function createNetAdapter(options: NetAdapterOptions): NetAdapter {
  return new LinuxNetAdapter(options);
}
