import type { FaultPolicy, IpState } from '../machines/ip.ts';
import type { SessionStatus } from '../adapters/etcd/types.ts';
import type { AgentHealth } from './types.ts';
import type { StoreHealth } from './write-status.ts';
import type { DrainStatus } from './drain.ts';

/**
 * What the agent says of its own health (/healthz, link_agent_healthy, systemd STATUS=): a pure
 * function of what it runs, so each rule is tested on its own. One code per reason, in one
 * registry; docs/api.md ("/healthz") lists the same codes, test/unit/agent-health.test.ts holds
 * the two to each other.
 *
 * `tolerated`: the agent is doing what it was configured to do, so /healthz stays 200 (and
 * `status` says `degraded`): only an etcd outage under FAULT_POLICY=at-least-one, in which the
 * agent serves its VIPs on purpose. Every other reason makes it 503.
 */
export const HEALTH_CODES = {
  SUPERVISOR_STOPPED: {
    level: 'failing',
    tolerated: false,
    meaning: 'the supervisor (the actor that runs every VIP) is not running: no VIP follows etcd any more',
  },
  AGENT_STOPPING: { level: 'degraded', tolerated: false, meaning: 'the agent is stopping' },
  ETCD_CONFIG: {
    level: 'failing',
    tolerated: false,
    meaning: "etcd refuses this agent's settings (TLS, user, role): its VIPs are kept unbound",
  },
  ETCD_SESSION: {
    level: 'failing',
    tolerated: false,
    meaning: 'the etcd session is not alive (connecting, closed, or a fault under at-most-one)',
  },
  ETCD_FAULT_AT_LEAST_ONE: {
    level: 'degraded',
    tolerated: true,
    meaning: 'etcd is unreachable and FAULT_POLICY=at-least-one: the agent serves its VIPs on purpose',
  },
  STORAGE_WRITE_FAILED: {
    level: 'degraded',
    tolerated: false,
    meaning: 'writes to STATE_DIR (journal or VIP cache) fail; the path is named; VIPs are still served',
  },
  VIP_BOOTING_TOO_LONG: {
    level: 'degraded',
    tolerated: false,
    meaning: 'a VIP has been BOOTING longer than the BOOTING bound: etcd never said who owns it',
  },
  CHECKS_FAILING: {
    level: 'degraded',
    tolerated: false,
    meaning: "some of this host's VIPs fail their checks",
  },
  LINK_DOWN: {
    level: 'failing',
    tolerated: false,
    meaning:
      'INTERFACE is down or has no carrier (TRACK_INTERFACE=on): every VIP on it is FAILING until the link is back',
  },
  ALL_CHECKS_FAILING: {
    level: 'failing',
    tolerated: false,
    meaning: 'every VIP of this host fails its checks',
  },
  DRAINED: {
    level: 'degraded',
    tolerated: true,
    meaning:
      'the host is drained (POST /drain): its VIPs are handed over and it competes for none until DELETE /drain',
  },
} as const satisfies Record<string, { level: 'degraded' | 'failing'; tolerated: boolean; meaning: string }>;

export type HealthCode = keyof typeof HEALTH_CODES;

/** `ok` (200), `degraded` (200 when every reason is tolerated, else 503), `failing` (503). */
export type HealthStatus = 'ok' | 'degraded' | 'failing';

/**
 * The BOOTING bound: how long a VIP may wait in BOOTING for etcd's first word (elected, demoted
 * or fault) before /healthz calls it stuck. The session decides within a lease TTL (its fence
 * deadline), a first read that fails is retried within another, and one more TTL covers the
 * election's transaction; the 5 s are for starting thousands of VIPs on a loaded machine.
 * Default LEASE_TTL 3 s: 14 s.
 */
export function bootingBoundMs(leaseTtlMs: number): number {
  return 3 * leaseTtlMs + 5_000;
}

export interface HealthInput {
  supervisorRunning: boolean;
  stopping: boolean;
  faultPolicy: FaultPolicy;
  session: SessionStatus;
  /** Every VIP of this host; `bootingForMs` while it is BOOTING. */
  vips: readonly { ip: string; status: IpState; bootingForMs?: number }[];
  bootingBoundMs: number;
  storage: readonly StoreHealth[];
  /** INTERFACE's link when TRACK_INTERFACE=on and the kernel has said it. */
  link?: LinkHealth;
  /** POST /drain's state (actors/drain.ts). */
  drain?: DrainStatus;
}

