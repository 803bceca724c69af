import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { sortCandidates } from '../../adapters/etcd/candidates.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { Election } from '../../adapters/etcd/types.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { elapse, fakeSessions, record as recordEvents, settle } from '../support/fake-sessions.ts';

/**
 * Failover to a LinK v2 host (adapters/etcd/candidates.ts, election.ts offerToV2): a lease-less
 * membership key counts as live only while the lease its host record names lives; such a host is woken the
 * way v2 wakes its peers (lock deleted, the owner's membership key put again, one transaction),
 * and the owner unbinds only once someone holds the lock. Real sessions on the fake etcd, fake
 * timers; "v2" is a lease-less membership key and a lock put by the test.
 */

const TTL_MS = 2000;
const VIP = '198.18.0.10/32';
const keys = makeKeys('/link');
const LOCK = keys.lock(VIP);

const { sessions, session } = fakeSessions(TTL_MS);
const record = (election: Election) => recordEvents(election);

/** A v2 host as LinK sees it: a lease-less membership key and, with `lease`, its host record. */
function v2Host(etcd: FakeEtcd, lease: string | null): void {
  etcd.put(keys.membership(VIP, 'v2host'), '{"updated_at":"2026-12-02T16:00:00Z"}');
  if (lease !== null)
    etcd.put(keys.lease('v2host'), `{"hostname":"v2host","lease_id":${lease},"data_version":1}`);
}

describe('candidates: a v2 host is live while the lease of its host record lives', () => {
  it('LinK agents first (hostname order), then live v2 hosts; ended and unnamed leases are not live', () => {
    const { live, notLive } = sortCandidates(
      [
        { hostname: 'h3', lease: '77' },
        { hostname: 'h1', lease: '0' },
        { hostname: 'h2', lease: '0' },
        { hostname: 'h4', lease: '0' },
        { hostname: 'me', lease: '5' },
      ],
      'me',
      new Map([
        ['h1', 'live'],
        ['h2', 'dead'],
      ]),
    );
    assert.deepEqual(live, [
      { hostname: 'h3', lease: '77', kind: 'link' },
      { hostname: 'h1', lease: '0', kind: 'v2' },
    ]);
    assert.deepEqual(
      notLive.map((h) => h.hostname),
      ['h2', 'h4'],
    );
    assert.match(notLive[0]!.why, /has ended/);
  });
});

describe('failover to a LinK v2 host (fake etcd, fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  it('frees the lock and wakes v2 in one transaction; unbinds only once v2 took the lock', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    const seen = record(mine);
    await settle();
    v2Host(etcd, etcd.grantLease(15));
    let unbound = 0;
    const handover = mine.failover(1000, () => {
      unbound++;
      return Promise.resolve();
    });
    await settle();
    assert.equal(etcd.get(LOCK), undefined, 'the lock is free for v2');
    const txn = etcd.txnsOn(LOCK, 'h1').at(-1)!;
    assert.deepEqual(
      txn.success?.map((op) => (op.request_put ? `put ${String(op.request_put.key)}` : 'delete')),
      ['delete', `put ${keys.membership(VIP, 'h1')}`],
      "the owner's membership key is put again: v2's watch of ips/<ip>/ fires",
    );
    assert.deepEqual(seen, ['elected'], 'still bound while nobody holds the lock');
    assert.equal(unbound, 0);
    etcd.put(LOCK, 'v2host', etcd.grantLease(15)); // v2's create transaction
    assert.deepEqual(await handover, { result: 'handed-over', owner: 'v2host' });
    assert.equal(unbound, 1);
    await settle();
    assert.deepEqual(seen, ['elected', 'demoted:v2host']);
  });

  it('a woken v2 host that does not take the lock (failing checks): the lock is taken back, never demoted', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    const seen = record(mine);
    await settle();
    v2Host(etcd, etcd.grantLease(15));
    const handover = mine.failover(1000);
    await elapse(1100);
    assert.deepEqual(await handover, { result: 'timed-out', offered: ['v2host'] });
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    assert.equal(etcd.get(LOCK)?.lease, h1.status().leaseId);
    assert.deepEqual(seen, ['elected']);
  });

  it('a v2 key whose host record names an ended lease, or none: no-live-candidate at once, nothing written', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    await settle();
    const ended = etcd.grantLease(15);
    v2Host(etcd, ended);
    etcd.expireLease(ended);
    etcd.put(keys.membership(VIP, 'v2other'), '{"updated_at":"2026-12-02T16:00:00Z"}');
    const before = etcd.txnsOn(LOCK).length;
    const outcome = await mine.failover(5000);
    assert.equal(outcome.result, 'no-live-candidate');
    assert.deepEqual(outcome.result === 'no-live-candidate' ? outcome.notLive.map((h) => h.hostname) : [], [
      'v2host',
      'v2other',
    ]);
    assert.equal(etcd.txnsOn(LOCK).length, before);
    assert.equal(etcd.get(LOCK)?.value, 'h1');
  });
});
