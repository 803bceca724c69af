import type { SessionStatus } from '../adapters/etcd/types.ts';
import type { FaultPolicy } from '../machines/ip.ts';

/**
 * The kernel-lifetime policy of a bound VIP: pure functions of the configuration and the etcd
 * session's status, so the agent asks them and the unit tests pin them.
 */

export interface LifetimePolicy {
  faultPolicy: FaultPolicy;
  /** ADDRESS_LIFETIME in seconds; 0 = none. */
  addressLifetimeSec: number;
  leaseTtlMs: number;
}

type Status = Pick<SessionStatus, 'state' | 'leaseRemainingMs' | 'faultSource'>;

/**
 * Whole seconds the kernel may keep the address now; null when it must not be held. While
 * the etcd session is alive the address never outlives the lease: a killed or frozen agent's
 * VIP leaves the kernel about when its lock does. Only `at-least-one` during an etcd outage
 * (when no lease can be kept) holds it for the configured lifetime, refreshed while alive.
 */
export function lifetimeSec(policy: LifetimePolicy, status: Status): number | null {
  const configured = policy.addressLifetimeSec;
  if (policy.faultPolicy === 'at-least-one') {
    if (configured === 0 || status.state !== 'alive') return configured;
  }
  const leaseLeft = Math.floor(status.leaseRemainingMs / 1000);
  const cap = configured === 0 ? leaseLeft : Math.min(configured, leaseLeft);
  if (cap >= 1) return cap;
  return policy.faultPolicy === 'at-most-one' ? null : 1;
}

/**
 * An owned address the kernel dropped by its lifetime (this process was frozen or stalled past
 * it) comes back only on etcd's word: this host holds the lock, or etcd itself failed since
 * the fence passed and the policy keeps the VIP without it. Right after a thaw neither holds:
 * the session's recovery has not read etcd yet, and another host has most likely taken over.
 */
export function mayRecreateExpired(policy: LifetimePolicy, status: Status, holdsLock: boolean): boolean {
  if (status.state === 'alive') return holdsLock;
  return policy.faultPolicy === 'at-least-one' && status.state === 'fault' && status.faultSource === 'etcd';
}

/**
 * etcd's word since `sinceMs` (performance.now()): the session is alive and etcd answered a
 * keep-alive this host sent after that moment. A host back from a link failure competes again
 * only then (actors/link.ts), for the reason an expired address waits in mayRecreateExpired: at
 * link-up its session may still be judging the outage (the fence check asked etcd while the link
 * was down). Its `fault`, arriving after the VIP left FAILING, was taken for etcd's own failure
 * and bound the VIP under at-least-one beside the new owner until the recovery read etcd (156 ms
 * in the chaos suite). A fault after this proof is etcd's own, and the policy applies.
 *
 * The fence deadline is the send time of the last keep-alive etcd answered plus at most the TTL,
 * so deadline - TTL after `sinceMs` proves the keep-alive was sent after it (never too early).
 * A deadline further than one TTL away (a restart's bridge lease) proves nothing.
 */
export function etcdAnsweredSince(
  policy: Pick<LifetimePolicy, 'leaseTtlMs'>,
  status: Status,
  sinceMs: number,
  nowMs: number,
): boolean {
  const left = status.leaseRemainingMs;
  if (status.state !== 'alive' || left <= 0 || left > policy.leaseTtlMs) return false;
  return nowMs + left - policy.leaseTtlMs > sinceMs;
}

/** Refresh after each keep-alive, at the latest a third of the way through the lifetime. */
export function refreshEveryMs(policy: LifetimePolicy, status: Status): number {
  const lifetimeMs = (lifetimeSec(policy, status) ?? 1) * 1000;
  return Math.max(100, Math.min(policy.leaseTtlMs / 3, lifetimeMs / 3));
}

/**
 * The least time a killed agent's address has left in the kernel: the lifetime its last refresh
 * set with a full lease (whole seconds, rounded down: one second less than the TTL), less the
 * longest wait for a refresh. A crash-restart keeps the client's gap small only when the
 * restarted agent reaches etcd and renews its addresses within it: with LEASE_TTL 2 s that was
 * 0.67 s, less than a start takes, so the default TTL is 3 s (1.33 s; packaging/link.service's
 * RestartSec= is checked against it in test/unit/packaging-systemd.test.ts).
 */
export function addressLeftAfterKillMs(policy: LifetimePolicy): number {
  const fresh: Status = { state: 'alive', leaseRemainingMs: policy.leaseTtlMs - 1 };
  const lifetime = lifetimeSec({ ...policy, faultPolicy: 'at-most-one' }, fresh) ?? 0;
  return lifetime * 1000 - refreshEveryMs(policy, fresh);
}
