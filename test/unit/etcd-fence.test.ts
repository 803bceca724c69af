import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { FenceDeadline } from '../../adapters/etcd/fence.ts';
import type { Clock } from '../../adapters/etcd/fence.ts';
import { LeaseKeeper } from '../../adapters/etcd/lease.ts';
import type { EtcdAdapterError } from '../../adapters/etcd/errors.ts';
import { silentLogger } from '../../adapters/logger.ts';
import type { EtcdRpc, KeepAliveStream } from '../../adapters/etcd/rpc.ts';

/** A clock on node:test's fake timers (Date.now is faked with them). */
const fakeClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

/** The keep-alive stream as etcd would drive it: the test answers (or not) each request. */
class FakeKeepAlive extends EventEmitter {
  readonly written: { ID?: string | number }[] = [];
  ended = false;
  write(item: { ID?: string | number }): void {
    this.written.push(item);
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.ended = true;
  }
  answer(ttl: string): void {
    this.emit('data', { ID: '7', TTL: ttl, header: {} });
  }
}

describe('fence deadline (fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  it('expires TTL after the send time of the last confirmed keep-alive, not its receipt', () => {
    let expired = 0;
    const fence = new FenceDeadline(fakeClock, () => expired++);
    const sentAt = Date.now();
    mock.timers.tick(300); // the answer takes 300 ms
    fence.extend(sentAt, 2000);
    assert.equal(fence.remainingMs(), 1700);
    mock.timers.tick(1699);
    assert.equal(expired, 0);
    assert.equal(fence.expired(), false);
    mock.timers.tick(1);
    assert.equal(expired, 1);
    assert.equal(fence.expired(), true);
    assert.equal(fence.remainingMs(), 0);
  });

  it('a later confirmation moves the deadline; an older one never moves it back', () => {
    let expired = 0;
    const fence = new FenceDeadline(fakeClock, () => expired++);
    const t0 = Date.now();
    fence.extend(t0, 2000);
    mock.timers.tick(600);
    fence.extend(Date.now(), 2000);
    fence.extend(t0, 2000); // a late answer to an older request
    mock.timers.tick(1999);
    assert.equal(expired, 0);
    mock.timers.tick(1);
    assert.equal(expired, 1);
  });

  it('a deadline beyond what setTimeout takes (2^31-1 ms) waits instead of spinning', () => {
    let expired = 0;
    const timers = mock.fn(setTimeout);
    const countingClock: Clock = { ...fakeClock, setTimeout: (fn, ms) => timers(fn, ms) };
    const far = new FenceDeadline(countingClock, () => expired++);
    far.extend(Date.now(), 2 ** 40);
    mock.timers.tick(1000);
    assert.equal(timers.mock.callCount(), 1, 'one timer, not one per millisecond');
    assert.equal(expired, 0);
    far.reset();
  });

  it('reset disarms it', () => {
    let expired = 0;
    const fence = new FenceDeadline(fakeClock, () => expired++);
    fence.extend(Date.now(), 2000);
    fence.reset();
    mock.timers.tick(5000);
    assert.equal(expired, 0);
    assert.equal(fence.remainingMs(), 0);
  });
});

