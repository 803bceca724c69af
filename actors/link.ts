import {
  BehaviorSubject,
  concat,
  defer,
  EMPTY,
  filter,
  forkJoin,
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
import { backoffDelay, type BackoffPolicy } from '../adapters/backoff.ts';
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
 *   the default RISE_COUNT 1 the VIP competes again as soon as the link is up. It also waits for
 *   etcd's word since the link came back (`etcdWord`, actors/lifetime.ts etcdAnsweredSince):
 *   a host whose link was cut was cut from etcd too, and its session's verdict on the outage
 *   (a `fault`) may still be on its way; taken after the VIP left FAILING, it bound the VIP
 *   under at-least-one beside the new owner. A host announces only what it is about to keep.
 * - up at start → nothing (the link's default is good, as the checks' is); down at start → the
 *   fail at once, so a host whose link is down never wins its VIPs.
 *
 * The combination (combineHealth$): a check's event passes as before while the link is good
 * (and is remembered while it is down: a check success must not lift a link failure); the link's
 * fail always passes; the link's success passes only when the checks are not failing.
 *
 * The watch (LinkTracker) is retried with backoff when it fails (LINK_WATCH_FAILED), so the
 * tracking comes back; its first state after a restart is the kernel's dump, as at start.
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
  /**
   * Subscribed when the link is back up: emits once etcd has answered since (a keep-alive sent
   * after that moment). Absent: the rise rounds alone decide.
   */
  etcdWord?: () => Observable<unknown>;
  scheduler?: SchedulerLike;
}

/** Restarts of a failed link watch: quick at first, at most every 5 s while it keeps failing. */
export const LINK_WATCH_RETRY: BackoffPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  factor: 2,
  jitter: 0.2,
};

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
        const rise$ = timer((rounds - 1) * options.intervalMs, options.scheduler).pipe(take(1));
        const etcd$ = options.etcdWord?.().pipe(take(1));
        const since = etcd$ ? ', etcd answered since' : '';
        return forkJoin(etcd$ ? [rise$, etcd$] : [rise$]).pipe(
          map((): LinkEvent => {
            down = false;
            return {
              type: 'health_check_success',
              source: 'link',
              reason: `${state.interfaceName}: ${state.reason} (${rounds} round(s) in a row${since})`,
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
 * win it) and then follows the link. A watch that fails is started again after a backoff
 * (LINK_WATCH_RETRY); meanwhile the VIPs keep their state, and the new watch's dump says the
 * link's state again (a change missed meanwhile is seen then).
 */
export class LinkTracker {
  private readonly latest = new BehaviorSubject<LinkEvent | null>(null);
  private readonly states = new BehaviorSubject<LinkState | null>(null);
  private stopWatch: (() => void) | undefined;
  private verdicts: Subscription | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** Failures in a row: the backoff's retry number. */
  private failures = 0;
  /** When the running watch last reported a state (performance.now()). */
  private reportedAt: number | undefined;
  private state: LinkState | undefined;
  /** Link downs seen since the agent started (link_interface_down_total). */
  downs = 0;

  constructor(
    private readonly deps: {
      net: NetAdapter;
      rise: LinkRiseOptions;
      onState(state: LinkState): void;
      /** The watch failed; it is started again in `retryInMs`. */
      onError(err: unknown, retryInMs: number): void;
      /** Default LINK_WATCH_RETRY. */
      retry?: BackoffPolicy;
    },
  ) {}

  /** Resolves once the kernel said the link's state at start (or the watch could not start). */
  start(): Promise<void> {
    if (this.deps.net.watchLink === undefined) return Promise.resolve();
    this.verdicts = linkEvents$(
      this.states.pipe(filter((s): s is LinkState => s !== null)),
      this.deps.rise,
    ).subscribe((event) => this.latest.next(event));
    return new Promise((resolve) => {
      // The kernel answers the dump within milliseconds; a start never waits on it for long.
      const deadline = setTimeout(resolve, START_DEADLINE_MS);
      this.watch(() => {
        clearTimeout(deadline);
        resolve();
      });
    });
  }

  /** One watch; `settled` is called at its first state or its failure. */
  private watch(settled: () => void = () => undefined): void {
    const watchLink = this.deps.net.watchLink?.bind(this.deps.net);
    if (watchLink === undefined || this.stopped) return;
    try {
      this.stopWatch = watchLink({
        state: (state) => {
          this.reportedAt = performance.now();
          if (!state.up && this.state?.up !== false) this.downs += 1;
          this.state = state;
          this.deps.onState(state);
          this.states.next(state);
          settled();
        },
        error: (err) => {
          this.failed(err);
          settled();
        },
      });
    } catch (err) {
      this.failed(err);
      settled();
    }
  }

  private failed(err: unknown): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    if (this.stopped) return;
    const policy = this.deps.retry ?? LINK_WATCH_RETRY;
    // A watch that ran well for a while starts the backoff again; one that fails right after
    // its dump keeps backing off (no restart loop at the first delay).
    const ranMs = this.reportedAt === undefined ? 0 : performance.now() - this.reportedAt;
    if (ranMs >= policy.maxDelayMs) this.failures = 0;
    this.reportedAt = undefined;
    this.failures += 1;
    const delayMs = backoffDelay(policy, this.failures);
    this.deps.onError(err, delayMs);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.watch();
    }, delayMs);
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
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.verdicts?.unsubscribe();
    this.latest.complete();
  }
}
