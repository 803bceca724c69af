/**
 * Who a failover may hand a VIP to: the membership keys `<prefix>/ips/<ip>/<host>` read in one
 * range, sorted into live candidates and the rest (with why). Pure: the election reads, this
 * decides.
 *
 * A LinK agent's membership key carries its lease, and etcd deletes it when the lease ends: a
 * key with a lease is a live agent's (it may still be frozen: the handover waits for it to take
 * the lock, see election.ts). A key without a lease is a LinK v2 host's (v2 writes them so,
 * `{"updated_at":…}`) or one left by hand: not live for a handover, since only a LinK agent
 * acknowledges one, and a v2 host's `updated_at` says it polls, not that it would take the lock
 * now (mixed clusters: docs/migrating-from-v2.md).
 */

export interface HandoverCandidate {
  hostname: string;
  /** Decimal lease id of its membership key; the handover compares it in its transaction. */
  lease: string;
}

export interface NotLiveCandidate {
  hostname: string;
  why: string;
}

export interface Candidates {
  live: HandoverCandidate[];
  notLive: NotLiveCandidate[];
}

export function sortCandidates(
  members: readonly { hostname: string; lease: string }[],
  self: string,
): Candidates {
  const live: HandoverCandidate[] = [];
  const notLive: NotLiveCandidate[] = [];
  for (const { hostname, lease } of [...members].sort((a, b) => a.hostname.localeCompare(b.hostname))) {
    if (hostname === self || hostname.length === 0) continue;
    if (lease === '0' || lease === '') {
      notLive.push({ hostname, why: 'its membership key has no lease (a LinK v2 host, or a stale key)' });
    } else live.push({ hostname, lease });
  }
  return { live, notLive };
}
