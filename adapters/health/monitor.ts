import {
  asyncScheduler,
  catchError,
  defer,
  exhaustMap,
  filter,
  finalize,
  forkJoin,
  from,
  map,
  of,
  scan,
  timeout,
  timer,
  type Observable,
} from 'rxjs';
import { describeCheck } from './validate.ts';
import type {
  CheckResult,
  HealthCheckSpec,
  HealthEvent,
  HealthMonitor,
  HealthMonitorOptions,
  HealthProbe,
  HealthRound,
  ProbeResult,
} from './types.ts';

/**
 * The health monitor of one VIP: probes its checks in rounds and turns the rounds into
 * `health_check_fail` / `health_check_success` with fall/rise thresholds.
 *
 * Rules (the whole state is the two counters and the verdict):
 *
 * | round result | counters                          | verdict becomes                   | emits              |
 * |--------------|-----------------------------------|-----------------------------------|--------------------|
 * | all pass     | successes += 1, failures = 0      | healthy if successes ≥ riseCount  | success on change  |
 * | any fails    | failures += 1, successes = 0      | unhealthy if failures ≥ fallCount | fail on change     |
 *
 * - The verdict starts `unknown`: the first verdict reached is always emitted (so a new actor,
 *   or one whose checks were just replaced, learns it); afterwards only changes are emitted.
 *   Until then the actor keeps its default (it competes, as a healthy host would).
 * - Rounds start on a tick every `intervalMs` (the first at once). All checks of a round run in
 *   parallel. A round still running when the next tick comes swallows that tick (exhaustMap):
 *   rounds never overlap, a slow round delays the next one to the following tick.
 * - Each probe gets `timeoutMs` (and an AbortSignal). The monitor itself gives up on a probe
 *   `timeoutMs + timeoutGraceMs` after starting it, counts it as failed and aborts it; the grace
 *   lets a real probe report its own, more precise timeout reason first.
 * - No checks: emits one `health_check_success` (reason `no health checks`) at subscription and
 *   completes. Merged into an actor's inputs, the completion is harmless.
 * - The observable is cold: each subscription runs its own probes. Unsubscribing aborts the
 *   probes in flight.
 * - All timing goes through `options.scheduler` (default asyncScheduler), so tests drive it with
 *   a TestScheduler.
 */

export interface HealthMonitorDeps {
  /** How one check is probed: the real TCP/HTTP/EXEC probes are `createProbe(…)` (probe.ts). */
  probe: HealthProbe;
  /** Default 50 ms. */
  timeoutGraceMs?: number;
}

interface VerdictState {
  failures: number;
  successes: number;
  verdict: HealthRound['verdict'];
  event: HealthEvent | null;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function assertOptions(options: HealthMonitorOptions): void {
  const positive = (name: keyof HealthMonitorOptions, value: number, min: number): void => {
    if (!Number.isFinite(value) || value < min) {
      throw new RangeError(`health monitor: ${name} must be a number ≥ ${min}, got ${value}`);
    }
  };
  positive('intervalMs', options.intervalMs, 1);
  positive('timeoutMs', options.timeoutMs, 1);
  positive('fallCount', options.fallCount, 1);
  positive('riseCount', options.riseCount, 1);
}

export function createHealthMonitor(deps: HealthMonitorDeps): HealthMonitor {
  const probe = deps.probe;
  const graceMs = deps.timeoutGraceMs ?? 50;

  return (checks: HealthCheckSpec[], options: HealthMonitorOptions): Observable<HealthEvent> => {
    assertOptions(options);
    if (checks.length === 0) {
      return of<HealthEvent>({ type: 'health_check_success', source: 'health', reason: 'no health checks' });
    }
    const scheduler = options.scheduler ?? asyncScheduler;
    const list = [...checks];

    const probeOne = (check: HealthCheckSpec): Observable<CheckResult> =>
      defer(() => {
        const started = scheduler.now();
        return defer(() => {
          const controller = new AbortController();
          return from(probe(check, { timeoutMs: options.timeoutMs, signal: controller.signal })).pipe(
            finalize(() => controller.abort()),
          );
        }).pipe(
          timeout({
            first: options.timeoutMs + graceMs,
            scheduler,
            with: () => of<ProbeResult>({ ok: false, reason: `no answer within ${options.timeoutMs} ms` }),
          }),
          catchError((error: unknown) =>
            of<ProbeResult>({ ok: false, reason: `probe error: ${errorMessage(error)}` }),
          ),
          map((result) => ({
            ok: result.ok === true,
            reason: `${describeCheck(check)}: ${result.reason}`,
            check: describeCheck(check),
            durationMs: scheduler.now() - started,
          })),
        );
      });

    const round$ = forkJoin(list.map(probeOne));

    return timer(0, options.intervalMs, scheduler).pipe(
      exhaustMap(() => round$),
      scan<CheckResult[], VerdictState>(
        (state, results) => {
          const ok = results.every((result) => result.ok);
          const failures = ok ? 0 : state.failures + 1;
          const successes = ok ? state.successes + 1 : 0;
          let verdict = state.verdict;
          let event: HealthEvent | null = null;
          if (ok && successes >= options.riseCount && verdict !== 'healthy') {
            verdict = 'healthy';
            event = {
              type: 'health_check_success',
              source: 'health',
              reason: `${list.length === 1 ? 'check' : `all ${list.length} checks`} passed ${successes} time(s) in a row`,
            };
          } else if (!ok && failures >= options.fallCount && verdict !== 'unhealthy') {
            verdict = 'unhealthy';
            const failed = results.filter((result) => !result.ok).map((result) => result.reason);
            event = {
              type: 'health_check_fail',
              source: 'health',
              reason: `${failures} failed round(s) in a row; ${failed.join('; ')}`,
            };
          }
          if (options.onRound) {
            try {
              options.onRound({
                ok,
                results,
                consecutiveFailures: failures,
                consecutiveSuccesses: successes,
                verdict,
              });
            } catch {
              // A logging callback must not stop health checking.
            }
          }
          return { failures, successes, verdict, event };
        },
        { failures: 0, successes: 0, verdict: 'unknown', event: null },
      ),
      map((state) => state.event),
      filter((event): event is HealthEvent => event !== null),
    );
  };
}
