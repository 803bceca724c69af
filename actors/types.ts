import type { Observable } from 'rxjs';
import type { EventSource, FaultPolicy, IpEventType, IpState } from '../machines/ip.ts';
import type { EtcdSession, HostMembership, SessionStatus } from '../adapters/etcd/types.ts';
import type { ClusterView } from '../adapters/etcd/cluster-view.ts';
import type { NetAdapter } from '../adapters/net/types.ts';
import type { VipCache } from '../adapters/cache/vip-cache.ts';
import type { HealthCheckSpec, HealthMonitor } from '../adapters/health/types.ts';
import type { ExecChecksPolicy } from '../adapters/health/exec-policy.ts';
import type { DrainStore } from '../adapters/etcd/drain-store.ts';
import type { StateChange as HookStateChange } from '../adapters/hooks/types.ts';
import type { DrainService } from './drain.ts';
import type { HealthReport } from './health.ts';
import type { Journal } from './journal.ts';
import type { Logger } from './logger.ts';
import type { NoteCode, NoteLevel } from './notes.ts';

/** One line of a VIP's journal. `kind: 'start'` marks an actor (re)start: replay restarts there. */
export type JournalEntry =
  | {
      kind: 'start';
      seq: number;
      time: string;
      vipId: string;
      ip: string;
      faultPolicy: FaultPolicy;
      state: IpState;
    }
  | {
      kind: 'event';
      seq: number;
      time: string;
      vipId: string;
      event: IpEventType;
      source: EventSource | 'unknown';
      reason?: string;
      from: IpState;
      to: IpState;
    }
  | {
      /** Something the actor layer did or failed to do (bind failed, hook failed, conflict seen). */
      kind: 'note';
      seq: number;
      time: string;
      vipId: string;
      level: NoteLevel;
      code: NoteCode;
      message: string;
    };

/** What the API shows of a VIP (LinK v2's shape plus additive fields). */
export interface VipView {
  id: string;
  ip: string;
  checks: HealthCheckSpec[];
  healthcheck_interval: number;
  /** This host's placement of the VIP (issue 16): 0–255, higher wins. */
  priority: number;
  preempt: boolean;
  /** Seconds. */
  preempt_delay: number;
  status: IpState;
  /** This host holds the VIP (its actor is ACTIVATED). */
  owner: boolean;
}

/** What PATCH may change of a VIP; an absent field keeps its value. */
export interface VipChange {
  checks?: HealthCheckSpec[];
  healthcheck_interval?: number;
  priority?: number;
  preempt?: boolean;
  /** Seconds. */
  preempt_delay?: number;
}

export interface NewVip extends VipChange {
  ip: string;
}

export interface AgentHealth {
  /** /healthz answers 200: no reason, or only tolerated ones (actors/health.ts HEALTH_CODES). */
  ok: boolean;
  /** What is wrong, one line each: etcd session lost, storage writes failing (with the path), … */
  reasons: string[];
  etcd: 'connecting' | 'alive' | 'fault' | 'closed';
  leaseRemainingMs: number;
  /** etcd refuses the agent's settings (TLS, user, role): not an outage, VIPs kept unbound. */
  configError?: SessionStatus['configError'];
}

/** One health-check round of a VIP: every check probed once (for metrics; not journaled). */
export interface HealthRoundReport {
  vipId: string;
  results: { check: string; ok: boolean; durationMs: number }[];
}

/** The agent as the HTTP layer and the CLI see it. Methods throw `AgentError`s. */
export interface AgentService {
  readonly hostname: string;
  list(): VipView[];
  get(id: string): VipView;
  add(vip: NewVip): Promise<VipView>;
  update(id: string, change: VipChange): Promise<VipView>;
  /** Waits (bounded) until another host holds the VIP, then forgets it. */
  remove(id: string): Promise<void>;
  /** Tries to take ownership now. */
  tryLock(id: string): Promise<VipView>;
  /**
   * Hands the VIP to a live candidate, never unbinding it first; resolves with the host that took
   * it. Throws NotOwnerError, NoOtherCandidateError (none live), HandoverTimeoutError (none took it).
   */
  failover(id: string): Promise<string>;
  hosts(id: string): Promise<HostMembership[]>;
  /** Every VIP of the cluster, its owner and each host's state for it, from etcd (GET /cluster). */
  cluster(): Promise<ClusterView>;
  journal(id: string): JournalEntry[];
  /** Live journal entries of every VIP (filter by vipId). */
  readonly journal$: Observable<JournalEntry>;
  /** Live health-check rounds of every VIP: too frequent for the bounded journal. */
  readonly healthRounds$: Observable<HealthRoundReport>;
  /** The agent's health: actors/health.ts says how each reason is found. */
  health(): HealthReport;
  /** POST / DELETE /drain (actors/drain.ts); absent on an agent without it (API tests' fakes). */
  readonly drainer?: DrainService;
}

/** A state change of one VIP as the hooks take it: its one definition is the hooks'. */
export type StateChange = HookStateChange<IpState>;

/** Where state changes go (notify hooks); never blocks, never throws. */
export interface StateChangeNotifier {
  notify(change: StateChange): void;
  close(): Promise<void>;
}

export interface AgentOptions {
  hostname: string;
  faultPolicy: FaultPolicy;
  session: EtcdSession;
  net: NetAdapter;
  monitorHealth: HealthMonitor;
  /** EXEC_CHECKS_DIR's rule: an add or update with an EXEC check it refuses stores nothing. */
  execPolicy: ExecChecksPolicy;
  health: { intervalMs: number; timeoutMs: number; fallCount: number; riseCount: number };
  /** TRACK_INTERFACE: the interface's link is a health input of every VIP (actors/link.ts). */
  trackInterface?: boolean;
  /** BALANCE=on: BALANCE_INTERVAL (actors/balancer.ts); absent: no balancing. */
  balanceIntervalMs?: number;
  journal: Journal;
  logger: Logger;
  leaseTtlMs: number;
  /** Kernel lifetime of a bound VIP in seconds; 0 = none. Capped by the lease under at-most-one. */
  addressLifetimeSec: number;
  announce: { count: number; intervalMs: number; refreshIntervalMs: number };
  /** Bound on DELETE and failover waiting for another host. */
  handoverTimeoutMs: number;
  /** How long a restart may take and keep the VIPs (bridge lease and address lifetime). */
  restartGraceSec: number;
  /** Local copy of the configuration, used when etcd is down at start. */
  cache?: VipCache;
  /** The drain flag's store (etcd's, adapters/etcd/drain-store.ts); absent: kept in memory. */
  drainStore?: DrainStore;
  notifier?: StateChangeNotifier;
}
