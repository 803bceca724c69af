import { Observable, ReplaySubject, Subject, filter, firstValueFrom, of, timeout } from 'rxjs';
import type { ICompare } from 'etcd3';
import { onlyTo, sortCandidates, type HandoverCandidate, type V2LeaseState } from './candidates.ts';
import { leaseIdOf } from './host-config.ts';
import {
  DEFAULT_PLACEMENT,
  decodeMember,
  encodeMember,
  memberOf,
  type MemberInfo,
  type Placement,
} from './member.ts';
import {
  EtcdFencedError,
  EtcdNotOwnerError,
  EtcdSessionClosedError,
  isConfigurationError,
  isRecoverable,
  translateEtcdError,
} from './errors.ts';
import type { EtcdAdapterError } from './errors.ts';
import type { Clock } from './fence.ts';
import type { Keys } from './keys.ts';
import { backoffDelay } from '../backoff.ts';
import type { ResolvedSessionOptions } from './options.ts';
import type { EtcdRpc } from './rpc.ts';
import type { Election, ElectionEvent, FailoverOptions, FailoverOutcome, HostMembership } from './types.ts';
import { prefixRangeEnd } from './keys.ts';
import type { LockHolder, LockObservation } from './watch.ts';

/** What an election needs from its session. */
export interface ElectionContext {
  readonly rpc: EtcdRpc;
  readonly keys: Keys;
  readonly options: ResolvedSessionOptions;
  readonly clock: Clock;
  /** The lease to attach keys to, when the session may act on etcd (holds a lease, not fenced). */
  actingLease(): string | null;
  /**
   * The acting lease was granted by this session (not reused from a previous run, nor a restart's
   * keys moved onto it): every lock under it is one this session's elections wrote, or an offer.
   */
  leaseGranted(): boolean;
  reportFailure(err: EtcdAdapterError): void;
  reportSuccess(): void;
  unregister(election: VipElection): void;
}

/**
 * One VIP's election. The rules (see README.md for the full table):
 * - a lock naming this host with this session's lease: `elected`;
 * - a lock naming another host: `demoted` (with the owner);
 * - no lock: a competing host runs the transaction, at once when no live candidate has a higher
 *   priority, else after a head start of one keep-alive interval (`contend`); a non-competing
 *   one is `demoted`;
 * - a lock naming this host under another lease (left by a previous run): deleted, then retried;
 * - the session's fault: `fault` once, until the session is back and etcd says who owns.
 * Observations older than the last one applied (by etcd revision) are ignored.
 *
 * Level, not edge: a full read (session recovery, the periodic recheck) and becoming a candidate
 * again re-emit the verdict even when it repeats the last one, marked `reassert`, so a consumer
 * that missed or ignored it (an IP actor in FAILING when `elected` came) follows etcd again. A
 * lock this host holds while not a candidate is released, retried with backoff until it is.
 */
export class VipElection implements Election {
  readonly events$: Observable<ElectionEvent>;
  readonly preemptions$: Observable<string>;
  private readonly preemptionsSubject = new Subject<string>();
  /**
   * While this host holds the lock: the live candidate that would preempt it (preempt on, a
   * higher priority), its membership key's revision when the wait began, and the wait. Any
   * write or delete of that key (it failed, came back, re-published) starts the wait again.
   */
  private preemption: { hostname: string; modRevision: bigint; timer: ReturnType<typeof setTimeout> } | null =
    null;
  /** A review of the candidates is out; `again`: a change came meanwhile. */
  private reviewing: { again: boolean } | null = null;
  private readonly subject = new ReplaySubject<ElectionEvent>(1);
  private readonly holders = new Subject<LockHolder | null>();
  private subscriberCount = 0;
  private candidate = true;
  /** failover() in progress: no lock attempts, membership kept. */
  private suspended = false;
  /**
   * failover(): the lock this host wrote for a successor, not yet taken. While it stands (and
   * while the lock is free during the handover) nothing is emitted: the VIP stays bound here.
   */
  private offer: { hostname: string; lease: string; modRevision: bigint | null } | null = null;
  /** The mod revision of this election's own last lock write: any other naming us is an offer. */
  private ownWrite: bigint | null = null;
  /** The last membership write queued (syncMembership). */
  private membershipWrites: Promise<void> = Promise.resolve();
  /** A lock naming this host that another host wrote (a handover offer), to confirm before `elected`. */
  private offered: bigint | null = null;
  /**
   * Our confirmation of an offer (its revision): `elected` waits for the former owner's next
   * write of the lock (it has unbound), at most one keep-alive interval (`releaseTimer`).
   */
  private awaitingRelease: bigint | null = null;
  /** Our confirmation is out: its own watch event may come before its answer, and is no release. */
  private confirming = false;
  private releaseTimer: ReturnType<typeof setTimeout> | null = null;
  /** The last holder etcd showed, kept through faults (an offer comes from another host's lock). */
  private lastSeen: LockHolder | null | undefined = undefined;
  private closed = false;
  private revision = -1n;
  /** undefined: etcd not read yet. */
  private holder: LockHolder | null | undefined = undefined;
  private last: ElectionEvent | null = null;
  private inflight: Promise<boolean> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private lockFailures = 0;
  private readonly lockKey: Buffer;
  private readonly membershipKey: Buffer;
  /**
   * The lock is free and this host competes: `reading` the candidates' priorities, `waiting` out
   * a higher-priority candidate's head start, or `done` (race for it). Ends when a holder shows.
   */
  private contention: {
    phase: 'reading' | 'waiting' | 'done';
    timer: ReturnType<typeof setTimeout> | null;
  } | null = null;

