import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import type { Election } from '../../adapters/etcd/types.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { elapse, fakeSessions, record as recordEvents, settle } from '../support/fake-sessions.ts';

/**
 * adapters/etcd/README.md, "Failover": the owner offers the lock to a live candidate and never
 * lets go of it (no `demoted` here) before one takes it. Real sessions on the fake etcd, fake
 * timers. A "frozen" candidate is a membership key on a live lease with no agent behind it.
 */

const TTL_MS = 2000;
const VIP = '198.18.0.10/32';
const keys = makeKeys('/link');
const LOCK = keys.lock(VIP);

const { sessions, session } = fakeSessions(TTL_MS);
const record = (election: Election) => recordEvents(election);

describe('failover never drops a VIP it cannot hand over (fake etcd, fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  it('a lease-less membership key (a LinK v2 host, a stale key) is no candidate: no-live-candidate at once, nothing written', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    const seen = record(mine);
    await settle();
    etcd.put(keys.membership(VIP, 'v2host'), '{"updated_at":"2026-12-02T16:00:00Z"}');
    const txnsBefore = etcd.txnsOn(LOCK).length;
    const outcome = await mine.failover(5000);
    assert.equal(outcome.result, 'no-live-candidate');
    assert.deepEqual(outcome.result === 'no-live-candidate' ? outcome.notLive.map((h) => h.hostname) : [], [
      'v2host',
    ]);
    assert.equal(etcd.txnsOn(LOCK).length, txnsBefore, 'no transaction on the lock');
    await settle();
    assert.deepEqual(seen, ['elected']);
    assert.equal(etcd.get(LOCK)?.value, 'h1');
  });

  it('a frozen candidate (live lease, nobody answering) never takes it: timed-out, the lock taken back, never demoted', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    const seen = record(mine);
    await settle();
    const frozen = etcd.grantLease(60);
    etcd.put(keys.membership(VIP, 'h2'), 'h2', frozen);
    const handover = mine.failover(1000);
    await settle();
    assert.deepEqual(etcd.get(LOCK), { value: 'h2', lease: frozen }, 'offered to h2 under its lease');
    assert.deepEqual(seen, ['elected'], 'still bound: nothing emitted while the offer stands');
    await elapse(1100);
    assert.deepEqual(await handover, { result: 'timed-out', offered: ['h2'] });
    assert.equal(etcd.get(LOCK)?.value, 'h1', 'taken back');
    assert.equal(etcd.get(LOCK)?.lease, h1.status().leaseId);
    assert.deepEqual(seen, ['elected']);
  });

  it('a candidate whose lease ends while offered: the lock is retaken at once and the next live candidate takes it', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    const seen = record(mine);
    await settle();
    const dying = etcd.grantLease(60);
    etcd.put(keys.membership(VIP, 'h0'), 'h0', dying); // first in hostname order
    const h3 = await session(etcd, 'h3');
    const theirs = h3.election(VIP);
    const seen3 = record(theirs);
    await settle();
    const handover = mine.failover(4000);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h0');
    etcd.expireLease(dying); // h0 was frozen past its TTL: etcd deletes its lock and membership
    await settle();
    assert.deepEqual(await handover, { result: 'handed-over', owner: 'h3' });
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h3');
    assert.deepEqual(seen, ['elected', 'demoted:h3'], 'never no owner, never demoted before h3 took it');
    assert.deepEqual(seen3.slice(-1), ['elected']);
  });

  it('a candidate that stopped competing (its checks fail) refuses the offer: the owner keeps it', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    const seen = record(mine);
    await settle();
    const h2 = await session(etcd, 'h2');
    const theirs = h2.election(VIP);
    await settle();
    // h2 withdraws right after h1 read the membership keys: the offer's compare still passes.
    etcd.beforeTxn(() => undefined);
    const handover = mine.failover(2000);
    theirs.setCandidate(false);
    await elapse(2100);
    const outcome = await handover;
    assert.notEqual(outcome.result, 'handed-over');
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    assert.deepEqual(seen, ['elected']);
  });

  it('the successor binds only once the owner has unbound (its release write), so two hosts never hold it at once', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    await settle();
    const h2 = await session(etcd, 'h2');
    const theirs = h2.election(VIP);
    const seen2 = record(theirs);
    await settle();
    let seenAtUnbind: string[] = [];
    const outcome = await mine.failover(2000, async () => {
      seenAtUnbind = [...seen2];
      await settle();
      assert.deepEqual(seen2, seenAtUnbind, 'h2 waits while h1 unbinds');
    });
    assert.deepEqual(outcome, { result: 'handed-over', owner: 'h2' });
    assert.deepEqual(seenAtUnbind, ['demoted:h1'], 'h2 had taken the lock but not said elected');
    await settle();
    assert.deepEqual(seen2, ['demoted:h1', 'elected']);
  });

  it('no release write (the owner died after the successor took it): the successor binds after one TTL', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const mine = h1.election(VIP);
    await settle();
    const h2 = await session(etcd, 'h2');
    const theirs = h2.election(VIP);
    const seen2 = record(theirs);
    await settle();
    const outcome = await mine.failover(2000, () => Promise.reject(new Error('the owner died')));
    assert.deepEqual(outcome, { result: 'handed-over', owner: 'h2' });
    await settle();
    assert.deepEqual(seen2, ['demoted:h1'], 'not yet');
    await elapse(TTL_MS / 3 + 100);
    assert.deepEqual(
      seen2,
      ['demoted:h1'],
      'not after a keep-alive interval either: the owner may be slow, not dead',
    );
    await elapse(TTL_MS);
    assert.deepEqual(seen2, ['demoted:h1', 'elected']);
  });
});
