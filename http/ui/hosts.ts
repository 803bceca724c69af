import type { HostMembership } from '../../adapters/etcd/types.ts';

/**
 * The cluster panel's hosts of one VIP. GET /ips/:id/hosts lists the hosts that carry it now
 * (their membership key lives with their lease); a host that stops, dies or withdraws drops
 * out of that list. The page keeps showing it, as down, so an operator sees that it went away
 * rather than a shorter list. Pure (unit-tested in Node).
 */

export interface ShownHost {
  hostname: string;
  owner: boolean;
  /** false: it was listed before and is not any more. */
  up: boolean;
}

/** etcd's current list, plus the hosts shown before that it no longer lists (down), by name. */
export function mergeHosts(shown: readonly ShownHost[], current: readonly HostMembership[]): ShownHost[] {
  const merged = new Map<string, ShownHost>();
  for (const host of current)
    merged.set(host.hostname, { hostname: host.hostname, owner: host.owner, up: true });
  for (const host of shown) {
    if (!merged.has(host.hostname))
      merged.set(host.hostname, { hostname: host.hostname, owner: false, up: false });
  }
  return [...merged.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
}
