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
    close: () => Promise.resolve(),
  };
  return { net, calls };
}

function controller(net: NetAdapter, cidr: string, lifetime: () => number | null) {
  return new AddressController({
    cidr,
    net,
    lifetimeSec: lifetime,
    announce: { count: 1, intervalMs: 0 },
    onError: () => undefined,
    onAnnounced: () => undefined,
    logger: silentLogger,
  });
}

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
});
