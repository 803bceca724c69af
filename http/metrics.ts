import { Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import type { AgentService, HealthRoundReport, JournalEntry, VipView } from '../actors/types.ts';
import type { HealthReport } from '../actors/health.ts';
import type { NoteCode } from '../actors/notes.ts';
import { IP_STATES } from '../machines/ip.ts';

/**
 * Prometheus metrics of one agent. Counters are fed by the agent's live journal (`journal$`):
 * `event` entries give transitions, `note` entries carry the actor layer's stable codes.
 * Gauges (state, owner, lease, health) are read from the agent when Prometheus scrapes; health
 * checks come from the agent's `healthRounds$` (one report per round, too many for the journal).
 * Every name follows Prometheus's conventions, `promtool check metrics` passing on a scrape (a
 * test runs it): counters end in `_total`, nothing else does, units are base units.
 *
 * | metric | type | labels | source |
 * |---|---|---|---|
 * | link_vip_state | gauge (1 for the current state, 0 for the others) | vip_id, ip, state | agent.list() |
 * | link_vip_owner | gauge (1 = this host holds it) | vip_id, ip | agent.list() |
 * | link_vip_transitions_total | counter | from, to | journal `event` with from ≠ to |
 * | link_vip_events_total | counter | event | journal `event` |
 * | link_announcements_sent_total | counter | vip_id | note ANNOUNCE_SENT |
 * | link_conflicts_detected_total | counter | vip_id | notes ADDRESS_IN_USE, CONFLICT_DETECTED |
 * | link_bind_failures_total, link_unbind_failures_total, link_hook_failures_total | counter | | notes BIND_FAILED, UNBIND_FAILED, HOOK_FAILED |
 * | link_journal_notes_total | counter | code, level | every note |
 * | link_lease_remaining_seconds | gauge | | agent.health() |
 * | link_etcd_session_state | gauge (1 for the current state) | state | agent.health() |
 * | link_agent_healthy | gauge | | agent.health() |
 * | link_storage_writable | gauge (1 = writes work) | store (journal, cache) | agent.health().storage |
 * | link_storage_write_failures_total | counter | store | agent.health().storage (actors/write-status.ts counts) |
 * | link_last_failover_duration_seconds | gauge | vip_id | POST /ips/:id/failover: from the call to another host holding the lock |
 * | link_handover_duration_seconds | histogram | vip_id, trigger | POST /ips/:id/failover (trigger failover), DELETE of an owned VIP (trigger delete): from the call until another host holds it |
 * | link_takeover_duration_seconds | histogram | vip_id | journal: `elected` into ACTIVATED until the first ANNOUNCE_SENT after it |
 * | link_health_check_duration_seconds | histogram | vip_id, check | healthRounds$: each probe, start to result |
 * | link_health_check_results_total | counter | vip_id, check, result (pass, fail) | healthRounds$ |
 * | link_drained | gauge (1 = drained, POST /drain) | | agent.health().drain |
 * | link_drain_kept_vips | gauge | | agent.health().drain: VIPs a drained host still owns (no other host took them) |
 * | link_interface_up | gauge (1 = up with carrier) | interface | agent.health().link (TRACK_INTERFACE=on) |
 * | link_interface_down_total | counter | interface | agent.health().link: the link's downs since the agent started |
 * | link_build_info | gauge (always 1) | version | createMetrics' version |
 * | link_api_auth_failures_total | counter | | requests with wrong or malformed credentials (http/auth.ts) |
 * | link_api_auth_refused_total | counter | | requests refused with 429: their source failed too often |
 * | link_api_shed_total | counter | reason | requests answered 503 API_BUSY before any handler (http/load.ts) |
 * | process_*, nodejs_* | prom-client defaults, less the three `nodejs_active_*_total` | | |
 *
 * Series of a VIP are dropped when it leaves the agent (checked at each scrape) and a check's
 * when its VIP's checks change, so label sets stay bounded by the configuration.
 */

/** The note codes a metric counts (besides link_journal_notes_total, which counts them all). */
export const METRIC_NOTE_CODES = [
  'ANNOUNCE_SENT',
  'ADDRESS_IN_USE',
  'CONFLICT_DETECTED',
  'BIND_FAILED',
  'UNBIND_FAILED',
  'HOOK_FAILED',
] as const satisfies readonly NoteCode[];

const SESSION_STATES = ['connecting', 'alive', 'fault', 'closed'] as const;

/** What asked this host to give up a VIP: POST /ips/:id/failover, or DELETE of a VIP it held. */
export type HandoverTrigger = 'failover' | 'delete';

/**
 * prom-client's default gauges that promtool refuses (`non-counter metrics should not have
 * "_total" suffix`): sums over their `type` label, which `sum(nodejs_active_handles)` gives.
 */
const DROPPED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Seconds: from a fast TCP connect to a probe at its timeout. */
const CHECK_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds: a handover on one segment takes milliseconds, a lease expiry seconds. */
const HANDOVER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface MetricsOptions {
  /** The agent's version, the label of link_build_info. */
  version: string;
}

export interface ApiMetrics {
  readonly registry: Registry;
  /** Feeds one journal entry (exported for tests; the live feed calls it). */
  record(entry: JournalEntry): void;
  /** Prometheus text of the registry, the agent read once for it. */
  scrape(): Promise<string>;
  /** Another host took the VIP `seconds` after this host was asked to give it up. */
  observeHandover(vipId: string, trigger: HandoverTrigger, seconds: number): void;
  /** A request came with wrong or malformed credentials. */
  authFailure(): void;
  /** A request was refused (429) because its source failed to authenticate too often. */
  authRefused(): void;
  /** A request was shed (503 API_BUSY) for `reason` (http/load.ts). */
  shed(reason: string): void;
  /** Stops reading the journal. */
  stop(): void;
}

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * One read of the agent per scrape: prom-client calls every gauge's collect() in turn, and
 * list()/health() walk every VIP, so they are read once per scrape (`reset()` starts a scrape;
 * without it a read is reused for at most 50 ms).
 */
function scrapeReader(agent: AgentService): { list(): VipView[]; health(): HealthReport; reset(): void } {
  let cached: { at: number; list: VipView[]; health: HealthReport } | undefined;
  const read = () => {
    const now = performance.now();
    if (!cached || now - cached.at > 50) cached = { at: now, list: agent.list(), health: agent.health() };
    return cached;
  };
  return {
    list: () => read().list,
    health: () => read().health,
    reset: () => {
      cached = undefined;
    },
  };
}

export function createMetrics(
  service: AgentService,
  registry: Registry,
  options: MetricsOptions,
): ApiMetrics {
  const agent = scrapeReader(service);
  if (!registry.getSingleMetric('process_cpu_user_seconds_total')) {
    collectDefaultMetrics({ register: registry });
    for (const name of DROPPED_DEFAULTS) registry.removeSingleMetric(name);
  }
  const registers = [registry];

  const buildInfo = getOrCreate(
    registry,
    'link_build_info',
    () =>
      new Gauge({
        name: 'link_build_info',
        help: 'Always 1; its label names the version of the agent that serves this.',
        labelNames: ['version'] as const,
        registers,
      }),
  );
  buildInfo.reset();
  buildInfo.set({ version: options.version }, 1);

  getOrCreate(
    registry,
    'link_vip_state',
    () =>
      new Gauge({
        name: 'link_vip_state',
        help: 'State of each VIP on this host: 1 for the current state, 0 for the others.',
        labelNames: ['vip_id', 'ip', 'state'] as const,
        registers,
        collect() {
          this.reset();
          for (const vip of agent.list()) {
            for (const state of IP_STATES) {
              this.set({ vip_id: vip.id, ip: vip.ip, state }, vip.status === state ? 1 : 0);
            }
          }
        },
      }),
  );
  getOrCreate(
    registry,
    'link_vip_owner',
    () =>
      new Gauge({
        name: 'link_vip_owner',
        help: '1 when this host holds the VIP, 0 otherwise.',
        labelNames: ['vip_id', 'ip'] as const,
        registers,
        collect() {
          this.reset();
          for (const vip of agent.list()) this.set({ vip_id: vip.id, ip: vip.ip }, vip.owner ? 1 : 0);
        },
      }),
  );
  getOrCreate(
    registry,
    'link_lease_remaining_seconds',
    () =>
      new Gauge({
        name: 'link_lease_remaining_seconds',
        help: "Seconds left before the agent's etcd lease deadline (0 when past).",
        registers,
        collect() {
          this.set(Math.max(0, agent.health().leaseRemainingMs) / 1000);
        },
      }),
  );
  getOrCreate(
    registry,
    'link_etcd_session_state',
    () =>
      new Gauge({
        name: 'link_etcd_session_state',
        help: "The agent's etcd session state: 1 for the current state.",
        labelNames: ['state'] as const,
        registers,
        collect() {
          const current = agent.health().etcd;
          for (const state of SESSION_STATES) this.set({ state }, current === state ? 1 : 0);
        },
      }),
  );
  getOrCreate(
    registry,
    'link_agent_healthy',
    () =>
      new Gauge({
        name: 'link_agent_healthy',
        help: '1 when /healthz answers 200.',
        registers,
        collect() {
          this.set(agent.health().ok ? 1 : 0);
        },
      }),
  );

  getOrCreate(
    registry,
    'link_storage_writable',
    () =>
      new Gauge({
        name: 'link_storage_writable',
        help: '1 when the store under STATE_DIR (journal, cache) takes writes, 0 while they fail (/healthz names the path).',
        labelNames: ['store'] as const,
        registers,
        collect() {
          for (const store of agent.health().storage)
            this.set({ store: store.store }, store.writable ? 1 : 0);
        },
      }),
  );
  getOrCreate(
    registry,
    'link_storage_write_failures_total',
    () =>
      new Counter({
        name: 'link_storage_write_failures_total',
        help: 'Writes to STATE_DIR that failed (ENOSPC, EROFS, EIO, …) since the agent started, by store.',
        labelNames: ['store'] as const,
        registers,
        collect() {
          // The agent counts (actors/write-status.ts); a scrape reads its count.
          this.reset();
          for (const store of agent.health().storage) this.inc({ store: store.store }, store.failures);
        },
      }),
  );

  getOrCreate(
    registry,
    'link_drained',
    () =>
      new Gauge({
        name: 'link_drained',
        help: '1 while the host is drained (POST /drain): it competes for no VIP until DELETE /drain.',
        registers,
        collect() {
          this.set(agent.health().drain?.drained ? 1 : 0);
        },
      }),
  );
  getOrCreate(
    registry,
    'link_drain_kept_vips',
    () =>
      new Gauge({
        name: 'link_drain_kept_vips',
        help: 'VIPs a drained host still owns: no other host carries them or took them (retried).',
        registers,
        collect() {
          this.set(agent.health().drain?.kept ?? 0);
        },
      }),
  );

  getOrCreate(
    registry,
    'link_interface_up',
    () =>
      new Gauge({
        name: 'link_interface_up',
        help: '1 while INTERFACE is up with carrier, 0 while it is down (TRACK_INTERFACE=on; absent when off).',
        labelNames: ['interface'] as const,
        registers,
        collect() {
          const link = agent.health().link;
          if (link !== undefined) this.set({ interface: link.interfaceName }, link.up ? 1 : 0);
        },
      }),
  );
  getOrCreate(
    registry,
    'link_interface_down_total',
    () =>
      new Counter({
        name: 'link_interface_down_total',
        help: 'Times INTERFACE went down or lost carrier since the agent started (TRACK_INTERFACE=on).',
        labelNames: ['interface'] as const,
        registers,
        collect() {
          const link = agent.health().link;
          this.reset();
          if (link !== undefined) this.inc({ interface: link.interfaceName }, link.downs);
        },
      }),
  );

  const transitions = getOrCreate(
    registry,
    'link_vip_transitions_total',
    () =>
      new Counter({
        name: 'link_vip_transitions_total',
        help: 'State changes of the VIPs on this host, by from and to state.',
        labelNames: ['from', 'to'] as const,
        registers,
      }),
  );
  const events = getOrCreate(
    registry,
    'link_vip_events_total',
    () =>
      new Counter({
        name: 'link_vip_events_total',
        help: 'Events received by the VIP actors, by event type.',
        labelNames: ['event'] as const,
        registers,
      }),
  );
  const announcements = getOrCreate(
    registry,
    'link_announcements_sent_total',
    () =>
      new Counter({
        name: 'link_announcements_sent_total',
        help: 'Gratuitous ARP / unsolicited neighbour advertisements sent.',
        labelNames: ['vip_id'] as const,
        registers,
      }),
  );
  const conflicts = getOrCreate(
    registry,
    'link_conflicts_detected_total',
    () =>
      new Counter({
        name: 'link_conflicts_detected_total',
        help: 'Address conflicts seen: another machine answered the probe before a first bind of a VIP, or claimed a VIP this host holds.',
        labelNames: ['vip_id'] as const,
        registers,
      }),
  );
  const simpleCounter = (name: string, help: string) =>
    getOrCreate(registry, name, () => new Counter({ name, help, registers }));
  const bindFailures = simpleCounter(
    'link_bind_failures_total',
    'Failed attempts to add a VIP to the interface.',
  );
  const unbindFailures = simpleCounter(
    'link_unbind_failures_total',
    'Failed attempts to remove a VIP from the interface.',
  );
  const hookFailures = simpleCounter('link_hook_failures_total', 'Notification hooks that failed.');
  const notes = getOrCreate(
    registry,
    'link_journal_notes_total',
    () =>
      new Counter({
        name: 'link_journal_notes_total',
        help: 'Notes written to the VIP journals, by code and level.',
        labelNames: ['code', 'level'] as const,
        registers,
      }),
  );
  const lastFailover = getOrCreate(
    registry,
    'link_last_failover_duration_seconds',
    () =>
      new Gauge({
        name: 'link_last_failover_duration_seconds',
        help: 'Duration of the last manual failover of each VIP, until another host held it.',
        labelNames: ['vip_id'] as const,
        registers,
      }),
  );

  const handovers = getOrCreate(
    registry,
    'link_handover_duration_seconds',
    () =>
      new Histogram({
        name: 'link_handover_duration_seconds',
        help: 'From asking this host to give up a VIP (failover, delete) until another host held it.',
        labelNames: ['vip_id', 'trigger'] as const,
        buckets: HANDOVER_BUCKETS,
        registers,
      }),
  );
  const takeovers = getOrCreate(
    registry,
    'link_takeover_duration_seconds',
    () =>
      new Histogram({
        name: 'link_takeover_duration_seconds',
        help: "From this host's election for a VIP until the address was bound and announced.",
        labelNames: ['vip_id'] as const,
        buckets: HANDOVER_BUCKETS,
        registers,
      }),
  );
  const checkDurations = getOrCreate(
    registry,
    'link_health_check_duration_seconds',
    () =>
      new Histogram({
        name: 'link_health_check_duration_seconds',
        help: 'Duration of each health-check probe, by VIP and check.',
        labelNames: ['vip_id', 'check'] as const,
        buckets: CHECK_BUCKETS,
        registers,
      }),
  );
  const checkResults = getOrCreate(
    registry,
    'link_health_check_results_total',
    () =>
      new Counter({
        name: 'link_health_check_results_total',
        help: 'Health-check probes, by VIP, check and result (pass, fail).',
        labelNames: ['vip_id', 'check', 'result'] as const,
        registers,
      }),
  );

  const authFailures = simpleCounter(
    'link_api_auth_failures_total',
    'API requests with wrong or malformed credentials.',
  );
  const authRefused = simpleCounter(
    'link_api_auth_refused_total',
    'API requests refused with 429 because their source failed to authenticate too often.',
  );

  const shed = getOrCreate(
    registry,
    'link_api_shed_total',
    () =>
      new Counter({
        name: 'link_api_shed_total',
        help: 'API requests answered 503 API_BUSY before any handler, by reason (in-flight, sse-streams).',
        labelNames: ['reason'] as const,
        registers,
      }),
  );

  // Per VIP: the checks and handover triggers that have series, so they can be dropped.
  const checksOf = new Map<string, Set<string>>();
  const triggersOf = new Map<string, Set<HandoverTrigger>>();
  const tookOver = new Set<string>();
  /** VIP id → when this host was elected (performance.now()), until its first announcement. */
  const electedAt = new Map<string, number>();

  const forgetVip = (vipId: string): void => {
    for (const check of checksOf.get(vipId) ?? []) dropCheck(vipId, check);
    for (const trigger of triggersOf.get(vipId) ?? []) handovers.remove({ vip_id: vipId, trigger });
    if (tookOver.has(vipId)) takeovers.remove({ vip_id: vipId });
    checksOf.delete(vipId);
    triggersOf.delete(vipId);
    tookOver.delete(vipId);
    electedAt.delete(vipId);
  };
  const dropCheck = (vipId: string, check: string): void => {
    checkDurations.remove({ vip_id: vipId, check });
    for (const result of ['pass', 'fail']) checkResults.remove({ vip_id: vipId, check, result });
  };
  const knownVips = (): Set<string> =>
    new Set([...checksOf.keys(), ...triggersOf.keys(), ...tookOver, ...electedAt.keys()]);

  const recordRound = (round: HealthRoundReport): void => {
    const current = new Set(round.results.map((result) => checkLabel(result.check)));
    const previous = checksOf.get(round.vipId);
    for (const check of previous ?? []) if (!current.has(check)) dropCheck(round.vipId, check);
    checksOf.set(round.vipId, current);
    for (const result of round.results) {
      const labels = { vip_id: round.vipId, check: checkLabel(result.check) };
      checkDurations.observe(labels, result.durationMs / 1000);
      checkResults.inc({ ...labels, result: result.ok ? 'pass' : 'fail' });
    }
  };

  const record = (entry: JournalEntry): void => {
    if (entry.kind === 'event') {
      events.inc({ event: entry.event });
      if (entry.from !== entry.to) transitions.inc({ from: entry.from, to: entry.to });
      if (entry.to !== 'ACTIVATED') electedAt.delete(entry.vipId);
      else if (entry.event === 'elected' && entry.from !== 'ACTIVATED')
        electedAt.set(entry.vipId, performance.now());
      return;
    }
    if (entry.kind !== 'note') return;
    notes.inc({ code: entry.code, level: entry.level });
    switch (entry.code) {
      case 'ANNOUNCE_SENT': {
        announcements.inc({ vip_id: entry.vipId });
        const since = electedAt.get(entry.vipId);
        if (since !== undefined) {
          electedAt.delete(entry.vipId);
          takeovers.observe({ vip_id: entry.vipId }, (performance.now() - since) / 1000);
          tookOver.add(entry.vipId);
        }
        break;
      }
      case 'ADDRESS_IN_USE':
      case 'CONFLICT_DETECTED':
        conflicts.inc({ vip_id: entry.vipId });
        break;
      case 'BIND_FAILED':
        bindFailures.inc();
        break;
      case 'UNBIND_FAILED':
        unbindFailures.inc();
        break;
      case 'HOOK_FAILED':
        hookFailures.inc();
        break;
    }
  };

  const subscriptions: Subscription[] = [
    service.journal$.subscribe({
      next: (entry) => {
        try {
          record(entry);
        } catch {
          // A metric must never break the journal feed.
        }
      },
      error: () => undefined,
    }),
    service.healthRounds$.subscribe({
      next: (round) => {
        try {
          recordRound(round);
        } catch {
          // Nor the health checks.
        }
      },
      error: () => undefined,
    }),
  ];

  return {
    registry,
    record,
    async scrape() {
      agent.reset();
      const present = new Set(agent.list().map((vip) => vip.id));
      for (const vipId of knownVips()) if (!present.has(vipId)) forgetVip(vipId);
      return spellNaNAsTheFormatDoes(await registry.metrics());
    },
    observeHandover(vipId, trigger, seconds) {
      if (trigger === 'failover') lastFailover.set({ vip_id: vipId }, seconds);
      handovers.observe({ vip_id: vipId, trigger }, seconds);
      const triggers = triggersOf.get(vipId) ?? new Set();
      triggersOf.set(vipId, triggers.add(trigger));
    },
    authFailure() {
      authFailures.inc();
    },
    authRefused() {
      authRefused.inc();
    },
    shed(reason: string) {
      shed.inc({ reason });
    },
    stop() {
      for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    },
  };
}

/** A check as a label: an HTTP check's URL without its user, password, query or fragment. */
function checkLabel(check: string): string {
  return check.replace(/^(HTTP \w+:\/\/)[^/@]*@/, '$1').replace(/[?#].*$/, '');
}

/**
 * prom-client writes NaN as `Nan` (an event-loop-lag gauge is NaN before its first sample).
 * Prometheus's own parser takes any case, but the exposition format and strict parsers
 * (OpenMetrics, some agents) want `NaN`, so a scrape never depends on the scraper's leniency.
 */
function spellNaNAsTheFormatDoes(text: string): string {
  return text.replace(/ Nan$/gm, ' NaN');
}
