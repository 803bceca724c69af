import type { Observable, ObservableInput, SchedulerLike } from 'rxjs';

/** Health check specifications (LinK v2 shape: `{"type":"TCP","host":…,"port":…}`). */
export type HealthCheckSpec =
  | { type: 'TCP'; host: string; port: number }
  | { type: 'HTTP'; url: string; expected_status?: number | [number, number]; body_contains?: string }
  | { type: 'EXEC'; command: string; args?: string[] };

export type HealthCheckType = HealthCheckSpec['type'];

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
  /** Called after every round (for logs and metrics); an exception thrown here is ignored. */
  onRound?: (round: HealthRound) => void;
}

/** Emits health events for one VIP's checks; no checks = healthy. */
export type HealthMonitor = (
  checks: HealthCheckSpec[],
  options: HealthMonitorOptions,
) => Observable<HealthEvent>;

/** What one probe of one check concluded. `reason` is short and meant for logs and the journal. */
export interface ProbeResult {
  ok: boolean;
  reason: string;
}

export interface ProbeContext {
  timeoutMs: number;
  /** Aborted when the monitor gives up on the probe (its own deadline, or unsubscription). */
  signal: AbortSignal;
}

/** Runs one check once. Must not throw (a throw or rejection counts as a failure anyway). */
export type HealthProbe = (check: HealthCheckSpec, context: ProbeContext) => ObservableInput<ProbeResult>;

/** A probe's result as the monitor reports it in a round (for logs and metrics). */
export interface CheckResult extends ProbeResult {
  /** `describeCheck(check)`: `TCP 127.0.0.1:80`, `HTTP http://…`, `EXEC name`. */
  check: string;
  /** From the probe's start to its result (or the monitor's own timeout), by the scheduler's clock. */
  durationMs: number;
}

/** One round: every check of the VIP probed once, in parallel. The round passes when all pass. */
export interface HealthRound {
  ok: boolean;
  /** In the order of the VIP's checks. */
  results: CheckResult[];
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  verdict: 'unknown' | 'healthy' | 'unhealthy';
}