  constructor(
    readonly cidr: string,
    private readonly ctx: ElectionContext,
    private placement: Placement = DEFAULT_PLACEMENT,
  ) {
    this.lockKey = Buffer.from(ctx.keys.lock(cidr));
    this.membershipKey = Buffer.from(ctx.keys.membership(cidr, ctx.options.hostname));
    this.preemptions$ = this.preemptionsSubject.asObservable();
    this.events$ = new Observable<ElectionEvent>((subscriber) => {
      this.subscriberCount++;
      const inner = this.subject.subscribe(subscriber);
      return () => {
        this.subscriberCount--;
        inner.unsubscribe();
      };
    });
  }

  /** Live subscriptions to events$ (leak checks). */
  get subscribers(): number {
    return this.subscriberCount;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get holdsLock(): boolean {
    return this.isMine(this.holder);
  }

  private get hostname(): string {
    return this.ctx.options.hostname;
  }

  private competing(): boolean {
    return this.candidate && !this.suspended && !this.closed;
  }

  private isMine(holder: LockHolder | null | undefined): boolean {
    const lease = this.ctx.actingLease();
    return holder != null && holder.hostname === this.hostname && lease !== null && holder.lease === lease;
  }

  // ---- driven by the session ----

  /** The session (re)gained a lease: put the membership key back if competing. */
  async resync(): Promise<void> {
    if (this.closed) return;
    if (this.candidate) await this.syncMembership();
  }

  /** The membership put `resync` would send, for a session re-putting many at once; null if none. */
  membershipPut(lease: string): { key: Buffer; value: Buffer; lease: string } | null {
    if (this.closed || !this.candidate) return null;
    return { key: this.membershipKey, value: this.membershipValue(), lease };
  }

  /** What every host reads of this one's candidacy: its priority and preemption (member.ts). */
  private membershipValue(): Buffer {
    return encodeMember(memberOf(this.hostname, this.placement));
  }

  /**
   * A new election on a live session: membership key, then one read of the lock key (the shared
   * watch covers every later change); retried with backoff until it succeeds or the session
   * re-reads everything itself.
   */
  begin(attempt = 0): void {
    this.resync()
      .then(() => this.readLock())
      .catch((err: unknown) => {
        const error = translateEtcdError(err, `election ${this.cidr}`);
        this.ctx.options.logger.warn(`etcd election ${this.cidr}: first read failed`, {
          error: error.message,
        });
        this.ctx.reportFailure(error);
        if (this.closed || this.retryTimer !== null) return;
        this.retryTimer = this.ctx.clock.setTimeout(
          () => {
            this.retryTimer = null;
            if (this.holder === undefined && this.ctx.actingLease() !== null) this.begin(attempt + 1);
          },
          backoffDelay(this.ctx.options.retry, attempt + 1),
        );
      });
  }

  private async readLock(): Promise<void> {
    const res = await this.ctx.rpc.range({ key: this.lockKey });
    this.observe({ cidr: this.cidr, revision: BigInt(res.header.revision), holder: holderOf(res.kvs[0]) });
  }

  /** The session is fenced or etcd keeps failing. */
  fault(source: 'etcd' | 'fence', reason: string): void {
    this.clearRetry();
    this.endContention();
    this.holder = undefined;
    this.emit({ type: 'fault', source, reason }, false);
  }

  /**
   * The session is out of the elections but etcd is not down (it refuses the agent's settings, or
   * it answered that the lease is gone): `demoted` (no owner known), never `fault`, so no fault
   * policy seizes the VIP; decided again once the session is back.
   */
  standDown(reason: string): void {
    this.clearRetry();
    this.endContention();
    this.holder = undefined;
    this.emit({ type: 'demoted', source: 'etcd', reason }, false);
  }

  /**
   * A state of the lock key. `authoritative` (the session's full read after a fault or a lost
   * watch) also applies after etcd's revision went back (a rebuilt cluster); `reassert` re-emits
   * the verdict even if it repeats the last one.
   */
  observe(observation: LockObservation, how: { authoritative?: boolean; reassert?: boolean } = {}): void {
    if (this.closed) return;
    if (!how.authoritative && observation.revision < this.revision) return;
    this.revision = observation.revision;
    this.holder = observation.holder;
    if (observation.holder !== null) this.endContention();
    this.noteOffer(this.lastSeen, observation.holder);
    this.lastSeen = observation.holder;
    this.holders.next(observation.holder);
    this.decide(how.reassert === true);
  }

  /** Completes the streams without touching etcd (session closing). */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearRetry();
    this.endContention();
    this.cancelPreemption();
    this.preemptionsSubject.complete();
    this.stopAwaitingRelease();
    this.subject.complete();
    this.holders.complete();
  }

