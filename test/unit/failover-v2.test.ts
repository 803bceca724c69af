import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { sortCandidates, V2_MEMBERSHIP_FRESH_MS } from '../../adapters/etcd/candidates.ts';
import type { Clock } from '../../adapters/etcd/fence.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { createEtcdSession } from '../../adapters/etcd/session.ts';
import type { EtcdSessionImpl } from '../../adapters/etcd/session.ts';
import type { Election, ElectionEvent } from '../../adapters/etcd/types.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';

/**
 * Failover to a LinK v2 host (adapters/etcd/candidates.ts, election.ts offerToV2): a lease-less
 * membership key counts as live only while its `updated_at` is recent; such a host is woken the
 * way v2 wakes its peers (lock deleted, the owner's membership key put again, one transaction),
 * and the owner unbinds only once someone holds the lock. Real sessions on the fake etcd, fake
 * timers; "v2" is a lease-less membership key and a lock put by the test.
 */

const TTL_MS = 2000;
const VIP = '198.18.0.10/32';
const keys = makeKeys('/link');
const LOCK = keys.lock(VIP);

const fakeClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function elapse(ms: number, step = 100): Promise<void> {
  let done = 0;
  await settle();
  do {
    const now = Math.min(step, ms - done);
    mock.timers.tick(now);
    done += now;
    await settle();
  } while (done < ms);
}

const sessions: EtcdSessionImpl[] = [];

async function session(etcd: FakeEtcd, hostname: string): Promise<EtcdSessionImpl> {
  const s = await createEtcdSession(
    { hostname, hosts: ['198.18.0.1:2379'], leaseTtlSeconds: TTL_MS / 1000 },
    { rpc: etcd.client(hostname), clock: fakeClock },
  );
  sessions.push(s);
  return s;
}

function record(election: Election): string[] {
  const seen: string[] = [];
  election.events$.subscribe((event: ElectionEvent) => {
    seen.push(event.type === 'demoted' && event.owner !== undefined ? `demoted:${event.owner}` : event.type);
  });
  return seen;
}

const v2Value = (ms: number) => JSON.stringify({ updated_at: new Date(ms).toISOString() });

describe('candidates: a v2 membership key is live while its updated_at is recent', () => {
  const now = Date.parse('2026-12-02T16:00:00Z');
  it('sorts LinK keys (lease), fresh v2 keys, stale and unreadable ones', () => {
    const { live, notLive } = sortCandidates(
      [
        { hostname: 'h3', lease: '77', value: 'h3' },
        { hostname: 'h1', lease: '0', value: '{"updated_at":"2026-12-02T15:59:58.123456789Z"}' },
        { hostname: 'h2', lease: '0', value: v2Value(now - V2_MEMBERSHIP_FRESH_MS - 1000) },
        { hostname: 'h4', lease: '0', value: 'by hand' },
        { hostname: 'me', lease: '5', value: 'me' },
      ],
      'me',
      now,
    );
    assert.deepEqual(live, [
      { hostname: 'h1', lease: '0', kind: 'v2' },
      { hostname: 'h3', lease: '77', kind: 'link' },
    ]);
    assert.deepEqual(
      notLive.map((h) => h.hostname),
      ['h2', 'h4'],
    );
    assert.match(notLive[0]!.why, /updated_at is 11 s old/);
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
    etcd.put(keys.membership(VIP, 'v2host'), v2Value(Date.now() - 1000));
    let unbound = 0;
    const handover = mine.failover(1000, () => {
      unbound++;
      return Promise.resolve();
    });
    await settle();
    assert.equal(etcd.get(LOCK), undefined, 'the lock is free for v2');
    const txn = etcd.txnsOn(LOCK, 'h1').at(-1)!;
    assert.deepEqual(
      txn.success?.map((op) => (op.request_put ? `put ${op.request_put.key.toString()}` : 'delete')),
      ['delete', `put ${keys.membership(VIP, 'h1')}`],
      "the owner's membership key is put again: v2's watch of ips/<ip>/ fires",
    );
    assert.deepEqual(seen, ['elected'], 'still bound while nobody holds the lock');
    assert.equal(unbound, 0);
    const v2Lease = etcd.grantLease(15);
    etcd.put(LOCK, 'v2host', v2Lease); // v2's create transaction
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
    etcd.put(keys.membership(VIP, 'v2host'), v2Value(Date.now()));
    const handover = mine.failover(1000);
    await elapse(1100);
    assert.deepEqual(await handover, { result: 'timed-out', offered: ['v2host'] });
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    assert.equal(etcd.get(LOCK)?.lease, h1.status().leaseId);
    assert.deepEqual(seen, ['elected']);
  });

  it('a stale v2 key (updated_at too old): no-live-candidate at once, nothing written', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    await settle();
    etcd.put(keys.membership(VIP, 'v2host'), v2Value(Date.now() - V2_MEMBERSHIP_FRESH_MS - 5000));
    const before = etcd.txnsOn(LOCK).length;
    const outcome = await mine.failover(5000);
    assert.equal(outcome.result, 'no-live-candidate');
    assert.equal(etcd.txnsOn(LOCK).length, before);
    assert.equal(etcd.get(LOCK)?.value, 'h1');
  });
});
