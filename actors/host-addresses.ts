import { parseCidr } from '../adapters/net/address.ts';
import type { InterfaceAddress, NetAdapter } from '../adapters/net/types.ts';
import { vipRefusal, type KnownAddress } from '../adapters/net/vip-rule.ts';
import type { EtcdSession, HostMembership, HostRecord } from '../adapters/etcd/types.ts';
import type { Logger } from './logger.ts';

/**
 * What this agent knows about the addresses that belong to hosts (issue 12: a VIP cannot be one
 * of them): this host's interfaces, read from the kernel, and every LinK host's, as each agent
 * publishes them under its lease (adapters/etcd README, "Host records"). It publishes this
 * host's record, answers "why may this VIP not be added" with the one rule of
 * adapters/net/vip-rule.ts, and tells a LinK holder's MAC from a stranger's for the probe.
 *
 * Addresses that are VIPs are not a host's: this agent's own VIPs, and every address some agent
 * carries as a VIP (membership keys), so that two agents sharing a network namespace (the API
 * tests' veth pairs) or a VIP bound when a record was taken never look like a host's address.
 */

export interface HostAddressesOptions {
  hostname: string;
  net: NetAdapter;
  session: EtcdSession;
  /** Canonical CIDRs this agent runs or is adding. */
  ownVips: () => Iterable<string>;
  logger: Logger;
  /** How often the interfaces are read again and the record re-published if it changed. */
  publishEveryMs?: number;
  /** How long one read of the facts serves the rule (a burst of adds reads them once). */
  factsMaxAgeMs?: number;
}

interface Facts {
  known: KnownAddress[];
  records: HostRecord[];
}

/** Interfaces change rarely; 30 s bounds how long a new address of a peer can be taken as a VIP. */
const DEFAULT_PUBLISH_EVERY_MS = 30_000;
const DEFAULT_FACTS_MAX_AGE_MS = 1000;

function addressOf(cidr: string): string | null {
  try {
    return parseCidr(cidr).text;
  } catch {
    return null;
  }
}

export class HostAddresses {
  private timer: NodeJS.Timeout | undefined;
  private published: string | null = null;
  private facts: { at: number; value: Promise<Facts> } | undefined;
  /** The last records read, for telling MACs apart while etcd cannot be read. */
  private lastRecords: HostRecord[] = [];
  private stopped = false;

  constructor(private readonly options: HostAddressesOptions) {}

  /** Publishes now (awaited: peers know this host before it adds or binds anything), then periodically. */
  async start(local?: InterfaceAddress[]): Promise<void> {
    await this.publish(local);
    const every = this.options.publishEveryMs ?? DEFAULT_PUBLISH_EVERY_MS;
    this.timer = setInterval(() => void this.publish(), every);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Why `cidr` (canonical) belongs to a host, or null. Rejects with the etcd error when etcd cannot be read. */
  async refusal(cidr: string): Promise<string | null> {
    const facts = await this.currentFacts();
    return vipRefusal(parseCidr(cidr), facts.known);
  }

  /**
   * Whether `mac` is a LinK holder of the VIP: the MAC a LinK host that carries it published.
   * `carriers` null (etcd could not say): any LinK host's. With no record ever read, no MAC is.
   */
  async isLinkHolder(mac: string, carriers: readonly HostMembership[] | null): Promise<boolean> {
    let records = this.lastRecords;
    try {
      records = (await this.currentFacts()).records;
    } catch {
      // etcd cannot be read: the records last read are the best word there is
    }
    const names = carriers === null ? null : new Set(carriers.map((c) => c.hostname));
    return records.some((r) => r.mac === mac.toLowerCase() && (names === null || names.has(r.hostname)));
  }

  private currentFacts(): Promise<Facts> {
    const maxAge = this.options.factsMaxAgeMs ?? DEFAULT_FACTS_MAX_AGE_MS;
    const now = performance.now();
    if (this.facts && now - this.facts.at < maxAge) return this.facts.value;
    const value = this.readFacts();
    this.facts = { at: now, value };
    // A failed read must not be served for the next second: the next caller tries again.
    value.catch(() => {
      if (this.facts?.value === value) this.facts = undefined;
    });
    return value;
  }

  private async readFacts(): Promise<Facts> {
    const [local, records, carried] = await Promise.all([
      this.options.net.addresses(),
      this.options.session.hostRecords(),
      this.options.session.carriedVips(),
    ]);
    this.lastRecords = records;
    const vips = this.vipAddresses(carried);
    const known: KnownAddress[] = local.filter((a) => !vips.has(addressOf(a.cidr) ?? ''));
    for (const record of records) {
      if (record.hostname === this.options.hostname) continue; // the kernel's word is fresher
      for (const a of record.addresses) {
        if (!vips.has(addressOf(a.cidr) ?? '')) known.push({ ...a, host: record.hostname });
      }
    }
    return { known, records };
  }

  private vipAddresses(carried: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (const cidr of [...this.options.ownVips(), ...carried]) {
      const address = addressOf(cidr);
      if (address !== null) out.add(address);
    }
    return out;
  }

  /**
   * Reads the interfaces and publishes the record if they changed. Unchanged, etcd is not asked
   * at all: in steady state the agent's etcd traffic stays its keep-alives. Failures are logged
   * and retried next round.
   */
  private async publish(local?: InterfaceAddress[]): Promise<void> {
    if (this.stopped) return;
    try {
      const [addresses, mac] = await Promise.all([
        local ?? this.options.net.addresses(),
        this.options.net.hardwareAddress(),
      ]);
      const own = this.vipAddresses([]);
      const candidates = addresses.filter((a) => !own.has(addressOf(a.cidr) ?? ''));
      const seen = JSON.stringify([mac, candidates]);
      if (seen === this.published) return;
      const vips = this.vipAddresses(await this.options.session.carriedVips().catch(() => []));
      await this.options.session.publishHost({
        hostname: this.options.hostname,
        interfaceName: this.options.net.interfaceName,
        mac,
        addresses: candidates.filter((a) => !vips.has(addressOf(a.cidr) ?? '')),
      });
      this.published = seen;
    } catch (err) {
      this.options.logger.warn("cannot publish this host's addresses to etcd; retrying", {
        err: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
