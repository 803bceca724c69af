import { randomUUID } from 'node:crypto';
import { catchError, filter, firstValueFrom, of, timeout } from 'rxjs';
import type { AgentEvent } from '../machines/agent.ts';
import type { IpState } from '../machines/ip.ts';
import type { Election, EtcdSession, HostMembership, StoredVip } from '../adapters/etcd/types.ts';
import type { ClusterView } from '../adapters/etcd/cluster-view.ts';
import type { HealthCheckSpec } from '../adapters/health/types.ts';
import { refusedExecChecks, type ExecChecksPolicy } from '../adapters/health/exec-policy.ts';
import { ipRefusalMessage } from '../adapters/net/vip-rule.ts';
import { EtcdAdapterError } from '../adapters/etcd/errors.ts';
import { DEFAULT_PLACEMENT, placementOf } from '../adapters/etcd/member.ts';
import {
  AgentStoppingError,
  EtcdUnavailableError,
  DuplicateVipError,
  HandoverTimeoutError,
  InvalidVipError,
  NoOtherCandidateError,
  NotOwnerError,
  VipNotFoundError,
} from './errors.ts';
import type { HostAddresses } from './host-addresses.ts';
import type { Journal } from './journal.ts';
import type { NoteCode } from './notes.ts';
import { checksIntervalMs, errorText, type VipRuntime } from './vip-runtime.ts';
import type { VipCacheWriter } from './vip-cache-writer.ts';
import type { JournalEntry, NewVip, VipChange, VipView } from './types.ts';

const DEFAULT_HEALTHCHECK_INTERVAL_S = 0;

/** What the service needs from the agent: its runtimes, its supervisor and its notes. */
export interface VipServiceDeps {
  hostname: string;
  session: EtcdSession;
  journal: Journal;
  execPolicy: ExecChecksPolicy;
  health: { intervalMs: number };
  /** Bound on DELETE and failover waiting for another host. */
  handoverTimeoutMs: number;
  hostAddresses: HostAddresses;
  /** The agent's runtimes: the service removes from it, spawn() adds to it. */
  runtimes: Map<string, VipRuntime>;
  cache: VipCacheWriter;
  stopping(): boolean;
  /** Sends to the supervisor (reservations and removals). */
  send(event: AgentEvent): void;
  /** The supervisor's index is the agent's only one: reservations included. */
  vipIdOf(ip: string): string | undefined;
  spawn(vip: StoredVip): void;
  note(vipId: string, code: NoteCode, message: string): void;
}

/**
 * The VIP service behind the API: add, update, remove, lock, failover and the agent's health. Removal and failover
 * drive the address and the election directly (the machine has no event for them), so each
 * says what it does to the address in a journal note.
 */
