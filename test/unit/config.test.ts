import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig, parseDurationMs } from '../../config/parse.ts';

const base = { INTERFACE: 'eth0', HOSTNAME: 'node-1' };

function errorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('has working defaults', () => {
    const config = parseConfig(base);
    assert.equal(config.port, 1313);
    assert.equal(config.leaseTtlMs, 2000);
    assert.equal(config.faultPolicy, 'at-least-one');
    assert.equal(config.addressLifetimeSec, 30);
    assert.deepEqual(config.etcd.hosts, ['http://127.0.0.1:2379']);
    assert.equal(config.auth, undefined);
  });

  it('reads durations as LinK v2 did', () => {
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('3s'), 3000);
    assert.equal(parseDurationMs('2'), 2000);
    assert.equal(parseDurationMs('1m'), 60_000);
    assert.equal(parseDurationMs('soon'), null);
  });

  it('derives the lease TTL from KEEPALIVE_INTERVAL alone (5x)', () => {
    const config = parseConfig({ ...base, KEEPALIVE_INTERVAL: '1s' });
    assert.equal(config.leaseTtlMs, 5000);
    assert.equal(config.keepaliveIntervalMs, 1000);
  });

  it('caps the address lifetime by the lease under at-most-one', () => {
    assert.equal(parseConfig({ ...base, FAULT_POLICY: 'at-most-one', LEASE_TTL: '3' }).addressLifetimeSec, 3);
  });

  const bad: Array<[string, NodeJS.ProcessEnv]> = [
    ['INTERFACE', { HOSTNAME: 'x' }],
    ['PORT', { ...base, PORT: '70000' }],
    ['PORT', { ...base, PORT: 'http' }],
    ['LEASE_TTL', { ...base, LEASE_TTL: '1500ms' }],
    ['LEASE_TTL', { ...base, LEASE_TTL: 'forever' }],
    ['FAULT_POLICY', { ...base, FAULT_POLICY: 'maybe' }],
    ['USER', { ...base, PASSWORD: 'secret', USER: '' }],
    ['TLS_KEY', { ...base, TLS_CERT: '/etc/cert.pem' }],
    ['ETCD_PREFIX', { ...base, ETCD_PREFIX: 'link/' }],
    ['NOTIFY_WEBHOOK_URL', { ...base, NOTIFY_WEBHOOK_URL: 'ftp://x' }],
    ['KEEPALIVE_INTERVAL', { ...base, LEASE_TTL: '2', KEEPALIVE_INTERVAL: '3s' }],
    ['METRICS_PUBLIC', { ...base, METRICS_PUBLIC: 'perhaps' }],
  ];
  for (const [variable, env] of bad) {
    it(`names ${variable} when it is bad (${JSON.stringify(env[variable] ?? 'missing')})`, () => {
      const err = errorOf(env);
      assert.equal(err.variable, variable);
      assert.equal(err.code, 'CONFIG_INVALID');
      assert.match(err.message, new RegExp(`^${variable}: `));
      assert.ok(!err.message.includes('\n'), 'one line');
    });
  }
});
