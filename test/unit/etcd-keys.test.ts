import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cidrFromStorable, isVipConfigName, makeKeys, storableIp } from '../../adapters/etcd/keys.ts';
import { backoffDelay } from '../../adapters/backoff.ts';
import { buildClientOptions, DEFAULT_RETRY, resolveSessionOptions } from '../../adapters/etcd/options.ts';
import { EtcdConfigError } from '../../adapters/etcd/errors.ts';

describe('etcd keys', () => {
  it("storable IPs follow LinK v2: '/' becomes '_'", () => {
    assert.equal(storableIp('198.18.0.10/32'), '198.18.0.10_32');
    assert.equal(storableIp('2001:db8::1/128'), '2001:db8::1_128');
    assert.equal(cidrFromStorable('198.18.0.10_32'), '198.18.0.10/32');
    assert.equal(cidrFromStorable('2001:db8::1_128'), '2001:db8::1/128');
  });

  it('builds every key under the prefix', () => {
    const k = makeKeys('/link');
    assert.equal(k.lock('198.18.0.10/32'), '/link/default/198.18.0.10_32');
    assert.equal(k.lockPrefix, '/link/default/');
    assert.equal(k.membership('198.18.0.10/32', 'h1'), '/link/ips/198.18.0.10_32/h1');
    assert.equal(k.membershipPrefix('198.18.0.10/32'), '/link/ips/198.18.0.10_32/');
    assert.equal(k.config('h1', 'vip-1'), '/link/hosts/h1/vip-1');
    assert.equal(k.lease('h1'), '/link/config/h1');
    assert.equal(k.legacyLease('h1'), '/link/hosts/h1/lease');
    assert.equal(makeKeys('/other/').lock('10.0.0.1/32'), '/other/default/10.0.0.1_32');
  });

  it('maps lock keys back to CIDRs and ignores anything else', () => {
    const k = makeKeys('/link');
    assert.equal(k.cidrOfLock('/link/default/198.18.0.10_32'), '198.18.0.10/32');
    assert.equal(k.cidrOfLock('/link/default/'), null);
    assert.equal(k.cidrOfLock('/link/default/a/b'), null);
    assert.equal(k.cidrOfLock('/link/ips/198.18.0.10_32/h1'), null);
  });

  it('the address index and the fence live outside what LinK v2 reads (hosts/<host>/, ips/)', () => {
    const k = makeKeys('/link');
    assert.equal(k.addressIndex('h1', '198.18.0.10/32'), '/link/addresses/h1/198.18.0.10_32');
    assert.equal(k.addressIndex('h1', '2001:db8::1/128'), '/link/addresses/h1/2001:db8::1_128');
    assert.ok(k.addressIndex('h1', '198.18.0.10/32').startsWith(k.addressIndexPrefix('h1')));
    assert.equal(k.configFence('h1'), '/link/fences/h1');
    for (const key of [k.addressIndex('h1', '198.18.0.10/32'), k.configFence('h1')]) {
      assert.ok(!key.startsWith(k.hostPrefix('h1')) && !key.startsWith('/link/ips/'), key);
      assert.equal(k.cidrOfLock(key), null);
    }
  });

  it('the lease key is never a VIP configuration', () => {
    assert.equal(isVipConfigName('lease'), false);
    assert.equal(isVipConfigName('vip-8d1c7f1e-0000-4000-8000-000000000000'), true);
    assert.throws(() => makeKeys('/link').config('h1', 'lease'), RangeError);
    assert.throws(() => makeKeys('/link').config('h1', 'a/b'), RangeError);
  });
});

describe('etcd options', () => {
  it('resolves defaults and rejects bad values with EtcdConfigError', () => {
    const r = resolveSessionOptions({ hosts: ['127.0.0.1:2379'], hostname: 'h1' });
    assert.equal(r.prefix, '/link');
    assert.equal(r.ttlMs, 3000);
    assert.equal(r.keepAliveIntervalMs, 1000);
    assert.equal(r.retry.maxAttempts, 3);
    for (const bad of [
      { leaseTtlSeconds: 0 },
      { leaseTtlSeconds: 1.5 },
      { leaseTtlSeconds: 2, keepAliveIntervalMs: 2000 },
      { keepAliveIntervalMs: 0 },
      { hostname: 'a/b' },
      { hostname: '' },
      { retry: { maxAttempts: 0 } },
      { retry: { factor: 0.5 } },
    ]) {
      assert.throws(() => resolveSessionOptions({ hosts: ['x:1'], hostname: 'h1', ...bad }), EtcdConfigError);
    }
  });

  it('backoff doubles up to its cap, without jitter', () => {
    const random = (): number => 1;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 9].map((n) => backoffDelay(DEFAULT_RETRY, n, random)),
      [100, 100, 200, 400, 800, 1000, 1000],
    );
  });

  it('client options: TLS files must come together and be readable', () => {
    assert.throws(() => buildClientOptions({ hosts: [] }), EtcdConfigError);
    assert.throws(() => buildClientOptions({ hosts: ['h:1'], tls: { certFile: '/x' } }), EtcdConfigError);
    assert.throws(
      () => buildClientOptions({ hosts: ['h:1'], tls: { certFile: '/x', keyFile: '/y' } }),
      EtcdConfigError,
    );
    assert.throws(
      () => buildClientOptions({ hosts: ['h:1'], tls: { caFile: '/nonexistent/ca.pem' } }),
      (err: unknown) =>
        err instanceof EtcdConfigError && err.code === 'ETCD_BAD_CONFIG' && err.cause !== undefined,
    );
    const plain = buildClientOptions({ hosts: ['h:1'], auth: { username: 'root', password: 'pw' } });
    assert.deepEqual(plain.hosts, ['h:1']);
    assert.equal(plain.credentials, undefined);
    assert.equal(plain.auth?.username, 'root');
  });
});