  /**
   * A lock naming this host under its lease, written by another host (its mod revision is none of
   * ours) right after that host held it: a failover's offer. It is confirmed (confirmOffer)
   * before this host says `elected`, so the offering owner unbinds only once it is taken. Seen in
   * this election's first read, under a lease this session granted, it is an offer too: nothing
   * of this session wrote it (a balance move to a host that had just started took it for its own
   * lock and both held the VIP until the offer timed out, bench/placement). Under a lease reused
   * from a previous run it may be that run's lock: taken as ours (README.md, Limits).
   */
  private noteOffer(previous: LockHolder | null | undefined, holder: LockHolder | null): void {
    if (holder === null || !this.isMine(holder) || holder.modRevision === this.ownWrite) {
      this.offered = null;
      return;
    }
    if (this.offered === holder.modRevision) return;
    const fromOther = previous != null && previous.hostname !== this.hostname;
    const firstUnderGranted = previous === undefined && this.ctx.leaseGranted();
    this.offered = fromOther || firstUnderGranted ? holder.modRevision : null;
  }

  /** During a failover: the lock is our pending offer, or free (failover() retakes it). */
  private handingOver(holder: LockHolder | null): boolean {
    const offer = this.offer;
    if (offer === null) return false;
    if (holder === null) return true;
    if (holder.hostname !== offer.hostname || holder.lease !== offer.lease) return false;
    // Revision not known yet (the transaction's answer may come after its watch event): any.
    return offer.modRevision === null || holder.modRevision === offer.modRevision;
  }

  private decide(reassert = false): void {
    const holder = this.holder;
    if (this.closed || holder === undefined || this.ctx.actingLease() === null) return;
    if (this.handingOver(holder)) return;
    if (holder === null) {
      if (this.competing()) this.contend();
      else {
        this.emit(
          {
            type: 'demoted',
            source: 'etcd',
            reason: 'no owner; not competing',
            revision: Number(this.revision),
          },
          reassert,
        );
      }
      return;
    }
    if (holder.hostname === this.hostname) {
      if (!this.isMine(holder)) void this.deleteStale(holder);
      else if (!this.candidate) this.releaseNotCompeting();
      else if (this.offered !== null && holder.modRevision === this.offered) this.confirmOffer(holder);
      else if (this.confirming) return;
      else if (this.awaitingRelease !== null && holder.modRevision === this.awaitingRelease) return;
      else {
        this.stopAwaitingRelease();
        this.lockFailures = 0;
        this.emit(
          {
            type: 'elected',
            source: 'etcd',
            reason: 'this host holds the lock',
            revision: Number(this.revision),
          },
          reassert,
        );
      }
      return;
    }
    this.emit(
      {
        type: 'demoted',
        source: 'etcd',
        owner: holder.hostname,
        reason: `${holder.hostname} holds the lock`,
        revision: Number(this.revision),
      },
      reassert,
    );
  }

  /**
   * The lock is free: a live candidate with a higher priority gets one keep-alive interval to
   * take it before this host races for it (issue 16: the highest-priority healthy candidate wins;
   * a frozen one does not hold the VIP hostage for longer than that). Equal priorities race at
   * once, as before priorities. A failed read races too: no worse than without priorities.
   */
  private contend(): void {
    const current = this.contention;
    if (current?.phase === 'done') {
      this.attempt();
      return;
    }
    if (current !== null) return;
    const contention: NonNullable<VipElection['contention']> = { phase: 'reading', timer: null };
    this.contention = contention;
    const race = () => {
      if (this.contention !== contention) return;
      contention.phase = 'done';
      contention.timer = null;
      this.decide();
    };
    this.higherPriorityCandidates().then(
      (candidates) => {
        if (this.contention !== contention) return;
        const higher = candidates.map(({ info }) => info.hostname);
        if (higher.length === 0) return race();
        contention.phase = 'waiting';
        this.ctx.options.logger.debug(
          `etcd election ${this.cidr}: lock free; head start for ${higher.join(', ')} (higher priority)`,
        );
        contention.timer = this.ctx.clock.setTimeout(race, this.ctx.options.keepAliveIntervalMs);
      },
      () => race(),
    );
  }

  /** A membership key of this VIP changed (the session's watch). */
  membersChanged(): void {
    if (this.last?.type === 'elected' && this.holdsLock) this.reviewPreemption();
  }

  /**
   * keepalived's preempt, seen from the owner: the best live candidate with `preempt` and a
   * higher priority than this host's gets the VIP once it has been so for its `preempt_delay`
   * (restarted by every change of its membership key, so a flapping host never preempts), through
   * the zero-gap handover (`preemptions$`: the actor layer runs failover to it). A failed read
   * leaves things as they are; the next change or election reviews again.
   */
  private reviewPreemption(): void {
    if (this.closed) return;
    if (this.reviewing !== null) {
      this.reviewing.again = true;
      return;
    }
    const review = { again: false };
    this.reviewing = review;
    this.preemptingCandidate()
      .then(
        (best) => {
          if (this.closed || this.last?.type !== 'elected' || this.suspended) return this.cancelPreemption();
          const current = this.preemption;
          if (best === null) return this.cancelPreemption();
          if (current?.hostname === best.hostname && current.modRevision === best.modRevision) return;
          this.cancelPreemption();
          this.ctx.options.logger.info(
            `etcd election ${this.cidr}: ${best.hostname} (priority ${best.priority} > ${this.placement.priority}) preempts in ${best.delayMs} ms`,
          );
          this.preemption = {
            hostname: best.hostname,
            modRevision: best.modRevision,
            timer: this.ctx.clock.setTimeout(() => this.preemptionDue(best.hostname), best.delayMs),
          };
        },
        (err: unknown) => {
          this.ctx.options.logger.warn(`etcd election ${this.cidr}: reading the candidates failed`, {
            error: translateEtcdError(err, 'preemption review').message,
          });
        },
      )
      .finally(() => {
        this.reviewing = null;
        if (review.again) this.reviewPreemption();
      });
  }

