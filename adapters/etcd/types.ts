import type { Observable } from 'rxjs';
import type { ClusterView } from './cluster-view.ts';
import type { Placement } from './member.ts';

/**
 * The etcd port: one session (lease) per agent, one election per VIP, the VIP configuration.
 * Implemented in this folder on the `etcd3` client.
 */

/**
 * What the election stream tells an IP actor; `type` matches the IP machine's events.
 * `reassert`: the same verdict as the last one, sent again after a full read of etcd (session
 * recovery, the periodic recheck) or a return to candidacy; it matters only to a consumer whose
 * state does not already follow it.
 */
export type ElectionEvent =
  | { type: 'elected'; source: 'etcd'; reason?: string; revision?: number; reassert?: true }
  | { type: 'demoted'; source: 'etcd'; reason?: string; owner?: string; revision?: number; reassert?: true }
  | { type: 'fault'; source: 'etcd' | 'fence'; reason: string };

export type SessionState = 'connecting' | 'alive' | 'fault' | 'closed';

export interface SessionStatus {
  state: SessionState;
  /** Decimal string (etcd lease ids are int64). */
  leaseId: string | null;
  /** Milliseconds left before the agent's own fence deadline (last keep-alive + TTL); 0 when past. */
  leaseRemainingMs: number;
  lastError?: string;
  /**
   * In `fault`, what put it there last: `fence` (the agent's own deadline passed: it may just
   * have been frozen, etcd not asked yet), `etcd` (etcd failed or did not answer: an outage, the
   * fault policy applies) or `config` (etcd answered and refused this agent's certificates, user
   * or role: not an outage; the elections say `demoted` and no lock is tried, see `configError`).
   */
  faultSource?: 'fence' | 'etcd' | 'config';
  /** With faultSource `config`: the refusal's code and its one line (names the file, CA or user). */
  configError?: { code: 'ETCD_TLS' | 'ETCD_AUTH' | 'ETCD_PERMISSION'; message: string };
}

/** One VIP's configuration as stored at `<prefix>/hosts/<hostname>/<id>` (LinK v2 shape). */
export interface StoredVip {
  id: string;
  /** Canonical CIDR, e.g. `198.18.0.10/32`. */
  ip: string;
  checks: unknown[];
  healthcheck_interval?: number;
  /** 0–255, higher wins (member.ts); absent in records written before priorities: 100. */
  priority?: number;
  /** Take the VIP from a lower-priority owner; absent: false (LinK v2's behaviour). */
  preempt?: boolean;
  /** Seconds a higher priority must hold before it preempts; absent: member.ts's default. */
  preempt_delay?: number;
}

/**
 * What an agent publishes about its host at `<prefix>/agents/<hostname>` under its lease: the
 * addresses of its interfaces (not its VIPs) and its MAC on the VIPs' interface, so other agents
 * refuse those addresses as VIPs and know its MAC as a LinK holder's.
 */
export interface HostRecord {
  hostname: string;
  /** The interface its VIPs go on (INTERFACE). */
  interfaceName: string;
  /** That interface's MAC, lower-case colon hex. */
  mac: string;
  /** Every interface's addresses but its VIPs, `address/prefix`. */
  addresses: { interfaceName: string; cidr: string }[];
}

export interface HostMembership {
  hostname: string;
  owner: boolean;
  /** From its membership key (member.ts); a host listed only as the lock's owner: null. */
  priority: number | null;
  preempt: boolean | null;
}

/**
 * How a failover ended. `handed-over`: `owner` holds the lock and has taken it. `no-live-candidate`:
 * no other live host carries the VIP (a live lease, or for a v2 host the live lease its host record names; `notLive` says who carries it and why they do
 * not count); nothing was written. `timed-out`: the candidates offered it did not take it within
 * the bound; this host holds the lock again and never unbound the VIP.
 */
export type FailoverOutcome =
  | { result: 'handed-over'; owner: string }
  | { result: 'no-live-candidate'; notLive: { hostname: string; why: string }[] }
  | { result: 'timed-out'; offered: string[] };

