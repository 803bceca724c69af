import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  lifetimeSec,
  mayRecreateExpired,
  refreshEveryMs,
  type LifetimePolicy,
} from '../../actors/lifetime.ts';

const least = (addressLifetimeSec: number): LifetimePolicy => ({
  faultPolicy: 'at-least-one',
  addressLifetimeSec,
  leaseTtlMs: 10_000,
});
const most = (addressLifetimeSec: number): LifetimePolicy => ({
  ...least(addressLifetimeSec),
  faultPolicy: 'at-most-one',
});
const alive = (leaseRemainingMs: number) => ({ state: 'alive' as const, leaseRemainingMs });
const fault = (faultSource: 'fence' | 'etcd' | 'config') => ({
  state: 'fault' as const,
  leaseRemainingMs: 0,
  faultSource,
});

describe('kernel lifetime policy', () => {
  it('at-least-one: no configured lifetime means none, whatever the session', () => {
    assert.equal(lifetimeSec(least(0), alive(8_000)), 0);
    assert.equal(lifetimeSec(least(0), fault('etcd')), 0);
  });

  it('while alive the address never outlives the lease', () => {
    assert.equal(lifetimeSec(least(60), alive(8_900)), 8);
    assert.equal(lifetimeSec(least(5), alive(8_900)), 5);
    assert.equal(lifetimeSec(most(0), alive(8_900)), 8);
    assert.equal(lifetimeSec(most(60), alive(8_900)), 8);
  });

  it('at-least-one keeps the configured lifetime in an outage; at-most-one must not hold it', () => {
    assert.equal(lifetimeSec(least(60), fault('etcd')), 60);
    assert.equal(lifetimeSec(most(60), fault('etcd')), null);
    assert.equal(lifetimeSec(most(0), fault('fence')), null);
  });

  it('under a second of lease left: one second (at-least-one), none (at-most-one)', () => {
    assert.equal(lifetimeSec(least(60), alive(900)), 1);
    assert.equal(lifetimeSec(most(60), alive(900)), null);
  });

  it('an expired address comes back only on etcd’s word', () => {
    assert.equal(mayRecreateExpired(least(60), alive(5_000), true), true);
    assert.equal(mayRecreateExpired(least(60), alive(5_000), false), false);
    assert.equal(mayRecreateExpired(least(60), fault('etcd'), false), true);
    assert.equal(mayRecreateExpired(least(60), fault('fence'), true), false);
    assert.equal(mayRecreateExpired(least(60), fault('config'), true), false);
    assert.equal(mayRecreateExpired(most(60), fault('etcd'), true), false);
    assert.equal(mayRecreateExpired(least(60), { state: 'connecting', leaseRemainingMs: 0 }, true), false);
  });

  it('refreshes a third of the way through the lifetime or the TTL, whichever is sooner, never under 100 ms', () => {
    assert.equal(refreshEveryMs(least(60), alive(9_500)), 3_000);
    assert.equal(refreshEveryMs(least(3), alive(9_500)), 1_000);
    assert.equal(refreshEveryMs(least(60), fault('etcd')), 10_000 / 3);
    assert.equal(refreshEveryMs(most(60), fault('etcd')), 1_000 / 3);
    assert.equal(refreshEveryMs({ ...least(60), leaseTtlMs: 200 }, alive(9_500)), 100);
  });
});
