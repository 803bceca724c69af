import { BehaviorSubject, filter, tap, type Observable } from 'rxjs';
import type { Election, ElectionEvent, EtcdSession, StoredVip } from '../adapters/etcd/types.ts';
import { placementOf } from '../adapters/etcd/member.ts';
import type { HealthCheckSpec, HealthMonitor, HealthRound } from '../adapters/health/types.ts';
import type { NetAdapter } from '../adapters/net/types.ts';
import type { ActorRefFrom } from 'xstate';
import { ipNextState, type IpEvent, type IpMachine } from '../machines/ip.ts';
import { AddressController } from './address.ts';
import { VipConflicts } from './conflicts.ts';
import type { HostAddresses } from './host-addresses.ts';
import { vipInputs$, type ChecksConfig } from './inputs.ts';
import type { LinkEvent } from './link.ts';
import type { Logger } from './logger.ts';
import type { NoteCode } from './notes.ts';
import type { HealthRoundReport, StateChangeNotifier } from './types.ts';

/**
 * One VIP's runtime: its election, its address controller and its health checks, and the two
 * orderings the IP machine's actions need (election work after address work; background etcd
 * work whose failure is a note). The RuntimeSet (actors/runtime-set.ts) owns the map of them; the VipService works on it.
 */
export interface VipRuntime {
  vip: StoredVip;
  election: Election;
  address: AddressController;
  checks: BehaviorSubject<ChecksConfig>;
  removing: boolean;
  /** Election actions waiting for the address work queued before them (see afterAddress). */
  electionOps: Promise<void>;
  /** Its IP actor once the supervisor has spawned it: a state read is one property away. */
  ipActor?: ActorRefFrom<IpMachine>;
  /** The last other host etcd named as owner: a LinK host, so taking over from it needs no probe. */
  previousOwner?: string;
  /** Claims on the VIP from other MACs, the defence and the takeover probe (actors/conflicts.ts). */
  conflicts: VipConflicts;
  /** A `fault` came since etcd's last verdict: the next `elected` is a recovery's. */
  faulted?: boolean;
}

/** What a runtime needs from the agent. */
export interface VipRuntimeDeps {
  hostname: string;
  session: EtcdSession;
  net: NetAdapter;
  monitorHealth: HealthMonitor;
  health: { intervalMs: number; timeoutMs: number; fallCount: number; riseCount: number };
  announce: { count: number; intervalMs: number; refreshIntervalMs: number };
  logger: Logger;
  hostAddresses: HostAddresses;
  /** Addresses on the interface when this process started: a restart's, bound without a probe. */
  boundAtStart(): ReadonlySet<string>;
  lifetimeSec(): number | null;
  mayRecreateExpired(election: Election): boolean;
  onHealthRound(report: HealthRoundReport): void;
  /** The link's events (TRACK_INTERFACE, actors/link.ts); EMPTY when the link is not tracked. */
  linkEvents$(): Observable<LinkEvent>;
  note(vipId: string, code: NoteCode, message: string): void;
  /** A candidate preempts this owner (election.preemptions$): hand the VIP to it. */
  preempt(vipId: string, to: string): void;
  /** The notify hooks: a conflict reaches them as event `conflict` (docs/hooks.md). */
  notifier?: StateChangeNotifier;
}

/**
 * RFC 5227 probe before a first bind, listening this long (a second probe goes out halfway).
 * A holder on the segment answers within a millisecond or two; the listen time only delays a
 * VIP's very first bind on this host, never a restart's or a handover's.
 */
const PROBE_LISTEN_MS = 250;

export function checksIntervalMs(vip: StoredVip, defaultMs: number): number {
  const seconds = vip.healthcheck_interval ?? 0;
  return seconds > 0 ? seconds * 1000 : defaultMs;
}

