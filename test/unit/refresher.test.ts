import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AddressController } from '../../actors/address.ts';
import { AddressRefresher } from '../../actors/refresher.ts';
import { silentLogger } from '../../actors/logger.ts';
import type { AddressLifetime, NetAdapter } from '../../adapters/net/types.ts';

/** A recording stand-in for the kernel: the refresher's choices are the logic under test here. */
function recordingNet(failing = new Set<string>()) {
  const calls: string[] = [];
  const net: NetAdapter = {
    interfaceName: 'test0',
    bind: (cidr: string) => (calls.push(`bind ${cidr}`), Promise.resolve()),
    refresh: (cidr: string) => (calls.push(`refresh ${cidr}`), Promise.resolve()),
    refreshMany: (cidrs: readonly string[], lifetime: AddressLifetime) => {
      calls.push(`refreshMany ${cidrs.join(',')} ${lifetime.lifetimeSec}`);
      return Promise.resolve(new Map([...failing].map((cidr) => [cidr, new Error('gone')])));
    },
    unbind: (cidr: string) => (calls.push(`unbind ${cidr}`), Promise.resolve()),
    isBound: () => Promise.resolve(true),
    announce: () => Promise.resolve(),
    probeConflict: () => Promise.resolve(null),
    addresses: () => Promise.resolve([]),
    hardwareAddress: () => Promise.resolve('02:00:00:00:00:01'),
    close: () => Promise.resolve(),
  };
  return { net, calls };
}

function controller(
  net: NetAdapter,
  cidr: string,
  lifetime: () => number | null,
  options: { now?: () => number; mayRecreate?: () => boolean } = {},
) {
  return new AddressController({
    cidr,
    net,
    lifetimeSec: lifetime,
    announce: { count: 1, intervalMs: 0, refreshIntervalMs: 0 },
    onError: () => undefined,
    onAnnounced: () => undefined,
    mayRecreate: options.mayRecreate ?? (() => true),
    logger: silentLogger,
    ...(options.now ? { now: options.now } : {}),
  });
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('address refresher', () => {
  it('renews every bound, idle VIP in one batch and leaves the others alone', async () => {
    const { net, calls } = recordingNet();
    let lifetime: number | null = 2;
    const a = controller(net, '198.18.0.1/32', () => lifetime);
    const b = controller(net, '198.18.0.2/32', () => lifetime);
    const c = controller(net, '198.18.0.3/32', () => lifetime);
    a.want(true);
    b.want(true);
    await Promise.all([a.settled(), b.settled()]);
    calls.length = 0;
    const failures: string[] = [];
    const refresher = new AddressRefresher({
      net,
      controllers: () => [a, b, c],
      lifetimeSec: () => lifetime,
      periodMs: () => 1000,
      onFailure: (cidr) => failures.push(cidr),
    });
    refresher.tick();
    assert.deepEqual(calls, ['refreshMany 198.18.0.1/32,198.18.0.2/32 2']);

    // A VIP being unbound is not idle: the batch must not race (and re-create) it.
    calls.length = 0;
    b.want(false);
    refresher.tick();
    assert.deepEqual(calls, ['refreshMany 198.18.0.1/32 2']);
    await b.settled();

    // No lifetime may be given (fence deadline too close): every wanted VIP is dropped.
    calls.length = 0;
    lifetime = null;
    refresher.tick();
    await a.settled();
    assert.deepEqual(calls, ['unbind 198.18.0.1/32']);
    assert.deepEqual(failures, []);
  });

  it('rebinds a VIP whose refresh failed (it vanished from the kernel)', async () => {
    const { net, calls } = recordingNet(new Set(['198.18.0.1/32']));
    const a = controller(net, '198.18.0.1/32', () => 2);
    a.want(true);
    await a.settled();
    calls.length = 0;
    const failures: string[] = [];
    const refresher = new AddressRefresher({
      net,
      controllers: () => [a],
      lifetimeSec: () => 2,
      periodMs: () => 1000,
      onFailure: (cidr) => failures.push(cidr),
    });
    refresher.tick();
    await new Promise((resolve) => setImmediate(resolve));
    await a.settled();
    assert.deepEqual(failures, ['198.18.0.1/32']);
    assert.deepEqual(calls, ['refreshMany 198.18.0.1/32 2', 'bind 198.18.0.1/32', 'refresh 198.18.0.1/32']);
  });

  /** One bound VIP (lifetime 2 s, bound at t = 0) under a refresher on a clock the test moves. */
  async function onClock(mayRecreate: () => boolean) {
    const clock = { now: 0 };
    const { net, calls } = recordingNet();
    const a = controller(net, '198.18.0.1/32', () => 2, { now: () => clock.now, mayRecreate });
    a.want(true);
    await a.settled();
    const lost: string[] = [];
    const refresher = new AddressRefresher({
      net,
      controllers: () => [a],
      lifetimeSec: () => 2,
      periodMs: () => 1000,
      onFailure: () => undefined,
      onLost: (cidr) => lost.push(cidr),
      now: () => clock.now,
    });
    calls.length = 0;
    return { a, refresher, calls, lost, clock };
  }

  it('after a freeze past its lifetime, renews or re-creates the address only when mayRecreate says so', async () => {
    let mayRecreate = false;
    const { a, refresher, calls, lost, clock } = await onClock(() => mayRecreate);
    // Within its lifetime: a plain renewal, whatever etcd last said.
    clock.now = 1000;
    refresher.tick();
    await turn();
    assert.deepEqual(calls, ['refreshMany 198.18.0.1/32 2']);

    // Frozen past the lifetime (renewed at 1 s for 2 s): no refresh, which would re-create it.
    calls.length = 0;
    clock.now = 3500;
    refresher.tick();
    await a.settled();
    assert.deepEqual(calls, []);
    assert.deepEqual(lost, ['198.18.0.1/32']);
    assert.equal(a.isLost, true);
    assert.equal(a.isBound, false);

    // Until etcd has spoken, later ticks leave it alone.
    refresher.tick();
    await a.settled();
    assert.deepEqual(calls, []);

    // etcd says this host still owns it: bound again, and no longer lost.
    mayRecreate = true;
    refresher.tick();
    await a.settled();
    assert.deepEqual(calls, ['bind 198.18.0.1/32', 'refresh 198.18.0.1/32']);
    assert.equal(a.isLost, false);
    assert.equal(a.isBound, true);
  });

  it("renews an overdue address at once when etcd says it is still this host's (a stall, not a takeover)", async () => {
    const { a, refresher, calls, lost, clock } = await onClock(() => true);
    clock.now = 2100;
    refresher.tick();
    await turn();
    assert.deepEqual(calls, ['refreshMany 198.18.0.1/32 2']);
    assert.deepEqual(lost, []);
    assert.equal(a.mayHaveExpired, false, 'renewed from the time of this refresh');
  });
});
