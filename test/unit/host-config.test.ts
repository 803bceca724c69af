import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { encodeHostConfig, leaseIdOf } from '../../adapters/etcd/host-config.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import type { EtcdSessionImpl } from '../../adapters/etcd/session.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';

/**
 * The lease id lives in LinK v2's host record `<prefix>/config/<host>` (host-config.ts), never
 * under `<prefix>/hosts/<host>/`, which v2 reads as VIPs (it panicked on LinK's old key).
 */

const keys = makeKeys('/link');
const sessions: EtcdSessionImpl[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close({ revoke: false });
});

async function session(etcd: FakeEtcd, hostname: string): Promise<EtcdSessionImpl> {
  const s = await createEtcdSession(
    { hostname, hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2 },
    { rpc: etcd.client(hostname) },
  );
  sessions.push(s);
  return s;
}

describe('host config record (v2 models.Host)', () => {
  it('writes v2 shape with lease_id as a JSON number, digits kept past 2^53', () => {
    const id = '7587869453939064324';
    const text = encodeHostConfig('h1', id);
    assert.equal(text, `{"hostname":"h1","lease_id":${id}}`);
    assert.equal(leaseIdOf(text), id);
    assert.throws(() => encodeHostConfig('h1', '12a'), RangeError);
  });

  it("reads v2's own record, an earlier release's bare id, and nothing from garbage", () => {
    assert.equal(leaseIdOf('{"hostname":"h1","lease_id":694d7a1b,"username":""}'), null);
    assert.equal(leaseIdOf('{"hostname":"h1","lease_id":42,"username":"","password":""}'), '42');
    assert.equal(leaseIdOf('{"hostname":"h1","lease_id":0}'), null);
    assert.equal(leaseIdOf('{"hostname":"h1"}'), null);
    assert.equal(leaseIdOf('1234'), '1234');
    assert.equal(leaseIdOf('not json'), null);
    assert.equal(leaseIdOf(undefined), null);
  });

  it('a session stores its lease in config/<host>; nothing under hosts/<host>/', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const lease = h1.status().leaseId!;
    assert.equal(leaseIdOf(etcd.get(keys.lease('h1'))?.value), lease);
    assert.equal(etcd.get(keys.legacyLease('h1')), undefined);
  });

  it("migrates an earlier release's hosts/<host>/lease at start: reused, moved, the old key deleted", async () => {
    const etcd = new FakeEtcd();
    const lease = etcd.grantLease(2);
    etcd.put(keys.legacyLease('h1'), lease);
    const h1 = await session(etcd, 'h1');
    assert.equal(h1.status().leaseId, lease, 'the stored lease is reused');
    assert.equal(etcd.get(keys.legacyLease('h1')), undefined, 'the old key is gone');
    assert.equal(etcd.get(keys.lease('h1'))?.value, encodeHostConfig('h1', lease));
  });

  it('reuses a lease v2 stored in its own record (a host rolled forward from v2)', async () => {
    const etcd = new FakeEtcd();
    const lease = etcd.grantLease(2);
    etcd.put(keys.lease('h1'), `{"hostname":"h1","lease_id":${lease},"username":"","password":""}`);
    const h1 = await session(etcd, 'h1');
    assert.equal(h1.status().leaseId, lease);
  });
});
