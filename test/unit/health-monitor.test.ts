import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { map, NEVER, of, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { createHealthMonitor } from '../../adapters/health/monitor.ts';
import type {
  HealthCheckSpec,
  HealthEvent,
  HealthMonitorOptions,
  HealthProbe,
  HealthRound,
  ProbeResult,
} from '../../adapters/health/types.ts';

const tcp = (port: number): HealthCheckSpec => ({ type: 'TCP', host: '127.0.0.1', port });

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected));
}

/** S for health_check_success, F for health_check_fail: what the marbles show. */
function letters(events$: Observable<HealthEvent>): Observable<string> {
  return events$.pipe(map((event) => (event.type === 'health_check_success' ? 'S' : 'F')));
}

/**
 * A fake probe whose answers follow a script of rounds: `script[round]` is the outcome of every
 * check in that round ('+' pass, '-' fail), answered after `durationMs` of virtual time.
 */
function scriptedProbe(
  scheduler: TestScheduler,
  script: string,
  durationMs = 0,
): HealthProbe & { calls: number } {
  let calls = 0;
  const probe = (check: HealthCheckSpec): Observable<ProbeResult> => {
    const round = calls++;
    const ok = script[round] !== '-';
    const result = { ok, reason: ok ? 'fine' : `down (${check.type})` };
    return durationMs === 0 ? of(result) : timer(durationMs, scheduler).pipe(map(() => result));
  };
  return Object.assign(probe, {
    get calls() {
      return calls;
    },
  });
}

function options(
  scheduler: TestScheduler,
  overrides: Partial<HealthMonitorOptions> = {},
): HealthMonitorOptions {
  return { intervalMs: 100, timeoutMs: 50, fallCount: 3, riseCount: 2, scheduler, ...overrides };
}

void describe('health monitor: fall and rise thresholds (virtual time)', () => {
  void it('emits success after riseCount passes, fail after fallCount failures, success again after riseCount', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      // rounds at 0,100,…: + + - - - + + → S at 100 (2nd pass), F at 400 (3rd failure), S at 600.
      const monitor = createHealthMonitor({ probe: scriptedProbe(scheduler, '++---++') });
      const events$ = letters(monitor([tcp(80)], options(scheduler)));
      expectObservable(events$, '700ms !').toBe('100ms S 299ms F 199ms S');
    });
  });

  void it('emits the first verdict even when it is a failure, then nothing while it does not change', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const monitor = createHealthMonitor({ probe: scriptedProbe(scheduler, '--------') });
      const events$ = letters(monitor([tcp(80)], options(scheduler, { fallCount: 2 })));
      expectObservable(events$, '800ms !').toBe('100ms F');
    });
  });

  void it('does not fail on failures below the threshold, and a pass resets the count', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      // - - + - - + - - : never three failures in a row; the first pass (rise 1) says healthy.
      const monitor = createHealthMonitor({ probe: scriptedProbe(scheduler, '--+--+--') });
      const events$ = letters(monitor([tcp(80)], options(scheduler, { riseCount: 1 })));
      expectObservable(events$, '800ms !').toBe('200ms S');
    });
  });

  void it('needs riseCount passes in a row to recover: a failure in between restarts the count', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      // F at 0 (fall 1); + - + + : the pass at 100 is undone at 200, healthy at 400.
      const monitor = createHealthMonitor({ probe: scriptedProbe(scheduler, '-+-++') });
      const events$ = letters(monitor([tcp(80)], options(scheduler, { fallCount: 1, riseCount: 2 })));
      expectObservable(events$, '500ms !').toBe('F 399ms S');
    });
  });

  void it('fails a round when any check fails, and names the failing check in the reason', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const probe: HealthProbe = (check) =>
        of(
          check.type === 'TCP' && check.port === 81
            ? { ok: false, reason: 'refused' }
            : { ok: true, reason: 'ok' },
        );
      const monitor = createHealthMonitor({ probe });
      const events$ = monitor([tcp(80), tcp(81)], options(scheduler, { fallCount: 1 }));
      expectObservable(events$, '50ms !').toBe('F', {
        F: {
          type: 'health_check_fail',
          source: 'health',
          reason: '1 failed round(s) in a row; TCP 127.0.0.1:81: refused',
        },
      });
    });
  });

  void it('with no checks emits one success and completes', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const monitor = createHealthMonitor({ probe: scriptedProbe(scheduler, '-') });
      expectObservable(letters(monitor([], options(scheduler)))).toBe('(S|)');
    });
  });
});