/** `to`: hand the VIP to this host only (a targeted handover: preemption, balance). */
export interface FailoverOptions {
  to?: string;
}

export interface Election {
  /** elected / demoted / fault for this VIP, driven by watches and the session, never by polling. */
  readonly events$: Observable<ElectionEvent>;
  /**
   * While this host owns the VIP: a candidate whose preemption is due (preempt on, a higher
   * priority for its preempt_delay): hand the VIP to it (failover with `to`).
   */
  readonly preemptions$: Observable<string>;
  /** etcd's last word is that this host holds the lock with the session's live lease. */
  readonly holdsLock: boolean;
  /** false: no lock attempts and no membership key (a FAILING host withdraws). */
  setCandidate(candidate: boolean): void;
  /** This host's priority and preemption for the VIP, published in its membership key. */
  setPlacement(placement: Placement): void;
  /** Deletes the lock if this host holds it; resolves when done. */
  release(): Promise<void>;
  /** Tries the lock transaction now; true when this host holds the lock after it. */
  tryLock(): Promise<boolean>;
  /**
   * The owner hands the VIP over to a live candidate that takes it, never letting go of it
   * before one has (README.md, "Failover"); bounded by timeoutMs. `unbind` runs once the
   * successor has taken the lock, before it is told to bind. Rejects with EtcdNotOwnerError when
   * this host does not hold the lock.
   */
  failover(
    timeoutMs: number,
    unbind?: () => Promise<void>,
    options?: FailoverOptions,
  ): Promise<FailoverOutcome>;
  /** The hostname in the lock key, or null. */
  owner(): Promise<string | null>;
  /** Hosts carrying this VIP (membership keys) and which one owns it. */
  hosts(): Promise<HostMembership[]>;
  /** Releases the lock, removes the membership key, stops the watch. */
  close(): Promise<void>;
}

/** An add's answer: refused when this host already has a record of the address (`existingId`). */
export type AddResult = { added: true } | { added: false; existingId: string };

/**
 * This host's VIP records. A write that rejects with a recoverable error is refused: whatever of
 * it etcd may still take is undone (config-store.ts), so the caller changes nothing locally.
 */
export interface ConfigStore {
  /** Reads (and indexes) the records; at the agent's start. */
  list(): Promise<StoredVip[]>;
  /** Stores a new VIP and its address index key in one transaction. */
  add(vip: StoredVip): Promise<AddResult>;
  /** Replaces a VIP's record; `previous` is what a refused update is undone to. */
  update(previous: StoredVip, next: StoredVip): Promise<void>;
  /** Deletes a VIP's record and its address index key. */
  delete(vip: StoredVip): Promise<void>;
  /** Resolves once no refused write can land any more (undone); rejects while etcd cannot take it. */
  settle(): Promise<void>;
}

export interface EtcdSession {
  readonly hostname: string;
  readonly status$: Observable<SessionStatus>;
  status(): SessionStatus;
  /** One election per VIP (keyed by canonical CIDR); all share the agent's single lease. */
  election(cidr: string, placement?: Placement): Election;
  readonly config: ConfigStore;
  /**
   * Puts this host's record under the lease now (when the session is alive) and again after
   * every new lease, until replaced. Resolves once written, or at once while not alive.
   */
  publishHost(record: HostRecord): Promise<void>;
  /** Every live agent's record (this host's included). */
  hostRecords(): Promise<HostRecord[]>;
  /** Every CIDR some live agent carries as a VIP (membership keys), once each. */
  carriedVips(): Promise<string[]>;
  /** Every VIP of the cluster with each host's state for it, read from etcd (cluster-view.ts). */
  clusterView(scope?: 'full' | 'elections'): Promise<ClusterView>;
  /** Graceful: with revoke the lease is revoked so peers take over at once. */
  close(options: { revoke: boolean }): Promise<void>;
  /** Stop for a restart: this host's locks move to a bridge lease of `graceSeconds` the next agent reuses. */
  closeForRestart(graceSeconds: number): Promise<void>;
}