  private preemptionDue(hostname: string): void {
    const due = this.preemption;
    if (due?.hostname !== hostname) return;
    this.preemption = null;
    if (this.last?.type !== 'elected' || !this.holdsLock || this.suspended) return;
    this.preemptionsSubject.next(hostname);
  }

  private cancelPreemption(): void {
    if (this.preemption !== null) this.ctx.clock.clearTimeout(this.preemption.timer);
    this.preemption = null;
  }

  /** The live LinK candidate that may preempt this owner: preempt on, highest priority above ours. */
  private async preemptingCandidate(): Promise<{
    hostname: string;
    priority: number;
    delayMs: number;
    modRevision: bigint;
  } | null> {
    const [best] = (await this.higherPriorityCandidates())
      .filter(({ info }) => info.preempt)
      .sort((a, b) => b.info.priority - a.info.priority || (a.info.hostname < b.info.hostname ? -1 : 1));
    if (best === undefined) return null;
    return {
      hostname: best.info.hostname,
      priority: best.info.priority,
      delayMs: best.info.preemptDelayMs ?? DEFAULT_PLACEMENT.preemptDelayMs,
      modRevision: best.modRevision,
    };
  }

  private endContention(): void {
    const timer = this.contention?.timer;
    if (timer != null) this.ctx.clock.clearTimeout(timer);
    this.contention = null;
  }

  /** Live LinK candidates (a membership key with a lease) whose priority is above this host's. */
  private async higherPriorityCandidates(): Promise<{ info: MemberInfo; modRevision: bigint }[]> {
    const prefix = this.ctx.keys.membershipPrefix(this.cidr);
    const key = Buffer.from(prefix);
    const res = await this.ctx.rpc.range({ key, range_end: prefixRangeEnd(key) });
    return res.kvs
      .filter((kv) => String(kv.lease) !== '0' && String(kv.lease) !== '')
      .map((kv) => ({
        info: decodeMember(kv.key.toString().slice(prefix.length), kv.value),
        modRevision: BigInt(kv.mod_revision),
      }))
      .filter(({ info }) => info.hostname !== this.hostname && info.priority > this.placement.priority);
  }

  private emit(event: ElectionEvent, reassert: boolean): void {
    const last = this.last;
    const repeat =
      last !== null &&
      last.type === event.type &&
      (event.type !== 'demoted' || (last.type === 'demoted' && last.owner === event.owner));
    if (repeat && !reassert) return;
    this.last = event;
    if (event.type === 'elected') this.reviewPreemption();
    else this.cancelPreemption();
    const sent: ElectionEvent = repeat && event.type !== 'fault' ? { ...event, reassert: true } : event;
    this.ctx.options.logger.debug(`etcd election ${this.cidr}: ${sent.type}`, { ...sent });
    this.subject.next(sent);
  }

  /**
   * Takes an offered lock: rewrites it unchanged if it is still the offer (txn on its mod
   * revision). The offering owner sees the new revision and unbinds; this host says `elected` on
   * the answer and binds. Retried with backoff while etcd fails; a lock that changed meanwhile is
   * observed instead.
   */
  private confirmOffer(holder: LockHolder): void {
    if (this.retryTimer !== null) return;
    if (this.inflight !== null) {
      // Another call of this election is out (a lock attempt): decide again once it is back.
      void this.inflight.then(() => queueMicrotask(() => this.decide()));
      return;
    }
    const lease = holder.lease;
    this.confirming = true;
    this.inflight = this.ctx.rpc
      .txn({
        compare: [
          { key: this.lockKey, target: 'Mod', result: 'Equal', mod_revision: holder.modRevision.toString() },
          { key: this.lockKey, target: 'Lease', result: 'Equal', lease },
        ],
        success: [{ request_put: { key: this.lockKey, value: Buffer.from(this.hostname), lease } }],
        failure: [{ request_range: { key: this.lockKey } }],
      })
      .then(
        (res) => {
          this.lockFailures = 0;
          this.ctx.reportSuccess();
          const revision = BigInt(res.header.revision);
          this.confirming = false;
          if (res.succeeded) {
            this.ownWrite = revision;
            this.awaitRelease(revision);
            this.ctx.options.logger.info(`etcd election ${this.cidr}: took the lock handed over to us`);
          }
          this.inflight = null;
          this.observe({
            cidr: this.cidr,
            revision,
            holder: res.succeeded
              ? { hostname: this.hostname, lease, modRevision: revision }
              : holderOf(res.responses[0]?.response_range.kvs[0]),
          });
          // The former owner's release came before this answer (the observation above was older).
          const now = this.holder;
          if (res.succeeded && now != null && this.isMine(now) && now.modRevision > revision) {
            this.stopAwaitingRelease();
            this.decide();
          }
          return res.succeeded;
        },
        (err: unknown) => {
          this.confirming = false;
          const error = translateEtcdError(err, `take over ${this.cidr}`);
          this.lockFailures++;
          this.ctx.options.logger.warn(`etcd election ${this.cidr}: taking the offered lock failed`, {
            error: error.message,
          });
          if (isRecoverable(error) || isConfigurationError(error)) this.ctx.reportFailure(error);
          this.inflight = null;
          this.scheduleRetry();
          return false;
        },
      );
  }