void describe('health monitor: rounds never overlap', () => {
  void it('a round slower than the interval delays the next one to the following tick', () => {
    const scheduler = newScheduler();
    const starts: number[] = [];
    let running = 0;
    let maxRunning = 0;
    scheduler.run(({ expectObservable, flush }) => {
      // Each probe takes 250 ms; the interval is 100 ms; the timeout is larger than the probe.
      const probe: HealthProbe = () => {
        starts.push(scheduler.now());
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        return timer(250, scheduler).pipe(
          map(() => {
            running -= 1;
            return { ok: true, reason: 'slow but fine' };
          }),
        );
      };
      const monitor = createHealthMonitor({ probe });
      const events$ = letters(monitor([tcp(80)], options(scheduler, { timeoutMs: 1000, riseCount: 1 })));
      expectObservable(events$, '1000ms !').toBe('250ms S');
      flush();
    });
    // Rounds: 0→250 (ticks 100, 200 swallowed), 300→550, 600→850, 900→(cut at 1000).
    assert.deepEqual(starts, [0, 300, 600, 900]);
    assert.equal(maxRunning, 1);
  });

  void it('runs the checks of one round in parallel', () => {
    const scheduler = newScheduler();
    const starts: Array<[number, number]> = [];
    scheduler.run(({ flush }) => {
      const probe: HealthProbe = (check) => {
        starts.push([check.type === 'TCP' ? check.port : 0, scheduler.now()]);
        return timer(30, scheduler).pipe(map(() => ({ ok: true, reason: 'ok' })));
      };
      const monitor = createHealthMonitor({ probe });
      const subscription = monitor([tcp(1), tcp(2), tcp(3)], options(scheduler)).subscribe();
      scheduler.schedule(() => subscription.unsubscribe(), 150);
      flush();
    });
    assert.deepEqual(starts, [
      [1, 0],
      [2, 0],
      [3, 0],
      [1, 100],
      [2, 100],
      [3, 100],
    ]);
  });
});

void describe('health monitor: timeouts, errors and teardown', () => {
  void it('counts a probe that never answers as failed at timeoutMs + grace, and aborts it', () => {
    const scheduler = newScheduler();
    const signals: AbortSignal[] = [];
    scheduler.run(({ expectObservable }) => {
      const probe: HealthProbe = (_check, context) => {
        signals.push(context.signal);
        return NEVER;
      };
      const monitor = createHealthMonitor({ probe, timeoutGraceMs: 10 });
      const events$ = monitor([tcp(80)], options(scheduler, { fallCount: 1, timeoutMs: 40 }));
      expectObservable(events$, '99ms !').toBe('50ms F', {
        F: {
          type: 'health_check_fail',
          source: 'health',
          reason: '1 failed round(s) in a row; TCP 127.0.0.1:80: no answer within 40 ms',
        },
      });
    });
    assert.equal(signals.length, 1);
    assert.equal(signals[0]?.aborted, true);
  });

  void it('counts a probe that throws as failed', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const probe: HealthProbe = () => {
        throw new Error('boom');
      };
      const monitor = createHealthMonitor({ probe });
      const events$ = monitor([tcp(80)], options(scheduler, { fallCount: 1 }));
      expectObservable(events$, '50ms !').toBe('F', {
        F: {
          type: 'health_check_fail',
          source: 'health',
          reason: '1 failed round(s) in a row; TCP 127.0.0.1:80: probe error: boom',
        },
      });
    });
  });

  void it('aborts the probe in flight on unsubscribe', () => {
    const scheduler = newScheduler();
    const abortedAt: number[] = [];
    scheduler.run(({ flush }) => {
      const probe: HealthProbe = (_check, context) => {
        context.signal.addEventListener('abort', () => abortedAt.push(scheduler.now()));
        return timer(40, scheduler).pipe(map(() => ({ ok: true, reason: 'ok' })));
      };
      const monitor = createHealthMonitor({ probe });
      const subscription = monitor([tcp(80)], options(scheduler)).subscribe();
      // The round started at 100 is still running at 120.
      scheduler.schedule(() => subscription.unsubscribe(), 120);
      flush();
    });
    // The first probe's signal is released when it completes (40); the second is aborted at 120.
    assert.deepEqual(abortedAt, [40, 120]);
  });

  void it('reports every round to onRound and survives a throwing callback', () => {
    const scheduler = newScheduler();
    const rounds: HealthRound[] = [];
    scheduler.run(({ expectObservable }) => {
      const monitor = createHealthMonitor({ probe: scriptedProbe(scheduler, '+-') });
      const events$ = letters(
        monitor(
          [tcp(80)],
          options(scheduler, {
            riseCount: 1,
            onRound: (round) => {
              rounds.push(round);
              throw new Error('a broken logger');
            },
          }),
        ),
      );
      expectObservable(events$, '150ms !').toBe('S');
    });
    assert.deepEqual(
      rounds.map((round) => [round.ok, round.consecutiveFailures, round.consecutiveSuccesses, round.verdict]),
      [
        [true, 0, 1, 'healthy'],
        [false, 1, 0, 'healthy'],
      ],
    );
  });

  void it('rejects nonsensical options at once', () => {
    const monitor = createHealthMonitor({ probe: () => of({ ok: true, reason: 'ok' }) });
    const base = { intervalMs: 100, timeoutMs: 50, fallCount: 3, riseCount: 1 };
    assert.throws(() => monitor([tcp(80)], { ...base, intervalMs: 0 }), RangeError);
    assert.throws(() => monitor([tcp(80)], { ...base, fallCount: 0 }), RangeError);
    assert.throws(() => monitor([tcp(80)], { ...base, riseCount: Number.NaN }), RangeError);
  });
});
