import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { sortCandidates } from '../../adapters/etcd/candidates.ts';
import { makeKeys } from '../../adapters/etcd/keys.ts';
import { DEFAULT_PLACEMENT, decodeMember, encodeMember, type Placement } from '../../adapters/etcd/member.ts';
import { FakeEtcd } from '../support/fake-etcd.ts';
import { elapse, fakeSessions, record, settle } from '../support/fake-sessions.ts';

/**
 * Issue 16 part 1, the election's side of priorities (fake etcd, fake timers): membership keys
 * carry the priority; a free lock goes to the highest-priority live candidate, the others giving
 * it one keep-alive interval's head start; equal priorities race as before.
 */

const TTL_MS = 3000;
const KEEPALIVE_MS = TTL_MS / 3;
const VIP = '198.18.0.10/32';
const keys = makeKeys('/link');
const LOCK = keys.lock(VIP);
const { sessions, session } = fakeSessions(TTL_MS);
const at = (priority: number): Placement => ({ ...DEFAULT_PLACEMENT, priority });

describe('election priorities', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  it('the membership key carries the priority; setPlacement publishes a change', async () => {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const election = h1.election(VIP, at(150));
    await settle();
    const stored = () => decodeMember('h1', etcd.get(keys.membership(VIP, 'h1'))?.value ?? '');
    assert.equal(stored().priority, 150);
    election.setPlacement({ priority: 20, preempt: true, preemptDelayMs: 5000 });
    await settle();
    assert.deepEqual(stored(), { hostname: 'h1', priority: 20, preempt: true, preemptDelayMs: 5000 });
    const hosts = await election.hosts();
    assert.deepEqual(hosts, [{ hostname: 'h1', owner: true, priority: 20, preempt: true }]);
  });

  it('a free lock: the lower-priority candidate waits while the higher one takes it', async () => {
    const etcd = new FakeEtcd();
    const low = await session(etcd, 'h1');
    const high = await session(etcd, 'h2');
    // The higher-priority host is listed but silent (not yet deciding): the lower one must wait.
    const highLease = high.status().leaseId!;
    etcd.put(
      keys.membership(VIP, 'h2'),
      encodeMember({ hostname: 'h2', priority: 200, preempt: false }).toString(),
      highLease,
    );
    const lowElection = low.election(VIP, at(100));
    const seenLow = record(lowElection);
    await settle();
    await elapse(KEEPALIVE_MS / 2);
    assert.equal(etcd.get(LOCK), undefined, 'no attempt within the head start');
    const highElection = high.election(VIP, at(200));
    const seenHigh = record(highElection);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h2');
    await elapse(KEEPALIVE_MS);
    assert.equal(etcd.get(LOCK)?.value, 'h2');
    assert.deepEqual(seenHigh, ['elected']);
    assert.deepEqual(seenLow, ['demoted:h2']);
  });

  it('a silent higher-priority candidate holds the VIP back one keep-alive interval at most', async () => {
    const etcd = new FakeEtcd();
    const low = await session(etcd, 'h1');
    const frozenLease = etcd.grantLease(TTL_MS / 1000);
    etcd.put(
      keys.membership(VIP, 'h2'),
      encodeMember({ hostname: 'h2', priority: 200, preempt: false }).toString(),
      frozenLease,
    );
    const election = low.election(VIP, at(100));
    const seen = record(election);
    await settle();
    assert.equal(etcd.get(LOCK), undefined);
    await elapse(KEEPALIVE_MS + 100);
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    assert.deepEqual(seen, ['elected']);
  });

  it('equal priorities, or a higher one without a lease (a LinK v2 key), race at once', async () => {
    const etcd = new FakeEtcd();
    etcd.put(keys.membership(VIP, 'v2host'), '{"updated_at":"2026-12-03T00:00:00Z"}');
    const h1 = await session(etcd, 'h1');
    const peer = etcd.grantLease(TTL_MS / 1000);
    etcd.put(
      keys.membership(VIP, 'h3'),
      encodeMember({ hostname: 'h3', priority: 100, preempt: false }).toString(),
      peer,
    );
    const election = h1.election(VIP);
    const seen = record(election);
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    assert.deepEqual(seen, ['elected']);
  });
});

describe('failover order', () => {
  it('offers the highest-priority live candidate first, then by hostname; LinK v2 hosts last', () => {
    const { live } = sortCandidates(
      [
        { hostname: 'a', lease: '1', priority: 50 },
        { hostname: 'b', lease: '2', priority: 200 },
        { hostname: 'c', lease: '3' },
        { hostname: 'd', lease: '4', priority: 100 },
        { hostname: 'v2', lease: '0' },
      ],
      'self',
      new Map([['v2', 'live']]),
    );
    assert.deepEqual(
      live.map((c) => c.hostname),
      ['b', 'c', 'd', 'a', 'v2'],
    );
  });
});

describe('preemption (the owner hands over to a higher priority with preempt, after its delay)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close({ revoke: false });
    mock.timers.reset();
  });

  const preempting = (priority: number, delayMs: number): Placement => ({
    priority,
    preempt: true,
    preemptDelayMs: delayMs,
  });

  async function ownerAndCandidate(candidate: Placement) {
    const etcd = new FakeEtcd();
    const h1 = await session(etcd, 'h1');
    const owner = h1.election(VIP, at(100));
    const due: string[] = [];
    owner.preemptions$.subscribe((to) => due.push(to));
    await settle();
    assert.equal(etcd.get(LOCK)?.value, 'h1');
    const h2 = await session(etcd, 'h2');
    const other = h2.election(VIP, candidate);
    await settle();
    return { etcd, owner, other, due };
  }

  it('due once the higher-priority candidate has been there for its preempt_delay', async () => {
    const { due } = await ownerAndCandidate(preempting(200, 5000));
    await elapse(4800);
    assert.deepEqual(due, []);
    await elapse(400);
    assert.deepEqual(due, ['h2']);
  });

  it('a flapping candidate restarts the delay at every change; without preempt, or equal priority: never', async () => {
    const { other, due } = await ownerAndCandidate(preempting(200, 5000));
    await elapse(3000);
    other.setCandidate(false);
    await settle();
    await elapse(1000);
    other.setCandidate(true);
    await settle();
    await elapse(4800);
    assert.deepEqual(due, [], 'the delay began again at its return');
    await elapse(400);
    assert.deepEqual(due, ['h2']);

    for (const placement of [{ ...DEFAULT_PLACEMENT, priority: 200 }, preempting(100, 1000)]) {
      for (const s of sessions.splice(0)) await s.close({ revoke: false });
      const again = await ownerAndCandidate(placement);
      await elapse(15_000);
      assert.deepEqual(again.due, [], JSON.stringify(placement));
    }
  });

  it("the owner's own priority rising above the candidate's cancels it", async () => {
    const { owner, due } = await ownerAndCandidate(preempting(200, 5000));
    await elapse(2000);
    owner.setPlacement(at(250));
    await settle();
    await elapse(10_000);
    assert.deepEqual(due, []);
  });
});
