import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { EtcdNotOwnerError } from '../../adapters/etcd/errors.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { DEFAULT_PRIORITY, decodeMember } from '../../adapters/etcd/member.ts';
import type { Election } from '../../adapters/etcd/types.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { elapse, fakeSessions, record as recordEvents, settle } from '../support/fake-sessions.ts';

/**
 * adapters/etcd/README.md, "Election (one VIP)": one test per row of the table, through a real
 * session (lease keeper, shared watch, election) on an in-memory etcd behind the rpc port.
 * Time is node:test's fake timers; `settle()` only lets pending promises and microtasks run.
 */

const TTL_MS = 2000;
const VIP = '198.18.0.10/32';
const VIP2 = '198.18.0.11/32';
const keys = makeKeys('/link');
const LOCK = keys.lock(VIP);
const LOCK2 = keys.lock(VIP2);

const { sessions, session } = fakeSessions(TTL_MS);
const record = (election: Election) => recordEvents(election, { marksReassert: true });

/** The lock transactions (`createRevision == 0`) sent on `key` (by `client`, or any). */
function lockTxns(etcd: FakeEtcd, key: string, client?: string) {
  return etcd.txnsOn(key, client).filter((req) => req.compare?.[0]?.target === 'Create');
}

describe('election (adapters/etcd/README.md table, fake etcd, fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  it("row 'this host, this session's lease': elected if competing; released if not", async () => {
    const etcd = new FakeEtcd();
    // A restarted agent: its stored lease is still alive and holds the lock.
    const lease = etcd.grantLease(TTL_MS / 1000);
    etcd.put(keys.lease('h1'), lease);
    etcd.put(LOCK, 'h1', lease);
    etcd.put(LOCK2, 'h1', lease);
    const h1 = await session(etcd, 'h1');
    assert.equal(h1.status().leaseId, lease, 'the stored lease is reused');
    const competing = h1.election(VIP);
    const notCompeting = h1.election(VIP2);
    notCompeting.setCandidate(false);
    const seen = record(competing);
    const seen2 = record(notCompeting);
    await settle();
    assert.deepEqual(seen, ['elected']);
    assert.deepEqual(seen2, ['demoted'], 'a non-candidate gives the lock back: nobody would bind for it');
    assert.equal(competing.holdsLock, true);
    assert.equal(lockTxns(etcd, LOCK).length, 0, 'no transaction: the key already says this host');
    assert.deepEqual(etcd.get(LOCK), { value: 'h1', lease });
    assert.equal(etcd.get(LOCK2), undefined, 'released');
  });

  it("row 'this host, another lease (left by an earlier run)' (any): delete it if unchanged (txn on value and lease), then as 'none'", async () => {
    const etcd = new FakeEtcd();
    const earlier = etcd.grantLease(60); // an earlier run's lease, still alive in etcd
    etcd.put(LOCK, 'h1', earlier);
    const h1 = await session(etcd, 'h1');
    const lease = h1.status().leaseId!;
    assert.notEqual(lease, earlier);
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    const [stale] = etcd.txnsOn(LOCK);
    assert.deepEqual(
      stale?.compare?.map((c) => [c.target, c.value?.toString() ?? c.lease]),
      [
        ['Value', 'h1'],
        ['Lease', earlier],
      ],
      'the stale lock is deleted only if value and lease are unchanged',
    );
    assert.ok(stale?.success?.[0]?.request_delete_range);
    assert.deepEqual(etcd.get(LOCK), { value: 'h1', lease }, "then as 'none': this host takes it");
    assert.deepEqual(seen, ['elected'], 'nothing emitted for the stale lock itself');

    // Changed between the read and the delete (another host took it): not deleted.
    const h2Lease = etcd.grantLease(60);
    etcd.put(LOCK2, 'h1', earlier);
    etcd.beforeTxn(() => etcd.put(LOCK2, 'h2', h2Lease));
    const second = h1.election(VIP2);
    const seen2 = record(second);
    await settle();
    assert.deepEqual(etcd.get(LOCK2), { value: 'h2', lease: h2Lease });
    assert.deepEqual(seen2, ['demoted:h2']);
  });

  it("row 'another host' (any): demoted (owner)", async () => {
    const etcd = new FakeEtcd();
    const h2 = await session(etcd, 'h2');
    const h2Election = h2.election(VIP);
    const h2Seen = record(h2Election);
    await settle();
    assert.deepEqual(h2Seen, ['elected']);

    const h1 = await session(etcd, 'h1');
    const competing = h1.election(VIP);
    const seen = record(competing);
    h2.election(VIP2);
    await settle();
    const notCompeting = h1.election(VIP2);
    notCompeting.setCandidate(false);
    const seen2 = record(notCompeting);
    await settle();
    assert.deepEqual(seen, ['demoted:h2']);
    assert.deepEqual(seen2, ['demoted:h2']);
    assert.equal(competing.holdsLock, false);
    assert.equal(lockTxns(etcd, LOCK, 'h1').length, 0, 'h1 sent no lock transaction');
    assert.equal(lockTxns(etcd, LOCK2, 'h1').length, 0);
    assert.equal(etcd.get(LOCK)?.value, 'h2');
  });

  it("row 'none', competing: txn createRevision(lock) == 0 -> put(lock, hostname, lease) else get(lock); its result is an observation", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const lease = h1.status().leaseId!;
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    const [txn] = lockTxns(etcd, LOCK);
    assert.deepEqual(
      txn?.compare?.map((c) => [c.target, c.result, c.create_revision]),
      [['Create', 'Equal', 0]],
    );
    assert.equal(txn?.success?.[0]?.request_put?.value?.toString(), 'h1');
    assert.equal(txn?.success?.[0]?.request_put?.lease, lease);
    assert.equal(txn?.failure?.[0]?.request_range?.key?.toString(), LOCK);
    assert.deepEqual(seen, ['elected']);
    assert.deepEqual(etcd.get(LOCK), { value: 'h1', lease });

    // Lost race: h2 writes the lock just before h1's transaction. With the watch held back, only
    // the transaction's failure branch (the get) can tell h1 who owns it.
    const h2Lease = etcd.grantLease(60);
    etcd.holdWatchEvents();
    etcd.beforeTxn(() => etcd.put(LOCK2, 'h2', h2Lease));
    const second = h1.election(VIP2);
    const seen2 = record(second);
    await settle();
    assert.equal(lockTxns(etcd, LOCK2).length, 1);
    assert.deepEqual(seen2, ['demoted:h2'], 'the failed transaction is an observation');
    etcd.releaseWatchEvents();
    await settle();
    assert.deepEqual(seen2, ['demoted:h2'], 'the watch event of the same revision adds nothing');
  });

  it("row 'none', not competing: demoted (no owner)", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    election.setCandidate(false);
    const seen = record(election);
    await settle();
    assert.deepEqual(seen, ['demoted'], 'demoted with no owner');
    assert.equal(lockTxns(etcd, LOCK).length, 0, 'no lock attempt');
    assert.equal(etcd.get(keys.membership(VIP, 'h1')), undefined, 'no membership key');
    assert.equal(etcd.get(LOCK), undefined);

    // Alone, a failover offers nobody the lock: nothing is written, nothing emitted.
    const owned = h1.election(VIP2);
    const seen2 = record(owned);
    await settle();
    assert.deepEqual(seen2, ['elected']);
    assert.deepEqual(await owned.failover(500), { result: 'no-live-candidate', notLive: [] });
    await settle();
    assert.deepEqual(seen2, ['elected'], 'never let go');
    assert.equal(etcd.get(LOCK2)?.value, 'h1');
  });

  it("row '(session fault)' (any): fault once, until etcd says who owns", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const lease = h1.status().leaseId!;
    const competing = h1.election(VIP);
    const notCompeting = h1.election(VIP2);
    notCompeting.setCandidate(false);
    const seen = record(competing);
    const seen2 = record(notCompeting);
    await settle();
    assert.deepEqual(seen, ['elected']);
    assert.deepEqual(seen2, ['demoted']);

    // etcd goes away: keep-alives and every call fail.
    etcd.down = FakeEtcd.unavailable();
    await elapse(TTL_MS);
    assert.equal(h1.status().state, 'fault');
    assert.deepEqual(seen, ['elected', 'fault']);
    assert.deepEqual(seen2, ['demoted', 'fault']);
    assert.equal(competing.holdsLock, false, 'no claim to the lock while in fault');

    // Recovery attempts keep failing: still one `fault`, nothing else.
    await elapse(3 * TTL_MS);
    assert.equal(h1.status().state, 'fault');
    assert.deepEqual(seen, ['elected', 'fault']);
    assert.deepEqual(seen2, ['demoted', 'fault']);

    // etcd is back and its lease survived: the fresh read says who owns.
    // The session acts again (membership puts) before its fresh read of the locks: until that
    // read, this host does not claim the lock it held before the fault.
    let claimedBeforeRead: boolean | undefined;
    etcd.beforeTxn(() => {
      claimedBeforeRead = competing.holdsLock;
    });
    etcd.down = null;
    await elapse(2 * TTL_MS);
    assert.equal(claimedBeforeRead, false);
    assert.equal(h1.status().state, 'alive');
    assert.equal(h1.status().leaseId, lease, 'the lease etcd still knows is kept');
    assert.deepEqual(seen, ['elected', 'fault', 'elected']);
    assert.deepEqual(seen2, ['demoted', 'fault', 'demoted']);

    // A second outage that outlives the lease: h2 takes the lock meanwhile. etcd's word after
    // recovery (h2 owns) is what follows the fault, not this host's memory of owning it.
    etcd.down = FakeEtcd.unavailable();
    await elapse(TTL_MS);
    assert.deepEqual(seen, ['elected', 'fault', 'elected', 'fault']);
    etcd.expireLease(lease);
    etcd.put(LOCK, 'h2', etcd.grantLease(60));
    etcd.down = null;
    await elapse(2 * TTL_MS);
    assert.equal(h1.status().state, 'alive');
    assert.notEqual(h1.status().leaseId, lease, 'a new lease');
    assert.deepEqual(seen, ['elected', 'fault', 'elected', 'fault', 'demoted:h2']);
    assert.deepEqual(seen2, ['demoted', 'fault', 'demoted', 'fault', 'demoted']);
  });

  it('note: consecutive duplicates are not emitted; demoted again when the owner changes; events$ replays the latest', async () => {
    const etcd = new FakeEtcd();
    const h2Lease = etcd.grantLease(60);
    etcd.put(LOCK, 'h2', h2Lease);
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    etcd.put(LOCK, 'h2', h2Lease); // same owner, new revision
    await settle();
    assert.deepEqual(seen, ['demoted:h2']);
    etcd.put(LOCK, 'h3', etcd.grantLease(60));
    await settle();
    assert.deepEqual(seen, ['demoted:h2', 'demoted:h3']);
    assert.deepEqual(record(election), ['demoted:h3'], 'a late subscriber gets the latest event');
  });

  it('note: a failed txn is retried with backoff while the lock is free', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    etcd.failNext('txn', FakeEtcd.unavailable(), 2);
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.equal(lockTxns(etcd, LOCK).length, 1);
    await elapse(99, 33); // backoff 1: retry.initialDelayMs = 100
    assert.equal(lockTxns(etcd, LOCK).length, 1, 'no retry before the backoff');
    await elapse(1);
    assert.equal(lockTxns(etcd, LOCK).length, 2);
    await elapse(199, 199); // backoff 2: 200
    assert.equal(lockTxns(etcd, LOCK).length, 2);
    await elapse(1);
    assert.equal(lockTxns(etcd, LOCK).length, 3);
    assert.deepEqual(seen, ['elected']);
    assert.equal(h1.status().state, 'alive', 'failed lock transactions do not fault the session');

    // The lock is taken during the backoff: no retry.
    etcd.failNext('txn', FakeEtcd.unavailable());
    const second = h1.election(VIP2);
    const seen2 = record(second);
    await settle();
    assert.equal(lockTxns(etcd, LOCK2).length, 1);
    etcd.put(LOCK2, 'h2', etcd.grantLease(60));
    await settle(); // its watch event arrives before the retry is due
    await elapse(2000);
    assert.equal(lockTxns(etcd, LOCK2).length, 1);
    assert.deepEqual(seen2, ['demoted:h2']);
  });

  it('setCandidate(false): membership key deleted, lock released if held; setCandidate(true): membership put, attempt if free', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.equal(
      decodeMember('h1', etcd.get(keys.membership(VIP, 'h1'))?.value ?? '').priority,
      DEFAULT_PRIORITY,
    );
    election.setCandidate(false);
    await settle();
    assert.equal(etcd.get(keys.membership(VIP, 'h1')), undefined);
    assert.equal(etcd.get(LOCK), undefined, 'the held lock is released');
    assert.deepEqual(seen, ['elected', 'demoted']);
    election.setCandidate(true);
    await settle();
    assert.equal(
      decodeMember('h1', etcd.get(keys.membership(VIP, 'h1'))?.value ?? '').priority,
      DEFAULT_PRIORITY,
    );
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    assert.deepEqual(seen, ['elected', 'demoted', 'elected']);
  });

  it('setCandidate(false) while the lock transaction is answered after its watch event: released once the answer is back', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const releaseAnswer = etcd.holdNextAnswer('txn');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.deepEqual(seen, ['elected'], 'elected on the watch event, the answer still out');
    election.setCandidate(false);
    await settle();
    releaseAnswer();
    await settle();
    assert.equal(etcd.get(LOCK), undefined, 'the lock is released');
    assert.deepEqual(seen, ['elected', 'demoted']);
  });

  it('failover(ms): owner only (else EtcdNotOwnerError); resolves with the host that takes it', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const h2 = await session(etcd, 'h2');
    const mine = h1.election(VIP);
    await settle();
    const theirs = h2.election(VIP);
    const seen2 = record(theirs);
    await settle();
    assert.deepEqual(seen2, ['demoted:h1']);
    await assert.rejects(theirs.failover(500), EtcdNotOwnerError);
    const seen = record(mine);
    assert.deepEqual(await mine.failover(500), { result: 'handed-over', owner: 'h2' });
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h2');
    assert.deepEqual(seen, ['elected', 'demoted:h2'], 'never "no owner": h2 took it straight from h1');
    assert.deepEqual(seen2, ['demoted:h1', 'elected']);
  });

  it('withdrawn while its first membership put is out: the delete waits for the put, and the key ends deleted', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const member = keys.membership(VIP, 'h1');
    const sent = (method: string) =>
      etcd.calls.filter((c) => c.method === method && (c.req as { key: Buffer }).key.toString() === member)
        .length;
    const releasePut = etcd.holdNextAnswer('put');
    const election = h1.election(VIP);
    await settle();
    assert.equal(sent('put'), 1, 'the put is out');
    election.setCandidate(false); // a drained host's VIP withdrawn at spawn (actors/drain.ts)
    await settle();
    assert.equal(sent('deleteRange'), 0, 'no delete beside the put: etcd may apply them in either order');
    releasePut();
    await settle();
    assert.equal(sent('deleteRange'), 1);
    assert.equal(etcd.get(member), undefined);
  });

  it('withdrawn before its first membership write runs: nothing is put', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    h1.election(VIP).setCandidate(false);
    await settle();
    const member = keys.membership(VIP, 'h1');
    assert.equal(
      etcd.calls.filter((c) => c.method === 'put' && (c.req as { key: Buffer }).key.toString() === member)
        .length,
      0,
    );
    assert.equal(etcd.get(member), undefined);
    assert.equal(etcd.get(LOCK), undefined, 'and it never took the lock');
  });

  it("an offer already there at a fresh session's first read is confirmed, not taken as its own lock", async () => {
    const etcd = new FakeEtcd();
    const h2 = await session(etcd, 'h2');
    const lease = h2.status().leaseId!;
    // h1 owned the VIP and offered it to h2 (its membership key under h2's lease) between h2's
    // membership put and its first read of the lock, whose answer comes before the watch's news.
    etcd.holdWatchEvents();
    etcd.put(LOCK, 'h1', '0');
    etcd.put(keys.membership(VIP, 'h2'), '{}', lease);
    const offer = etcd.put(LOCK, 'h2', lease);
    const election = h2.election(VIP);
    const seen = record(election);
    await settle();
    etcd.releaseWatchEvents();
    await settle();
    assert.deepEqual(seen, [], 'not elected before the owner has unbound');
    const confirmations = etcd.txnsOn(LOCK, 'h2').filter((req) => req.compare?.[0]?.target === 'Mod');
    assert.equal(confirmations.length, 1, 'the offer is confirmed');
    assert.equal(String(confirmations[0]!.compare![0]!.mod_revision), String(offer));
    // The owner unbinds and writes the lock again: h2 binds.
    etcd.put(LOCK, 'h2', lease);
    await settle();
    assert.deepEqual(seen, ['elected']);
  });

  it("a lock of a reused lease at the first read is this host's own (a crash-restart keeps it at once)", async () => {
    const etcd = new FakeEtcd();
    const first = await session(etcd, 'h2');
    first.election(VIP);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h2');
    const lease = first.status().leaseId!;
    // The process dies (nothing released), and a new one reuses the stored lease.
    first.testing.freeze();
    const again = await session(etcd, 'h2');
    assert.equal(again.status().leaseId, lease, 'the lease is reused');
    const seen = record(again.election(VIP));
    await settle();
    assert.deepEqual(seen, ['elected']);
    assert.equal(etcd.txnsOn(LOCK, 'h2').filter((req) => req.compare?.[0]?.target === 'Mod').length, 0);
  });

  it('failover(ms, unbind, { to }): only that host is offered it; a host that is no candidate: no-live-candidate, nothing written', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const h2 = await session(etcd, 'h2');
    const h3 = await session(etcd, 'h3');
    const mine = h1.election(VIP);
    await settle();
    h2.election(VIP);
    h3.election(VIP);
    await settle();
    const nobody = await mine.failover(500, undefined, { to: 'h9' });
    assert.equal(nobody.result, 'no-live-candidate');
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    // Without `to`, hostname order would pick h2.
    assert.deepEqual(await mine.failover(500, undefined, { to: 'h3' }), {
      result: 'handed-over',
      owner: 'h3',
    });
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h3');
  });

  it('close(): release, delete membership, complete events$', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    let completed = false;
    election.events$.subscribe({ complete: () => (completed = true) });
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    await election.close();
    assert.equal(etcd.get(LOCK), undefined);
    assert.equal(etcd.get(keys.membership(VIP, 'h1')), undefined);
    assert.equal(completed, true);
    assert.equal(election.subscribers, 0);
  });
});

