import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdHostnameTakenError } from '../../adapters/etcd/errors.ts';
import { otherLiveAgent, type AgentInstance, type HostClaim } from '../../adapters/etcd/host-claim.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';

/** adapters/etcd/host-claim.ts: when a starting agent refuses its HOSTNAME, and that it then writes nothing. */

const me: AgentInstance = { id: 'me-1111', system: 'boot-a/net:[1]', pid: 100, started: '5000' };
const claim = (running: boolean): HostClaim => ({ instance: me, running: () => running });
const record = (instance: Partial<AgentInstance>): string =>
  JSON.stringify({
    hostname: 'h1',
    interfaceName: 'eth0',
    mac: '02:00:00:00:00:01',
    addresses: [],
    instance,
  });

describe('one host name, one agent (host-claim.ts)', () => {
  it('starts: no record, a record without instance (older LinK), our own instance, an earlier session of this process', () => {
    assert.equal(otherLiveAgent(null, claim(true)), null);
    assert.equal(otherLiveAgent('{"hostname":"h1"}', claim(true)), null);
    assert.equal(otherLiveAgent('not json', claim(true)), null);
    assert.equal(otherLiveAgent(record(me), claim(true)), null);
    assert.equal(otherLiveAgent(record({ ...me, id: 'other' }), claim(true)), null, 'same pid: this process');
  });

  it('refuses: another system (a clone, another namespace)', () => {
    const other = otherLiveAgent(
      record({ id: 'clone-22', system: 'boot-b/net:[1]', pid: 100, started: '5000' }),
      claim(false),
    );
    assert.match(other ?? '', /another system/);
  });

  it('this system: refuses while that process runs, starts when it is gone (kill -9, a restart)', () => {
    const predecessor = record({ id: 'old-3333', system: me.system, pid: 99, started: '4000' });
    assert.match(otherLiveAgent(predecessor, claim(true)) ?? '', /another agent on this system \(pid 99/);
    assert.equal(otherLiveAgent(predecessor, claim(false)), null);
  });

  it("a session refused at start throws ETCD_HOSTNAME_TAKEN before any write: the lease and keys stay the other agent's", async () => {
    const etcd = new FakeEtcd();
    const keys = makeKeys('/link');
    const lease = etcd.grantLease(60);
    etcd.put(keys.lease('h1'), lease);
    etcd.put(
      keys.agent('h1'),
      record({ id: 'clone-22', system: 'boot-b/net:[1]', pid: 7, started: '1' }),
      lease,
    );
    const client = etcd.client('clone');
    await assert.rejects(
      createEtcdSession(
        { hostname: 'h1', hosts: ['198.18.0.1:2379'], leaseTtlSeconds: 2 },
        { rpc: client, hostClaim: claim(false) },
      ),
      (err: unknown) => err instanceof EtcdHostnameTakenError && /HOSTNAME=h1 is taken/.test(err.message),
    );
    const methods = etcd.calls.filter((c) => c.client === 'clone').map((c) => c.method);
    assert.deepEqual([...new Set(methods)], ['range'], `only reads: ${methods.join(', ')}`);
    assert.ok(etcd.hasLease(lease));
    assert.equal(etcd.get(keys.lease('h1'))?.value, lease);
  });
});
