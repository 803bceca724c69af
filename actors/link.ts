import {
  BehaviorSubject,
  concat,
  defer,
  EMPTY,
  filter,
  map,
  merge,
  mergeMap,
  of,
  switchMap,
  take,
  timer,
  type Observable,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { HealthEvent } from '../adapters/health/types.ts';
import type { LinkState, NetAdapter } from '../adapters/net/types.ts';

/**
 * Interface tracking (TRACK_INTERFACE): INTERFACE's link is one more health input of every VIP
 * on it. A VIP is healthy only when its checks AND its link are good.
 *
 * The link's verdict (linkEvents$):
 * - down (IFF_UP cleared, no carrier, operstate down, removed) → `health_check_fail` at once,
 *   source `link`. No FAIL_COUNT_BEFORE_FAILOVER: a carrier loss is the kernel's fact, not a
 *   sample that may be noise, and the VIP must move within the second.
 * - back up → `health_check_success` after RISE_COUNT good rounds: the notification that the
 *   link is up is the first round, and each HEALTH_CHECK_INTERVAL it stays up is one more (no
 *   re-read: netlink notifies every change, and a down in between starts the count again). With
 *   the default RISE_COUNT 1 the VIP competes again as soon as the link is up.
 * - up at start → nothing (the link's default is good, as the checks' is); down at start → the
 *   fail at once, so a host whose link is down never wins its VIPs.
 *
 * The combination (combineHealth$): a check's event passes as before while the link is good
 * (and is remembered while it is down: a check success must not lift a link failure); the link's
 * fail always passes; the link's success passes only when the checks are not failing.
 */

const START_DEADLINE_MS = 1000;

export interface LinkEvent {
  type: HealthEvent['type'];
  source: 'link';
  reason: string;
}

export interface LinkRiseOptions {
  intervalMs: number;
  riseCount: number;
  scheduler?: SchedulerLike;
}

export function linkEvents$(states$: Observable<LinkState>, options: LinkRiseOptions): Observable<LinkEvent> {
  return defer(() => {
    let down = false;
    return states$.pipe(
      switchMap((state): Observable<LinkEvent> => {
        if (!state.up) {
          if (down) return EMPTY;
          down = true;
          return of({
            type: 'health_check_fail',
            source: 'link',
            reason: `${state.interfaceName}: ${state.reason}`,
          });
        }
        if (!down) return EMPTY;
        const rounds = options.riseCount;
        return timer((rounds - 1) * options.intervalMs, options.scheduler).pipe(
          take(1),
          map((): LinkEvent => {
            down = false;
            return {
              type: 'health_check_success',
              source: 'link',
              reason: `${state.interfaceName}: ${state.reason} (${rounds} round(s) in a row)`,
            };
          }),
        );
      }),
    );
  });
}

export function combineHealth$(
  checks$: Observable<HealthEvent>,
  link$: Observable<LinkEvent>,
): Observable<HealthEvent | LinkEvent> {
  return defer(() => {
    let linkDown = false;
    let checksFailing = false;
    return merge(
      checks$.pipe(
        filter((event) => {
          checksFailing = event.type === 'health_check_fail';
          return !linkDown;
        }),
      ),
      link$.pipe(
        filter((event) => {
          linkDown = event.type === 'health_check_fail';
          return linkDown || !checksFailing;
        }),
      ),
    );
  });
}

/**
 * The agent's one watch of INTERFACE: every VIP's runtime takes `events$()`, which starts with
 * the link's failure when it is down at that moment (a VIP added while the link is down must not
 * win it) and then follows the link.
 */
export class LinkTracker {
  private readonly latest = new BehaviorSubject<LinkEvent | null>(null);
  private stopWatch: (() => void) | undefined;
  private verdicts: Subscription | undefined;
  private state: LinkState | undefined;
  /** Link downs seen since the agent started (link_interface_down_total). */
  downs = 0;

  constructor(
    private readonly deps: {
      net: NetAdapter;
      rise: LinkRiseOptions;
      onState(state: LinkState): void;
      onError(err: unknown): void;
    },
  ) {}

  /** Resolves once the kernel said the link's state at start (or the watch could not start). */
  start(): Promise<void> {
    const watch = this.deps.net.watchLink?.bind(this.deps.net);
    if (watch === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      // The kernel answers the dump within milliseconds; a start never waits on it for long.
      const deadline = setTimeout(resolve, START_DEADLINE_MS);
      const done = (): void => {
        clearTimeout(deadline);
        resolve();
      };
      const states = new BehaviorSubject<LinkState | null>(null);
      this.verdicts = linkEvents$(
        states.pipe(filter((s): s is LinkState => s !== null)),
        this.deps.rise,
      ).subscribe((event) => this.latest.next(event));
      try {
        this.stopWatch = watch({
          state: (state) => {
            if (!state.up && this.state?.up !== false) this.downs += 1;
            this.state = state;
            this.deps.onState(state);
            states.next(state);
            done();
          },
          error: (err) => {
            this.deps.onError(err);
            done();
          },
        });
      } catch (err) {
        this.deps.onError(err);
        done();
      }
    });
  }

  /** The link as last reported; undefined when not tracked or not yet known. */
  get current(): LinkState | undefined {
    return this.state;
  }

  events$(): Observable<LinkEvent> {
    return defer(() => {
      const now = this.latest.value;
      const first = now?.type === 'health_check_fail' ? of(now) : EMPTY;
      return concat(
        first,
        this.latest.pipe(
          // BehaviorSubject replays the current value: skip it (sent above when it matters).
          mergeMap((event, index) => (index === 0 || event === null ? EMPTY : of(event))),
        ),
      );
    });
  }

  stop(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.verdicts?.unsubscribe();
    this.latest.complete();
  }
}
