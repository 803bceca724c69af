import { BehaviorSubject } from 'rxjs';
import type { Observable } from 'rxjs';
import { buildClusterView, type ClusterView, type RawKv } from './cluster-view.ts';
import { EtcdConfigStore } from './config-store.ts';
import { otherLiveAgent, type HostClaim } from './host-claim.ts';
import {
  EtcdHostnameTakenError,
  EtcdSessionClosedError,
  EtcdTimeoutError,
  isConfigurationError,
  isRecoverable,
  translateEtcdError,
} from './errors.ts';
import type { EtcdAdapterError, EtcdConfigurationError } from './errors.ts';
import { VipElection } from './election.ts';
import type { ElectionContext } from './election.ts';
import { FenceDeadline, systemClock } from './fence.ts';
import type { Clock } from './fence.ts';
import { encodeHostConfig, leaseIdOf } from './host-config.ts';
import { cidrFromStorable, makeKeys, prefixRangeEnd } from './keys.ts';
import type { Keys } from './keys.ts';
import { LeaseKeeper } from './lease.ts';
import type { Placement } from './member.ts';
import { limitKvCalls } from './limit.ts';
import { backoffDelay } from '../backoff.ts';
import { buildClientOptions, resolveSessionOptions } from './options.ts';
import type { EtcdSessionOptions, ResolvedSessionOptions } from './options.ts';
import { createRpc } from './rpc.ts';
import type { EtcdRpc } from './rpc.ts';
import { tlsProbeFor } from './tls-probe.ts';
import type { TlsProbe } from './tls-probe.ts';
import type { ConfigStore, EtcdSession, HostRecord, SessionState, SessionStatus } from './types.ts';
import { LockWatcher, type LockObservation, type LockSnapshot } from './watch.ts';

export interface SessionDeps {
  /** Replaces the etcd3 transport (tests). */
  rpc?: EtcdRpc;
  clock?: Clock;
  /** Replaces the TLS handshake probe (tests); default: one when ETCD_CACERT is set. */
  tlsProbe?: TlsProbe;
  /** This agent process, checked against the host record at start (host-claim.ts); none: no check. */
  hostClaim?: HostClaim;
}

/** Hooks for tests that simulate failures the session cannot otherwise be pushed into. */
export interface SessionTestHooks {
  /** A frozen agent: no keep-alive, no recovery, until thaw(). */
  freeze(): void;
  thaw(): void;
  /** Drops the shared watch stream as a network failure would (it must re-read and re-subscribe). */
  dropWatch(): void;
  /** Rounds of read + subscribe of the shared watch so far. */
  watchRounds(): number;
  /** The same, as a stream (current value first). */
  readonly watchRounds$: Observable<number>;
  /** Live election objects of this session. */
  elections(): readonly VipElection[];
}

/**
 * One agent's etcd session: one lease kept alive every keep-alive interval, the agent's fence
 * deadline, one prefix watch shared by every election, recovery after a fault.
 *
 * States: connecting -> alive <-> fault -> closed. `fault` is entered when the fence deadline
 * passes (source `fence`), when etcd says the lease is gone, or when etcd calls fail more than
 * `retry.maxAttempts` times in a row (source `etcd`); every election then emits `fault` once.
 * Recovery keeps the old lease if etcd still knows it, else grants a new one, re-puts the lease
 * key and the membership keys, re-reads every lock and re-subscribes, so each VIP converges to
 * one owner and every election emits `elected` or `demoted` again.
 */
/** Election KV calls in flight at once (see limit.ts). */
const ELECTION_CALLS_IN_FLIGHT = 32;

/** Watch changes handed to the elections per turn of the event loop. */
const CHANGE_SLICE = 256;

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
const MAX_TXN_OPS = 128;

