import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { combineHealth$, LinkTracker, linkEvents$, type LinkEvent } from '../../actors/link.ts';
import type { LinkWatchHandlers } from '../../adapters/net/types.ts';
import { memoryNet } from '../support/memory-net.ts';
import { vipInputs$, type ChecksConfig } from '../../actors/inputs.ts';
import type { LinkState } from '../../adapters/net/types.ts';
import type { ElectionEvent } from '../../adapters/etcd/types.ts';
import type { HealthEvent, HealthMonitor } from '../../adapters/health/types.ts';
import { ConfigError, parseConfig } from '../../config/parse.ts';

const up: LinkState = { interfaceName: 'eth1', up: true, reason: 'up' };
const down: LinkState = { interfaceName: 'eth1', up: false, reason: 'no carrier' };
const linkFail: LinkEvent = { type: 'health_check_fail', source: 'link', reason: 'eth1: no carrier' };
const linkOk = (rounds: number): LinkEvent => ({
  type: 'health_check_success',
  source: 'link',
  reason: `eth1: up (${rounds} round(s) in a row)`,
});
const fail: HealthEvent = { type: 'health_check_fail', source: 'health' };
const ok: HealthEvent = { type: 'health_check_success', source: 'health' };

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

describe('linkEvents$: the link verdict', () => {
  it('up at start says nothing; a down fails at once; back up succeeds after RISE_COUNT rounds', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const states = hot<LinkState>('u--d-d--u------', { u: up, d: down });
      // riseCount 3, interval 2: the up is round 1, two intervals later round 3.
      const events = linkEvents$(states, { intervalMs: 2, riseCount: 3 });
      expectObservable(events).toBe('---f--------s--', { f: linkFail, s: linkOk(3) });
    });
  });

  it('a down during the rise starts the count again', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const states = hot<LinkState>('d-u-d-u--------', { u: up, d: down });
      const events = linkEvents$(states, { intervalMs: 3, riseCount: 2 });
      expectObservable(events).toBe('f--------s-----', { f: linkFail, s: linkOk(2) });
    });
  });

  it('RISE_COUNT 1: the link is good again as soon as it is up', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const states = hot<LinkState>('d--u--', { u: up, d: down });
      expectObservable(linkEvents$(states, { intervalMs: 1000, riseCount: 1 })).toBe('f--s--', {
        f: linkFail,
        s: linkOk(1),
      });
    });
  });
});

describe('combineHealth$: healthy = checks AND link', () => {
  it('passes checks while the link is good, holds a check success while it is down', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const checks = hot<HealthEvent>('-o---o----f--', { o: ok, f: fail });
      const link = hot<LinkEvent>('---f----s-----', { f: linkFail, s: linkOk(1) });
      expectObservable(combineHealth$(checks, link)).toBe('-o-l----s-f--', {
        o: ok,
        l: linkFail,
        s: linkOk(1),
        f: fail,
      });
    });
  });

  it('the link coming back does not lift a check failure', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const checks = hot<HealthEvent>('--f-----o', { o: ok, f: fail });
      const link = hot<LinkEvent>('f----s---', { f: linkFail, s: linkOk(1) });
      expectObservable(combineHealth$(checks, link)).toBe('f-------o', { f: linkFail, o: ok });
    });
  });

  it('reaches the IP actor through vipInputs$ with source link', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const election$ = hot<ElectionEvent>('e-------', { e: { type: 'elected', source: 'etcd' } });
      const checks$ = hot<ChecksConfig>('c-------', {
        c: { checks: [{ type: 'TCP', host: '127.0.0.1', port: 80 }], intervalMs: 1000 },
      });
      const monitor: HealthMonitor = () => cold<HealthEvent>('-o', { o: ok });
      const link$ = hot<LinkEvent>('---f--s-', { f: linkFail, s: linkOk(1) });
      const health = { timeoutMs: 100, fallCount: 3, riseCount: 1 };
      expectObservable(
        vipInputs$(election$, checks$, monitor, health, () => undefined, undefined, link$),
      ).toBe('eo-f--s-', { e: { type: 'elected', source: 'etcd' }, o: ok, f: linkFail, s: linkOk(1) });
    });
  });
});

describe('TRACK_INTERFACE', () => {
  it('is on by default, off when asked, and refuses anything else naming the variable', () => {
    assert.equal(parseConfig({ INTERFACE: 'eth0' }).trackInterface, true);
    assert.equal(parseConfig({ INTERFACE: 'eth0', TRACK_INTERFACE: 'on' }).trackInterface, true);
    assert.equal(parseConfig({ INTERFACE: 'eth0', TRACK_INTERFACE: 'off' }).trackInterface, false);
    assert.throws(
      () => parseConfig({ INTERFACE: 'eth0', TRACK_INTERFACE: 'maybe' }),
      (err: unknown) => err instanceof ConfigError && /TRACK_INTERFACE/.test(err.message),
    );
  });
});

describe('LinkTracker: one watch, every VIP', () => {
  it('a VIP that subscribes while the link is down gets its failure first; later ones follow the link', async () => {
    let handlers: LinkWatchHandlers | undefined;
    const { net } = memoryNet({
      watchLink: (h) => {
        handlers = h;
        // The kernel's dump is read a moment after the watch starts.
        queueMicrotask(() => h.state(down));
        return () => undefined;
      },
    });
    const tracker = new LinkTracker({
      net,
      rise: { intervalMs: 1, riseCount: 1 },
      onState: () => undefined,
      onError: () => undefined,
    });
    await tracker.start();
    assert.equal(tracker.current?.up, false);
    assert.equal(tracker.downs, 1);
    const seen: LinkEvent[] = [];
    const sub = tracker.events$().subscribe((e) => seen.push(e));
    assert.deepEqual(
      seen.map((e) => e.type),
      ['health_check_fail'],
    );
    const back = new Promise<void>((resolve) => {
      const s = tracker.events$().subscribe((e) => {
        if (e.type === 'health_check_success') {
          s.unsubscribe();
          resolve();
        }
      });
    });
    handlers?.state(up);
    await back;
    assert.deepEqual(
      seen.map((e) => e.type),
      ['health_check_fail', 'health_check_success'],
    );
    // Subscribing after the recovery replays nothing: the link's default is good.
    const late: LinkEvent[] = [];
    tracker.events$().subscribe((e) => late.push(e));
    assert.deepEqual(late, []);
    sub.unsubscribe();
    tracker.stop();
  });

  it('an adapter without watchLink is not tracked', async () => {
    const tracker = new LinkTracker({
      net: memoryNet().net,
      rise: { intervalMs: 1, riseCount: 1 },
      onState: () => undefined,
      onError: () => undefined,
    });
    await tracker.start();
    assert.equal(tracker.current, undefined);
  });
});