/** adapters/etcd/README.md, "Shared watch (watch.ts)": one test per row, as the elections see it. */
describe('shared watch (adapters/etcd/README.md table, fake etcd, fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  it("row 'read' and 'subscribe': snapshot at revision R to every election, watch from R+1, no event in between lost", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const a = h1.election(VIP);
    const b = h1.election(VIP2);
    const seenA = record(a);
    const seenB = record(b);
    await settle();
    assert.deepEqual([seenA, seenB], [['elected'], ['elected']]);
    // While the watch is gone, VIP's lock moves to h2 and VIP2's is freed: the re-read says so.
    etcd.down = FakeEtcd.unavailable();
    await elapse(TTL_MS);
    const h1Lease = h1.status().leaseId!;
    etcd.expireLease(h1Lease);
    etcd.put(LOCK, 'h2', etcd.grantLease(60));
    // h3 takes VIP2 between the re-read and the new watch: the watch from R+1 still shows it.
    const rounds = h1.testing.watchRounds();
    etcd.beforeNext('watch', () => etcd.put(LOCK2, 'h3', etcd.grantLease(60)));
    h1.election(VIP2).setCandidate(false);
    etcd.down = null;
    await elapse(2 * TTL_MS);
    assert.equal(h1.testing.watchRounds(), rounds + 1);
    const reads = etcd.calls.filter(
      (c) => c.method === 'range' && (c.req as { key?: Buffer }).key?.toString() === keys.lockPrefix,
    );
    assert.ok(reads.length >= 2, 'one range read of the lock prefix per round');
    assert.deepEqual(seenA, ['elected', 'fault', 'demoted:h2']);
    assert.deepEqual(seenB.slice(-1), ['demoted:h3'], 'the write between read and watch is seen');
  });

  it("row 'event': routed by key to its election; applied only if its revision >= the election's last", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const other = h1.election(VIP2);
    const seenOther = record(other);
    await settle();
    // Older history arrives late (after this host's own transaction at a later revision).
    etcd.holdWatchEvents();
    const h2Lease = etcd.grantLease(60);
    etcd.put(LOCK, 'h2', h2Lease);
    etcd.delete(LOCK);
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.deepEqual(seen, ['elected']);
    etcd.releaseWatchEvents();
    await settle();
    assert.deepEqual(seen, ['elected'], 'the older put by h2 and its delete are not applied');
    assert.equal(election.holdsLock, true);
    assert.deepEqual(seenOther, ['elected'], "VIP's events are not routed to VIP2");
  });

  it("row 'lost': compaction or cancel -> read again and subscribe again at once; never blind", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    const rounds = h1.testing.watchRounds();
    etcd.holdWatchEvents();
    etcd.compactWatches();
    etcd.put(LOCK, 'h2', etcd.grantLease(60)); // lost with the canceled stream's deliveries
    etcd.releaseWatchEvents();
    await elapse(0);
    assert.equal(h1.testing.watchRounds(), rounds + 1, 're-read at once (a 0 ms timer)');
    // The fake delivers the put before the cancel; the re-read re-asserts what etcd says.
    assert.deepEqual(
      seen,
      ['elected', 'demoted:h2', 'demoted:h2 again'],
      'the re-read re-asserts the verdict',
    );
    h1.testing.dropWatch();
    await elapse(0);
    assert.equal(h1.testing.watchRounds(), rounds + 2);
    etcd.delete(LOCK);
    await settle();
    assert.deepEqual(
      seen,
      ['elected', 'demoted:h2', 'demoted:h2 again', 'demoted:h2 again', 'elected'],
      'each re-read re-asserts; the new watch delivers',
    );
    assert.equal(h1.status().state, 'alive', 'a lost watch does not fault the session');
  });

  it("row 'fault': the session stops it; recovery starts it again with a fresh read", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    h1.election(VIP);
    await settle();
    const rounds = h1.testing.watchRounds();
    etcd.down = FakeEtcd.unavailable();
    await elapse(TTL_MS);
    assert.equal(h1.status().state, 'fault');
    const watchesDuringFault = etcd.calls.filter((c) => c.method === 'watch').length;
    await elapse(3 * TTL_MS);
    assert.equal(etcd.calls.filter((c) => c.method === 'watch').length, watchesDuringFault, 'stopped');
    assert.equal(h1.testing.watchRounds(), rounds, 'no round while in fault');
    etcd.down = null;
    await elapse(2 * TTL_MS);
    assert.equal(h1.testing.watchRounds(), rounds + 1, 'one fresh read on recovery');
  });

  it("row 'fault': a fault while a recovery awaits etcd supersedes it; the next recovery brings the session back", async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    etcd.down = FakeEtcd.unavailable();
    await elapse(TTL_MS);
    assert.equal(h1.status().state, 'fault');
    // etcd is back but slow: the recovery's membership put answers after the fence passed.
    etcd.beforeNext('txn', () => mock.timers.tick(TTL_MS + 100));
    etcd.down = null;
    await elapse(3 * TTL_MS);
    assert.equal(h1.status().state, 'alive');
    assert.ok(
      h1.status().leaseRemainingMs > 0,
      'kept alive: the superseded attempt did not leave it half-alive',
    );
    assert.equal(election.holdsLock, true);
    assert.deepEqual(seen.at(-1), 'elected');
  });
});

