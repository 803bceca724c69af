import type { NetAdapter } from '../adapters/net/types.ts';
import { lifetimeSec, type LifetimePolicy } from './lifetime.ts';

/**
 * A crash-restart's first act (issue 18 part 6): the killed agent's VIPs are still in the kernel
 * with the lifetime its last refresh gave them (1.33–2 s with the default TTL), and the actors
 * that renew them load later. Once etcd has said the killed agent's lease is alive and which
 * locks are still this host's under it (adapters/etcd/first-contact.ts), those addresses get a
 * lifetime from the lease at once, so a start slower than what they had left does not cost the
 * clients the VIP. Only addresses still on the interface, never beyond the lease
 * (actors/lifetime.ts), nothing announced: the actors take over as after any restart. Runs
 * before the logger exists: the caller logs the outcome.
 */

export interface HeldAddressesInput {
  /** What etcd said: the locks held under the lease, and when the lease ends at the earliest. */
  held: { locksHeld: readonly string[]; leaseDeadline: number };
  net: Pick<NetAdapter, 'interfaceName' | 'addresses' | 'refreshMany'>;
  policy: LifetimePolicy;
  /** performance.now(), the clock of `leaseDeadline`; tests pass their own. */
  now?: () => number;
}

export interface HeldAddressesOutcome {
  renewed: string[];
  /** The lifetime given, in seconds; null when none applied (none held, or none may be given). */
  lifetimeSec: number | null;
  failed: string[];
  /** Why nothing was renewed when reading the kernel failed. */
  error?: string;
}

export async function renewHeldAddresses({
  held,
  net,
  policy,
  now = () => performance.now(),
}: HeldAddressesInput): Promise<HeldAddressesOutcome> {
  const none: HeldAddressesOutcome = { renewed: [], lifetimeSec: null, failed: [] };
  if (held.locksHeld.length === 0) return none;
  const lifetime = lifetimeSec(policy, { state: 'alive', leaseRemainingMs: held.leaseDeadline - now() });
  // 0: the addresses never expire, nothing to renew; null: the lease is too close to promise any.
  if (lifetime === null || lifetime === 0) return none;
  try {
    const present = new Set(
      (await net.addresses()).filter((a) => a.interfaceName === net.interfaceName).map((a) => a.cidr),
    );
    const renew = held.locksHeld.filter((cidr) => present.has(cidr));
    if (renew.length === 0) return none;
    const failures = await net.refreshMany(renew, { lifetimeSec: lifetime });
    return {
      renewed: renew.filter((cidr) => !failures.has(cidr)),
      lifetimeSec: lifetime,
      failed: [...failures.keys()],
    };
  } catch (err) {
    return { ...none, error: err instanceof Error ? err.message : String(err) };
  }
}
