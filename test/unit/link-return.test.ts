import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { LinkTracker, linkEvents$, type LinkEvent } from '../../actors/link.ts';
import { etcdAnsweredSince } from '../../actors/lifetime.ts';
import type { LinkState, LinkWatchHandlers } from '../../adapters/net/types.ts';
import type { SessionStatus } from '../../adapters/etcd/types.ts';
import { memoryNet } from '../support/memory-net.ts';

/**
 * A host back from a link failure competes again only on etcd's word since the link came back
 * (issue 16 part 5): with the link cut the host was cut from etcd too, and its session's verdict
 * on the outage (a `fault` from the fence check) could come after the VIP left FAILING and bind
 * it under at-least-one beside the new owner (chaos suite, 156 ms of two holders). And a link
 * watch that fails is started again with backoff, so the tracking comes back.
 */

const TTL = 3000;
const policy = { leaseTtlMs: TTL };
const status = (state: SessionStatus['state'], leaseRemainingMs: number): SessionStatus => ({
  state,
  leaseId: '1',
  leaseRemainingMs,
});

describe('etcdAnsweredSince: etcd answered a keep-alive sent after the link came back', () => {
  // The link came back at t = 10 000; now is 10 500.
  const since = 10_000;
  const now = 10_500;
  it('alive with a deadline from a keep-alive sent after it: yes', () => {
    // Deadline 13 400 = sent at 10 400 + TTL.
    assert.equal(etcdAnsweredSince(policy, status('alive', 2900), since, now), true);
  });
  it('alive, but its last answered keep-alive was sent before the link came back: no', () => {
    // Deadline 12 800 = sent at 9 800 (through the dead link, answered after it came back).
    assert.equal(etcdAnsweredSince(policy, status('alive', 2300), since, now), false);
  });
  it('alive with its deadline passed (the fence check still asking etcd): no', () => {
    assert.equal(etcdAnsweredSince(policy, status('alive', 0), since, since + TTL + 1000), false);
  });
  it('in fault, whatever its source, or connecting: no (the recovery has not read etcd)', () => {
    for (const faultSource of ['etcd', 'fence', 'config'] as const) {
      assert.equal(etcdAnsweredSince(policy, { ...status('fault', 2900), faultSource }, since, now), false);
    }
    assert.equal(etcdAnsweredSince(policy, status('connecting', 2900), since, now), false);
  });
  it('a deadline further than one TTL (a restart bridge lease) proves nothing', () => {
    assert.equal(etcdAnsweredSince(policy, status('alive', 30_000), since, now), false);
  });
});

const up: LinkState = { interfaceName: 'eth0', up: true, reason: 'up' };
const down: LinkState = { interfaceName: 'eth0', up: false, reason: 'no carrier' };
const linkFail: LinkEvent = { type: 'health_check_fail', source: 'link', reason: 'eth0: no carrier' };
const linkOk = (rounds: number): LinkEvent => ({
  type: 'health_check_success',
  source: 'link',
  reason: `eth0: up (${rounds} round(s) in a row, etcd answered since)`,
});

function scheduler() {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

describe("linkEvents$ with etcdWord: back up, the VIP leaves FAILING on etcd's word", () => {
  it('waits for etcd after the rise rounds', () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const states = hot<LinkState>('d--u---------', { u: up, d: down });
      // etcd answers 6 frames after the link is up; the rounds (riseCount 2, interval 2) end at 2.
      const word = cold('------w|');
      const events = linkEvents$(states, { intervalMs: 2, riseCount: 2, etcdWord: () => word });
      expectObservable(events).toBe('f--------s---', { f: linkFail, s: linkOk(2) });
      expectSubscriptions(word.subscriptions).toBe('---^-----!');
    });
  });

  it('etcd answering at once still waits for the rise rounds', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const states = hot<LinkState>('d--u---------', { u: up, d: down });
      const events = linkEvents$(states, { intervalMs: 2, riseCount: 3, etcdWord: () => cold('w|') });
      expectObservable(events).toBe('f------s-----', { f: linkFail, s: linkOk(3) });
    });
  });

  it('a down while waiting for etcd starts again: the word must come after the last up', () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const states = hot<LinkState>('d-u--d-u------', { u: up, d: down });
      const word = cold('----w|');
      const events = linkEvents$(states, { intervalMs: 1, riseCount: 1, etcdWord: () => word });
      expectObservable(events).toBe('f----------s--', { f: linkFail, s: linkOk(1) });
      expectSubscriptions(word.subscriptions).toBe(['--^--!', '-------^---!']);
    });
  });

  it('no word from etcd: the VIP stays FAILING', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const states = hot<LinkState>('d--u------', { u: up, d: down });
      const events = linkEvents$(states, { intervalMs: 1, riseCount: 1, etcdWord: () => cold('-') });
      expectObservable(events).toBe('f---------', { f: linkFail });
    });
  });
});