export class VipService {
  /** The last change queued for each VIP: a PATCH and a DELETE of one VIP run one after the other. */
  private readonly changes = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: VipServiceDeps) {}

  list(): VipView[] {
    return [...this.deps.runtimes.keys()].map((id) => this.get(id));
  }

  get(id: string): VipView {
    const runtime = this.mustRuntime(id);
    const state = this.stateOf(id);
    const placement = placementOf(runtime.vip);
    return {
      id,
      ip: runtime.vip.ip,
      checks: runtime.checks.value.checks,
      healthcheck_interval: runtime.vip.healthcheck_interval ?? DEFAULT_HEALTHCHECK_INTERVAL_S,
      priority: placement.priority,
      preempt: placement.preempt,
      preempt_delay: placement.preemptDelayMs / 1000,
      status: state,
      owner: state === 'ACTIVATED',
    };
  }

  add(request: NewVip): Promise<VipView> {
    return viaEtcd(() => this.addNow(request));
  }

  update(id: string, change: VipChange): Promise<VipView> {
    return this.oneAtATime(id, () => viaEtcd(() => this.updateNow(id, change)));
  }

  remove(id: string): Promise<void> {
    return this.oneAtATime(id, () => viaEtcd(() => this.removeNow(id)));
  }

  tryLock(id: string): Promise<VipView> {
    return viaEtcd(() => this.tryLockNow(id));
  }

  /** Resolves with the host that holds the VIP now. */
  failover(id: string): Promise<string> {
    return viaEtcd(() => this.failoverNow(id));
  }

  /**
   * The election says `to` preempts (issue 16: preempt on, a higher priority for its
   * preempt_delay): the same zero-gap handover as failover, offered to that host only. A failure
   * is a note (the election reviews again at the next change of its candidates).
   */
  preempt(id: string, to: string): void {
    const runtime = this.deps.runtimes.get(id);
    if (runtime === undefined || runtime.removing || this.deps.stopping()) return;
    this.deps.note(
      id,
      'PREEMPTED',
      `${runtime.vip.ip}: ${to} preempts (a higher priority, preempt on): handing over`,
    );
    this.oneAtATime(id, () => viaEtcd(() => this.failoverNow(id, to))).catch((err: unknown) => {
      this.deps.note(id, 'PREEMPTION_FAILED', `${runtime.vip.ip}: handing over to ${to}: ${errorText(err)}`);
    });
  }

  /** BALANCE=on (actors/balancer.ts): the VIP at `ip` to `to`, through the same handover. */
  async balance(ip: string, to: string): Promise<void> {
    const id = this.deps.vipIdOf(ip);
    const runtime = id === undefined ? undefined : this.deps.runtimes.get(id);
    if (id === undefined || runtime === undefined || runtime.removing || this.deps.stopping()) return;
    this.deps.note(id, 'BALANCED', `${ip}: handing it to ${to}, which owns fewer VIPs (BALANCE=on)`);
    await this.oneAtATime(id, () => viaEtcd(() => this.failoverNow(id, to)));
  }

  hosts(id: string): Promise<HostMembership[]> {
    const runtime = this.mustRuntime(id);
    return viaEtcd(() => runtime.election.hosts());
  }

  /** Every VIP of the cluster as etcd shows it (GET /cluster), not only this host's. */
  cluster(): Promise<ClusterView> {
    return viaEtcd(() => this.deps.session.clusterView());
  }

  journal(id: string): JournalEntry[] {
    this.mustRuntime(id);
    return this.deps.journal.entries(id);
  }

  /** O(1): reads the one child actor (list() over n VIPs must stay linear). */
  stateOf(id: string): IpState {
    return this.deps.runtimes.get(id)?.ipActor?.getSnapshot().value ?? 'BOOTING';
  }

  private async addNow(request: NewVip): Promise<VipView> {
    this.assertRunning();
    this.assertChecksAllowed(request.checks ?? []);
    const vip: StoredVip = {
      id: `vip-${randomUUID()}`,
      ip: request.ip,
      checks: request.checks ?? [],
      healthcheck_interval: request.healthcheck_interval ?? DEFAULT_HEALTHCHECK_INTERVAL_S,
      ...storedPlacement(request),
    };
    const taken = (): void => {
      const id = this.deps.vipIdOf(vip.ip);
      if (id !== undefined) throw new DuplicateVipError(vip.ip, id);
    };
    taken();
    // Checked before the address is taken below: taken, it would count as this host's VIP.
    const refusal = await this.deps.hostAddresses.refusal(vip.ip);
    if (refusal !== null) throw new InvalidVipError('ip', ipRefusalMessage(vip.ip, refusal));
    this.assertRunning();
    // Taken from here on, so a concurrent add of the same address (waiting on etcd like this
    // one, or arriving before the supervisor has the batch this one joins) gets a 409.
    taken();
    this.deps.send({ type: 'vip.reserve', vips: [{ vipId: vip.id, ip: vip.ip }] });
    try {
      // Stored first: a VIP the agent runs is always one it will restore. The store refuses a
      // second record of the address (its index key), whatever this agent knows.
      const stored = await this.deps.session.config.add(vip);
      if (!stored.added) throw new DuplicateVipError(vip.ip, stored.existingId);
    } catch (err) {
      this.deps.send({ type: 'vip.unreserve', vipId: vip.id, ip: vip.ip });
      throw err;
    }
    this.deps.spawn(vip);
    this.deps.cache.schedule();
    return this.get(vip.id);
  }

  private async updateNow(id: string, change: VipChange): Promise<VipView> {
    this.assertRunning();
    const runtime = this.mustRuntime(id);
    const checks = change.checks ?? runtime.checks.value.checks;
    this.assertChecksAllowed(checks);
    const vip: StoredVip = {
      ...runtime.vip,
      checks,
      healthcheck_interval: change.healthcheck_interval ?? runtime.vip.healthcheck_interval,
      ...storedPlacement({ ...runtime.vip, ...change }),
    };
    // Refused (503): the VIP keeps its settings here; the store undoes whatever etcd may still take.
    await this.deps.session.config.update(runtime.vip, vip);
    runtime.vip = vip;
    runtime.election.setPlacement(placementOf(vip));
    if (change.checks !== undefined || change.healthcheck_interval !== undefined) {
      runtime.checks.next({ checks, intervalMs: checksIntervalMs(vip, this.deps.health.intervalMs) });
    }
    this.deps.cache.schedule();
    return this.get(id);
  }

  /** The first EXEC check EXEC_CHECKS_DIR refuses becomes a 400 naming `checks[N].command`. */
  private assertChecksAllowed(checks: readonly HealthCheckSpec[]): void {
    const [refused] = refusedExecChecks(checks, this.deps.execPolicy);
    if (refused) throw new InvalidVipError(refused.field, refused.message);
  }

  /**
   * etcd first: a refused delete (503) has changed nothing here, the VIP stays listed, competing
   * and bound, and the store undoes whatever etcd may still take. Accepted, the VIP is gone from
   * etcd, and what follows is local work that cannot undo it: its etcd calls (releasing the lock,
   * waiting for another owner) are best effort: a lock left behind is released by the session's
   * lock recheck (adapters/etcd/README.md, "Level, not edge") or goes with the lease.
   */
  private async removeNow(id: string): Promise<void> {
    this.assertRunning();
    const runtime = this.mustRuntime(id);
    await this.deps.session.config.delete(runtime.vip);
    runtime.removing = true;
    const owned = this.stateOf(id) === 'ACTIVATED';
    // The machine has no event for a removal: the journal says what happens to the address.
    this.deps.note(
      id,
      'VIP_REMOVING',
      owned
        ? `${runtime.vip.ip}: removing: withdrawing, unbinding, releasing the lock and waiting for another owner`
        : `${runtime.vip.ip}: removing: withdrawing from the election`,
    );
    runtime.election.setCandidate(false);
    const released = (err: unknown): void =>
      this.deps.note(
        id,
        'RELEASE_FAILED',
        `${runtime.vip.ip}: removed, but its lock was not released (${errorText(err)}): the session's lock recheck releases it, or it goes with the lease`,
      );
    if (owned) {
      runtime.address.want(false);
      await runtime.address.settled();
      try {
        await runtime.election.release();
        await this.waitForOtherOwner(runtime.election, this.deps.handoverTimeoutMs);
      } catch (err) {
        released(err);
      }
    }
    runtime.address.close();
    this.deps.send({ type: 'vip.remove', vipId: id });
    this.deps.runtimes.delete(id);
    // A VIP removed before its batch reached the supervisor holds only a reservation.
    this.deps.send({ type: 'vip.unreserve', vipId: id, ip: runtime.vip.ip });
    await runtime.election.close().catch(released);
    this.deps.cache.schedule();
    this.deps.journal.forget(id);
  }

  /** Runs `work` once the VIP's earlier PATCH or DELETE has ended (a PATCH after a DELETE is a 404). */
  private oneAtATime<T>(id: string, work: () => Promise<T>): Promise<T> {
    const run = (this.changes.get(id) ?? Promise.resolve()).catch(() => undefined).then(work);
    const last = run.catch(() => undefined);
    this.changes.set(id, last);
    void last.then(() => {
      if (this.changes.get(id) === last) this.changes.delete(id);
    });
    return run;
  }

  private async tryLockNow(id: string): Promise<VipView> {
    this.assertRunning();
    const runtime = this.mustRuntime(id);
    await runtime.election.tryLock();
    return this.get(id);
  }

  /**
   * The election hands the lock to a live candidate that takes it (adapters/etcd/README.md,
   * "Failover"): the address stays bound until etcd shows the successor holding the lock, then
   * the machine's `demoted` unbinds it, as any demotion does. Resolves with the new owner.
   */
  private async failoverNow(id: string, to?: string): Promise<string> {
    this.assertRunning();
    const runtime = this.mustRuntime(id);
    const { handoverTimeoutMs } = this.deps;
    const ip = runtime.vip.ip;
    if (this.stateOf(id) !== 'ACTIVATED') throw new NotOwnerError(ip, await runtime.election.owner());
    this.deps.note(
      id,
      'FAILOVER_REQUESTED',
      `${ip}: failover: offering the lock to ${to ?? 'the live candidates in turn'}; the address stays bound until one takes it`,
    );
    // Called once the successor has taken the lock (`demoted` is on its way too): the successor
    // binds once this host says it no longer holds the address.
    const unbind = async () => {
      runtime.address.want(false);
      await runtime.address.settled();
    };
    const outcome = await runtime.election.failover(
      handoverTimeoutMs,
      unbind,
      to === undefined ? {} : { to },
    );
    switch (outcome.result) {
      case 'handed-over':
        this.deps.note(id, 'FAILOVER_HANDED_OVER', `${ip}: failover: ${outcome.owner} took it`);
        return outcome.owner;
      case 'no-live-candidate':
        throw new NoOtherCandidateError(ip, outcome.notLive);
      case 'timed-out':
        this.deps.note(
          id,
          'FAILOVER_TIMED_OUT',
          `${ip}: failover: ${outcome.offered.length > 0 ? `offered to ${outcome.offered.join(', ')}, ` : ''}not taken within ${handoverTimeoutMs} ms; kept, never unbound`,
        );
        // Never unbound; announced again in case a candidate bound it for a moment.
        if (this.stateOf(id) === 'ACTIVATED') runtime.address.announce();
        throw new HandoverTimeoutError(ip, handoverTimeoutMs, outcome.offered);
    }
  }

  private async waitForOtherOwner(election: Election, timeoutMs: number): Promise<void> {
    const current = await election.owner();
    if (current !== null && current !== this.deps.hostname) return;
    await firstValueFrom(
      election.events$.pipe(
        filter((e) => e.type === 'demoted'),
        timeout(timeoutMs),
        catchError(() => of(null)),
      ),
      { defaultValue: null },
    );
  }

  private mustRuntime(id: string): VipRuntime {
    const runtime = this.deps.runtimes.get(id);
    if (!runtime) throw new VipNotFoundError(id);
    return runtime;
  }

  private assertRunning(): void {
    if (this.deps.stopping()) throw new AgentStoppingError();
  }
}

/** etcd failures reach callers as EtcdUnavailableError (HTTP 503), never as adapter errors. */
async function viaEtcd<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof EtcdAdapterError)
      throw new EtcdUnavailableError(`etcd: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * The placement fields a record stores: only those that differ from the defaults, so a record of
 * a VIP that never set them stays as LinK v2 and earlier LinK releases wrote it.
 */
function storedPlacement(vip: Pick<StoredVip, 'priority' | 'preempt' | 'preempt_delay'>): Partial<StoredVip> {
  const stored: Partial<StoredVip> = {};
  const placement = placementOf(vip);
  if (placement.priority !== DEFAULT_PLACEMENT.priority) stored.priority = placement.priority;
  if (placement.preempt) stored.preempt = true;
  if (placement.preemptDelayMs !== DEFAULT_PLACEMENT.preemptDelayMs)
    stored.preempt_delay = placement.preemptDelayMs / 1000;
  return stored;
}
