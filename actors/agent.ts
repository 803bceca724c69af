import {
  defer,
  EMPTY,
  filter,
  interval,
  merge,
  Subject,
  take,
  type Observable,
  type Subscription,
} from 'rxjs';
import { createActor, type Actor } from 'xstate';
import { addressesOf, supervisorWith, vipIdOfAddress, type AgentMachine } from '../machines/agent.ts';
import type { IpState } from '../machines/ip.ts';
import type { Election, HostMembership, StoredVip } from '../adapters/etcd/types.ts';
import type { ClusterView } from '../adapters/etcd/cluster-view.ts';
import { HostAddresses } from './host-addresses.ts';
import { AddressRefresher } from './refresher.ts';
import { levelOf, type NoteCode } from './notes.ts';
import { etcdAnsweredSince, lifetimeSec, mayRecreateExpired, refreshEveryMs } from './lifetime.ts';
import { errorText, type VipRuntime, type VipRuntimeDeps } from './vip-runtime.ts';
import { RuntimeSet } from './runtime-set.ts';
import { provideIpMachine } from './ip-provision.ts';
import { VipService } from './vip-service.ts';
import { VipCacheWriter } from './vip-cache-writer.ts';
import { createJournalRecorder, type RecordedTransition } from './recorder.ts';
import { agentHealth, bootingBoundMs, type HealthReport } from './health.ts';
import { LinkTracker } from './link.ts';
import { Balancer } from './balancer.ts';
import { Drain, memoryDrainStore, type DrainService } from './drain.ts';
import type {
  AgentOptions,
  AgentService,
  HealthRoundReport,
  JournalEntry,
  NewVip,
  VipChange,
  VipView,
} from './types.ts';

/**
 * The agent: wires the pure machines to the adapters. Its RuntimeSet (actors/runtime-set.ts)
 * holds one runtime per VIP (its election, its health checks, its address controller), the IP
 * machine's actions are provided from them (actors/ip-provision.ts), and every event the IP
 * actors receive is journaled through XState's inspection API.
 * The API's operations are the VipService's (actors/vip-service.ts); the agent delegates.
 *
 * Construct with `createAgent(options)`, then `start()`; `stop({ handover: true })` on SIGTERM.
 */

/** cli/agent.ts builds the notifier: its type's home is actors/types.ts. */
export type { StateChangeNotifier } from './types.ts';

/** How often a host back from a link failure looks whether etcd has answered since. */
const ETCD_WORD_POLL_MS = 100;

export class Agent implements AgentService {
  readonly hostname: string;
  private readonly set: RuntimeSet;
  private readonly runtimes: Map<string, VipRuntime>;
  private readonly actor: Actor<AgentMachine>;
  private stopping = false;
  private readonly refresher: AddressRefresher;
  private sessionBack: Subscription | undefined;
  private readonly hostAddresses: HostAddresses;
  private readonly runtimeDeps: VipRuntimeDeps;
  /** Addresses on the interface when this process started: a restart's, bound without a probe. */
  private boundAtStart = new Set<string>();
  private readonly cache: VipCacheWriter;
  private readonly service: VipService;
  /** BALANCE=on (actors/balancer.ts). */
  private readonly balancer: Balancer | undefined;
  private readonly healthRounds = new Subject<HealthRoundReport>();
  /** When each VIP's actor (re)started in BOOTING (performance.now()), until it leaves it. */
  private readonly bootingSince = new Map<string, number>();
  /** TRACK_INTERFACE=on: INTERFACE's link, one more health input of every VIP. */
  private readonly link: LinkTracker | undefined;
  /** POST /drain: the VIPs handed over and out of the elections (actors/drain.ts). */
  private readonly drain: Drain;
  readonly drainer: DrainService;

