import type { HealthCode, HealthReport, HealthStatus } from '../actors/health.ts';

/**
 * What /healthz says. The agent decides (actors/health.ts: its status, its reasons and a code
 * for each); this maps it to HTTP. 200 when `ok` (no reason, or only a tolerated one: an etcd
 * outage under at-least-one, `degraded`), 503 otherwise.
 *
 * Anyone may ask it (load balancers, monitors), so without credentials it says `status` and,
 * when not `ok`, the reasons' `codes`: fixed words from one registry, short enough for a load
 * balancer's log. The reasons themselves name VIPs, paths and quote etcd's errors, which are for
 * operators: only an authenticated caller (or anyone, on an agent without PASSWORD) gets them.
 */

export interface HealthAnswer {
  status: 200 | 503;
  /** `{status, codes?}` for anyone. */
  brief: { status: HealthStatus; codes?: HealthCode[] };
  /** `{status, codes, error?, ok, reasons, etcd, leaseRemainingMs, storage, configError?}` for authenticated callers. */
  detail: Record<string, unknown>;
}

export function healthAnswer(read: () => HealthReport): HealthAnswer {
  let health: HealthReport;
  try {
    health = read();
  } catch (err: unknown) {
    const error = err instanceof Error ? err.message : 'health unknown';
    return { status: 503, brief: { status: 'failing' }, detail: { status: 'failing', error } };
  }
  const { status, codes } = health;
  const detail: Record<string, unknown> =
    status === 'ok' ? { ...health } : { ...health, error: health.reasons.join('; ') || 'unhealthy' };
  // status and codes first, as the brief answer has them.
  const ordered = { status, codes, ...detail };
  return {
    status: health.ok ? 200 : 503,
    brief: status === 'ok' ? { status } : { status, codes },
    detail: ordered,
  };
}