describe('level, not edge (adapters/etcd/README.md, fake etcd, fake timers)', () => {
  const RECHECK_MS = 5 * TTL_MS;
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  it('recheck: a lost watch event is corrected within one recheck period, by one range for all VIPs', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.deepEqual(seen, ['elected']);
    etcd.holdWatchEvents();
    const lease = h1.status().leaseId!;
    etcd.delete(LOCK);
    etcd.put(LOCK, 'h2', etcd.grantLease(60));
    etcd.dropWatchEvents();
    await settle();
    assert.deepEqual(seen, ['elected'], 'the change never arrived');
    const ranges = () =>
      etcd.calls.filter((c) => c.method === 'range' && c.req && (c.req as { range_end?: Buffer }).range_end)
        .length;
    const before = ranges();
    await elapse(RECHECK_MS);
    assert.deepEqual(seen, ['elected', 'demoted:h2'], 'the recheck read what etcd says now');
    assert.equal(ranges() - before, 1, 'one range request');
    await elapse(RECHECK_MS);
    assert.deepEqual(seen, ['elected', 'demoted:h2', 'demoted:h2 again'], 'each recheck re-asserts');
    assert.equal(etcd.hasLease(lease), true);
  });

  it('recheck: a lock under this lease for a VIP with no election here is deleted', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    // Its close could not release it (etcd failed just then): the session no longer knows it.
    etcd.failNext('txn', FakeEtcd.unavailable());
    await election.close().catch(() => undefined);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h1', 'the release failed');
    const other = h1.election(VIP2);
    await settle();
    await elapse(RECHECK_MS);
    assert.equal(etcd.get(LOCK), undefined, 'the orphan lock is released');
    assert.equal(etcd.get(LOCK2)?.value, 'h1', 'a lock with an election stays');
    assert.equal(other.holdsLock, true);
  });

  it('not competing but holding: the release is retried with backoff until etcd takes it', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    etcd.failNext('txn', FakeEtcd.unavailable(), 3);
    election.setCandidate(false);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h1', 'the first release failed');
    await elapse(1000);
    assert.equal(etcd.get(LOCK), undefined, 'released by a retry');
    assert.deepEqual(seen, ['elected', 'demoted']);
  });

  it('setCandidate(true) re-asserts the verdict: an elected the consumer ignored is sent again', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    const h2 = await session(etcd, 'h2');
    const e2 = h2.election(VIP);
    const seen2 = record(e2);
    await settle();
    e2.setCandidate(false);
    e2.setCandidate(true);
    await settle();
    assert.deepEqual(seen, ['elected']);
    assert.deepEqual(seen2, ['demoted:h1', 'demoted:h1 again']);
  });
});