export class EtcdSessionImpl implements EtcdSession {
  readonly hostname: string;
  readonly config: ConfigStore;
  readonly status$: Observable<SessionStatus>;
  readonly testing: SessionTestHooks;
  private readonly statusSubject: BehaviorSubject<SessionStatus>;
  private readonly keys: Keys;
  private readonly fence: FenceDeadline;
  private readonly keeper: LeaseKeeper;
  private readonly watcher: LockWatcher;
  private readonly electionsByCidr = new Map<string, VipElection>();
  private readonly context: ElectionContext;
  private state: SessionState = 'connecting';
  private acting = false;
  /** The current lease was granted here, not reused (election.ts ElectionContext.leaseGranted). */
  private leaseGranted = false;
  private lastError: string | undefined;
  private faultSource: 'fence' | 'etcd' | 'config' | undefined;
  private configError: EtcdConfigurationError | undefined;
  /** A TLS probe in flight: the keep-alive failure that started it decides fault or refusal. */
  private probing = false;
  private failures = 0;
  private recoveryTimer: ReturnType<typeof setTimeout> | null = null;
  private recheckTimer: ReturnType<typeof setTimeout> | null = null;
  private recoveryAttempts = 0;
  /** Faults and refusals entered so far: a connection attempt they interrupt gives up (see connect). */
  private faultCount = 0;
  /** The fence passed and etcd is being asked whether this is an outage (see fencePassed). */
  private askingEtcd = false;
  private frozen = false;
  private readonly rounds = new BehaviorSubject(0);
  private changes: LockObservation[] = [];
  private nextChange = 0;
  private drainingChanges = false;
  /** The last host record published, JSON; put again under each new lease. */
  private hostRecord: string | null = null;
  /** An earlier release's lease key (`keys.legacyLease`) was found at start: deleted with the first write of the new one. */
  private legacyLeaseKey = false;

  constructor(
    private readonly options: ResolvedSessionOptions,
    private readonly rpc: EtcdRpc,
    private readonly clock: Clock,
    private readonly tlsProbe: TlsProbe | null = null,
    private readonly hostClaim: HostClaim | null = null,
  ) {
    this.hostname = options.hostname;
    this.keys = makeKeys(options.prefix);
    this.fence = new FenceDeadline(clock, () => this.fencePassed());
    const log = options.logger;
    this.keeper = new LeaseKeeper(
      rpc,
      {
        ttlSeconds: options.ttlSeconds,
        keepAliveIntervalMs: options.keepAliveIntervalMs,
        retry: options.retry,
        clock,
        logger: log,
      },
      this.fence,
      {
        confirmed: () => {
          this.failures = 0;
        },
        lost: (err) => this.enterLeaseLost(`etcd says the lease is gone: ${err.message}`),
        streamFailed: (err) => this.reportFailure(err, true),
      },
    );
    this.watcher = new LockWatcher(
      rpc,
      this.keys,
      { retry: options.retry, clock, logger: log },
      {
        snapshot: (holders, revision) => {
          this.rounds.next(this.rounds.value + 1);
          for (const election of this.electionsByCidr.values()) {
            election.observe(
              { cidr: election.cidr, revision, holder: holders.get(election.cidr) ?? null },
              { authoritative: true, reassert: true },
            );
          }
        },
        change: (observation) => this.queueChange(observation),
        memberChanged: (cidr) => this.electionsByCidr.get(cidr)?.membersChanged(),
        lost: (err, attempt) => {
          log.warn('etcd lock watch lost; re-reading and re-subscribing', { error: err.message, attempt });
          this.reportFailure(err, false);
        },
      },
    );
    this.statusSubject = new BehaviorSubject<SessionStatus>(this.status());
    this.status$ = this.statusSubject.asObservable();
    this.config = new EtcdConfigStore(rpc, this.keys, this.hostname, log);
    this.context = {
      rpc: limitKvCalls(rpc, ELECTION_CALLS_IN_FLIGHT),
      keys: this.keys,
      options,
      clock,
      actingLease: () => (this.acting && !this.fence.expired() ? this.keeper.id : null),
      leaseGranted: () => this.leaseGranted,
      reportFailure: (err) => this.reportFailure(err, false),
      reportSuccess: () => {
        this.failures = 0;
      },
      unregister: (election) => {
        if (this.electionsByCidr.get(election.cidr) === election) this.electionsByCidr.delete(election.cidr);
      },
    };
    this.testing = {
      freeze: () => {
        this.frozen = true;
        this.keeper.setPaused(true);
      },
      thaw: () => {
        this.frozen = false;
        this.keeper.setPaused(false);
        if (this.state === 'fault') this.scheduleRecovery(0);
      },
      dropWatch: () => this.watcher.dropStream(),
      watchRounds: () => this.rounds.value,
      watchRounds$: this.rounds.asObservable(),
      elections: () => [...this.electionsByCidr.values()],
    };
  }

  /**
   * Watch changes reach the elections in order, at most CHANGE_SLICE per turn of the event loop.
   * One watch response can carry thousands of changes (every lock of an expired lease freed at
   * once); handled in one go they kept the keep-alive timer from firing past the TTL, so the
   * lease expired again and the agent never got out of faults. The first slice runs at once.
   */
  private queueChange(observation: LockObservation): void {
    this.changes.push(observation);
    if (!this.drainingChanges) this.drainChanges();
  }

