import type { AgentHealth, VipView } from '../actors/types.ts';

/**
 * What /healthz says. Anyone may ask it (load balancers, monitors), so without credentials it
 * says only `status`; the reasons name VIPs and quote etcd's errors, which are for operators.
 *
 * - `ok` (200): etcd session alive, no VIP failing its checks, not stopping.
 * - `degraded` (503): etcd alive but some VIPs fail their checks, or the agent is stopping.
 * - `failing` (503): the etcd session is not alive, every VIP fails its checks, or the agent
 *   cannot say (its health read threw).
 * The status codes are those /healthz always had: 200 when ok, 503 otherwise.
 */
export type HealthStatus = 'ok' | 'degraded' | 'failing';

export interface HealthAnswer {
  status: 200 | 503;
  /** `{status}` for anyone. */
  brief: { status: HealthStatus };
  /** `{status, ok, reasons, etcd, leaseRemainingMs, error?}` for authenticated callers. */
  detail: Record<string, unknown>;
}

export function healthStatus(health: AgentHealth, vips: readonly VipView[]): HealthStatus {
  if (health.ok) return 'ok';
  if (health.etcd !== 'alive') return 'failing';
  if (vips.length > 0 && vips.every((vip) => vip.status === 'FAILING')) return 'failing';
  return 'degraded';
}

export function healthAnswer(read: () => { health: AgentHealth; vips: readonly VipView[] }): HealthAnswer {
  let health: AgentHealth;
  let vips: readonly VipView[];
  try {
    ({ health, vips } = read());
  } catch (err: unknown) {
    const error = err instanceof Error ? err.message : 'health unknown';
    return { status: 503, brief: { status: 'failing' }, detail: { status: 'failing', error } };
  }
  const status = healthStatus(health, vips);
  const detail: Record<string, unknown> =
    status === 'ok'
      ? { status, ...health }
      : { status, error: health.reasons.join('; ') || 'unhealthy', ...health };
  return { status: status === 'ok' ? 200 : 503, brief: { status }, detail };
}