export function createRuntime(deps: VipRuntimeDeps, vip: StoredVip): VipRuntime {
  const checks = (vip.checks ?? []) as HealthCheckSpec[];
  const election = deps.session.election(vip.ip, placementOf(vip));
  // Completes with the election (close, detach): no subscription outlives the VIP.
  election.preemptions$.subscribe((to) => deps.preempt(vip.id, to));
  const runtime: VipRuntime = {
    vip,
    election,
    address: new AddressController({
      cidr: vip.ip,
      net: deps.net,
      lifetimeSec: () => deps.lifetimeSec(),
      announce: deps.announce,
      logger: deps.logger,
      onError: (code, err) => deps.note(vip.id, code, errorText(err)),
      onAnnounced: () => deps.note(vip.id, 'ANNOUNCE_SENT', `announced ${vip.ip}`),
      mayRecreate: () => deps.mayRecreateExpired(election),
      probe: () => probeBeforeFirstBind(deps, runtime),
      onInUse: (mac, retryMs) =>
        deps.note(
          vip.id,
          'ADDRESS_IN_USE',
          `${vip.ip} is in use by ${mac}, not a LinK holder of it: not bound; probing again in ${retryMs / 1000} s`,
        ),
      onProbeError: (err) => deps.note(vip.id, 'PROBE_FAILED', errorText(err)),
      onClaim: (claim) => runtime.conflicts.claim(claim),
      onClaimWatchError: (err) => deps.note(vip.id, 'CLAIM_WATCH_FAILED', errorText(err)),
    }),
    conflicts: new VipConflicts({
      cidr: vip.ip,
      net: deps.net,
      address: () => runtime.address,
      isOwner: () => election.holdsLock && runtime.ipActor?.getSnapshot().value === 'ACTIVATED',
      note: (code, message) => deps.note(vip.id, code, message),
      notifyConflict: (mac) => notifyConflict(deps, runtime, mac),
      onProbeError: (err) =>
        deps.note(vip.id, 'PROBE_FAILED', `the probe after a takeover: ${errorText(err)}`),
      probeListenMs: PROBE_LISTEN_MS,
      heldAtStart: deps.boundAtStart().has(vip.ip),
    }),
    checks: new BehaviorSubject({ checks, intervalMs: checksIntervalMs(vip, deps.health.intervalMs) }),
    removing: false,
    electionOps: Promise.resolve(),
  };
  return runtime;
}

/** A conflict as the notify hooks take it: no change of state, event `conflict`, the other MAC. */
function notifyConflict(deps: VipRuntimeDeps, runtime: VipRuntime, mac: string): void {
  const state = runtime.ipActor?.getSnapshot().value ?? 'BOOTING';
  deps.notifier?.notify({
    vipId: runtime.vip.id,
    ip: runtime.vip.ip,
    from: state,
    to: state,
    event: 'conflict',
    hostname: deps.hostname,
    leaseId: deps.session.status().leaseId,
    time: new Date().toISOString(),
    conflictMac: mac,
  });
}

/**
 * RFC 5227 before a VIP's first bind on this host: the MAC of a stranger answering for it, or
 * null. No probe for an address this host already held (a restart keeps it bound: the gap
 * must stay zero) nor when etcd named another LinK host as owner before (a handover or a
 * failover: that host is a LinK holder, and the probe would slow the takeover by its listen).
 */
async function probeBeforeFirstBind(deps: VipRuntimeDeps, runtime: VipRuntime): Promise<string | null> {
  if (deps.boundAtStart().has(runtime.vip.ip) || runtime.previousOwner !== undefined) return null;
  const report = await deps.net.probeConflict(runtime.vip.ip, { timeoutMs: PROBE_LISTEN_MS });
  if (report === null) return null;
  const carriers = await runtime.election.hosts().catch(() => null);
  return (await deps.hostAddresses.isLinkHolder(report.mac, carriers)) ? null : report.mac;
}