  private drainChanges(): void {
    this.drainingChanges = true;
    const end = Math.min(this.changes.length, this.nextChange + CHANGE_SLICE);
    for (; this.nextChange < end; this.nextChange++) {
      const observation = this.changes[this.nextChange]!;
      this.electionsByCidr.get(observation.cidr)?.observe(observation);
    }
    if (this.nextChange < this.changes.length && this.state !== 'closed') {
      setImmediate(() => this.drainChanges());
      return;
    }
    this.changes = [];
    this.nextChange = 0;
    this.drainingChanges = false;
  }

  status(): SessionStatus {
    const status: SessionStatus = {
      state: this.state,
      leaseId: this.keeper.id,
      leaseRemainingMs: this.state === 'closed' ? 0 : this.fence.remainingMs(),
    };
    if (this.lastError !== undefined) status.lastError = this.lastError;
    if (this.state === 'fault' && this.faultSource !== undefined) status.faultSource = this.faultSource;
    if (this.state === 'fault' && this.faultSource === 'config' && this.configError !== undefined) {
      status.configError = { code: this.configError.code, message: this.configError.message };
    }
    return status;
  }

  /** One election per CIDR: asking again for an open one returns it (closing it closes it for all). */
  election(cidr: string, placement?: Placement): VipElection {
    if (this.state === 'closed') throw new EtcdSessionClosedError(`session of ${this.hostname} is closed`);
    const existing = this.electionsByCidr.get(cidr);
    if (existing !== undefined && !existing.isClosed) {
      if (placement !== undefined) existing.setPlacement(placement);
      return existing;
    }
    const election = new VipElection(cidr, this.context, placement);
    this.electionsByCidr.set(cidr, election);
    if (this.context.actingLease() !== null) election.begin();
    else if (this.state === 'fault' && this.faultSource === 'config' && this.configError !== undefined) {
      election.standDown(refusedReason(this.configError));
    } else if (this.state === 'fault') election.fault('etcd', this.lastError ?? 'etcd session in fault');
    return election;
  }

  /** Starts the session: reuse the stored lease if etcd still knows it, else grant one. */
  async start(): Promise<void> {
    try {
      const [stored, legacy, record] = await Promise.all([
        this.rpc.range({ key: Buffer.from(this.keys.lease(this.hostname)) }),
        this.rpc.range({ key: Buffer.from(this.keys.legacyLease(this.hostname)) }),
        this.hostClaim === null ? null : this.rpc.range({ key: Buffer.from(this.keys.agent(this.hostname)) }),
      ]);
      // Before the lease is touched: a clone reusing it would keep both alive, then revoke it.
      const other =
        this.hostClaim && otherLiveAgent(record?.kvs[0]?.value.toString() ?? null, this.hostClaim);
      if (other) throw new EtcdHostnameTakenError(this.hostname, other);
      // An earlier release's key is the newer one when present: v2 cannot have run after it
      // (it panicked on that key), and that release never wrote `config/<host>`.
      this.legacyLeaseKey = legacy.kvs.length > 0;
      await this.connect(
        leaseIdOf(legacy.kvs[0]?.value.toString()) ?? leaseIdOf(stored.kvs[0]?.value.toString()),
      );
    } catch (err) {
      const error = await this.classify(translateEtcdError(err, 'session start'));
      if (isConfigurationError(error)) {
        this.enterRefused(error);
        return;
      }
      if (!isRecoverable(error)) {
        await this.close({ revoke: false });
        throw error;
      }
      this.enterFault('etcd', error.message);
    }
  }

  /**
   * An unreachable etcd over TLS may be one that refuses our certificates (gRPC says UNAVAILABLE
   * either way): the probe's handshake tells which, by the certificate error's code.
   */
  private async classify(error: EtcdAdapterError): Promise<EtcdAdapterError> {
    if (this.tlsProbe === null || error.code !== 'ETCD_UNAVAILABLE') return error;
    try {
      await this.tlsProbe();
      return error;
    } catch (err) {
      return translateEtcdError(err, 'etcd TLS');
    }
  }

