import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createVethPair, deleteLink, startDaemon, type Daemon } from '../../lab/daemon.ts';
import { callAgent } from '../../lab/api.ts';
import { freePort, startEtcd, type EtcdCluster } from '../support/etcd.ts';

/** Concurrent adds of one address: exactly one is stored and runs, the others get 409. */
describe('concurrent adds of the same VIP', { timeout: 60_000 }, () => {
  let etcd: EtcdCluster;
  let daemon: Daemon;

  before(async () => {
    etcd = await startEtcd();
    createVethPair('racevip0', 'racevip1');
    daemon = await startDaemon({
      hostname: 'race-host',
      interfaceName: 'racevip0',
      etcdHosts: etcd.hosts,
      port: await freePort(),
    });
  });

  after(async () => {
    await daemon?.stop();
    deleteLink('racevip0');
    await etcd?.close();
  });

  it('stores one configuration and answers 409 to the rest', async () => {
    // Eight at once, then a stream of adds spread over the turns in which the first one's etcd
    // put returns and its IP actor is spawned (adds of one turn reach the supervisor together):
    // an address is taken from the first add on, whatever the supervisor knows yet.
    const answers = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        if (i >= 8) await new Promise((resolve) => setTimeout(resolve, i - 8));
        return callAgent(daemon.socketPath, 'POST', '/ips', { ip: '198.18.0.77/32' });
      }),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, ...Array<number>(39).fill(409)]);
    const list = await callAgent<{ ips: { ip: string }[] }>(daemon.socketPath, 'GET', '/ips');
    assert.equal(list.body.ips.filter((v) => v.ip === '198.18.0.77/32').length, 1);
    const stored = await etcd.etcdctl(['get', '--prefix', '--keys-only', '/link/hosts/race-host/vip-']);
    assert.equal(stored.split('\n').filter((line) => line.trim() !== '').length, 1, stored);
  });
});
