import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaseTiming, LeaseTimingError } from '../../config/lease-timing.ts';
import { parseConfig } from '../../config/parse.ts';
import { resolveSessionOptions } from '../../adapters/etcd/options.ts';
import { EtcdConfigError } from '../../adapters/etcd/errors.ts';

describe('the lease timing rule', () => {
  it('defaults to the schema, derives the TTL from the interval (5x) and the interval from the TTL (/3)', () => {
    assert.deepEqual(leaseTiming({}), { ttlMs: 3000, keepaliveIntervalMs: 1000 });
    assert.deepEqual(leaseTiming({ ttlMs: 6000 }), { ttlMs: 6000, keepaliveIntervalMs: 2000 });
    assert.deepEqual(leaseTiming({ keepaliveMs: 1000 }), { ttlMs: 5000, keepaliveIntervalMs: 1000 });
    assert.deepEqual(leaseTiming({ keepaliveMs: 100 }), { ttlMs: 1000, keepaliveIntervalMs: 100 });
    assert.deepEqual(leaseTiming({ keepaliveMs: 300 }), { ttlMs: 2000, keepaliveIntervalMs: 300 });
  });

  it('names the variable it refuses', () => {
    const variableOf = (input: Parameters<typeof leaseTiming>[0]): string => {
      try {
        leaseTiming(input);
      } catch (err) {
        assert.ok(err instanceof LeaseTimingError);
        return err.variable;
      }
      return 'accepted';
    };
    assert.equal(variableOf({ ttlMs: 1500 }), 'LEASE_TTL');
    assert.equal(variableOf({ ttlMs: 0 }), 'LEASE_TTL');
    assert.equal(variableOf({ ttlMs: 2000, keepaliveMs: 2000 }), 'KEEPALIVE_INTERVAL');
    assert.equal(variableOf({ keepaliveMs: 0 }), 'KEEPALIVE_INTERVAL');
  });

  it('is the rule of both the parser and the etcd adapter', () => {
    for (const env of [
      {},
      { LEASE_TTL: '6' },
      { KEEPALIVE_INTERVAL: '1s' },
      { KEEPALIVE_INTERVAL: '300ms' },
    ]) {
      const config = parseConfig({ INTERFACE: 'eth0', HOSTNAME: 'h1', ...env });
      const fromConfig = { ttlMs: config.leaseTtlMs, keepaliveIntervalMs: config.keepaliveIntervalMs };
      const session = resolveSessionOptions({
        hosts: ['x:1'],
        hostname: 'h1',
        leaseTtlSeconds: config.leaseTtlMs / 1000,
      });
      assert.equal(session.ttlMs, fromConfig.ttlMs);
      if (!('KEEPALIVE_INTERVAL' in env))
        assert.equal(session.keepAliveIntervalMs, fromConfig.keepaliveIntervalMs);
    }
    assert.throws(
      () => resolveSessionOptions({ hosts: ['x:1'], hostname: 'h1', keepAliveIntervalMs: 0 }),
      EtcdConfigError,
    );
  });
});