  /**
   * Stops for a restart that keeps this host's locks: moves every key on the agent's lease onto
   * a bridge lease of `graceSeconds` (not kept alive) and stores its id, so the next agent, if
   * it starts within the grace, reuses it and holds its VIPs without a gap. If it never comes
   * back, peers take over when the grace runs out.
   */
  async closeForRestart(graceSeconds: number): Promise<void> {
    const current = this.keeper.id;
    if (this.state === 'alive' && current !== null) {
      // Stop watching first: our own locks moving to the bridge lease must not look stale.
      this.acting = false;
      this.watcher.stop();
      for (const election of this.electionsByCidr.values()) election.detach();
      this.electionsByCidr.clear();
      try {
        const bridge = await this.rpc.leaseGrant(graceSeconds);
        await this.moveKeys(current, bridge.ID);
        await this.storeLeaseId(bridge.ID);
        this.keeper.stop();
        await this.rpc.leaseRevoke(current).catch(() => undefined);
      } catch (err) {
        this.options.logger.warn('etcd: handing the lease over for a restart failed; it will expire', {
          error: translateEtcdError(err, 'close for restart').message,
        });
      }
    }
    await this.close({ revoke: false });
  }

  /** Grants a lease of the configured TTL and moves this host's keys onto it. */
  private async migrateLease(): Promise<void> {
    const old = this.keeper.id!;
    const sentAt = this.clock.now();
    const fresh = await this.rpc.leaseGrant(this.options.ttlSeconds);
    await this.moveKeys(old, fresh.ID);
    this.keeper.adopt(fresh.ID, sentAt, Number(fresh.TTL));
    await this.rpc.leaseRevoke(old).catch(() => undefined);
    this.options.logger.info(
      `etcd session of ${this.hostname}: restart lease ${old} replaced by ${fresh.ID}`,
    );
  }

  /**
   * Re-puts every candidate's membership key under the lease, 128 puts a transaction (etcd's
   * default --max-txn-ops): one request per VIP made recovery with thousands of VIPs outlast
   * the TTL, so the session faulted again before it was back.
   */
  private async putMemberships(lease: string): Promise<void> {
    const puts = [...this.electionsByCidr.values()]
      .map((election) => election.membershipPut(lease))
      .filter((put) => put !== null);
    for (let i = 0; i < puts.length; i += MAX_TXN_OPS) {
      await this.rpc.txn({ success: puts.slice(i, i + MAX_TXN_OPS).map((put) => ({ request_put: put })) });
    }
  }

  async publishHost(record: HostRecord): Promise<void> {
    this.hostRecord = JSON.stringify(
      this.hostClaim === null ? record : { ...record, instance: this.hostClaim.instance },
    );
    const lease = this.context.actingLease();
    if (lease !== null) await this.putHostRecord(lease);
  }

  private async putHostRecord(lease: string): Promise<void> {
    if (this.hostRecord === null) return;
    await this.rpc.put({
      key: Buffer.from(this.keys.agent(this.hostname)),
      value: Buffer.from(this.hostRecord),
      lease,
    });
  }

  /** Records that do not parse are skipped: one bad writer must not stop every agent's adds. */
  async hostRecords(): Promise<HostRecord[]> {
    const key = Buffer.from(this.keys.agentsPrefix);
    const res = await this.rpc.range({ key, range_end: prefixRangeEnd(key) });
    return res.kvs.flatMap((kv) => {
      const record = parseHostRecord(kv.value.toString());
      return record === null ? [] : [record];
    });
  }

  async carriedVips(): Promise<string[]> {
    const key = Buffer.from(this.keys.membershipRoot);
    const res = await this.rpc.range({ key, range_end: prefixRangeEnd(key), keys_only: true });
    const cidrs = new Set<string>();
    for (const kv of res.kvs) {
      const storable = kv.key.toString().slice(key.length).split('/')[0];
      if (storable) cidrs.add(cidrFromStorable(storable));
    }
    return [...cidrs];
  }

  /**
   * The cluster view (cluster-view.ts): the locks first, then the membership keys, records, live
   * agents and drain flags at that read's revision, so the view is one moment of etcd. Scope
   * `elections`: the locks and membership keys only (owners and candidates: what balance reads
   * every BALANCE_INTERVAL), not every host's records.
   */
  async clusterView(scope: 'full' | 'elections' = 'full'): Promise<ClusterView> {
    const read = async (prefix: string, revision?: string): Promise<{ revision: string; kvs: RawKv[] }> => {
      const key = Buffer.from(prefix);
      const res = await this.rpc.range({
        key,
        range_end: prefixRangeEnd(key),
        ...(revision === undefined ? {} : { revision }),
      });
      return {
        revision: String(res.header.revision),
        kvs: res.kvs.map((kv) => ({
          key: kv.key.toString(),
          value: kv.value.toString(),
          lease: String(kv.lease),
        })),
      };
    };
    const locks = await read(this.keys.lockPrefix);
    const at = locks.revision;
    const none = Promise.resolve({ kvs: [] as RawKv[] });
    const full = scope === 'full';
    const [members, records, agents, drains] = await Promise.all([
      read(this.keys.membershipRoot, at),
      full ? read(this.keys.hostsRoot, at) : none,
      full ? read(this.keys.agentsPrefix, at) : none,
      full ? read(this.keys.drainPrefix, at) : none,
    ]);
    return buildClusterView(this.keys, {
      revision: at,
      locks: locks.kvs,
      members: members.kvs,
      records: records.kvs,
      agents: agents.kvs,
      drains: drains.kvs,
    });
  }