  constructor(private readonly options: AgentOptions) {
    this.hostname = options.hostname;
    this.refresher = new AddressRefresher({
      net: options.net,
      controllers: () => [...this.runtimes.values()].map((runtime) => runtime.address),
      lifetimeSec: () => this.lifetimeSec(),
      periodMs: () => this.refreshEveryMs(),
      onFailure: (cidr, err) => this.noteFor(cidr, 'REFRESH_FAILED', errorText(err)),
      onLost: (cidr) =>
        this.noteFor(
          cidr,
          'ADDRESS_EXPIRED',
          `${cidr}: its kernel lifetime ran out before a refresh; kept off until etcd says who owns it`,
        ),
    });
    this.hostAddresses = new HostAddresses({
      hostname: options.hostname,
      net: options.net,
      session: options.session,
      ownVips: () => addressesOf(this.actor.getSnapshot()),
      logger: options.logger,
    });
    this.link = options.trackInterface
      ? new LinkTracker({
          net: options.net,
          rise: {
            intervalMs: options.health.intervalMs,
            riseCount: options.health.riseCount,
            etcdWord: () => this.etcdAnswered$(),
          },
          onState: (state) =>
            options.logger[state.up ? 'info' : 'warn'](
              `${state.interfaceName} link ${state.up ? 'up' : 'down'}`,
              {
                reason: state.reason,
              },
            ),
          onError: (err, retryInMs) => {
            const message = `${errorText(err)}; watching again in ${retryInMs} ms`;
            options.logger.error('interface tracking interrupted: link notifications failed', {
              err: message,
            });
            for (const vipId of this.runtimes.keys()) this.note(vipId, 'LINK_WATCH_FAILED', message);
          },
        })
      : undefined;
    this.runtimeDeps = {
      ...options,
      linkEvents$: () => this.link?.events$() ?? EMPTY,
      hostAddresses: this.hostAddresses,
      boundAtStart: () => this.boundAtStart,
      lifetimeSec: () => this.lifetimeSec(),
      mayRecreateExpired: (election) => this.mayRecreateExpired(election),
      onHealthRound: (report) => this.healthRounds.next(report),
      preempt: (vipId, to) => this.service.preempt(vipId, to),
      note: (vipId, code, message) => this.note(vipId, code, message),
    };
    this.set = new RuntimeSet({
      runtimeDeps: this.runtimeDeps,
      logger: options.logger,
      supervisor: () => this.actor,
      vipIdOf: (ip) => this.vipIdOf(ip),
      stopping: () => this.stopping,
      outAtSpawn: (vip) => this.drain.outAtSpawn(vip, this.boundAtStart.has(vip.ip)),
      keepsOut: (vipId) => this.drain.keepsOut(vipId),
    });
    this.runtimes = this.set.runtimes;
    const ip = provideIpMachine(
      (vipId) => this.runtimes.get(vipId),
      this.runtimeDeps,
      (vipId) => this.drain.keepsOut(vipId),
    );
    this.actor = createActor(supervisorWith(ip), {
      input: { faultPolicy: options.faultPolicy },
      inspect: createJournalRecorder({
        journal: options.journal,
        faultPolicy: options.faultPolicy,
        ipOf: (actorId) => this.runtimes.get(actorId)?.vip.ip,
        onTransition: (transition) => this.onTransition(transition),
        onStart: (vipId, state) => {
          if (state === 'BOOTING') this.bootingSince.set(vipId, performance.now());
        },
        onStop: (vipId) => this.bootingSince.delete(vipId),
      }),
    });
    this.actor.subscribe({
      error: (err) => options.logger.error('agent actor failed', { err: String(err) }),
    });
    this.cache = new VipCacheWriter(options.cache, options.logger, () =>
      [...this.runtimes.values()].map((r) => r.vip),
    );
    this.service = new VipService({
      ...options,
      hostAddresses: this.hostAddresses,
      runtimes: this.runtimes,
      cache: this.cache,
      stopping: () => this.stopping,
      send: (event) => this.actor.send(event),
      vipIdOf: (ip) => this.vipIdOf(ip),
      spawn: (vip) => this.set.spawn(vip),
      note: (vipId, code, message) => this.note(vipId, code, message),
    });
    this.balancer =
      options.balanceIntervalMs === undefined
        ? undefined
        : new Balancer({
            hostname: options.hostname,
            session: options.session,
            intervalMs: options.balanceIntervalMs,
            logger: options.logger,
            handOver: (cidr, to) => this.service.balance(cidr, to),
          });
    this.drain = new Drain({
      hostname: options.hostname,
      store: options.drainStore ?? memoryDrainStore(),
      runtimes: this.runtimes,
      stateOf: (id) => this.stateOf(id),
      failover: (id) => this.service.failover(id),
      note: (vipId, code, message) => this.note(vipId, code, message),
      logger: options.logger,
      stopping: () => this.stopping,
    });
    this.drainer = {
      drain: () => this.drain.drain(),
      undrain: () => this.drain.undrain(),
      status: () => this.drain.status(),
    };
  }

