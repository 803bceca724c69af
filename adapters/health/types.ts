import type { Observable, SchedulerLike } from 'rxjs';

/** Health check specifications (LinK v2 shape: `{"type":"TCP","host":…,"port":…}`). */
export type HealthCheckSpec =
  | { type: 'TCP'; host: string; port: number }
  | { type: 'HTTP'; url: string; expected_status?: number | [number, number]; body_contains?: string }
  | { type: 'EXEC'; command: string; args?: string[] };

export interface HealthEvent {
  type: 'health_check_success' | 'health_check_fail';
  source: 'health';
  reason?: string;
}

export interface HealthMonitorOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Failures in a row before `health_check_fail` (FAIL_COUNT_BEFORE_FAILOVER). */
  fallCount: number;
  /** Successes in a row before `health_check_success` (RISE_COUNT). */
  riseCount: number;
  scheduler?: SchedulerLike;
}

/** Emits health events for one VIP's checks; no checks = healthy. */
export type HealthMonitor = (checks: HealthCheckSpec[], options: HealthMonitorOptions) => Observable<HealthEvent>;
