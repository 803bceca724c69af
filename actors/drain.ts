import type { DrainRecord, DrainStore } from '../adapters/etcd/drain-store.ts';
import type { StoredVip } from '../adapters/etcd/types.ts';
import { backoffDelay, type BackoffPolicy } from '../adapters/backoff.ts';
import type { IpState } from '../machines/ip.ts';
import { EtcdAdapterError } from '../adapters/etcd/errors.ts';
import { AgentStoppingError, EtcdUnavailableError, NotOwnerError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { NoteCode } from './notes.ts';
import { errorText, type VipRuntime } from './vip-runtime.ts';

/**
 * Drain (POST /drain): the host hands every VIP it owns to another candidate through the zero-gap
 * failover and stops competing, without stopping the agent; DELETE /drain resumes. The flag is
 * stored in etcd (`<prefix>/drain/<host>`, adapters/etcd/drain-store.ts) before anything changes
 * here, so a refused write (503) changes nothing and an accepted one holds across restarts.
 *
 * Level, not edge: while drained, each VIP is either out of the election (`runtime.drained`: no
 * lock attempts, no membership key, the same withdrawal as FAILING's) or owned and being handed
 * over, or kept (no other live candidate, or none took it in time). A VIP is looked at again on
 * every state change, so a VIP still BOOTING at the drain, one won back or bound at a restart,
 * is handed over once it is ACTIVATED; a kept VIP is tried again with backoff.
 *
 * | VIP is …                    | drain does                                                   |
 * |-----------------------------|--------------------------------------------------------------|
 * | ACTIVATED                   | failover (address bound until the successor holds the lock), |
 * |                             | then withdraws; no other candidate / timed out: kept, retried |
 * | STANDBY, FAILING            | withdraws at once                                            |
 * | BOOTING                     | waits: decided when it leaves BOOTING                        |
 * | added while drained         | never competes (not bound at start: withdrawn from creation)  |
 */

export type VipDrainState = 'pending' | 'handing-over' | 'handed-over' | 'withdrawn' | 'kept';

export interface VipDrain {
  id: string;
  ip: string;
  drain: VipDrainState;
  /** handed-over: the host that took it. */
  owner?: string;
  /** kept: why (no other live candidate, none took it in time, etcd). */
  reason?: string;
}

export interface DrainStatus {
  drained: boolean;
  /** When the drain was asked (ISO time), while drained. */
  since?: string;
  /** No VIP pending or being handed over (kept ones stay, and are retried). */
  done: boolean;
  counts: Record<VipDrainState, number>;
  /** Every VIP of this host while drained; empty otherwise. */
  vips: VipDrain[];
}

/** The host's drain as the API sees it. Throws `AgentError`s: EtcdUnavailableError when etcd refuses the flag. */
export interface DrainService {
  /** Stores the flag, then hands over what this host owns in the background: the status at once. */
  drain(): Promise<DrainStatus>;
  undrain(): Promise<DrainStatus>;
  status(): DrainStatus;
}

export interface DrainDeps {
  hostname: string;
  store: DrainStore;
  runtimes: ReadonlyMap<string, VipRuntime>;
  stateOf(id: string): IpState;
  /** The zero-gap handover (VipService.failover): resolves with the new owner. */
  failover(id: string): Promise<string>;
  note(vipId: string, code: NoteCode, message: string): void;
  logger: Logger;
  stopping(): boolean;
  /** A kept VIP is tried again after this, doubling up to 60 s. */
  keptRetryMs?: number;
}

const LOAD_RETRY: BackoffPolicy = { initialDelayMs: 500, maxDelayMs: 10_000, factor: 2, jitter: 0.2 };

export class Drain {
  private record: DrainRecord = { drained: false };
  private readonly states = new Map<
    string,
    { state: VipDrainState; owner?: string; reason?: string; tries?: number }
  >();
  /** Bumped by every drain and undrain: a handover that ends after one does not apply its result. */
  private epoch = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** VIPs out of the election (no lock attempts, no membership key) while drained. */
  private readonly out = new Set<string>();
  private readonly keptRetry: BackoffPolicy;
  private loaded = false;
  private stopped = false;

  constructor(private readonly deps: DrainDeps) {
    this.keptRetry = {
      initialDelayMs: deps.keptRetryMs ?? 5_000,
      maxDelayMs: 60_000,
      factor: 2,
      jitter: 0.1,
    };
  }

  get drained(): boolean {
    return this.record.drained;
  }

  /**
   * At start, before any VIP competes. etcd unreadable: the agent starts undrained (it cannot
   * tell) and reads again in the background; a drained flag found then drains as POST /drain does.
   */
  async load(): Promise<void> {
    try {
      this.record = await this.deps.store.read();
      this.loaded = true;
      if (this.record.drained)
        this.deps.logger.info('drained: no VIP competes until DELETE /drain', { since: this.record.since });
    } catch (err) {
      this.deps.logger.warn('drain flag unreadable at start: starting undrained, reading it again', {
        err: errorText(err),
      });
      this.loadLater(1);
    }
  }

  /** Whether a VIP starts out of the election: drained, unless bound here (a restart's: handed over once ACTIVATED). */
  outAtSpawn(vip: StoredVip, boundAtStart: boolean): boolean {
    if (!this.record.drained) return false;
    this.states.set(vip.id, { state: boundAtStart ? 'pending' : 'withdrawn' });
    if (!boundAtStart) this.out.add(vip.id);
    return !boundAtStart;
  }

  /** Spawning and leaving FAILING leave such a VIP out of the election. */
  keepsOut(vipId: string): boolean {
    return this.out.has(vipId);
  }

  async drain(): Promise<DrainStatus> {
    if (this.deps.stopping()) throw new AgentStoppingError();
    if (!this.record.drained) {
      const record: DrainRecord = { drained: true, since: new Date().toISOString() };
      // Refused (503): nothing changed here, and the store undoes whatever etcd may still take.
      await writeFlag(this.deps.store, record);
      this.loaded = true;
      this.apply(record);
    } else {
      // Asked again: kept VIPs are tried now.
      for (const [id, s] of this.states) if (s.state === 'kept') this.reconcile(id);
    }
    return this.status();
  }

  async undrain(): Promise<DrainStatus> {
    if (this.deps.stopping()) throw new AgentStoppingError();
    if (this.record.drained) {
      const record: DrainRecord = { drained: false };
      await writeFlag(this.deps.store, record);
      this.loaded = true;
      this.apply(record);
    }
    return this.status();
  }

  /** Every state change of a VIP while drained: it is looked at again. */
  onState(vipId: string): void {
    if (this.record.drained && !this.stopped) this.reconcile(vipId);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  status(): DrainStatus {
    const counts: Record<VipDrainState, number> = {
      pending: 0,
      'handing-over': 0,
      'handed-over': 0,
      withdrawn: 0,
      kept: 0,
    };
    const vips: VipDrain[] = [];
    if (this.record.drained) {
      for (const [id, runtime] of this.deps.runtimes) {
        if (runtime.removing) continue;
        const s = this.states.get(id) ?? { state: this.out.has(id) ? 'withdrawn' : 'pending' };
        counts[s.state]++;
        vips.push({
          id,
          ip: runtime.vip.ip,
          drain: s.state,
          ...(s.owner !== undefined ? { owner: s.owner } : {}),
          ...(s.reason !== undefined ? { reason: s.reason } : {}),
        });
      }
    }
    return {
      drained: this.record.drained,
      ...(this.record.drained ? { since: this.record.since } : {}),
      done: counts.pending === 0 && counts['handing-over'] === 0,
      counts,
      vips,
    };
  }

  private apply(record: DrainRecord): void {
    this.record = record;
    this.epoch++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.states.clear();
    if (record.drained) {
      this.deps.logger.info('drain: handing over the VIPs this host owns and leaving every election');
      for (const id of this.deps.runtimes.keys()) this.reconcile(id);
      return;
    }
    this.deps.logger.info('undrained: every VIP competes again');
    const out = [...this.out];
    this.out.clear();
    for (const id of out) {
      const runtime = this.deps.runtimes.get(id);
      if (!runtime) continue;
      // FAILING withdrew on its own: it competes again when it leaves FAILING (resumeCandidacy).
      if (!runtime.removing && this.deps.stateOf(id) !== 'FAILING') runtime.election.setCandidate(true);
      this.deps.note(id, 'DRAIN_RESUMED', `${runtime.vip.ip}: undrained: competing again`);
    }
  }

  private reconcile(id: string): void {
    const runtime = this.deps.runtimes.get(id);
    if (!runtime || runtime.removing || this.out.has(id)) return;
    const current = this.states.get(id);
    if (current?.state === 'handing-over') return;
    const state = this.deps.stateOf(id);
    if (state === 'ACTIVATED') void this.handOver(id, runtime, current?.tries ?? 0);
    else if (state === 'BOOTING') this.states.set(id, { state: 'pending' });
    else this.withdraw(id, runtime, 'withdrawn');
  }

  private async handOver(id: string, runtime: VipRuntime, tries: number): Promise<void> {
    const epoch = this.epoch;
    this.states.set(id, { state: 'handing-over' });
    let reason: string;
    try {
      // A cheap read first: with no other host carrying it, the failover (and its journal
      // notes) is not even tried, so a kept VIP retried with backoff stays quiet.
      const others = (await runtime.election.hosts()).filter((h) => h.hostname !== this.deps.hostname);
      if (epoch !== this.epoch) return;
      if (others.length === 0) {
        reason = 'no other host carries it: kept (this host goes on serving it; retried)';
      } else {
        const owner = await this.deps.failover(id);
        if (epoch !== this.epoch) return;
        this.withdraw(id, runtime, 'handed-over', owner);
        return;
      }
    } catch (err) {
      if (epoch !== this.epoch) return;
      if (err instanceof NotOwnerError) {
        // Lost it meanwhile (demoted, FAILING): nothing to hand over any more.
        this.states.delete(id);
        this.reconcile(id);
        return;
      }
      reason = `${errorText(err)} (retried)`;
    }
    if (this.deps.runtimes.get(id) !== runtime) return;
    this.states.set(id, { state: 'kept', reason, tries: tries + 1 });
    this.deps.note(id, 'DRAIN_KEPT', `${runtime.vip.ip}: drain: ${reason}`);
    this.later(backoffDelay(this.keptRetry, tries + 1), () => {
      if (epoch === this.epoch && this.states.get(id)?.state === 'kept') this.reconcile(id);
    });
  }

  private withdraw(
    id: string,
    runtime: VipRuntime,
    state: 'withdrawn' | 'handed-over',
    owner?: string,
  ): void {
    if (runtime.removing) return;
    this.out.add(id);
    runtime.election.setCandidate(false);
    this.states.set(id, { state, ...(owner !== undefined ? { owner } : {}) });
    this.deps.note(
      id,
      'DRAIN_WITHDRAWN',
      state === 'handed-over'
        ? `${runtime.vip.ip}: drain: handed over to ${owner}; out of the election until undrained`
        : `${runtime.vip.ip}: drain: out of the election until undrained`,
    );
  }

  private loadLater(attempt: number): void {
    this.later(backoffDelay(LOAD_RETRY, attempt), () => {
      if (this.loaded) return;
      this.deps.store.read().then(
        (record) => {
          if (this.loaded) return;
          this.loaded = true;
          if (record.drained) this.apply(record);
        },
        () => this.loadLater(attempt + 1),
      );
    });
  }

  private later(ms: number, run: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) run();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }
}

/** etcd's refusal reaches the API as EtcdUnavailableError (503), as every refused change does. */
async function writeFlag(store: DrainStore, record: DrainRecord): Promise<void> {
  try {
    await store.write(record);
  } catch (err) {
    if (err instanceof EtcdAdapterError)
      throw new EtcdUnavailableError(`etcd: ${err.message}; the drain flag is unchanged`, { cause: err });
    throw err;
  }
}

/** A store that keeps the flag in memory (tests, an agent built without etcd's). */
export function memoryDrainStore(initial: DrainRecord = { drained: false }): DrainStore {
  let record = initial;
  return {
    read: () => Promise.resolve(record),
    write: (next) => {
      record = next;
      return Promise.resolve();
    },
  };
}