/** Resolves with the first value `next` is given that `pick` accepts, or fails at the deadline. */
function waitFor<T>(subject: Subject<T>, pick: (v: T) => boolean, ms = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
    const sub = subject.subscribe((v) => {
      if (!pick(v)) return;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(v);
    });
  });
}

describe('LinkTracker: a failed watch is started again with backoff', () => {
  it('an error ends the watch; a new one starts after the backoff and follows the link again', async () => {
    const watches: LinkWatchHandlers[] = [];
    const stops: number[] = [];
    const started = new Subject<number>();
    const { net } = memoryNet({
      watchLink: (h) => {
        watches.push(h);
        const n = watches.length;
        queueMicrotask(() => {
          h.state(up);
          started.next(n);
        });
        return () => stops.push(n);
      },
    });
    const errors = new Subject<number>();
    const retries: number[] = [];
    const tracker = new LinkTracker({
      net,
      rise: { intervalMs: 1, riseCount: 1 },
      retry: { initialDelayMs: 10, maxDelayMs: 1000, factor: 2 },
      onState: () => undefined,
      onError: (_err, retryInMs) => {
        retries.push(retryInMs);
        errors.next(retryInMs);
      },
    });
    const seen: LinkEvent[] = [];
    const events = new Subject<LinkEvent>();
    await tracker.start();
    tracker.events$().subscribe((e) => {
      seen.push(e);
      events.next(e);
    });

    // Failing right after its dump: each retry waits longer (10, 20, 40 ms).
    for (const n of [1, 2, 3]) {
      const again = waitFor(started, (m) => m === n + 1);
      watches[n - 1]!.error(new Error('ENOBUFS and worse'));
      await again;
    }
    assert.deepEqual(retries, [10, 20, 40]);
    assert.deepEqual(stops, [1, 2, 3], 'every failed watch stopped');

    // The fourth watch follows the link: down, then up again.
    const failed = waitFor(events, (e) => e.type === 'health_check_fail');
    watches[3]!.state(down);
    await failed;
    const back = waitFor(events, (e) => e.type === 'health_check_success');
    watches[3]!.state(up);
    await back;
    assert.deepEqual(
      seen.map((e) => e.type),
      ['health_check_fail', 'health_check_success'],
    );
    assert.equal(tracker.downs, 1);
    tracker.stop();
  });

  it('a watch that cannot start is retried too; stop() cancels the retry', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let calls = 0;
    const { net } = memoryNet({
      watchLink: () => {
        calls += 1;
        throw new Error('EMFILE');
      },
    });
    const tracker = new LinkTracker({
      net,
      rise: { intervalMs: 1, riseCount: 1 },
      retry: { initialDelayMs: 5, maxDelayMs: 5, factor: 1 },
      onState: () => undefined,
      onError: () => undefined,
    });
    await tracker.start();
    assert.equal(calls, 1);
    t.mock.timers.tick(5);
    t.mock.timers.tick(5);
    assert.equal(calls, 3, 'retried every 5 ms');
    tracker.stop();
    t.mock.timers.tick(100);
    assert.equal(calls, 3, 'no watch after stop()');
  });
});