  /** Re-attaches every lock and membership key held with lease `from` to lease `to`. */
  private async moveKeys(from: string, to: string): Promise<void> {
    for (const prefix of [this.keys.lockPrefix, this.keys.membershipRoot, this.keys.agentsPrefix]) {
      const key = Buffer.from(prefix);
      const res = await this.rpc.range({ key, range_end: prefixRangeEnd(key) });
      const ours = res.kvs.filter((kv) => String(kv.lease) === from);
      const move = (kvs: typeof ours) =>
        this.rpc.txn({
          compare: kvs.map((kv) => ({
            key: kv.key,
            target: 'Lease' as const,
            result: 'Equal' as const,
            lease: from,
          })),
          success: kvs.map((kv) => ({ request_put: { key: kv.key, value: kv.value, lease: to } })),
        });
      // Half of etcd's limit per transaction: each key takes a compare and a put.
      for (let i = 0; i < ours.length; i += MAX_TXN_OPS / 2) {
        const batch = ours.slice(i, i + MAX_TXN_OPS / 2);
        // A key that changed meanwhile fails the whole batch: then move the others one by one.
        if (!(await move(batch)).succeeded) for (const kv of batch) await move([kv]);
      }
    }
  }

  async close(options: { revoke: boolean }): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.acting = false;
    this.clearRecovery();
    this.clearRecheck();
    this.watcher.stop();
    for (const election of this.electionsByCidr.values()) election.detach();
    this.electionsByCidr.clear();
    try {
      if (options.revoke) {
        await this.keeper.revoke();
        await this.rpc.deleteRange({ key: Buffer.from(this.keys.lease(this.hostname)) });
      } else {
        this.keeper.stop();
      }
    } catch (err) {
      this.options.logger.warn('etcd: revoking the lease on close failed', {
        error: translateEtcdError(err, 'close').message,
      });
    } finally {
      this.keeper.stop();
      this.fence.reset();
      this.publish();
      this.statusSubject.complete();
      this.rounds.complete();
      this.rpc.close();
    }
  }

  /**
   * Writes the lease id into v2's host record (host-config.ts); the first write also deletes an
   * earlier release's key, in the same transaction, so v2 never finds it after a rollback.
   */
  private async storeLeaseId(leaseId: string): Promise<void> {
    const put = {
      key: Buffer.from(this.keys.lease(this.hostname)),
      value: Buffer.from(encodeHostConfig(this.hostname, leaseId)),
    };
    if (!this.legacyLeaseKey) {
      await this.rpc.put(put);
      return;
    }
    await this.rpc.txn({
      success: [
        { request_put: put },
        { request_delete_range: { key: Buffer.from(this.keys.legacyLease(this.hostname)) } },
      ],
    });
    this.legacyLeaseKey = false;
    this.options.logger.info(
      `etcd session of ${this.hostname}: lease id moved from ${this.keys.legacyLease(this.hostname)} to ${this.keys.lease(this.hostname)} (LinK v2 reads every key under hosts/<host>/ as a VIP)`,
    );
  }

  private async connect(candidateLease: string | null): Promise<void> {
    // A fault while this attempt awaits etcd (its fence passed: a slow etcd just back from a
    // quorum loss) supersedes it: going on would mark the session alive with its keep-alive
    // stopped and `acting` false, and no recovery would ever run again (the lease expired, the
    // VIPs stayed bound everywhere; test/chaos, burst then restart without quorum).
    const faults = this.faultCount;
    const superseded = () => this.faultCount !== faults || this.isClosed();
    try {
      const reused = await this.keeper.acquire(candidateLease);
      this.leaseGranted = !reused;
      // A restart's bridge lease has a long TTL: move our keys back onto a lease of the
      // configured TTL at once, so a crash is detected as fast as before the restart.
      if (reused && this.keeper.grantedTtlSeconds !== this.options.ttlSeconds) await this.migrateLease();
      const leaseId = this.keeper.id;
      if (leaseId === null) throw new Error('lease acquisition returned no id');
      if (!reused || candidateLease !== leaseId || this.legacyLeaseKey) await this.storeLeaseId(leaseId);
      if (superseded()) return;
      this.keeper.start();
      this.acting = true;
      this.options.logger.info(
        `etcd session of ${this.hostname}: lease ${leaseId} ${reused ? 'reused' : 'granted'}`,
      );
      await this.putMemberships(leaseId);
      await this.putHostRecord(leaseId);
      if (superseded()) return;
      // Alive before the first read, so a status read next to `elected` already says so.
      this.failures = 0;
      this.lastError = undefined;
      if (this.configError !== undefined) {
        this.options.logger.info(
          `etcd session of ${this.hostname}: etcd accepts this agent's settings again`,
        );
      }
      this.configError = undefined;
      this.state = 'alive';
      this.publish();
      await this.watcher.start();
      if (superseded()) return;
      this.scheduleRecheck();
    } catch (err) {
      this.acting = false;
      this.keeper.stop();
      this.watcher.stop();
      throw err;
    }
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Only keep-alive failures count toward `retry.maxAttempts` (each is a retry with backoff that
   * found no member answering); a lost watch or a failed lock transaction is retried on its own,
   * so a single member's restart in a cluster does not fault the session.
   */
  private reportFailure(err: EtcdAdapterError, counts: boolean): void {
    this.lastError = err.message;
    if (isConfigurationError(err)) {
      this.enterRefused(err);
      return;
    }
    if (!counts || !isRecoverable(err) || this.state !== 'alive') return;
    this.failures++;
    if (this.failures < this.options.retry.maxAttempts || this.probing) return;
    const reason = `${this.failures} keep-alive failures in a row: ${err.message}`;
    if (this.tlsProbe === null || err.code !== 'ETCD_UNAVAILABLE') {
      this.enterFault('etcd', reason);
      return;
    }
    // Bounded by the probe's deadline; the fence still faults on time if etcd is silent.
    this.probing = true;
    void this.classify(err).then((classified) => {
      this.probing = false;
      if (this.state !== 'alive') return;
      if (isConfigurationError(classified)) this.enterRefused(classified);
      else this.enterFault('etcd', reason);
    });
  }

  /**
   * etcd refused this agent's settings: stop acting as in a fault, but tell every election
   * `demoted` (never `fault`, which under at-least-one binds every VIP) and retry slowly: the
   * error clears when etcd's side is fixed (a user created, a CA updated) or after a restart.
   */
  private enterRefused(error: EtcdConfigurationError): void {
    if (this.state === 'closed') return;
    // Retries fail on other calls (range, lease grant): the same refusal is said once.
    const same =
      this.state === 'fault' && this.faultSource === 'config' && this.configError?.code === error.code;
    this.faultCount++;
    this.state = 'fault';
    this.faultSource = 'config';
    this.configError = error;
    this.acting = false;
    this.lastError = error.message;
    this.keeper.stop();
    this.watcher.stop();
    this.clearRecheck();
    for (const election of this.electionsByCidr.values()) election.standDown(refusedReason(error));
    if (!same) {
      this.options.logger.error(
        `etcd refuses this agent's settings (${error.code}), staying out of the elections: ${error.message}`,
        { code: error.code },
      );
      this.publish();
    }
    this.scheduleRecovery(this.options.retry.configErrorDelayMs);
  }

  /**
   * The fence deadline passed: no keep-alive was confirmed for a TTL. That alone is no outage (this
   * process may have been frozen or starved, or etcd slow), and under at-least-one a `fault` binds
   * and announces every VIP: so stop acting at once (the fence's promise) and ask etcd first,
   * for at most one keep-alive interval (TTL/3). It answers and the lease lives: carry on, no
   * fault. It answers and the lease is gone: stand down (`demoted`, never a seizure) and recover
   * at once. No answer: etcd is really unreachable, `fault` (source `etcd`) with why.
   */
  private fencePassed(): void {
    if (this.state === 'connecting') {
      this.enterFault('fence', 'lease keep-alive deadline passed');
      return;
    }
    if (this.state === 'fault') {
      // A recovery got a lease and outlived it before it was done: that attempt is superseded
      // (see connect) and tried again; the elections already know, and what the fault is stays.
      this.faultCount++;
      this.acting = false;
      this.keeper.stop();
      this.watcher.stop();
      this.scheduleRecovery(backoffDelay(this.options.retry, ++this.recoveryAttempts));
      return;
    }
    if (this.state !== 'alive' || this.askingEtcd) return;
    this.askingEtcd = true;
    this.acting = false;
    const lease = this.keeper.id;
    const boundMs = this.options.keepAliveIntervalMs;
    const sentAt = this.clock.now();
    const faults = this.faultCount;
    withDeadline(this.clock, this.rpc.leaseTimeToLive(lease ?? '0'), boundMs)
      .then(
        (res) => {
          if (this.state !== 'alive' || this.faultCount !== faults) return;
          const ttl = Number(res.TTL);
          if (ttl > 0 && lease !== null) {
            this.fence.extend(sentAt, Math.min(ttl, this.keeper.grantedTtlSeconds ?? ttl) * 1000);
            this.acting = true;
            this.options.logger.warn(
              `etcd session of ${this.hostname}: keep-alive deadline passed, but etcd answers and lease ${lease} lives (${ttl} s): carrying on`,
            );
            return;
          }
          this.enterLeaseLost(
            `lease keep-alive deadline passed and etcd says lease ${lease} is gone (this agent was frozen or starved): not seizing`,
          );
        },
        (err: unknown) => {
          if (this.state !== 'alive' || this.faultCount !== faults) return;
          const error = translateEtcdError(err, 'fence check');
          this.enterFault(
            'etcd',
            `lease keep-alive deadline passed and etcd did not answer within ${boundMs} ms: ${error.message}`,
          );
        },
      )
      .finally(() => {
        this.askingEtcd = false;
      });
  }

  /**
   * etcd answers, and the lease is gone (this agent was frozen or starved past its TTL, or the
   * lease was revoked): not an outage, so every election stands down (`demoted`, no seizure)
   * and the session recovers at once with a new lease; etcd then says who owns each VIP.
   */
  private enterLeaseLost(reason: string): void {
    if (this.state === 'closed') return;
    this.faultCount++;
    this.state = 'fault';
    this.faultSource = 'fence';
    this.configError = undefined;
    this.acting = false;
    this.lastError = reason;
    this.keeper.stop();
    this.watcher.stop();
    this.clearRecheck();
    for (const election of this.electionsByCidr.values()) election.standDown(reason);
    this.options.logger.warn(`etcd session of ${this.hostname}: lease lost`, { reason });
    this.publish();
    this.recoveryAttempts = 0;
    this.scheduleRecovery(0);
  }

  /** Enters (or stays in) `fault`: stop acting, tell every election once, schedule recovery. */
  private enterFault(source: 'etcd' | 'fence', reason: string): void {
    if (this.state === 'closed') return;
    const already = this.state === 'fault';
    this.faultCount++;
    this.state = 'fault';
    this.faultSource = source;
    this.configError = undefined;
    this.acting = false;
    this.lastError = reason;
    this.keeper.stop();
    this.watcher.stop();
    this.clearRecheck();
    for (const election of this.electionsByCidr.values()) election.fault(source, reason);
    if (!already) {
      this.options.logger.warn(`etcd session of ${this.hostname}: fault (${source})`, { reason });
      this.publish();
      this.recoveryAttempts = 0;
    }
    this.scheduleRecovery(already ? backoffDelay(this.options.retry, ++this.recoveryAttempts) : 0);
  }

  /**
   * A retry after a refusal failed otherwise (etcd is now also unreachable): the settings were
   * never shown to be good, so this is no reason to seize the VIPs; keep the refusal, retry.
   */
  private refusedRetryFailed(error: EtcdAdapterError): void {
    this.lastError = error.message;
    this.scheduleRecovery(this.options.retry.configErrorDelayMs);
  }

  private scheduleRecovery(delayMs: number): void {
    this.clearRecovery();
    this.recoveryTimer = this.clock.setTimeout(() => {
      this.recoveryTimer = null;
      if (this.state !== 'fault' || this.frozen) return;
      this.connect(this.keeper.id)
        .catch(async (err: unknown) => {
          const error = await this.classify(translateEtcdError(err, 'recovery'));
          if (this.state !== 'fault') return;
          this.options.logger.debug(`etcd session of ${this.hostname}: recovery failed`, {
            error: error.message,
            attempt: this.recoveryAttempts,
          });
          if (isConfigurationError(error)) this.enterRefused(error);
          else if (this.faultSource === 'config') this.refusedRetryFailed(error);
          else this.enterFault('etcd', error.message);
        })
        .catch((err: unknown) => this.options.logger.error('etcd recovery failed', { error: String(err) }));
    }, delayMs);
  }

  /** The level check behind the watch, every `lockRecheckIntervalMs` while alive (see recheck). */
  private scheduleRecheck(): void {
    this.clearRecheck();
    this.recheckTimer = this.clock.setTimeout(() => {
      this.recheckTimer = null;
      if (this.state !== 'alive') return;
      void this.recheck().finally(() => {
        if (this.state === 'alive' && this.recheckTimer === null) this.scheduleRecheck();
      });
    }, this.options.lockRecheckIntervalMs);
  }

  private clearRecheck(): void {
    if (this.recheckTimer !== null) this.clock.clearTimeout(this.recheckTimer);
    this.recheckTimer = null;
  }

  /**
   * Reads every lock once and re-asserts each election's verdict (a dropped watch event, or an
   * `elected` the actor ignored, is corrected here at the latest); a lock held under this
   * session's lease for a VIP with no election here (its release failed when it was removed) is
   * deleted, if unchanged since the read.
   */
  private async recheck(): Promise<void> {
    let snapshot: LockSnapshot;
    try {
      snapshot = await this.watcher.read();
    } catch (err) {
      this.reportFailure(translateEtcdError(err, 'lock recheck'), false);
      return;
    }
    const lease = this.context.actingLease();
    if (this.state !== 'alive' || lease === null) return;
    const { holders, revision } = snapshot;
    for (const election of this.electionsByCidr.values()) {
      election.observe(
        { cidr: election.cidr, revision, holder: holders.get(election.cidr) ?? null },
        { reassert: true },
      );
    }
    for (const [cidr, holder] of holders) {
      if (holder.hostname !== this.hostname || holder.lease !== lease || this.electionsByCidr.has(cidr))
        continue;
      await this.releaseOrphan(cidr, holder.modRevision, lease);
    }
  }

  private async releaseOrphan(cidr: string, modRevision: bigint, lease: string): Promise<void> {
    const key = Buffer.from(this.keys.lock(cidr));
    try {
      const res = await this.rpc.txn({
        compare: [
          { key, target: 'Mod', result: 'Equal', mod_revision: modRevision.toString() },
          { key, target: 'Lease', result: 'Equal', lease },
        ],
        success: [{ request_delete_range: { key } }],
      });
      if (res.succeeded) {
        this.options.logger.warn(
          `etcd session of ${this.hostname}: released the lock of ${cidr}, a VIP it no longer carries`,
        );
      }
    } catch (err) {
      this.options.logger.warn(
        `etcd session of ${this.hostname}: releasing the orphan lock of ${cidr} failed`,
        {
          error: translateEtcdError(err, 'orphan lock').message,
        },
      );
    }
  }

  private clearRecovery(): void {
    if (this.recoveryTimer !== null) this.clock.clearTimeout(this.recoveryTimer);
    this.recoveryTimer = null;
  }

  private publish(): void {
    this.statusSubject.next(this.status());
  }
}