  get journal$(): Observable<JournalEntry> {
    return this.options.journal.entries$;
  }

  get healthRounds$(): Observable<HealthRoundReport> {
    return this.healthRounds.asObservable();
  }

  /** Restores the VIPs from etcd, or from the local cache when etcd cannot be read. */
  async start(): Promise<void> {
    this.actor.start();
    this.refresher.start();
    let lastState = this.options.session.status().state;
    this.sessionBack = this.options.session.status$.subscribe(({ state }) => {
      // Back on etcd: the kernel lifetime follows the lease again at once. A fault under
      // at-least-one gave it ADDRESS_LIFETIME; left until the next round (up to TTL/3), a kill -9
      // of this agent right after the recovery left its address answering for that long.
      if (state === 'alive' && lastState !== 'alive') this.refresher.tick();
      lastState = state;
    });
    // Read beside the VIPs, before any competes: a drained host's VIPs start out of the election.
    const drainLoaded = this.drain.load();
    let vips: StoredVip[];
    try {
      vips = await this.options.session.config.list();
      this.cache.save(vips);
    } catch (err) {
      vips = this.cache.read();
      // The session has said why in its own line; its elections keep these VIPs in STANDBY.
      if (this.options.session.status().faultSource === 'config') {
        this.options.logger.warn(
          "etcd refuses this agent's settings at start: VIPs restored from the local cache stay unbound",
          { count: vips.length },
        );
      } else {
        this.options.logger.warn('etcd unreachable at start: VIPs restored from the local cache', {
          count: vips.length,
          err: String(err),
        });
      }
    }
    const local = await this.options.net.addresses().catch((err: unknown) => {
      this.options.logger.warn('cannot read the interfaces at start', { err: errorText(err) });
      return [];
    });
    this.boundAtStart = new Set(
      local.filter((a) => a.interfaceName === this.options.net.interfaceName).map((a) => a.cidr),
    );
    // Before any VIP competes: a link already down at start must not win them.
    await this.link?.start();
    await drainLoaded;
    const started = performance.now();
    this.set.spawnAll(vips);
    this.balancer?.start();
    // Not awaited: with etcd down the agent must not wait on it to bind its cached VIPs.
    void this.hostAddresses.start(local);
    this.options.logger.info('VIPs restored', {
      count: vips.length,
      ms: Math.round(performance.now() - started),
    });
  }

