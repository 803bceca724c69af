import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { vipInputs$, type ChecksConfig } from '../../actors/inputs.ts';
import type { ElectionEvent } from '../../adapters/etcd/types.ts';
import type { HealthEvent, HealthMonitor } from '../../adapters/health/types.ts';
import type { IpEvent } from '../../machines/ip.ts';

const elected: ElectionEvent = { type: 'elected', source: 'etcd' };
const demoted: ElectionEvent = { type: 'demoted', source: 'etcd' };
const fail: HealthEvent = { type: 'health_check_fail', source: 'health' };
const ok: HealthEvent = { type: 'health_check_success', source: 'health' };
const tcp: ChecksConfig = { checks: [{ type: 'TCP', host: '127.0.0.1', port: 80 }], intervalMs: 1000 };
const none: ChecksConfig = { checks: [], intervalMs: 1000 };
const health = { timeoutMs: 100, fallCount: 3, riseCount: 1 };

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

describe('vipInputs$ (marbles)', () => {
  it('merges election and health events in time order', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const election$ = hot<ElectionEvent>('--e-----d--', { e: elected, d: demoted });
      const checks$ = hot<ChecksConfig>('c----------', { c: tcp });
      const monitor: HealthMonitor = () => cold<HealthEvent>('----f--o', { f: fail, o: ok });
      expectObservable(vipInputs$(election$, checks$, monitor, health, () => undefined)).toBe('--e-f--od--', {
        e: elected,
        d: demoted,
        f: fail,
        o: ok,
      } satisfies Record<string, IpEvent>);
    });
  });

  it('switches to the new checks when they are replaced, dropping the old monitor', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const election$ = hot<ElectionEvent>('-----------');
      const checks$ = hot<ChecksConfig>('a---b------', { a: tcp, b: tcp });
      const first = cold<HealthEvent>('--f---f', { f: fail });
      const second = cold<HealthEvent>('-o', { o: ok });
      let call = 0;
      const monitor: HealthMonitor = () => (call++ === 0 ? first : second);
      expectObservable(vipInputs$(election$, checks$, monitor, health, () => undefined)).toBe('--f--o-----', {
        f: fail,
        o: ok,
      });
      expectSubscriptions(first.subscriptions).toBe('^---!');
    });
  });

  it('no checks means healthy, at once', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const election$ = hot<ElectionEvent>('---');
      const checks$ = hot<ChecksConfig>('n--', { n: none });
      const monitor: HealthMonitor = () => {
        throw new Error('no monitor without checks');
      };
      expectObservable(vipInputs$(election$, checks$, monitor, health, () => undefined)).toBe('h--', {
        h: { type: 'health_check_success', source: 'health', reason: 'no checks' },
      });
    });
  });

  it('reports a failing input and ends quietly instead of erroring the actor', () => {
    const errors: unknown[] = [];
    scheduler().run(({ hot, expectObservable }) => {
      const election$ = hot<ElectionEvent>('-e-#', { e: elected });
      const checks$ = hot<ChecksConfig>('---');
      expectObservable(
        vipInputs$(
          election$,
          checks$,
          () => hot('-'),
          health,
          (e) => errors.push(e),
        ),
      ).toBe('-e-|', { e: elected });
    });
    assert.equal(errors.length, 1);
  });

  it('a health monitor that errors is a failed check, journaled, and starts again one interval later', () => {
    const errors: unknown[] = [];
    scheduler().run(({ cold, hot, expectObservable }) => {
      const election$ = hot<ElectionEvent>('-----------');
      const checks$ = hot<ChecksConfig>('c----------', { c: { ...tcp, intervalMs: 5 } });
      const broken = cold<HealthEvent>('--#', {}, new Error('spawn failed'));
      const healed = cold<HealthEvent>('-o', { o: ok });
      let call = 0;
      const monitor: HealthMonitor = () => (call++ === 0 ? broken : healed);
      expectObservable(
        vipInputs$(
          election$,
          checks$,
          monitor,
          health,
          () => errors.push('input'),
          (e) => errors.push(e),
        ),
      ).toBe('--f-----o--', {
        f: { type: 'health_check_fail', source: 'health', reason: 'health monitor failed: spawn failed' },
        o: ok,
      });
    });
    assert.deepEqual(errors, [new Error('spawn failed')]);
  });
});