function refusedReason(error: EtcdConfigurationError): string {
  return `etcd configuration error: ${error.message}`;
}

function parseHostRecord(text: string): HostRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Partial<HostRecord>;
  const addresses = Array.isArray(r.addresses)
    ? r.addresses.filter(
        (a): a is { interfaceName: string; cidr: string } =>
          typeof a?.interfaceName === 'string' && typeof a?.cidr === 'string',
      )
    : [];
  if (typeof r.hostname !== 'string' || typeof r.mac !== 'string' || typeof r.interfaceName !== 'string')
    return null;
  return { hostname: r.hostname, interfaceName: r.interfaceName, mac: r.mac, addresses };
}

/** `promise`, or a rejection once `ms` have passed on `clock`. */
function withDeadline<T>(clock: Clock, promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new EtcdTimeoutError(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clock.clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Opens the agent's etcd session. Resolves once the first connection attempt is done: on success
 * the session is `alive`; when etcd is unreachable it is in `fault` and keeps retrying (the agent
 * starts anyway, from its local cache); when etcd refuses the agent's certificates, user or role
 * it is in `fault` with source `config`, out of every election, and retries slowly. Rejects on
 * options the client cannot use (unreadable TLS files, bad TTL) and other non-recoverable errors,
 * so such an agent stops at once.
 */
export async function createEtcdSession(
  options: EtcdSessionOptions,
  deps: SessionDeps = {},
): Promise<EtcdSessionImpl> {
  const resolved = resolveSessionOptions(options);
  const rpc =
    deps.rpc ?? createRpc(buildClientOptions({ ...options, defaultTimeoutMs: resolved.callTimeoutMs }));
  const session = new EtcdSessionImpl(
    resolved,
    rpc,
    deps.clock ?? systemClock,
    deps.tlsProbe ?? tlsProbeFor(options.hosts, options.tls, resolved.callTimeoutMs),
    deps.hostClaim ?? null,
  );
  await session.start();
  return session;
}
