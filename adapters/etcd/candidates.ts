import { DEFAULT_PRIORITY } from './member.ts';

/**
 * Who a failover may hand a VIP to: the membership keys `<prefix>/ips/<ip>/<host>` read in one
 * range, sorted into live candidates and the rest (with why). Pure: the election reads, this
 * decides.
 *
 * A LinK agent's membership key carries its lease, and etcd deletes it when the lease ends: a
 * key with a lease is a live agent's (it may still be frozen: the handover waits for it to take
 * the lock, see election.ts). A key without a lease is a LinK v2 host's (v2 writes them so,
 * `{"updated_at":…}`) or one left by hand. Its `updated_at` does not say whether v2 still runs:
 * v2.0.3 writes it when it starts managing the VIP and on its own failovers, not on each poll
 * (measured in the lab: unchanged for minutes). What does is the lease v2 keeps alive every
 * KEEPALIVE_INTERVAL and names in its host record `<prefix>/config/<host>` (`lease_id`): such a
 * host is live while etcd says that lease lives (`v2Leases`, read by the election). It cannot
 * confirm an offer, so it gets v2's own handover instead (`kind: 'v2'`, election.ts), and only
 * after every LinK candidate (sorted last).
 */

export interface HandoverCandidate {
  hostname: string;
  /** Decimal lease id of its membership key ('0' for a v2 host); the offer compares it. */
  lease: string;
  /** `link`: a LinK agent (offer, confirmation); `v2`: a LinK v2 agent (free the lock, wake it). */
  kind: 'link' | 'v2';
}

export interface NotLiveCandidate {
  hostname: string;
  why: string;
}

export interface Candidates {
  live: HandoverCandidate[];
  notLive: NotLiveCandidate[];
}

export interface Member {
  hostname: string;
  lease: string;
  /** Its membership value's priority (member.ts): LinK candidates are offered highest first. */
  priority?: number;
}

/**
 * What etcd says of a lease-less member's host record: `live` (its `lease_id` lives), `dead`
 * (named, but etcd no longer knows it), or `none` (no record, or no lease id in it).
 */
export type V2LeaseState = 'live' | 'dead' | 'none';

export function sortCandidates(
  members: readonly Member[],
  self: string,
  v2Leases: ReadonlyMap<string, V2LeaseState> = new Map(),
): Candidates {
  const link: HandoverCandidate[] = [];
  const v2: HandoverCandidate[] = [];
  const notLive: NotLiveCandidate[] = [];
  const byPriority = (a: Member, b: Member) =>
    (b.priority ?? DEFAULT_PRIORITY) - (a.priority ?? DEFAULT_PRIORITY) ||
    a.hostname.localeCompare(b.hostname);
  for (const { hostname, lease } of [...members].sort(byPriority)) {
    if (hostname === self || hostname.length === 0) continue;
    if (lease !== '0' && lease !== '') {
      link.push({ hostname, lease, kind: 'link' });
      continue;
    }
    const state = v2Leases.get(hostname) ?? 'none';
    if (state === 'live') v2.push({ hostname, lease: '0', kind: 'v2' });
    else {
      notLive.push({
        hostname,
        why:
          state === 'dead'
            ? 'its membership key has no lease and the lease its host record names has ended (a LinK v2 host that stopped)'
            : 'its membership key has no lease and no host record names a lease (a stale key)',
      });
    }
  }
  return { live: [...link, ...v2], notLive };
}

/** A targeted handover: only `to` is offered the VIP; not live (or not a member): nobody. */
export function onlyTo(candidates: Candidates, to: string): Candidates {
  const live = candidates.live.filter((c) => c.hostname === to);
  if (live.length > 0 || candidates.notLive.some((c) => c.hostname === to)) {
    return { live, notLive: candidates.notLive.filter((c) => c.hostname === to) };
  }
  return { live, notLive: [{ hostname: to, why: 'it carries no membership key of this VIP' }] };
}