/** election$ and health$ of one VIP, merged: the IP actor's only inputs. */
export function runtimeInputs$(deps: VipRuntimeDeps, runtime: VipRuntime): Observable<IpEvent> {
  const vipId = runtime.vip.id;
  // etcd's word that this host owns the VIP puts back an address the kernel dropped while the
  // agent was frozen (the refresher would, at its next tick): the machine does nothing on it,
  // `elected` in ACTIVATED being a self-transition.
  const election$ = runtime.election.events$.pipe(
    tap((event) => {
      if (event.type === 'demoted' && event.owner !== undefined && event.owner !== deps.hostname)
        runtime.previousOwner = event.owner;
      if (event.type === 'elected' && runtime.address.isLost) runtime.address.recheck();
      reannounceAfterRecovery(deps, runtime, event);
    }),
    filter((event) => !('reassert' in event) || disagrees(deps, runtime, event)),
  );
  const health = {
    ...deps.health,
    onRound: ({ results }: HealthRound) =>
      deps.onHealthRound({
        vipId,
        results: results.map(({ check, ok, durationMs }) => ({ check, ok, durationMs })),
      }),
  };
  return vipInputs$(
    election$,
    runtime.checks,
    deps.monitorHealth,
    health,
    (err) => deps.note(vipId, 'INPUTS_FAILED', errorText(err)),
    (err) => deps.note(vipId, 'HEALTH_MONITOR_FAILED', errorText(err)),
    deps
      .linkEvents$()
      .pipe(
        tap((event) =>
          event.type === 'health_check_fail'
            ? deps.note(vipId, 'LINK_DOWN', `${runtime.vip.ip}: ${event.reason}`)
            : deps.note(vipId, 'LINK_UP', `${runtime.vip.ip}: ${event.reason}`),
        ),
      ),
  );
}

/**
 * After a fault, etcd's `elected` to an owner that kept the VIP (ACTIVATED, where `elected` is a
 * self-transition that runs no entry action) re-announces it from here: while etcd was away a
 * peer may have seized the VIP under `at-least-one` and moved the clients' neighbour entries.
 * The machine's table stays as documented; the announcement is the actor layer's.
 */
function reannounceAfterRecovery(deps: VipRuntimeDeps, runtime: VipRuntime, event: ElectionEvent): void {
  if (event.type === 'fault') {
    runtime.faulted = true;
    return;
  }
  const recovered = runtime.faulted === true;
  runtime.faulted = false;
  if (!recovered || event.type !== 'elected') return;
  if (runtime.ipActor?.getSnapshot().value !== 'ACTIVATED' || !runtime.address.wantsBound) return;
  deps.note(
    runtime.vip.id,
    'REANNOUNCED',
    `${runtime.vip.ip}: etcd is back and this host still owns it: announcing it again`,
  );
  runtime.address.announce();
}

/**
 * A re-asserted verdict reaches the machine only when its state does not already follow it
 * (then it is a correction, noted); otherwise it is a self-transition, and journaling it every
 * recheck would bury the journal's real events.
 */
function disagrees(deps: VipRuntimeDeps, runtime: VipRuntime, event: ElectionEvent): boolean {
  const snapshot = runtime.ipActor?.getSnapshot();
  if (snapshot === undefined) return true;
  const state = snapshot.value;
  if (ipNextState(state, event.type, snapshot.context.faultPolicy) === state) return false;
  deps.note(
    runtime.vip.id,
    'VERDICT_REASSERTED',
    `etcd says ${event.type} (${event.reason ?? 'no reason'}) while the VIP is ${state}: following etcd`,
  );
  return true;
}

/**
 * Runs an election action once the address work queued before it is done, in the order the
 * machine issued them. FAILING unbinds first and lets go of the lock after: the address
 * controller may still be busy (an announcement burst of ARP_GRATUITOUS_COUNT ×
 * ARP_GRATUITOUS_INTERVAL), and a lock released before the unbind would let another host bind
 * while this one still answers. `start` only starts etcd work (never awaited here), so a
 * release and the withdrawal that follows it start in the same turn, as the machine ran them.
 */
export function afterAddress(
  deps: VipRuntimeDeps,
  runtime: VipRuntime,
  start: (runtime: VipRuntime) => void,
): void {
  const addressDone = runtime.address.settled();
  runtime.electionOps = runtime.electionOps
    .then(() => addressDone)
    .then(() => start(runtime))
    .catch((err: unknown) => deps.note(runtime.vip.id, 'ELECTION_ACTION_FAILED', errorText(err)));
}

/** etcd work nobody waits for: its failure is a note with this code. */
export function background(
  deps: VipRuntimeDeps,
  runtime: VipRuntime,
  code: NoteCode,
  work: (runtime: VipRuntime) => Promise<unknown>,
): void {
  work(runtime).catch((err: unknown) => deps.note(runtime.vip.id, code, errorText(err)));
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return 'code' in err ? `${String(err.code)}: ${err.message}` : err.message;
  return String(err);
}