  /**
   * Taken: bind once the former owner has unbound (its write of the lock after our confirmation),
   * so two hosts never hold the address at once (the takeover probe would find the old one); if
   * that write does not come within one TTL (the owner died meanwhile: its address's lifetime,
   * capped by its lease, has run out by then), bind. One keep-alive interval was too short on a
   * loaded machine: the successor bound while the owner was still unbinding (a `conflict` in CI).
   */
  private awaitRelease(confirmation: bigint): void {
    this.stopAwaitingRelease();
    this.awaitingRelease = confirmation;
    this.releaseTimer = this.ctx.clock.setTimeout(() => {
      this.releaseTimer = null;
      if (this.awaitingRelease !== confirmation) return;
      this.awaitingRelease = null;
      this.ctx.options.logger.warn(
        `etcd election ${this.cidr}: the former owner did not say it unbound within ${this.ctx.options.ttlMs} ms; binding`,
      );
      this.decide();
    }, this.ctx.options.ttlMs);
  }

  private stopAwaitingRelease(): void {
    this.awaitingRelease = null;
    if (this.releaseTimer !== null) this.ctx.clock.clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
  }

  /**
   * This host holds the lock but is no candidate (its checks fail, or it withdrew while etcd was
   * unreachable and the release failed): give it back, retrying, so the VIP is not held by
   * nobody while peers wait for a lock no one here will bind for.
   */
  private releaseNotCompeting(): void {
    if (this.inflight !== null || this.retryTimer !== null) return;
    this.inflight = this.release()
      .then(
        () => {
          this.lockFailures = 0;
          return true;
        },
        (err: unknown) => {
          const error = translateEtcdError(err, `release ${this.cidr}`);
          this.lockFailures++;
          this.ctx.options.logger.warn(`etcd election ${this.cidr}: releasing the lock failed`, {
            error: error.message,
          });
          if (isRecoverable(error) || isConfigurationError(error)) this.ctx.reportFailure(error);
          this.scheduleRetry();
          return false;
        },
      )
      .finally(() => {
        this.inflight = null;
      });
  }

  /** Runs the lock transaction unless one is in flight; retries with backoff on failure. */
  private attempt(): void {
    if (this.inflight !== null) return;
    this.clearRetry();
    this.inflight = this.tryLock()
      .then(
        (held) => {
          this.lockFailures = 0;
          this.ctx.reportSuccess();
          return held;
        },
        (err: unknown) => {
          const error = translateEtcdError(err, `lock ${this.cidr}`);
          this.lockFailures++;
          this.ctx.options.logger.warn(`etcd lock attempt failed for ${this.cidr}`, { error: error.message });
          if (isRecoverable(error) || isConfigurationError(error)) this.ctx.reportFailure(error);
          this.scheduleRetry();
          return false;
        },
      )
      .finally(() => {
        this.inflight = null;
        // What was decided while the transaction was out was deferred (a DELETE applied
        // meanwhile, a withdrawal whose release waited for it): decide again now.
        if (this.retryTimer === null) queueMicrotask(() => this.decide());
      });
  }

