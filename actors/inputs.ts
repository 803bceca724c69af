import { catchError, EMPTY, merge, of, switchMap, type Observable } from 'rxjs';
import type { ElectionEvent } from '../adapters/etcd/types.ts';
import type {
  HealthCheckSpec,
  HealthEvent,
  HealthMonitor,
  HealthMonitorOptions,
} from '../adapters/health/types.ts';
import type { IpEvent } from '../machines/ip.ts';

export interface ChecksConfig {
  checks: HealthCheckSpec[];
  intervalMs: number;
}

/**
 * One VIP's inputs: election$ merged with health$. health$ follows the live check list: a new
 * list (PATCH) switches to a new monitor without touching the actor; no checks means healthy.
 * A failing input is reported and ends quietly instead of killing the actor.
 */
export function vipInputs$(
  election$: Observable<ElectionEvent>,
  checks$: Observable<ChecksConfig>,
  monitorHealth: HealthMonitor,
  health: Omit<HealthMonitorOptions, 'intervalMs'>,
  onError: (err: unknown) => void,
): Observable<IpEvent> {
  const health$ = checks$.pipe(
    switchMap(({ checks, intervalMs }): Observable<HealthEvent> => {
      if (checks.length === 0)
        return of({ type: 'health_check_success', source: 'health', reason: 'no checks' });
      return monitorHealth(checks, { ...health, intervalMs });
    }),
  );
  return merge(election$, health$).pipe(
    catchError((err: unknown) => {
      onError(err);
      return EMPTY;
    }),
  );
}