describe('lease keeper (fake timers, fake transport)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  function setup(leaseTtl = '-1') {
    const streams: FakeKeepAlive[] = [];
    const rpc = {
      leaseTimeToLive: () =>
        Promise.resolve({ ID: '7', TTL: leaseTtl, grantedTTL: '2', keys: [], header: {} }),
      leaseGrant: () => Promise.resolve({ ID: '9', TTL: '2', error: '', header: {} }),
      leaseKeepAlive: () => {
        const s = new FakeKeepAlive();
        streams.push(s);
        return Promise.resolve(s as unknown as KeepAliveStream);
      },
    } as unknown as EtcdRpc; // only the lease calls are used here
    const events: string[] = [];
    let expired = 0;
    const fence = new FenceDeadline(fakeClock, () => expired++);
    const keeper = new LeaseKeeper(
      rpc,
      {
        ttlSeconds: 2,
        keepAliveIntervalMs: 2000 / 3,
        retry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 1000, factor: 2, configErrorDelayMs: 5000 },
        clock: fakeClock,
        logger: silentLogger,
      },
      fence,
      {
        confirmed: () => events.push('confirmed'),
        lost: (err: EtcdAdapterError) => events.push(`lost:${err.code}`),
        streamFailed: (err: EtcdAdapterError, attempt: number) =>
          events.push(`failed:${err.code}:${attempt}`),
      },
    );
    return { keeper, streams, events, fence, expired: () => expired };
  }

  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('reuses a lease etcd still knows, grants one otherwise', async () => {
    const alive = setup('1');
    assert.equal(await alive.keeper.acquire('7'), true);
    assert.equal(alive.keeper.id, '7');
    assert.equal(alive.fence.remainingMs(), 1000, 'the fence starts from the remaining TTL');
    const gone = setup('-1');
    assert.equal(await gone.keeper.acquire('7'), false);
    assert.equal(gone.keeper.id, '9');
    assert.equal(gone.fence.remainingMs(), 2000);
  });

  it('a lease etcd reports at 0 s left (whole seconds, rounded down) is renewed once and reused', async () => {
    const t = setup('0');
    const acquired = t.keeper.acquire('7');
    await flush();
    assert.deepEqual(t.streams[0]!.written, [{ ID: '7' }], 'one keep-alive for the candidate');
    t.streams[0]!.answer('2');
    assert.equal(await acquired, true);
    assert.equal(t.keeper.id, '7');
    assert.equal(t.fence.remainingMs(), 2000, 'the fence starts from the renewal');
    assert.ok(t.streams[0]!.ended, 'its stream is closed');
  });

  it('a lease at 0 s left that the renewal finds gone, or that gets no answer within a second, is replaced', async () => {
    const gone = setup('0');
    const acquired = gone.keeper.acquire('7');
    await flush();
    gone.streams[0]!.answer('0');
    assert.equal(await acquired, false);
    assert.equal(gone.keeper.id, '9');
    const silent = setup('0');
    const waited = silent.keeper.acquire('7');
    await flush();
    mock.timers.tick(999);
    await flush();
    assert.equal(silent.keeper.id, null, 'still waiting');
    mock.timers.tick(1);
    assert.equal(await waited, false);
    assert.equal(silent.keeper.id, '9');
  });

  it('sends every TTL/3; answered keep-alives push the fence; unanswered ones let it pass at TTL', async () => {
    const t = setup();
    await t.keeper.acquire(null);
    t.keeper.start();
    await flush();
    const stream = t.streams[0]!;
    assert.equal(stream.written.length, 1, 'first keep-alive at once');
    stream.answer('2');
    assert.deepEqual(t.events, ['confirmed']);
    mock.timers.tick(667);
    assert.equal(stream.written.length, 2);
    // etcd goes silent (a partition): no more answers.
    mock.timers.tick(1332);
    assert.equal(t.expired(), 0, 'still inside the TTL of the first confirmed keep-alive');
    mock.timers.tick(1);
    assert.equal(t.expired(), 1, 'fenced exactly TTL after the last confirmed send');
    t.keeper.stop();
    assert.ok(stream.ended);
  });

  it('never trusts a time left beyond the granted TTL (a new etcd leader reports leases as "forever")', async () => {
    // etcd's lessor answers MaxInt64 ns (9223372036 s) until the new leader takes the leases over.
    const t = setup('9223372036');
    assert.equal(await t.keeper.acquire('7'), true);
    assert.equal(t.fence.remainingMs(), 2000, 'capped at the granted 2 s');
    t.keeper.start();
    await flush();
    t.streams[0]!.answer('9223372036');
    assert.equal(t.fence.remainingMs(), 2000, 'a keep-alive answer is capped too');
    mock.timers.tick(2000);
    assert.equal(t.expired(), 1, 'so the fence still passes at the TTL without keep-alives');
    t.keeper.stop();
  });

  it('TTL 0 in an answer means the lease is gone', async () => {
    const t = setup();
    await t.keeper.acquire(null);
    t.keeper.start();
    await flush();
    t.streams[0]!.answer('0');
    assert.deepEqual(t.events, ['lost:ETCD_LEASE_LOST']);
  });

  it('a failing stream is reopened with backoff and every failure is counted', async () => {
    const t = setup();
    await t.keeper.acquire(null);
    t.keeper.start();
    await flush();
    t.streams[0]!.emit('error', Object.assign(new Error('14 UNAVAILABLE'), { code: 14 }));
    assert.deepEqual(t.events, ['failed:ETCD_UNAVAILABLE:1']);
    mock.timers.tick(99);
    await flush();
    assert.equal(t.streams.length, 1);
    mock.timers.tick(1);
    await flush();
    assert.equal(t.streams.length, 2, 'reopened after 100 ms');
    t.streams[1]!.emit('end');
    assert.deepEqual(t.events, ['failed:ETCD_UNAVAILABLE:1', 'failed:ETCD_UNAVAILABLE:2']);
    mock.timers.tick(200);
    await flush();
    assert.equal(t.streams.length, 3, 'then after 200 ms');
    t.streams[2]!.answer('2');
    assert.equal(t.events.at(-1), 'confirmed');
    t.keeper.stop();
  });

  it('paused (a frozen agent), it sends nothing', async () => {
    const t = setup();
    await t.keeper.acquire(null);
    t.keeper.setPaused(true);
    t.keeper.start();
    await flush();
    mock.timers.tick(5000);
    assert.equal(t.streams[0]!.written.length, 0);
    assert.equal(t.expired(), 1);
    t.keeper.stop();
  });
});