  /** Decides again after a backoff: a failed lock attempt or release is retried while still due. */
  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== null) return;
    this.retryTimer = this.ctx.clock.setTimeout(
      () => {
        this.retryTimer = null;
        this.decide();
      },
      backoffDelay(this.ctx.options.retry, this.lockFailures),
    );
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) this.ctx.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async deleteStale(holder: LockHolder): Promise<void> {
    try {
      const res = await this.ctx.rpc.txn({
        compare: [
          { key: this.lockKey, target: 'Value', result: 'Equal', value: Buffer.from(holder.hostname) },
          { key: this.lockKey, target: 'Lease', result: 'Equal', lease: holder.lease },
        ],
        success: [{ request_delete_range: { key: this.lockKey } }],
      });
      this.ctx.options.logger.info(
        `etcd election ${this.cidr}: removed this host's stale lock (lease ${holder.lease})`,
      );
      if (res.succeeded) {
        this.observe({ cidr: this.cidr, revision: BigInt(res.header.revision), holder: null });
      }
    } catch (err) {
      this.ctx.options.logger.warn(`etcd: cannot remove stale lock of ${this.cidr}`, {
        error: translateEtcdError(err, 'delete stale lock').message,
      });
    }
  }

  /**
   * Writes this host's membership key as it is wanted when the write runs (put while a candidate,
   * deleted otherwise), one write at a time. Two unary calls in flight together may reach etcd in
   * either order: a drained host's VIP, withdrawn right after its election's first put, kept its
   * key when the delete was applied first (test/e2e/drain.test.ts, 1 run in 5).
   */
  private syncMembership(): Promise<void> {
    const write = this.membershipWrites
      .catch(() => undefined)
      .then(async () => {
        if (this.candidate && !this.closed) {
          const lease = this.ctx.actingLease();
          if (lease === null) return;
          await this.ctx.rpc.put({ key: this.membershipKey, value: this.membershipValue(), lease });
        } else {
          await this.ctx.rpc.deleteRange({ key: this.membershipKey });
        }
      });
    this.membershipWrites = write;
    return write;
  }

  private requireOpen(): void {
    if (this.closed) throw new EtcdSessionClosedError(`election ${this.cidr} is closed`);
  }

  // ---- the port ----

  setCandidate(candidate: boolean): void {
    if (this.closed || candidate === this.candidate) return;
    this.candidate = candidate;
    if (this.ctx.actingLease() === null) return; // the session's recovery applies it
    const onError = (what: string) => (err: unknown) => {
      this.ctx.options.logger.warn(`etcd election ${this.cidr}: ${what} failed`, {
        error: translateEtcdError(err, what).message,
      });
    };
    if (candidate) {
      this.syncMembership().catch(onError('membership put'));
      // Out of FAILING: `elected` may have come while the actor ignored it.
      this.decide(true);
    } else {
      this.clearRetry();
      this.syncMembership().catch(onError('membership delete'));
      this.decide();
    }
  }

  setPlacement(placement: Placement): void {
    const same =
      placement.priority === this.placement.priority &&
      placement.preempt === this.placement.preempt &&
      placement.preemptDelayMs === this.placement.preemptDelayMs;
    if (this.closed || same) return;
    this.placement = placement;
    this.membersChanged();
    if (!this.candidate || this.ctx.actingLease() === null) return; // the session's recovery puts it
    this.syncMembership().catch((err: unknown) => {
      this.ctx.options.logger.warn(`etcd election ${this.cidr}: membership put failed`, {
        error: translateEtcdError(err, 'membership put').message,
      });
    });
  }

  async tryLock(): Promise<boolean> {
    this.requireOpen();
    if (!this.competing()) return false;
    await this.putOwnLockIf('lock', { target: 'Create', result: 'Equal', create_revision: 0 });
    return this.isMine(this.holder);
  }

  /**
   * One transaction: the lock for this host under its lease if `compare` holds on the lock key,
   * else a read of it; either result is applied as an observation. Resolves with the holder after it.
   */
  private async putOwnLockIf(what: string, compare: Omit<ICompare, 'key'>): Promise<LockHolder | null> {
    const lease = this.ctx.actingLease();
    if (lease === null) throw new EtcdFencedError(`${what} ${this.cidr}: the session holds no live lease`);
    const res = await this.ctx.rpc.txn({
      compare: [{ key: this.lockKey, ...compare }],
      success: [{ request_put: { key: this.lockKey, value: Buffer.from(this.hostname), lease } }],
      failure: [{ request_range: { key: this.lockKey } }],
    });
    const revision = BigInt(res.header.revision);
    if (res.succeeded) this.ownWrite = revision;
    const holder = res.succeeded
      ? { hostname: this.hostname, lease, modRevision: revision }
      : holderOf(res.responses[0]?.response_range.kvs[0]);
    this.observe({ cidr: this.cidr, revision, holder });
    return holder;
  }

  async release(): Promise<void> {
    const lease = this.ctx.actingLease();
    if (lease === null) return; // without a live lease etcd drops the lock by itself
    const res = await this.ctx.rpc.txn({
      compare: [
        { key: this.lockKey, target: 'Value', result: 'Equal', value: Buffer.from(this.hostname) },
        { key: this.lockKey, target: 'Lease', result: 'Equal', lease },
      ],
      success: [{ request_delete_range: { key: this.lockKey } }],
    });
    if (res.succeeded) this.observe({ cidr: this.cidr, revision: BigInt(res.header.revision), holder: null });
  }

  /**
   * Hands the VIP to a live candidate, never dropping it (README.md, "Failover"): one read of the
   * lock and the membership keys; no other host with a live lease: `no-live-candidate`, nothing
   * written. Else each live candidate in turn (highest priority first, then by hostname; an equal share of the bound each)
   * is offered the lock in one transaction (the lock still ours, the candidate's membership key
   * still on the lease it is written with); the offer stands until the candidate takes it (a
   * write of the lock at a later revision: this host then says `demoted` and unbinds) or its
   * share runs out (the lock is taken back if still the offer). Nothing is emitted meanwhile, so
   * the VIP stays bound here throughout. `to`: only that host is offered it (preemption and
   * balance pick the successor); not a live candidate: `no-live-candidate`, nothing written.
   */
  async failover(
    timeoutMs: number,
    unbind: () => Promise<void> = async () => {},
    options: FailoverOptions = {},
  ): Promise<FailoverOutcome> {
    this.requireOpen();
    const prefix = Buffer.from(this.ctx.keys.membershipPrefix(this.cidr));
    const [lock, members] = await Promise.all([
      this.ctx.rpc.range({ key: this.lockKey }),
      this.ctx.rpc.range({ key: prefix, range_end: prefixRangeEnd(prefix) }),
    ]);
    const holder = holderOf(lock.kvs[0]);
    if (!this.isMine(holder)) {
      throw new EtcdNotOwnerError(
        `failover of ${this.cidr}: ${this.hostname} does not hold it (owner: ${holder?.hostname ?? 'none'})`,
      );
    }
    const listed = members.kvs.map((kv) => {
      const hostname = kv.key.toString().slice(prefix.length);
      return { hostname, lease: String(kv.lease), priority: decodeMember(hostname, kv.value).priority };
    });
    const sorted = sortCandidates(listed, this.hostname, await this.v2Leases(listed));
    const { live, notLive } = options.to === undefined ? sorted : onlyTo(sorted, options.to);
    if (live.length === 0) return { result: 'no-live-candidate', notLive };
    this.suspended = true;
    this.clearRetry();
    const deadline = this.ctx.clock.now() + timeoutMs;
    const offered: string[] = [];
    try {
      for (let i = 0; i < live.length; i++) {
        const share = (deadline - this.ctx.clock.now()) / (live.length - i);
        if (share <= 0) break;
        const candidate = live[i]!;
        const wasOffered = () => offered.push(candidate.hostname);
        const owner =
          candidate.kind === 'v2'
            ? await this.offerToV2(candidate, share, unbind, wasOffered)
            : await this.offerTo(candidate, share, unbind, wasOffered);
        if (owner !== null) return { result: 'handed-over', owner };
      }
      this.ctx.options.logger.warn(
        `etcd failover of ${this.cidr}: no candidate took it within ${timeoutMs} ms (offered to ${offered.join(', ') || 'nobody'}); kept`,
      );
      return { result: 'timed-out', offered };
    } finally {
      this.offer = null;
      this.suspended = false;
      this.decide();
    }
  }

  /**
   * One offer: resolves with the host that holds the lock after it (the candidate, or a third
   * host that won it while it was free), or null when the lock is ours again (not offered: the
   * candidate left; refused; or not taken within `boundMs`).
   */
  private async offerTo(
    candidate: HandoverCandidate,
    boundMs: number,
    unbind: () => Promise<void>,
    wasOffered: () => void,
  ): Promise<string | null> {
    const lease = this.ctx.actingLease();
    if (lease === null)
      throw new EtcdFencedError(`failover of ${this.cidr}: the session holds no live lease`);
    const membership = Buffer.from(this.ctx.keys.membership(this.cidr, candidate.hostname));
    // Set before the transaction: its watch event may arrive before its answer.
    this.offer = { hostname: candidate.hostname, lease: candidate.lease, modRevision: null };
    const res = await this.ctx.rpc.txn({
      compare: [
        { key: this.lockKey, target: 'Value', result: 'Equal', value: Buffer.from(this.hostname) },
        { key: this.lockKey, target: 'Lease', result: 'Equal', lease },
        { key: membership, target: 'Lease', result: 'Equal', lease: candidate.lease },
      ],
      success: [
        {
          request_put: { key: this.lockKey, value: Buffer.from(candidate.hostname), lease: candidate.lease },
        },
      ],
      failure: [{ request_range: { key: this.lockKey } }],
    });
    const revision = BigInt(res.header.revision);
    if (!res.succeeded) {
      this.offer = null;
      const now = holderOf(res.responses[0]?.response_range.kvs[0]);
      this.observe({ cidr: this.cidr, revision, holder: now });
      if (this.isMine(now)) return null; // the candidate left (or changed lease) since the read
      throw new EtcdNotOwnerError(
        `failover of ${this.cidr}: the lock changed hands (owner: ${now?.hostname ?? 'none'})`,
      );
    }
    wasOffered();
    this.offer = { hostname: candidate.hostname, lease: candidate.lease, modRevision: revision };
    const moved = (h: LockHolder | null | undefined): boolean =>
      h === null || (h != null && h.modRevision > revision);
    // Its answer may come after the watch showed the candidate taking it.
    let after: LockHolder | null | undefined = moved(this.holder) ? this.holder : undefined;
    if (after === undefined) {
      const settled = firstValueFrom(
        this.holders.pipe(filter(moved), timeout({ first: boundMs, with: () => of(undefined) })),
        { defaultValue: undefined },
      );
      this.observe({
        cidr: this.cidr,
        revision,
        holder: { hostname: candidate.hostname, lease: candidate.lease, modRevision: revision },
      });
      after = await settled;
    }
    if (after === undefined) return this.takeBack(revision);
    if (after === null) return this.retake();
    if (after.hostname === this.hostname) return null;
    if (after.hostname === candidate.hostname && after.lease === candidate.lease) {
      await this.released(after, unbind);
    }
    return after.hostname;
  }

  /**
   * For each lease-less member (a LinK v2 host's key): whether the lease its host record
   * `<prefix>/config/<host>` names lives (candidates.ts says why that and not `updated_at`).
   */
  private async v2Leases(
    members: readonly { hostname: string; lease: string }[],
  ): Promise<Map<string, V2LeaseState>> {
    const states = new Map<string, V2LeaseState>();
    const leaseless = members.filter(
      (m) => (m.lease === '0' || m.lease === '') && m.hostname !== this.hostname,
    );
    await Promise.all(
      leaseless.map(async ({ hostname }) => {
        const record = await this.ctx.rpc.range({ key: Buffer.from(this.ctx.keys.lease(hostname)) });
        const id = leaseIdOf(record.kvs[0]?.value.toString());
        if (id === null) return states.set(hostname, 'none');
        const ttl = await this.ctx.rpc.leaseTimeToLive(id);
        return states.set(hostname, Number(ttl.TTL) > 0 ? 'live' : 'dead');
      }),
    );
    return states;
  }

  /**
   * v2's own handover, for a LinK v2 candidate (it cannot confirm an offer, and the lock it
   * takes must carry its own lease): one transaction, the lock still ours, deletes the lock and
   * puts this host's membership key again. v2 watches `<prefix>/ips/<ip>/`: that put wakes it at
   * once (not at its next poll), and it takes the free lock with its create transaction. The VIP
   * stays bound here until a host holds the lock (the candidate, or any other that won it while
   * it was free), then unbinds; nobody within `boundMs`: the lock is taken back (null).
   */
  private async offerToV2(
    candidate: HandoverCandidate,
    boundMs: number,
    unbind: () => Promise<void>,
    wasOffered: () => void,
  ): Promise<string | null> {
    const lease = this.ctx.actingLease();
    if (lease === null)
      throw new EtcdFencedError(`failover of ${this.cidr}: the session holds no live lease`);
    // While the lock is free, decide() leaves it free (handingOver).
    this.offer = { hostname: candidate.hostname, lease: '0', modRevision: null };
    const wake = { key: this.membershipKey, value: this.membershipValue(), lease };
    const res = await this.ctx.rpc.txn({
      compare: [
        { key: this.lockKey, target: 'Value', result: 'Equal', value: Buffer.from(this.hostname) },
        { key: this.lockKey, target: 'Lease', result: 'Equal', lease },
      ],
      success: [{ request_delete_range: { key: this.lockKey } }, { request_put: wake }],
      failure: [{ request_range: { key: this.lockKey } }],
    });
    const revision = BigInt(res.header.revision);
    if (!res.succeeded) {
      this.offer = null;
      const now = holderOf(res.responses[0]?.response_range.kvs[0]);
      this.observe({ cidr: this.cidr, revision, holder: now });
      if (this.isMine(now)) return null;
      throw new EtcdNotOwnerError(
        `failover of ${this.cidr}: the lock changed hands (owner: ${now?.hostname ?? 'none'})`,
      );
    }
    wasOffered();
    this.offer = { hostname: candidate.hostname, lease: '0', modRevision: revision };
    const taken = (h: LockHolder | null | undefined): h is LockHolder =>
      h != null && h.modRevision > revision;
    let after: LockHolder | undefined = taken(this.holder) ? this.holder : undefined;
    if (after === undefined) {
      const settled = firstValueFrom(
        this.holders.pipe(filter(taken), timeout({ first: boundMs, with: () => of(undefined) })),
        { defaultValue: undefined },
      );
      this.observe({ cidr: this.cidr, revision, holder: null });
      after = await settled;
    }
    if (after === undefined) return this.retake();
    if (after.hostname === this.hostname) return null;
    await unbind();
    return after.hostname;
  }

  /**
   * The candidate took the lock (`taken`: its confirmation): unbind, then write the lock once
   * more, unchanged, so the successor binds now that this host no longer answers for the VIP.
   * Best effort: without it the successor binds after one keep-alive interval.
   */
  private async released(taken: LockHolder, unbind: () => Promise<void>): Promise<void> {
    try {
      await unbind();
      await this.ctx.rpc.txn({
        compare: [
          { key: this.lockKey, target: 'Mod', result: 'Equal', mod_revision: taken.modRevision.toString() },
        ],
        success: [
          { request_put: { key: this.lockKey, value: Buffer.from(taken.hostname), lease: taken.lease } },
        ],
      });
    } catch (err) {
      this.ctx.options.logger.warn(
        `etcd failover of ${this.cidr}: telling ${taken.hostname} to bind failed`,
        {
          error: translateEtcdError(err, `release ${this.cidr}`).message,
        },
      );
    }
  }

  /** The offer was not taken in time: the lock back to us, if it is still the offer. */
  private async takeBack(offerRevision: bigint): Promise<string | null> {
    const now = await this.putOwnLockIf('failover of', {
      target: 'Mod',
      result: 'Equal',
      mod_revision: offerRevision.toString(),
    });
    if (now === null) return this.retake();
    return now.hostname === this.hostname ? null : now.hostname;
  }

  /** The offered lock went (refused, or its lease ended): take it again; another host may win it. */
  private async retake(): Promise<string | null> {
    const now = await this.putOwnLockIf('failover of', {
      target: 'Create',
      result: 'Equal',
      create_revision: 0,
    });
    return now === null || now.hostname === this.hostname ? null : now.hostname;
  }

  async owner(): Promise<string | null> {
    const res = await this.ctx.rpc.range({ key: this.lockKey });
    return res.kvs[0]?.value.toString() ?? null;
  }

  async hosts(): Promise<HostMembership[]> {
    const prefix = this.ctx.keys.membershipPrefix(this.cidr);
    const key = Buffer.from(prefix);
    const [members, owner] = await Promise.all([
      this.ctx.rpc.range({ key, range_end: prefixRangeEnd(key) }),
      this.owner(),
    ]);
    const listed: HostMembership[] = members.kvs.map((kv) => {
      const member = decodeMember(kv.key.toString().slice(prefix.length), kv.value);
      return {
        hostname: member.hostname,
        owner: member.hostname === owner,
        priority: member.priority,
        preempt: member.preempt,
      };
    });
    if (owner !== null && !listed.some((m) => m.hostname === owner)) {
      listed.push({ hostname: owner, owner: true, priority: null, preempt: null });
    }
    return listed.sort((a, b) => a.hostname.localeCompare(b.hostname));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.candidate = false;
    this.clearRetry();
    try {
      if (this.ctx.actingLease() !== null) {
        await this.release();
        await this.syncMembership();
      }
    } finally {
      this.detach();
      this.ctx.unregister(this);
    }
  }
}

function holderOf(kv: { value: Buffer; lease: string; mod_revision: string } | undefined): LockHolder | null {
  return kv === undefined
    ? null
    : { hostname: kv.value.toString(), lease: String(kv.lease), modRevision: BigInt(kv.mod_revision) };
}
