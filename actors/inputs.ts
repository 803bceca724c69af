import { catchError, concat, defer, EMPTY, merge, of, switchMap, timer, type Observable } from 'rxjs';
import type { ElectionEvent } from '../adapters/etcd/types.ts';
import type {
  HealthCheckSpec,
  HealthEvent,
  HealthMonitor,
  HealthMonitorOptions,
} from '../adapters/health/types.ts';
import type { IpEvent } from '../machines/ip.ts';
import { combineHealth$, type LinkEvent } from './link.ts';

export interface ChecksConfig {
  checks: HealthCheckSpec[];
  intervalMs: number;
}

/**
 * One VIP's inputs: election$ merged with health$. health$ follows the live check list: a new
 * list (PATCH) switches to a new monitor without touching the actor; no checks means healthy.
 * A health monitor that errors is a failed check, never silence: the error is reported, the
 * VIP gets `health_check_fail`, and the monitor starts again one interval later (a new round).
 * A failing election input is reported and ends quietly instead of killing the actor.
 * link$ (TRACK_INTERFACE) joins health$ through combineHealth$: healthy = checks AND link.
 */
export function vipInputs$(
  election$: Observable<ElectionEvent>,
  checks$: Observable<ChecksConfig>,
  monitorHealth: HealthMonitor,
  health: Omit<HealthMonitorOptions, 'intervalMs'>,
  onError: (err: unknown) => void,
  onHealthError: (err: unknown) => void = onError,
  link$: Observable<LinkEvent> = EMPTY,
): Observable<IpEvent> {
  const health$ = checks$.pipe(
    switchMap(({ checks, intervalMs }): Observable<HealthEvent> => {
      if (checks.length === 0)
        return of({ type: 'health_check_success', source: 'health', reason: 'no checks' });
      const monitor$ = defer(() => monitorHealth(checks, { ...health, intervalMs }));
      const failed = (err: unknown): HealthEvent => ({
        type: 'health_check_fail',
        source: 'health',
        reason: `health monitor failed: ${err instanceof Error ? err.message : String(err)}`,
      });
      const guarded$: Observable<HealthEvent> = monitor$.pipe(
        catchError((err: unknown) => {
          onHealthError(err);
          return concat(of(failed(err)), timer(intervalMs).pipe(switchMap(() => guarded$)));
        }),
      );
      return guarded$;
    }),
  );
  return merge(election$, combineHealth$(health$, link$)).pipe(
    catchError((err: unknown) => {
      onError(err);
      return EMPTY;
    }),
  );
}