/** The tracked interface's link (actors/link.ts), as /healthz and /metrics show it. */
export interface LinkHealth {
  interfaceName: string;
  up: boolean;
  reason: string;
  /** Times the link went down since the agent started. */
  downs: number;
}

export interface HealthReport extends AgentHealth {
  status: HealthStatus;
  /** One code per reason, in the same order (HEALTH_CODES). */
  codes: HealthCode[];
  /** The stores under STATE_DIR and whether they take writes. */
  storage: StoreHealth[];
  /** INTERFACE's link, when it is tracked (TRACK_INTERFACE=on). */
  link?: LinkHealth;
  /** Whether the host is drained, since when, and how many VIPs it still keeps (no other candidate). */
  drain?: { drained: boolean; since?: string; done?: boolean; kept?: number };
}

export function agentHealth(input: HealthInput): HealthReport {
  const found: { code: HealthCode; reason: string }[] = [];
  const add = (code: HealthCode, reason: string) => found.push({ code, reason });
  const { session } = input;
  if (!input.supervisorRunning)
    add('SUPERVISOR_STOPPED', 'the supervisor is not running: no VIP follows etcd');
  if (input.stopping) add('AGENT_STOPPING', 'agent is stopping');
  if (session.configError !== undefined) {
    add(
      'ETCD_CONFIG',
      `etcd configuration error (${session.configError.code}): ${session.configError.message}`,
    );
  } else if (session.state !== 'alive') {
    const text = `etcd session ${session.state}${session.lastError ? `: ${session.lastError}` : ''}`;
    if (session.state === 'fault' && input.faultPolicy === 'at-least-one')
      add('ETCD_FAULT_AT_LEAST_ONE', `${text}; serving every VIP (FAULT_POLICY=at-least-one)`);
    else add('ETCD_SESSION', text);
  }
  for (const store of input.storage) {
    if (store.error) add('STORAGE_WRITE_FAILED', `${store.store} writes fail: ${store.error.message}`);
  }
  const stuck = input.vips.filter(
    (vip) => vip.status === 'BOOTING' && (vip.bootingForMs ?? 0) > input.bootingBoundMs,
  );
  if (stuck.length > 0) {
    add(
      'VIP_BOOTING_TOO_LONG',
      `BOOTING for more than ${input.bootingBoundMs / 1000} s: ${stuck.map((v) => v.ip).join(', ')}`,
    );
  }
  if (input.link !== undefined && !input.link.up)
    add('LINK_DOWN', `${input.link.interfaceName}: ${input.link.reason}; its VIPs are FAILING`);
  const failing = input.vips.filter((vip) => vip.status === 'FAILING');
  if (failing.length > 0) {
    add(
      failing.length === input.vips.length ? 'ALL_CHECKS_FAILING' : 'CHECKS_FAILING',
      `health checks failing for ${failing.map((v) => v.ip).join(', ')}`,
    );
  }
  const drain = input.drain;
  if (drain?.drained) {
    const kept = drain.counts.kept;
    add(
      'DRAINED',
      `drained since ${drain.since}${drain.done ? '' : ': handing over'}${kept > 0 ? `; keeps ${kept} VIP(s) no other host took` : ''}`,
    );
  }
  const codes = found.map((f) => f.code);
  const ok = codes.every((code) => HEALTH_CODES[code].tolerated);
  const status: HealthStatus =
    codes.length === 0
      ? 'ok'
      : codes.some((code) => HEALTH_CODES[code].level === 'failing')
        ? 'failing'
        : 'degraded';
  return {
    ok,
    status,
    codes,
    reasons: found.map((f) => f.reason),
    etcd: session.state,
    leaseRemainingMs: session.leaseRemainingMs,
    ...(session.configError !== undefined ? { configError: session.configError } : {}),
    storage: [...input.storage],
    ...(input.link !== undefined ? { link: { ...input.link } } : {}),
    drain: drain?.drained
      ? { drained: true, since: drain.since, done: drain.done, kept: drain.counts.kept }
      : { drained: false },
  };
}