describe('fence: etcd is asked before anything is seized (issue 14 part 2, fake etcd, fake timers)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  async function frozenPastTtl(prepare: (etcd: FakeEtcd, lease: string) => void) {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.deepEqual(seen, ['elected']);
    // No keep-alive goes out (a starved or frozen process), so the fence passes.
    h1.testing.freeze();
    prepare(etcd, h1.status().leaseId!);
    // The fence passes at one TTL; etcd is asked for at most a keep-alive interval (TTL/3).
    await elapse(TTL_MS + TTL_MS / 3 + 200);
    return { etcd, h1, election, seen };
  }

  it('the fence passes, etcd answers and the lease lives: no fault, the session carries on', async () => {
    const { h1, seen } = await frozenPastTtl(() => undefined);
    assert.deepEqual(seen, ['elected'], 'no fault: nothing seized, nothing announced');
    assert.equal(h1.status().state, 'alive');
    h1.testing.thaw();
    await elapse(TTL_MS);
    assert.deepEqual(seen, ['elected']);
  });

  it('the fence passes, etcd answers that the lease is gone: demoted (stand down), never fault; back with a new lease', async () => {
    const { h1, seen } = await frozenPastTtl((etcd, lease) => etcd.expireLease(lease));
    assert.deepEqual(seen, ['elected', 'demoted'], 'stood down, no fault');
    assert.equal(h1.status().state, 'fault');
    assert.match(h1.status().lastError ?? '', /is gone .*not seizing/);
    h1.testing.thaw();
    await elapse(TTL_MS);
    assert.equal(h1.status().state, 'alive');
    assert.deepEqual(seen, ['elected', 'demoted', 'elected']);
  });

  it('the fence passes and etcd does not answer: fault (source etcd), saying why', async () => {
    const { etcd, h1, seen } = await frozenPastTtl((etcd) => {
      etcd.silent = true;
    });
    assert.deepEqual(seen, ['elected', 'fault']);
    assert.equal(h1.status().faultSource, 'etcd', JSON.stringify(h1.status()));
    assert.match(h1.status().lastError ?? '', /deadline passed and etcd did not answer/);
    etcd.silent = false;
  });
});
