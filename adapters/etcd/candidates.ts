/**
 * Who a failover may hand a VIP to: the membership keys `<prefix>/ips/<ip>/<host>` read in one
 * range, sorted into live candidates and the rest (with why). Pure: the election reads, this
 * decides.
 *
 * A LinK agent's membership key carries its lease, and etcd deletes it when the lease ends: a
 * key with a lease is a live agent's (it may still be frozen: the handover waits for it to take
 * the lock, see election.ts). A key without a lease is a LinK v2 host's (v2 writes them so,
 * `{"updated_at":…}`, again on every poll, each KEEPALIVE_INTERVAL) or one left by hand: live
 * only while its `updated_at` is recent (`V2_MEMBERSHIP_FRESH_MS`), a v2 agent that still polls.
 * Such a host cannot confirm an offer, so it gets v2's own handover instead (`kind: 'v2'`,
 * election.ts): the lock freed and the membership range touched, which wakes v2's watch at once.
 */

/**
 * How old a v2 membership key's `updated_at` may be for its host to count as alive: three polls
 * of v2's default KEEPALIVE_INTERVAL (3 s) and a second for clock skew between the hosts.
 */
export const V2_MEMBERSHIP_FRESH_MS = 10_000;

export interface HandoverCandidate {
  hostname: string;
  /** Decimal lease id of its membership key; the handover compares it in its transaction ('0' for v2). */
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
  /** The key's value (a LinK agent's: its hostname; a v2 agent's: `{"updated_at":…}`). */
  value?: string;
}

/** The `updated_at` of a v2 membership value (Go's RFC 3339 time), ms since the epoch, or null. */
export function updatedAtOf(value: string | undefined): number | null {
  if (value === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null) return null;
    const at = (parsed as { updated_at?: unknown }).updated_at;
    if (typeof at !== 'string') return null;
    const ms = Date.parse(at);
    return Number.isNaN(ms) ? null : ms;
  } catch {
    return null;
  }
}

export function sortCandidates(
  members: readonly Member[],
  self: string,
  nowMs: number = Date.now(),
  freshMs: number = V2_MEMBERSHIP_FRESH_MS,
): Candidates {
  const live: HandoverCandidate[] = [];
  const notLive: NotLiveCandidate[] = [];
  for (const member of [...members].sort((a, b) => a.hostname.localeCompare(b.hostname))) {
    const { hostname, lease } = member;
    if (hostname === self || hostname.length === 0) continue;
    if (lease !== '0' && lease !== '') {
      live.push({ hostname, lease, kind: 'link' });
      continue;
    }
    const at = updatedAtOf(member.value);
    if (at === null) {
      notLive.push({ hostname, why: 'its membership key has no lease and no updated_at (a stale key)' });
    } else if (Math.abs(nowMs - at) > freshMs) {
      notLive.push({
        hostname,
        why: `its membership key has no lease and its updated_at is ${Math.round((nowMs - at) / 1000)} s old (a LinK v2 host that stopped polling, or a stale key)`,
      });
    } else live.push({ hostname, lease: '0', kind: 'v2' });
  }
  return { live, notLive };
}