  /**
   * Graceful stop: unbind every VIP first, then release the locks and revoke the lease, so the
   * next host wins within one watch round trip and two hosts never answer at once. Without
   * handover (a restart) the addresses stay bound and the lease is left to be reused.
   */
  async stop(options: { handover: boolean }): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.balancer?.stop();
    this.drain.stop();
    this.set.flush();
    this.cache.flush();
    this.refresher.stop();
    this.sessionBack?.unsubscribe();
    this.hostAddresses.stop();
    this.link?.stop();
    const runtimes = [...this.runtimes.values()];
    for (const runtime of runtimes) runtime.address.close();
    await Promise.allSettled(runtimes.map((r) => r.address.settled()));
    if (options.handover) {
      await Promise.allSettled(runtimes.map((r) => this.options.net.unbind(r.vip.ip)));
      // One revoke frees every lock and membership key of this host at once (no call per VIP).
      await this.options.session.close({ revoke: true });
    } else {
      // The next agent must find the VIPs still bound and its locks still held.
      const grace = this.options.restartGraceSec;
      const owned = runtimes.filter((r) => this.stateOf(r.vip.id) === 'ACTIVATED');
      if (this.lifetimeSec() !== 0 && owned.length > 0) {
        await this.options.net
          .refreshMany(
            owned.map((r) => r.vip.ip),
            { lifetimeSec: grace },
          )
          .catch((err: unknown) =>
            this.options.logger.warn('restart: address lifetimes not extended', { err: errorText(err) }),
          );
      }
      await this.options.session.closeForRestart(grace);
    }
    await this.options.notifier?.close();
    // Last: with the addresses closed and etcd gone the actors can no longer change anything.
    // (Under one parent XState stopped n IP actors in O(n²), ~7 s at 5,000 VIPs; under the
    // supervisor's shards it is 0.23 s.)
    this.actor.stop();
    this.healthRounds.complete();
  }

  list(): VipView[] {
    return this.service.list();
  }

  get(id: string): VipView {
    return this.service.get(id);
  }

  add(request: NewVip): Promise<VipView> {
    return this.service.add(request);
  }

  update(id: string, change: VipChange): Promise<VipView> {
    return this.service.update(id, change);
  }

  remove(id: string): Promise<void> {
    return this.service.remove(id);
  }

  tryLock(id: string): Promise<VipView> {
    return this.service.tryLock(id);
  }

  failover(id: string): Promise<string> {
    return this.service.failover(id);
  }

  hosts(id: string): Promise<HostMembership[]> {
    return this.service.hosts(id);
  }

  cluster(): Promise<ClusterView> {
    return this.service.cluster();
  }

  journal(id: string): JournalEntry[] {
    return this.service.journal(id);
  }

  /** actors/health.ts decides; the agent gathers what it looks at. */
  health(): HealthReport {
    const now = performance.now();
    const link = this.link?.current;
    return agentHealth({
      supervisorRunning: this.actor.getSnapshot().status === 'active',
      stopping: this.stopping,
      faultPolicy: this.options.faultPolicy,
      session: this.options.session.status(),
      vips: this.list().map((vip) => {
        const since = vip.status === 'BOOTING' ? this.bootingSince.get(vip.id) : undefined;
        return {
          ip: vip.ip,
          status: vip.status,
          ...(since !== undefined ? { bootingForMs: now - since } : {}),
        };
      }),
      bootingBoundMs: bootingBoundMs(this.options.leaseTtlMs),
      storage: [this.options.journal.writeStatus.health(), this.cache.writeStatus.health()],
      drain: this.drain.status(),
      ...(link !== undefined && this.link ? { link: { ...link, downs: this.link.downs } } : {}),
    });
  }

  /** Resolves once every VIP's queued address work has run (tests, graceful stop). */
  async settled(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((r) => r.address.settled()));
  }

  private onTransition(transition: RecordedTransition): void {
    const { vipId, ip, from, to, event, reason, revision } = transition;
    if (from === 'BOOTING') this.bootingSince.delete(vipId);
    // After the transition is applied: the drain reads the VIP's new state.
    queueMicrotask(() => this.drain.onState(vipId));
    this.options.logger.info(`${ip} ${from} -> ${to}`, { vipId, event, reason });
    this.options.notifier?.notify({
      vipId,
      ip,
      from,
      to,
      event,
      hostname: this.hostname,
      leaseId: this.options.session.status().leaseId,
      ...(revision !== undefined ? { revision } : {}),
      time: new Date().toISOString(),
    });
  }

  /** A note for the VIP with this address, if this agent runs it. */
  private noteFor(cidr: string, code: NoteCode, message: string): void {
    const vipId = this.vipIdOf(cidr);
    if (vipId !== undefined && this.runtimes.has(vipId)) this.note(vipId, code, message);
  }

  private note(vipId: string, code: NoteCode, message: string): void {
    const level = levelOf(code);
    if (level !== 'info') this.options.logger[level](message, { vipId, code });
    this.options.journal.append({ kind: 'note', vipId, level, code, message });
  }

  private lifetimeSec(): number | null {
    return lifetimeSec(this.options, this.options.session.status());
  }

  private mayRecreateExpired(election: Election): boolean {
    return mayRecreateExpired(this.options, this.options.session.status(), election.holdsLock);
  }

  /**
   * Emits once etcd has answered a keep-alive sent after the subscription (the link is back:
   * actors/link.ts). Asked at every status change (a recovery) and every ETCD_WORD_POLL_MS
   * (a keep-alive on a session that stayed alive changes no status).
   */
  private etcdAnswered$(): Observable<unknown> {
    return defer(() => {
      const since = performance.now();
      const session = this.options.session;
      return merge(session.status$, interval(ETCD_WORD_POLL_MS)).pipe(
        filter(() => etcdAnsweredSince(this.options, session.status(), since, performance.now())),
        take(1),
      );
    });
  }

  private refreshEveryMs(): number {
    return refreshEveryMs(this.options, this.options.session.status());
  }

  private stateOf(id: string): IpState {
    return this.service.stateOf(id);
  }

  /** The supervisor's index is the agent's only one: reservations included. */
  private vipIdOf(ip: string): string | undefined {
    return vipIdOfAddress(this.actor.getSnapshot(), ip);
  }
}

export function createAgent(options: AgentOptions): Agent {
  return new Agent(options);
}
